import { Transport } from './http.js';
/** The environment tags; a tag among these places a secret at `<env>/<NAME>`. */
export declare const ENVIRONMENTS: readonly string[];
/** Rotation policy of a secret (reminders through Coffer's rotation events). */
export interface RotationPolicy {
    /** Whether reminders are on; default true. */
    enabled?: boolean;
    /** How often to rotate, e.g. `30d`. */
    period: string;
    /** How long before the due date to remind, e.g. `7d`. */
    notifyBefore?: string;
}
/** A secret as read. */
export interface Secret {
    /** The secret's name, e.g. `API_KEY`. */
    name: string;
    /** Its environment, or null when it has none. */
    env: string | null;
    /** Its KV path below the mount, e.g. `production/API_KEY`. */
    path: string;
    /**
     * The value (KV data `value`). For a secret written through the Vault API without a `value`
     * key, the whole data as JSON; see {@link Secret.data}.
     */
    value: string;
    /** The whole KV data of the version. */
    data: Record<string, unknown>;
    /** The KV version number. */
    version: number;
    /** When the version was written (ISO 8601). */
    createdTime: string;
    /** Tags, sorted. */
    tags: string[];
    /** Caller metadata (custom metadata without the `coffer:` keys). */
    metadata: Record<string, string>;
    /** The expiry as given at creation (e.g. `90d`), if any. */
    expiresIn?: string;
    /** The rotation policy, if any. */
    rotationPolicy?: RotationPolicy;
    /** For a self-rotating secret (`coffer secrets create --generate N`): the value's size in bytes. */
    generate?: number;
}
/** Options of `secrets.get`. */
export interface GetSecretOptions {
    /** The environment; when left out (and the client has none), the one existing candidate is read. */
    env?: string;
    /** A KV version; the latest when left out. */
    version?: number;
}
/** Options of `secrets.batchGet`. */
export interface BatchGetOptions {
    /** The environment of every name; when left out each name is resolved like `get`. */
    env?: string;
}
/** Input of `secrets.create`. */
export interface CreateSecretInput {
    /** Name, `[A-Za-z0-9._-]{1,128}`. */
    name: string;
    /** The value. */
    value: string;
    /** Tags, `[a-z0-9][a-z0-9_.-]{0,63}`; an environment tag chooses the environment. */
    tags?: string[];
    /** Caller metadata; keys must not start with `coffer:`. */
    metadata?: Record<string, string>;
    /** Expiry, e.g. `90d`: versions older than this are no longer served. */
    expiresIn?: string;
    /** Rotation policy. */
    rotationPolicy?: RotationPolicy;
    /** The environment (else an environment tag, else the client's). */
    env?: string;
}
/** Input of `secrets.update`: the fields given change, the others stay. */
export interface UpdateSecretInput {
    /** The secret's name. */
    name: string;
    /** A new value (a new KV version). */
    value?: string;
    /** New tags (replace the old ones). */
    tags?: string[];
    /** Metadata merged into the caller metadata. */
    metadata?: Record<string, string>;
    /** New expiry. */
    expiresIn?: string;
    /** New rotation policy (replaces the old one). */
    rotationPolicy?: RotationPolicy;
    /** The environment (else an environment tag among `tags`, else the client's, else the one that exists). */
    env?: string;
}
/** `client.secrets`. */
export declare class Secrets {
    #private;
    /** Secrets in the KV v2 mount `mount`, in environment `env` unless a call names another. */
    constructor(http: Transport, mount?: string, env?: string);
    /** Reads a secret's latest (or a given) version; 404 when it does not exist or has expired. */
    get(name: string, options?: GetSecretOptions): Promise<Secret>;
    /**
     * Reads several secrets' values in one HTTP request (`sys/batch/read`; more than one only when
     * the names need more than 256 paths). Returns `{NAME: value}`; throws 404 naming every missing
     * secret.
     */
    batchGet(names: string[], options?: BatchGetOptions): Promise<Record<string, string>>;
    /** Creates a secret (KV version 1 with its tags, metadata, expiry and rotation policy); 400 if it exists. */
    create(input: CreateSecretInput): Promise<Secret>;
    /** Changes an existing secret: a new version when `value` is given, and/or its tags, metadata, expiry, rotation. */
    update(input: UpdateSecretInput): Promise<Secret>;
}
