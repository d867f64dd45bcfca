// Test support: a live `coffer server -dev` per test file, and a fetch that counts requests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { CofferClient, type CofferClientOptions, type FetchLike } from '@coffer/sdk';

/** The repository root (tests run from build/test/). */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** A running dev server. */
export interface DevServer {
  address: string;
  token: string;
  stop(): Promise<void>;
}

/** Starts `coffer server -dev` on a free port and waits for its banner. */
export async function startServer(): Promise<DevServer> {
  const bin = process.env.COFFER_BIN ?? path.join(root, 'target/debug/coffer');
  const env = { ...process.env };
  delete env.COFFER_ADDR;
  delete env.VAULT_ADDR;
  const child: ChildProcess = spawn(
    bin,
    ['server', '-dev', '-dev-root-token-id=root', '-dev-listen-address=127.0.0.1:0'],
    { env, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const address = await new Promise<string>((resolve, reject) => {
    let listen: string | undefined;
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const trimmed = line.trim();
      if (trimmed.startsWith('Listen Address:')) listen = trimmed.slice('Listen Address:'.length).trim();
      if (trimmed.includes('Coffer server started')) {
        if (listen) resolve(`http://${listen}`);
        else reject(new Error('the server printed no listen address'));
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`coffer server exited with ${code} before starting (${bin})`)));
  });
  return {
    address,
    token: 'root',
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A fetch that records each request's method and URL. */
export function countingFetch(): { fetch: FetchLike; calls: { method: string; url: string }[] } {
  const calls: { method: string; url: string }[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push({ method: init.method ?? 'GET', url: input });
      return fetch(input, init);
    },
  };
}

/** A client for `server` with the root token. */
export function clientFor(server: DevServer, options: CofferClientOptions = {}): CofferClient {
  return new CofferClient({ address: server.address, token: server.token, ...options });
}
