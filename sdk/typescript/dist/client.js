/**
 * The client: connection settings from the options or the environment, and the three APIs
 * (`secrets`, `credentials`, `leases`) sharing one transport.
 */
import { Credentials } from './credentials.js';
import { CofferError } from './errors.js';
import { Transport } from './http.js';
import { Leases } from './leases.js';
import { Secrets } from './secrets.js';
/** The process environment when there is one (Node, Bun, Deno with permissions), else empty. */
function environment() {
    const process = globalThis.process;
    return process?.env ?? {};
}
function first(...values) {
    return values.find((v) => v !== undefined && v !== '');
}
/** A Coffer client: `client.secrets`, `client.credentials`, `client.leases`. */
export class CofferClient {
    /** Named developer secrets (KV v2). */
    secrets;
    /** Typed credentials. */
    credentials;
    /** Leases on credentials. */
    leases;
    /** The server address requests go to. */
    address;
    /** The namespace requests go to, if any. */
    namespace;
    /** A client; the token is only required once a request is sent. */
    constructor(options = {}) {
        const env = environment();
        this.address = (first(options.address, env.COFFER_ADDR, env.VAULT_ADDR) ?? 'http://127.0.0.1:8200').replace(/\/+$/, '');
        this.namespace = first(options.namespace, env.COFFER_NAMESPACE, env.VAULT_NAMESPACE);
        const fetchImpl = options.fetch ??
            ((input, init) => {
                if (typeof globalThis.fetch !== 'function') {
                    throw new CofferError(0, ['no global fetch: use Node 18+ or pass {fetch}'], 'config');
                }
                return globalThis.fetch(input, init);
            });
        const http = new Transport({
            address: this.address,
            token: first(options.token, env.COFFER_TOKEN, env.VAULT_TOKEN),
            namespace: this.namespace,
            fetch: fetchImpl,
        });
        this.secrets = new Secrets(http, first(options.mount, env.COFFER_SECRETS_MOUNT) ?? 'secret', options.env);
        this.credentials = new Credentials(http, options.credentialsMount);
        this.leases = new Leases(http, options.credentialsMount);
    }
}
/** The seeds' name for the client (`new VSecureClient()`); the same as {@link CofferClient}. */
export class VSecureClient extends CofferClient {
}
