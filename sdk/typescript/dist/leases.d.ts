import { Transport } from './http.js';
/** The identity a lease is issued to; another identity than the caller's needs `sudo` (a broker). */
export interface LeaseIdentity {
    /** `agent`, `user`, ... */
    type: string;
    /** The identity's name, e.g. `claude-code`. */
    name: string;
    /** Why the lease is taken (recorded in the audit log). */
    purpose?: string;
}
/** Input of `vault.leases.create`. */
export interface CreateLeaseInput {
    /** The credential to lease. */
    credentialName: string;
    /** Requested TTL: a duration like `30m`, `1h`, `7d`, or seconds. Capped by the policy's maximum. */
    ttl?: string | number;
    /** The holder; the caller's own identity when left out. */
    identity?: LeaseIdentity;
}
/** An issued lease, with the credential's value. */
export interface Lease {
    /** The lease id, `credentials/<name>/lease/<id>`; use it to renew or revoke. */
    leaseId: string;
    /** The leased credential. */
    credentialName: string;
    /** The credential version the value belongs to. */
    version: number;
    /** The credential's value. */
    value: string;
    /** The granted TTL in seconds. */
    ttl: number;
    /** ISO 8601 issue time. */
    issuedAt: string;
    /** ISO 8601 expiry time. */
    expiresAt: string;
    /** The holder. */
    identity: LeaseIdentity;
    /** Whether the lease can be renewed. */
    renewable: boolean;
    /** Warnings of the server, e.g. that the TTL was capped. */
    warnings: string[];
}
/** The outcome of `vault.leases.renew`. */
export interface RenewedLease {
    /** The lease id. */
    leaseId: string;
    /** The new remaining duration in seconds. */
    leaseDuration: number;
    /** Whether the lease can be renewed again. */
    renewable: boolean;
}
/** `vault.leases`. */
export declare class Leases {
    #private;
    /** Leases on credentials at `mount` (default `credentials`). */
    constructor(http: Transport, mount?: string);
    /** Issues a lease on a credential; 4xx if it is revoked, at `maxLeases`, or the identity is not allowed. */
    create(input: CreateLeaseInput): Promise<Lease>;
    /** Renews a lease by `increment` (a duration or seconds; the server's default when left out). */
    renew(leaseId: string, increment?: string | number): Promise<RenewedLease>;
    /** Revokes a lease at once; its value is no longer served. */
    revoke(leaseId: string): Promise<void>;
}
