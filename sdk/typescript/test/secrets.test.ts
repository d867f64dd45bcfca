// `client.secrets` against a live dev server: the secret-management-guide seed's loadSecrets()
// (one HTTP request) and SecretManager (5-minute cache), environments, tags/metadata/expiry as
// KV v2 custom metadata, updates, and errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CofferClient, CofferError, VSecureClient } from '@coffer/sdk';
import { clientFor, countingFetch, startServer, type DevServer } from './support.js';

let server: DevServer;
let client: CofferClient;

before(async () => {
  server = await startServer();
  client = clientFor(server);
});
after(async () => {
  await server.stop();
});

/** A raw Vault API call (to check what the SDK stored, as another Vault client would see it). */
async function raw(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${server.address}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': server.token },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.status === 204 ? null : response.json();
}

describe('application startup: loadSecrets()', () => {
  it('loads three secrets into process.env with one HTTP request', async () => {
    await client.secrets.create({ name: 'DATABASE_URL', value: 'postgres://app:pw@db/app' });
    await client.secrets.create({ name: 'REDIS_URL', value: 'redis://cache:6379' });
    await client.secrets.create({ name: 'API_KEY', value: 'prod_key', tags: ['production'] });

    const counter = countingFetch();
    // The seed, with the server's address and token (the seed reads them from the environment).
    process.env.COFFER_ADDR = server.address;
    process.env.COFFER_TOKEN = server.token;
    async function loadSecrets() {
      const client = new VSecureClient({ fetch: counter.fetch });
      const secrets = await client.secrets.batchGet([
        'DATABASE_URL',
        'REDIS_URL',
        'API_KEY'
      ]);
      process.env.DATABASE_URL = secrets.DATABASE_URL;
      process.env.REDIS_URL = secrets.REDIS_URL;
      process.env.API_KEY = secrets.API_KEY;
    }
    try {
      await loadSecrets();
    } finally {
      delete process.env.COFFER_ADDR;
      delete process.env.COFFER_TOKEN;
    }

    assert.equal(process.env.DATABASE_URL, 'postgres://app:pw@db/app');
    assert.equal(process.env.REDIS_URL, 'redis://cache:6379');
    assert.equal(process.env.API_KEY, 'prod_key');
    assert.equal(counter.calls.length, 1);
    assert.equal(counter.calls[0]?.method, 'POST');
    assert.equal(counter.calls[0]?.url, `${server.address}/v1/sys/batch/read`);
  });

  it('a missing name fails the whole batch with a 404 naming it', async () => {
    await assert.rejects(client.secrets.batchGet(['DATABASE_URL', 'NOT_THERE', 'ALSO_MISSING']), (e: unknown) => {
      assert.ok(e instanceof CofferError);
      assert.equal(e.status, 404);
      assert.deepEqual(e.errors, ['secret not found: NOT_THERE, ALSO_MISSING']);
      return true;
    });
  });
});

describe('dynamic secret loading: SecretManager', () => {
  // The seed's class; the clock and client are injected so the test can step past the TTL.
  class SecretManager {
    private cache = new Map<string, { value: string; timestamp: number }>();
    private ttl = 300000; // 5 minutes
    constructor(
      private client: CofferClient,
      private now: () => number = Date.now,
    ) {}
    async getSecret(name: string): Promise<string> {
      const cached = this.cache.get(name);
      if (cached && this.now() - cached.timestamp < this.ttl) {
        return cached.value;
      }
      const secret = await this.client.secrets.get(name);
      this.cache.set(name, {
        value: secret.value,
        timestamp: this.now()
      });
      return secret.value;
    }
  }

  it('serves from the cache for five minutes, then fetches the new value', async () => {
    await client.secrets.create({ name: 'STRIPE_KEY', value: 'sk_live_1' });
    const counter = countingFetch();
    let clock = 1_000_000;
    const manager = new SecretManager(clientFor(server, { fetch: counter.fetch }), () => clock);

    assert.equal(await manager.getSecret('STRIPE_KEY'), 'sk_live_1');
    const afterFirst = counter.calls.length;
    assert.equal(afterFirst, 1);

    await client.secrets.update({ name: 'STRIPE_KEY', value: 'sk_live_2' });
    clock += 299_999;
    assert.equal(await manager.getSecret('STRIPE_KEY'), 'sk_live_1', 'within the TTL: cached');
    assert.equal(counter.calls.length, afterFirst, 'within the TTL: no request');

    clock += 1;
    assert.equal(await manager.getSecret('STRIPE_KEY'), 'sk_live_2', 'after the TTL: refetched');
    assert.equal(counter.calls.length, afterFirst + 1);
  });
});

