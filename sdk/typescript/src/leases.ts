/**
 * `vault.leases`: identity-bound leases on credentials. `create` issues one
 * (`POST /v1/credentials/<name>/lease`), `renew` and `revoke` use Vault's lease API
 * (`PUT /v1/sys/leases/renew|revoke`).
 */
import { checkCredentialName } from './credentials.js';
import { CofferError } from './errors.js';
import { encodePath, Transport } from './http.js';

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
export class Leases {
  readonly #http: Transport;
  readonly #mount: string;

  /** Leases on credentials at `mount` (default `credentials`). */
  constructor(http: Transport, mount = 'credentials') {
    this.#http = http;
    this.#mount = mount;
  }

  /** Issues a lease on a credential; 4xx if it is revoked, at `maxLeases`, or the identity is not allowed. */
  async create(input: CreateLeaseInput): Promise<Lease> {
    checkCredentialName(input.credentialName);
    const body: Record<string, unknown> = {};
    if (input.ttl !== undefined) body.ttl = input.ttl;
    if (input.identity !== undefined) body.identity = input.identity;
    const path = encodePath(`${this.#mount}/${input.credentialName}/lease`);
    const reply = await this.#http.request<Omit<Lease, 'warnings'>>('POST', path, { body });
    const data = reply?.data;
    if (!reply || !data) {
      throw new CofferError(0, ['the server sent no lease'], 'network', { method: 'POST', path });
    }
    return {
      ...data,
      renewable: data.renewable ?? reply.renewable ?? false,
      warnings: reply.warnings ?? [],
    };
  }

  /** Renews a lease by `increment` (a duration or seconds; the server's default when left out). */
  async renew(leaseId: string, increment?: string | number): Promise<RenewedLease> {
    const body: Record<string, unknown> = { lease_id: leaseId };
    if (increment !== undefined) body.increment = increment;
    const reply = await this.#http.request<unknown>('PUT', 'sys/leases/renew', { body });
    return {
      leaseId: reply?.lease_id || leaseId,
      leaseDuration: reply?.lease_duration ?? 0,
      renewable: reply?.renewable ?? false,
    };
  }

  /** Revokes a lease at once; its value is no longer served. */
  async revoke(leaseId: string): Promise<void> {
    await this.#http.request('PUT', 'sys/leases/revoke', { body: { lease_id: leaseId } });
  }
}
