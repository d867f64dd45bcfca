/**
 * `vault.leases`: identity-bound leases on credentials. `create` issues one
 * (`POST /v1/credentials/<name>/lease`), `renew` and `revoke` use Vault's lease API
 * (`PUT /v1/sys/leases/renew|revoke`).
 */
import { checkCredentialName } from './credentials.js';
import { CofferError } from './errors.js';
import { encodePath } from './http.js';
/** `vault.leases`. */
export class Leases {
    #http;
    #mount;
    /** Leases on credentials at `mount` (default `credentials`). */
    constructor(http, mount = 'credentials') {
        this.#http = http;
        this.#mount = mount;
    }
    /** Issues a lease on a credential; 4xx if it is revoked, at `maxLeases`, or the identity is not allowed. */
    async create(input) {
        checkCredentialName(input.credentialName);
        const body = {};
        if (input.ttl !== undefined)
            body.ttl = input.ttl;
        if (input.identity !== undefined)
            body.identity = input.identity;
        const path = encodePath(`${this.#mount}/${input.credentialName}/lease`);
        const reply = await this.#http.request('POST', path, { body });
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
    async renew(leaseId, increment) {
        const body = { lease_id: leaseId };
        if (increment !== undefined)
            body.increment = increment;
        const reply = await this.#http.request('PUT', 'sys/leases/renew', { body });
        return {
            leaseId: reply?.lease_id || leaseId,
            leaseDuration: reply?.lease_duration ?? 0,
            renewable: reply?.renewable ?? false,
        };
    }
    /** Revokes a lease at once; its value is no longer served. */
    async revoke(leaseId) {
        await this.#http.request('PUT', 'sys/leases/revoke', { body: { lease_id: leaseId } });
    }
}