describe('secrets as KV v2', () => {
  it('the same name in development and production; env picks one, no env is ambiguous', async () => {
    await client.secrets.create({ name: 'SHARED_KEY', value: 'dev_key', tags: ['development'] });
    await client.secrets.create({ name: 'SHARED_KEY', value: 'prod_key', tags: ['production'] });
    assert.equal((await raw('GET', 'secret/data/development/SHARED_KEY')).data.data.value, 'dev_key');
    assert.equal((await raw('GET', 'secret/data/production/SHARED_KEY')).data.data.value, 'prod_key');

    const prod = await client.secrets.get('SHARED_KEY', { env: 'production' });
    assert.equal(prod.value, 'prod_key');
    assert.equal(prod.env, 'production');
    assert.equal(prod.path, 'production/SHARED_KEY');
    assert.deepEqual(prod.tags, ['production']);
    const dev = await clientFor(server, { env: 'development' }).secrets.get('SHARED_KEY');
    assert.equal(dev.value, 'dev_key');

    await assert.rejects(client.secrets.get('SHARED_KEY'), (e: unknown) => {
      assert.ok(e instanceof CofferError);
      assert.equal(e.code, 'ambiguous');
      assert.match(e.message, /production/);
      assert.match(e.message, /development/);
      assert.ok(!e.message.includes('prod_key') && !e.message.includes('dev_key'));
      return true;
    });
    // One environment only: found without naming it.
    assert.equal((await client.secrets.get('API_KEY')).env, 'production');
  });

  it('tags, metadata, expiry and rotation are custom metadata; expiry sets delete_version_after', async () => {
    const created = await client.secrets.create({
      name: 'PAYMENT_KEY',
      value: 'pay_123',
      tags: ['payments', 'api', 'api'],
      metadata: {
        owner: 'john@example.com',
        purpose: 'Payment processing',
        documentation: 'https://wiki.company.com/api',
      },
      expiresIn: '90d',
      rotationPolicy: { enabled: true, period: '30d', notifyBefore: '7d' },
    });
    assert.equal(created.version, 1);
    assert.deepEqual(created.tags, ['api', 'payments']);

    const meta = (await raw('GET', 'secret/metadata/PAYMENT_KEY')).data;
    assert.deepEqual(meta.custom_metadata, {
      owner: 'john@example.com',
      purpose: 'Payment processing',
      documentation: 'https://wiki.company.com/api',
      'coffer:tags': 'api,payments',
      'coffer:expires-in': '90d',
      'coffer:rotation-period': '30d',
      'coffer:rotation-notify-before': '7d',
      'coffer:rotation-enabled': 'true',
    });
    assert.equal(meta.delete_version_after, '2160h0m0s');

    const read = await client.secrets.get('PAYMENT_KEY');
    assert.equal(read.value, 'pay_123');
    assert.deepEqual(read.metadata, {
      owner: 'john@example.com',
      purpose: 'Payment processing',
      documentation: 'https://wiki.company.com/api',
    });
    assert.equal(read.expiresIn, '90d');
    assert.deepEqual(read.rotationPolicy, { enabled: true, period: '30d', notifyBefore: '7d' });
  });

  it('update: expiry only keeps value and tags; a new value is a new version; old versions stay readable', async () => {
    await client.secrets.create({ name: 'ROTATING', value: 'v1', tags: ['api'], metadata: { owner: 'a' } });
    // The seed's `secrets:update STRIPE_KEY --expires-in 90d`, on this secret.
    const expiring = await client.secrets.update({ name: 'ROTATING', expiresIn: '90d' });
    assert.equal(expiring.version, 1);
    assert.equal(expiring.value, 'v1');
    assert.deepEqual(expiring.tags, ['api']);
    assert.equal(expiring.expiresIn, '90d');
    assert.equal((await raw('GET', 'secret/metadata/ROTATING')).data.delete_version_after, '2160h0m0s');

    const second = await client.secrets.update({ name: 'ROTATING', value: 'v2', metadata: { team: 'b' } });
    assert.equal(second.version, 2);
    assert.equal(second.value, 'v2');
    assert.deepEqual(second.metadata, { owner: 'a', team: 'b' });
    assert.equal((await client.secrets.get('ROTATING', { version: 1 })).value, 'v1');

    await assert.rejects(client.secrets.update({ name: 'NEVER_CREATED', value: 'x' }), (e: unknown) => e instanceof CofferError && e.status === 404);
  });

  it('create refuses an existing name and keeps the old value', async () => {
    await assert.rejects(client.secrets.create({ name: 'DATABASE_URL', value: 'other' }), (e: unknown) => {
      assert.ok(e instanceof CofferError);
      assert.equal(e.status, 400);
      assert.match(e.message, /already exists/);
      assert.ok(!e.message.includes('other'));
      return true;
    });
    assert.equal((await client.secrets.get('DATABASE_URL')).value, 'postgres://app:pw@db/app');
  });

  it('a secret written through the Vault API with other keys is readable', async () => {
    await raw('POST', 'secret/data/myapp/database', { data: { username: 'app', password: 'pw' } });
    const secret = await client.secrets.get('database', { env: 'myapp' });
    assert.deepEqual(secret.data, { username: 'app', password: 'pw' });
  });

  it('a custom environment folder is found without naming it, in a second request', async () => {
    await raw('POST', 'secret/data/qa/QA_ONLY', { data: { value: 'qa_value' } });
    const counter = countingFetch();
    const secret = await clientFor(server, { fetch: counter.fetch }).secrets.get('QA_ONLY');
    assert.equal(secret.value, 'qa_value');
    assert.equal(secret.env, 'qa');
    assert.deepEqual(counter.calls.map((c) => c.method), ['POST', 'GET', 'POST']);
  });

  it('a secret whose current version is deleted is a 404, not another environment', async () => {
    await client.secrets.create({ name: 'GONE', value: 'old' });
    await client.secrets.create({ name: 'GONE', value: 'staging_value', env: 'staging' });
    await raw('DELETE', 'secret/data/GONE');
    // The deleted root secret still exists (it has metadata): the name stays ambiguous.
    await assert.rejects(client.secrets.batchGet(['GONE']), (e: unknown) => e instanceof CofferError && e.code === 'ambiguous');
    await raw('DELETE', 'secret/metadata/staging/GONE');
    await assert.rejects(client.secrets.get('GONE'), (e: unknown) => {
      assert.ok(e instanceof CofferError);
      assert.equal(e.status, 404);
      assert.match(e.message, /deleted or expired/);
      return true;
    });
  });

  it('a token that may read only production/* gets production secrets without naming the environment', async () => {
    await raw('PUT', 'sys/policies/acl/prod-read', { policy: 'path "secret/data/production/*" { capabilities = ["read"] }' });
    const token = (await raw('POST', 'auth/token/create', { policies: ['prod-read'] })).auth.client_token;
    const prod = clientFor(server, { token });
    assert.deepEqual(await prod.secrets.batchGet(['API_KEY']), { API_KEY: 'prod_key' });
    await assert.rejects(prod.secrets.get('DATABASE_URL'), (e: unknown) => e instanceof CofferError && e.status === 403);
  });

  it('bad input is refused before any request', async () => {
    const counter = countingFetch();
    const secrets = clientFor(server, { fetch: counter.fetch }).secrets;
    const invalid = (e: unknown) => e instanceof CofferError && e.status === 0 && e.code === 'invalid_input';
    await assert.rejects(secrets.create({ name: 'X', value: 'v', tags: ['Bad Tag'] }), invalid);
    await assert.rejects(secrets.create({ name: 'X', value: 'v', expiresIn: '1x' }), invalid);
    await assert.rejects(secrets.create({ name: 'X', value: 'v', metadata: { 'coffer:tags': 'x' } }), invalid);
    await assert.rejects(secrets.create({ name: 'X', value: 'v', tags: ['production', 'staging'] }), invalid);
    await assert.rejects(secrets.create({ name: 'a/b', value: 'v' }), invalid);
    await assert.rejects(secrets.get('X', { env: '../sys' }), invalid);
    assert.equal(counter.calls.length, 0);
  });
});

