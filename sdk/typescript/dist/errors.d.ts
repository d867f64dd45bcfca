/**
 * The one error type of the SDK.
 *
 * A `CofferError` either carries the server's HTTP status and its `errors[]` (Vault's
 * `{"errors": [...]}` reply body), or, with `status` 0, a problem found before or instead of a
 * reply (bad input, missing token, network failure). Messages name paths and secret names, never
 * secret values.
 */
/** What kind of failure a {@link CofferError} is. */
export type CofferErrorCode = 
/** The server answered with a non-2xx status; see `status` and `errors`. */
'http'
/** The input was rejected before any request was sent (name, tag or duration syntax, ...). */
 | 'invalid_input'
/** No token was given in the options nor in `COFFER_TOKEN` / `VAULT_TOKEN`. */
 | 'config'
/** A secret name exists in several environments and no environment was chosen. */
 | 'ambiguous'
/** The request did not reach the server or its reply was not Vault's JSON. */
 | 'network';
/** Where a failed request went, for {@link CofferError}. */
export interface CofferErrorRequest {
    /** HTTP method, e.g. `GET`. */
    method: string;
    /** API path without the `/v1/` prefix, e.g. `secret/data/API_KEY`. */
    path: string;
}
/** A failed SDK call. */
export declare class CofferError extends Error {
    /** The HTTP status of the server's reply; 0 when there was no reply. */
    readonly status: number;
    /** The server's `errors[]` (or the client-side reasons when `status` is 0). */
    readonly errors: string[];
    /** What kind of failure this is. */
    readonly code: CofferErrorCode;
    /** The request that failed, when one was sent. */
    readonly request: CofferErrorRequest | undefined;
    /** Builds an error; prefer the SDK's own throws over constructing one. */
    constructor(status: number, errors: string[], code: CofferErrorCode, request?: CofferErrorRequest);
    /** Whether the server answered 404 (no such secret, credential or lease). */
    get notFound(): boolean;
}
/** A client-side input error (status 0, code `invalid_input`). */
export declare function invalidInput(reason: string): CofferError;
