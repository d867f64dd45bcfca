/**
 * The client: connection settings from the options or the environment, and the three APIs
 * (`secrets`, `credentials`, `leases`) sharing one transport.
 */
import { Credentials } from './credentials.js';
import { FetchLike } from './http.js';
import { Leases } from './leases.js';
import { Secrets } from './secrets.js';
/** Options of {@link CofferClient}; each falls back to the environment, then a default. */
export interface CofferClientOptions {
    /** Server address; else `COFFER_ADDR`, `VAULT_ADDR`, `http://127.0.0.1:8200`. */
    address?: string;
    /** Token; else `COFFER_TOKEN`, `VAULT_TOKEN`. */
    token?: string;
    /** Namespace (tenant) sent as `X-Vault-Namespace`; else `COFFER_NAMESPACE`, `VAULT_NAMESPACE`. */
    namespace?: string;
    /** KV v2 mount of `secrets`; else `COFFER_SECRETS_MOUNT`, `secret`. */
    mount?: string;
    /** Mount of the credentials engine; default `credentials`. */
    credentialsMount?: string;
    /** Default environment of `secrets` calls (e.g. `production`). */
    env?: string;
    /** The fetch to use; the global `fetch` by default (wrap it to add retries, logging or counting). */
    fetch?: FetchLike;
}
/** A Coffer client: `client.secrets`, `client.credentials`, `client.leases`. */
export declare class CofferClient {
    /** Named developer secrets (KV v2). */
    readonly secrets: Secrets;
    /** Typed credentials. */
    readonly credentials: Credentials;
    /** Leases on credentials. */
    readonly leases: Leases;
    /** The server address requests go to. */
    readonly address: string;
    /** The namespace requests go to, if any. */
    readonly namespace: string | undefined;
    /** A client; the token is only required once a request is sent. */
    constructor(options?: CofferClientOptions);
}
/** The seeds' name for the client (`new VSecureClient()`); the same as {@link CofferClient}. */
export declare class VSecureClient extends CofferClient {
}
