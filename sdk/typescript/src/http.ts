/**
 * The HTTP transport: Vault's wire conventions (`/v1/` paths, `X-Vault-Token`,
 * `X-Vault-Namespace`, the `{data, lease_id, ...}` envelope, `{"errors": [...]}` failures) over
 * the global `fetch` (or one passed in).
 */
import { CofferError } from './errors.js';

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
export class Transport {
  readonly #config: TransportConfig;

  /** A transport with the given settings. */
  constructor(config: TransportConfig) {
    this.#config = config;
  }

  /** The server address requests go to. */
  get address(): string {
    return this.#config.address;
  }

  /**
   * Sends `method /v1/path` and returns the parsed reply, or null for 204. Throws
   * {@link CofferError} on any non-2xx status, with the server's `errors[]`.
   */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<Envelope<T> | null> {
    const request = { method, path };
    const token = this.#config.token;
    if (!token) {
      throw new CofferError(
        0,
        ['no token: pass {token} or set COFFER_TOKEN (or VAULT_TOKEN)'],
        'config',
        request,
      );
    }
    const headers: Record<string, string> = { 'X-Vault-Token': token, Accept: 'application/json' };
    if (this.#config.namespace) headers['X-Vault-Namespace'] = this.#config.namespace;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let url = `${this.#config.address}/v1/${path}`;
    const query = Object.entries(options.query ?? {}).filter(
      (entry): entry is [string, string] => entry[1] !== undefined,
    );
    if (query.length > 0) url += `?${new URLSearchParams(query).toString()}`;

    let response: Response;
    try {
      response = await this.#config.fetch(url, { method, headers, body });
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new CofferError(0, [`cannot reach ${this.#config.address}: ${reason}`], 'network', request);
    }
    const text = await response.text();
    let parsed: unknown = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        if (response.ok) {
          throw new CofferError(response.status, ['the reply is not JSON'], 'network', request);
        }
      }
    }
    if (!response.ok) {
      throw new CofferError(response.status, serverErrors(parsed), 'http', request);
    }
    if (response.status === 204 || parsed === null) return null;
    return parsed as Envelope<T>;
  }

  /** Like {@link request} but the reply must carry `data`. */
  async data<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const reply = await this.request<T>(method, path, options);
    if (reply === null || reply.data === null || reply.data === undefined) {
      throw new CofferError(0, ['the server sent no data'], 'network', { method, path });
    }
    return reply.data;
  }
}

/** The `errors[]` of a Vault error body (strings only). */
function serverErrors(body: unknown): string[] {
  if (body !== null && typeof body === 'object' && 'errors' in body) {
    const errors = (body as { errors: unknown }).errors;
    if (Array.isArray(errors)) return errors.filter((e): e is string => typeof e === 'string');
  }
  return [];
}

/** Encodes each segment of a path for a URL. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
