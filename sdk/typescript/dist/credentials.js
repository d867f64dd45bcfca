/**
 * `vault.credentials`: the typed credentials engine (`/v1/credentials/...`, DESIGN.md §4) with
 * the seeds' calls `create`, `get`, `list`, `rotate` and `revoke`. Replies never carry a value;
 * values are read through leases (`vault.leases.create`).
 */
import { CofferError, invalidInput } from './errors.js';
import { encodePath } from './http.js';
const NAME = /^[A-Za-z0-9._-]{1,128}$/;
/** Checks a credential name before it goes into a URL. */
export function checkCredentialName(name) {
    if (typeof name !== 'string' || !NAME.test(name)) {
        throw invalidInput('a credential name is 1 to 128 characters of A-Z a-z 0-9 . _ -');
    }
}
/** `vault.credentials`. */
export class Credentials {
    #http;
    #mount;
    /** Credentials at `mount` (default `credentials`). */
    constructor(http, mount = 'credentials') {
        this.#http = http;
        this.#mount = mount;
    }
    #path(name, action) {
        checkCredentialName(name);
        return encodePath(`${this.#mount}/${name}${action ? `/${action}` : ''}`);
    }
    /** Stores a new credential; fails with 400 if the name exists or the value is invalid for the type. */
    async create(input) {
        const body = { type: input.type, value: input.value };
        if (input.metadata !== undefined)
            body.metadata = input.metadata;
        if (input.policy !== undefined)
            body.policy = input.policy;
        return this.#http.data('POST', this.#path(input.name), { body });
    }
    /** Reads a credential (without its value); 404 if there is none. */
    async get(name) {
        return this.#http.data('GET', this.#path(name));
    }
    /** Lists credentials, optionally filtered by type and state; [] when there are none. */
    async list(options = {}) {
        let data;
        try {
            data = await this.#http.data('GET', encodePath(this.#mount), {
                query: { list: 'true', type: options.type, state: options.state },
            });
        }
        catch (error) {
            if (error instanceof CofferError && error.status === 404)
                return [];
            throw error;
        }
        return (data.keys ?? []).map((name) => ({ name, ...(data.key_info?.[name] ?? {}) }));
    }
    /** Rotates to a new value: a new active version; the old one is `rotated` and serves its leases until they end. */
    async rotate(input) {
        return this.#http.data('POST', this.#path(input.name, 'rotate'), {
            body: { newValue: input.newValue },
        });
    }
    /** Revokes a credential for good: every active lease ends at once and no new lease is issued. */
    async revoke(nameOrInput) {
        const name = typeof nameOrInput === 'string' ? nameOrInput : nameOrInput.name;
        return this.#http.data('POST', this.#path(name, 'revoke'));
    }
}
