/**
 * `vault.credentials`: the typed credentials engine (`/v1/credentials/...`, DESIGN.md §4) with
 * the seeds' calls `create`, `get`, `list`, `rotate` and `revoke`. Replies never carry a value;
 * values are read through leases (`vault.leases.create`).
 */
import { CofferError, invalidInput } from './errors.js';
import { Transport, encodePath } from './http.js';

/** The six credential types. */
export type CredentialType =
  | 'api-key'
  | 'oauth-token'
  | 'ssh-key'
  | 'tls-certificate'
  | 'database-url'
  | 'generic-secret';

/** A credential's lifecycle state. */
export type CredentialState = 'active' | 'rotated' | 'revoked';

/** Who holds or created something: `{type, name}` (e.g. `{type: 'agent', name: 'claude-code'}`). */
export interface Identity {
  /** `agent`, `user`, `token`, ... */
  type: string;
  /** The identity's name. */
  name: string;
}

/** An identity pattern of `policy.allowedIdentities`: `{type, name}` with `*` globs or `"agent:deploy-*"`. */
export type IdentityPattern = Identity | string;

/** Rotation reminder settings of a credential policy. */
export interface RotationReminder {
  /** How often the credential should be rotated, e.g. `90d`. */
  period: string;
  /** How long before the due date to remind, e.g. `7d`. */
  notifyBefore?: string;
}

/** Lease and access rules of one credential. */
export interface CredentialPolicy {
  /** Maximum TTL for any lease, e.g. `24h`. */
  maxLeaseTTL?: string;
  /** Default TTL when a lease asks for none, e.g. `1h`. */
  defaultLeaseTTL?: string;
  /** Maximum concurrent active leases. */
  maxLeases?: number;
  /** Who may take leases. */
  allowedIdentities?: IdentityPattern[];
  /** Rotation reminders. */
  rotation?: RotationReminder;
}

/** A credential as the server describes it (never with its value). */
export interface Credential {
  /** UUID assigned by the server. */
  id: string;
  /** Unique name per tenant. */
  name: string;
  /** The credential type. */
  type: CredentialType;
  /** Caller metadata plus facts the server extracted from the value. */
  metadata: Record<string, string>;
  /** Lease and access rules. */
  policy: CredentialPolicy;
  /** Lifecycle state. */
  state: CredentialState;
  /** The active version number. */
  version: number;
  /** ISO 8601 creation time. */
  createdAt: string;
  /** ISO 8601 time of the last change. */
  updatedAt: string;
  /** Who stored the credential. */
  createdBy: Identity;
  /** Further fields the server sends (e.g. `previousVersion` after a rotation). */
  [extra: string]: unknown;
}

/** Input of `vault.credentials.create`. */
export interface CreateCredentialInput {
  /** Name, `[A-Za-z0-9._-]{1,128}`. */
  name: string;
  /** The credential type. */
  type: CredentialType;
  /** The secret value; validated by the server for the type. */
  value: string;
  /** Arbitrary string metadata. */
  metadata?: Record<string, string>;
  /** Lease and access rules; tenant defaults apply when left out. */
  policy?: CredentialPolicy;
}

/** Input of `vault.credentials.rotate`. */
export interface RotateCredentialInput {
  /** The credential's name. */
  name: string;
  /** The new value, validated with the credential's type. */
  newValue: string;
}

/** Filters of `vault.credentials.list`. */
export interface ListCredentialsOptions {
  /** Only credentials of this type. */
  type?: CredentialType;
  /** Only credentials in this state. */
  state?: CredentialState;
}

/** One row of `vault.credentials.list`. */
export interface CredentialSummary {
  /** The credential's name. */
  name: string;
  /** Its type. */
  type: CredentialType;
  /** Its state. */
  state: CredentialState;
  /** Its active version. */
  version: number;
  /** ISO 8601 time of the last change, when the server sends it. */
  updatedAt?: string;
}

const NAME = /^[A-Za-z0-9._-]{1,128}$/;

/** Checks a credential name before it goes into a URL. */
export function checkCredentialName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw invalidInput('a credential name is 1 to 128 characters of A-Z a-z 0-9 . _ -');
  }
}

/** `vault.credentials`. */
export class Credentials {
  readonly #http: Transport;
  readonly #mount: string;

  /** Credentials at `mount` (default `credentials`). */
  constructor(http: Transport, mount = 'credentials') {
    this.#http = http;
    this.#mount = mount;
  }

  #path(name: string, action?: string): string {
    checkCredentialName(name);
    return encodePath(`${this.#mount}/${name}${action ? `/${action}` : ''}`);
  }

  /** Stores a new credential; fails with 400 if the name exists or the value is invalid for the type. */
  async create(input: CreateCredentialInput): Promise<Credential> {
    const body: Record<string, unknown> = { type: input.type, value: input.value };
    if (input.metadata !== undefined) body.metadata = input.metadata;
    if (input.policy !== undefined) body.policy = input.policy;
    return this.#http.data<Credential>('POST', this.#path(input.name), { body });
  }

  /** Reads a credential (without its value); 404 if there is none. */
  async get(name: string): Promise<Credential> {
    return this.#http.data<Credential>('GET', this.#path(name));
  }

  /** Lists credentials, optionally filtered by type and state; [] when there are none. */
  async list(options: ListCredentialsOptions = {}): Promise<CredentialSummary[]> {
    let data: { keys?: string[]; key_info?: Record<string, Omit<CredentialSummary, 'name'>> };
    try {
      data = await this.#http.data('GET', encodePath(this.#mount), {
        query: { list: 'true', type: options.type, state: options.state },
      });
    } catch (error) {
      if (error instanceof CofferError && error.status === 404) return [];
      throw error;
    }
    return (data.keys ?? []).map((name) => ({ name, ...(data.key_info?.[name] ?? {}) }) as CredentialSummary);
  }

  /** Rotates to a new value: a new active version; the old one is `rotated` and serves its leases until they end. */
  async rotate(input: RotateCredentialInput): Promise<Credential> {
    return this.#http.data<Credential>('POST', this.#path(input.name, 'rotate'), {
      body: { newValue: input.newValue },
    });
  }

  /** Revokes a credential for good: every active lease ends at once and no new lease is issued. */
  async revoke(nameOrInput: string | { name: string }): Promise<Credential> {
    const name = typeof nameOrInput === 'string' ? nameOrInput : nameOrInput.name;
    return this.#http.data<Credential>('POST', this.#path(name, 'revoke'));
  }
}
