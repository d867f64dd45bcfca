import { Transport } from './http.js';
/** The six credential types. */
export type CredentialType = 'api-key' | 'oauth-token' | 'ssh-key' | 'tls-certificate' | 'database-url' | 'generic-secret';
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
/** Checks a credential name before it goes into a URL. */
export declare function checkCredentialName(name: string): void;
/** `vault.credentials`. */
export declare class Credentials {
    #private;
    /** Credentials at `mount` (default `credentials`). */
    constructor(http: Transport, mount?: string);
    /** Stores a new credential; fails with 400 if the name exists or the value is invalid for the type. */
    create(input: CreateCredentialInput): Promise<Credential>;
    /** Reads a credential (without its value); 404 if there is none. */
    get(name: string): Promise<Credential>;
    /** Lists credentials, optionally filtered by type and state; [] when there are none. */
    list(options?: ListCredentialsOptions): Promise<CredentialSummary[]>;
    /** Rotates to a new value: a new active version; the old one is `rotated` and serves its leases until they end. */
    rotate(input: RotateCredentialInput): Promise<Credential>;
    /** Revokes a credential for good: every active lease ends at once and no new lease is issued. */
    revoke(nameOrInput: string | {
        name: string;
    }): Promise<Credential>;
}