describe('errors', () => {
  it('a missing secret is a CofferError 404', async () => {
    await assert.rejects(client.secrets.get('NO_SUCH_SECRET'), (e: unknown) => e instanceof CofferError && e.status === 404 && e.notFound);
    await assert.rejects(client.secrets.get('NO_SUCH_SECRET', { env: 'production' }), (e: unknown) => e instanceof CofferError && e.status === 404);
  });

  it('a bad token is a CofferError 403 with the server errors', async () => {
    const bad = clientFor(server, { token: 'not-a-token' });
    await assert.rejects(bad.secrets.get('DATABASE_URL', { env: 'production' }), (e: unknown) => {
      assert.ok(e instanceof CofferError);
      assert.equal(e.status, 403);
      assert.deepEqual(e.errors, ['permission denied']);
      return true;
    });
    await assert.rejects(bad.secrets.batchGet(['DATABASE_URL']), (e: unknown) => e instanceof CofferError && e.status === 403);
    await assert.rejects(bad.credentials.list(), (e: unknown) => e instanceof CofferError && e.status === 403);
  });

  it('no token at all is a config error before any request', async () => {
    const saved = { c: process.env.COFFER_TOKEN, v: process.env.VAULT_TOKEN };
    delete process.env.COFFER_TOKEN;
    delete process.env.VAULT_TOKEN;
    try {
      const counter = countingFetch();
      const none = new CofferClient({ address: server.address, fetch: counter.fetch });
      await assert.rejects(none.secrets.get('DATABASE_URL'), (e: unknown) => e instanceof CofferError && e.code === 'config');
      assert.equal(counter.calls.length, 0);
    } finally {
      if (saved.c !== undefined) process.env.COFFER_TOKEN = saved.c;
      if (saved.v !== undefined) process.env.VAULT_TOKEN = saved.v;
    }
  });

  it('a namespace goes out as X-Vault-Namespace and isolates the tenant', async () => {
    await raw('POST', 'sys/namespaces/acme');
    const acme = clientFor(server, { namespace: 'acme' });
    await acme.credentials.create({ name: 'acme-key', type: 'generic-secret', value: 'acme-secret' });
    assert.deepEqual((await acme.credentials.list()).map((c) => c.name), ['acme-key']);
    await assert.rejects(client.credentials.get('acme-key'), (e: unknown) => e instanceof CofferError && e.status === 404);
  });
});
