/**
 * The one error type of the SDK.
 *
 * A `CofferError` either carries the server's HTTP status and its `errors[]` (Vault's
 * `{"errors": [...]}` reply body), or, with `status` 0, a problem found before or instead of a
 * reply (bad input, missing token, network failure). Messages name paths and secret names, never
 * secret values.
 */
/** A failed SDK call. */
export class CofferError extends Error {
    /** The HTTP status of the server's reply; 0 when there was no reply. */
    status;
    /** The server's `errors[]` (or the client-side reasons when `status` is 0). */
    errors;
    /** What kind of failure this is. */
    code;
    /** The request that failed, when one was sent. */
    request;
    /** Builds an error; prefer the SDK's own throws over constructing one. */
    constructor(status, errors, code, request) {
        const where = request ? `${request.method} /v1/${request.path}: ` : '';
        const what = status > 0 ? `status ${status}` : code.replace('_', ' ');
        const why = errors.length > 0 ? `: ${errors.join('; ')}` : '';
        super(`coffer: ${where}${what}${why}`);
        this.name = 'CofferError';
        this.status = status;
        this.errors = errors;
        this.code = code;
        this.request = request;
    }
    /** Whether the server answered 404 (no such secret, credential or lease). */
    get notFound() {
        return this.status === 404;
    }
}
/** A client-side input error (status 0, code `invalid_input`). */
export function invalidInput(reason) {
    return new CofferError(0, [reason], 'invalid_input');
}
