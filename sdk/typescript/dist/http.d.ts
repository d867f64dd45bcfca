/** The subset of `fetch` the SDK uses; pass your own to add retries, proxies or counting. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;
/** Vault's reply envelope. */
export interface Envelope<T> {
    /** The server's request id. */
    request_id?: string;
    /** A lease id when the reply is leased. */
    lease_id?: string;
    /** Whether the lease can be renewed. */
    renewable?: boolean;
    /** The lease's duration in seconds. */
    lease_duration?: number;
    /** The payload. */
    data: T;
    /** Non-fatal warnings. */
    warnings?: string[] | null;
}
/** Options of one request. */
export interface RequestOptions {
    /** JSON body. */
    body?: unknown;
    /** Query parameters (undefined values are left out). */
    query?: Record<string, string | undefined>;
}
/** Resolved connection settings. */
export interface TransportConfig {
    /** Server address, e.g. `http://127.0.0.1:8200`, without a trailing slash. */
    address: string;
    /** The token, or undefined (every request then fails with a `config` error). */
    token: string | undefined;
    /** Namespace sent as `X-Vault-Namespace`. */
    namespace: string | undefined;
    /** The fetch implementation. */
    fetch: FetchLike;
}
/** Sends requests to one server with one token. */
export declare class Transport {
    #private;
    /** A transport with the given settings. */
    constructor(config: TransportConfig);
    /** The server address requests go to. */
    get address(): string;
    /**
     * Sends `method /v1/path` and returns the parsed reply, or null for 204. Throws
     * {@link CofferError} on any non-2xx status, with the server's `errors[]`.
     */
    request<T>(method: string, path: string, options?: RequestOptions): Promise<Envelope<T> | null>;
    /** Like {@link request} but the reply must carry `data`. */
    data<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
}
/** Encodes each segment of a path for a URL. */
export declare function encodePath(path: string): string;
