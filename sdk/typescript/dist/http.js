/**
 * The HTTP transport: Vault's wire conventions (`/v1/` paths, `X-Vault-Token`,
 * `X-Vault-Namespace`, the `{data, lease_id, ...}` envelope, `{"errors": [...]}` failures) over
 * the global `fetch` (or one passed in).
 */
import { CofferError } from './errors.js';
/** Sends requests to one server with one token. */
export class Transport {
    #config;
    /** A transport with the given settings. */
    constructor(config) {
        this.#config = config;
    }
    /** The server address requests go to. */
    get address() {
        return this.#config.address;
    }
    /**
     * Sends `method /v1/path` and returns the parsed reply, or null for 204. Throws
     * {@link CofferError} on any non-2xx status, with the server's `errors[]`.
     */
    async request(method, path, options = {}) {
        const request = { method, path };
        const token = this.#config.token;
        if (!token) {
            throw new CofferError(0, ['no token: pass {token} or set COFFER_TOKEN (or VAULT_TOKEN)'], 'config', request);
        }
        const headers = { 'X-Vault-Token': token, Accept: 'application/json' };
        if (this.#config.namespace)
            headers['X-Vault-Namespace'] = this.#config.namespace;
        let body;
        if (options.body !== undefined) {
            headers['Content-Type'] = 'application/json';
            body = JSON.stringify(options.body);
        }
        let url = `${this.#config.address}/v1/${path}`;
        const query = Object.entries(options.query ?? {}).filter((entry) => entry[1] !== undefined);
        if (query.length > 0)
            url += `?${new URLSearchParams(query).toString()}`;
        let response;
        try {
            response = await this.#config.fetch(url, { method, headers, body });
        }
        catch (cause) {
            const reason = cause instanceof Error ? cause.message : String(cause);
            throw new CofferError(0, [`cannot reach ${this.#config.address}: ${reason}`], 'network', request);
        }
        const text = await response.text();
        let parsed = null;
        if (text.length > 0) {
            try {
                parsed = JSON.parse(text);
            }
            catch {
                if (response.ok) {
                    throw new CofferError(response.status, ['the reply is not JSON'], 'network', request);
                }
            }
        }
        if (!response.ok) {
            throw new CofferError(response.status, serverErrors(parsed), 'http', request);
        }
        if (response.status === 204 || parsed === null)
            return null;
        return parsed;
    }
    /** Like {@link request} but the reply must carry `data`. */
    async data(method, path, options = {}) {
        const reply = await this.request(method, path, options);
        if (reply === null || reply.data === null || reply.data === undefined) {
            throw new CofferError(0, ['the server sent no data'], 'network', { method, path });
        }
        return reply.data;
    }
}
/** The `errors[]` of a Vault error body (strings only). */
function serverErrors(body) {
    if (body !== null && typeof body === 'object' && 'errors' in body) {
        const errors = body.errors;
        if (Array.isArray(errors))
            return errors.filter((e) => typeof e === 'string');
    }
    return [];
}
/** Encodes each segment of a path for a URL. */
export function encodePath(path) {
    return path.split('/').map(encodeURIComponent).join('/');
}
