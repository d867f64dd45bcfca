// Every `vault.credentials.*` / `vault.leases.*` snippet of the seeds (credential-model.txt,
// credential-types-api-keys.txt, credential-types-generic-secrets.txt) through the SDK against a
// live dev server, then list filters, renew/revoke and revocation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CofferClient, CofferError } from '@coffer/sdk';
import { clientFor, startServer, type DevServer } from './support.js';

let server: DevServer;
let vault: CofferClient;

before(async () => {
  server = await startServer();
  vault = clientFor(server);
});
after(async () => {
  await server.stop();
});

describe('seed snippets', () => {
  it('credential-model: create datadog-api-key with metadata', async () => {
    const created = await vault.credentials.create({
      name: 'datadog-api-key',
      type: 'api-key',
      value: 'dd-api-...',
      metadata: {
        service: 'datadog',
        environment: 'production',
        team: 'platform',
        rotateEvery: '90d',
      },
    });
    assert.equal(created.name, 'datadog-api-key');
    assert.equal(created.type, 'api-key');
    assert.equal(created.state, 'active');
    assert.equal(created.version, 1);
    assert.equal(created.metadata.team, 'platform');
    assert.equal(created.metadata.rotateEvery, '90d');
    assert.ok(!('value' in created), 'a credential reply never carries the value');
    const read = await vault.credentials.get('datadog-api-key');
    assert.equal(read.id, created.id);
    assert.equal(read.metadata.service, 'datadog');
  });

  it('api-keys: store, lease for claude-code, rotate, new leases get the new value', async () => {
    await vault.credentials.create({
      name: 'openai-api-key-prod',
      type: 'api-key',
      value: 'sk-proj-abc123...',
      metadata: {
        service: 'openai',
        environment: 'production',
        prefix: 'sk-proj-',
        team: 'ml-platform',
      },
      policy: {
        defaultLeaseTTL: '30m',
        maxLeaseTTL: '4h',
        maxLeases: 5,
      },
    });
    const policy = (await vault.credentials.get('openai-api-key-prod')).policy;
    assert.deepEqual(policy, { defaultLeaseTTL: '30m', maxLeaseTTL: '4h', maxLeases: 5 });

    const lease = await vault.leases.create({
      credentialName: 'openai-api-key-prod',
      ttl: '30m',
      identity: { type: 'agent', name: 'claude-code' },
    });
    assert.equal(lease.value, 'sk-proj-abc123...');
    assert.equal(lease.credentialName, 'openai-api-key-prod');
    assert.equal(lease.version, 1);
    assert.equal(lease.ttl, 1800);
    assert.deepEqual(lease.identity, { type: 'agent', name: 'claude-code' });
    assert.match(lease.leaseId, /^credentials\/openai-api-key-prod\/lease\/.+/);
    assert.ok(Date.parse(lease.expiresAt) > Date.parse(lease.issuedAt));

    const rotated = await vault.credentials.rotate({
      name: 'openai-api-key-prod',
      newValue: 'sk-proj-newkey456...',
    });
    assert.equal(rotated.version, 2);
    assert.equal(rotated.state, 'active');
    const next = await vault.leases.create({
      credentialName: 'openai-api-key-prod',
      ttl: '30m',
      identity: { type: 'agent', name: 'claude-code' },
    });
    assert.equal(next.value, 'sk-proj-newkey456...');
    assert.equal(next.version, 2);

    // The old lease keeps its version: renewing it still works after the rotation.
    const renewed = await vault.leases.renew(lease.leaseId, '1h');
    assert.equal(renewed.leaseId, lease.leaseId);
    assert.equal(renewed.leaseDuration, 3600);
  });

  it('api-keys: AWS access key with the key id in metadata', async () => {
    const created = await vault.credentials.create({
      name: 'aws-deploy-key-prod',
      type: 'api-key',
      value: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      metadata: {
        service: 'aws',
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        environment: 'production',
        iamUser: 'deploy-bot',
      },
    });
    assert.equal(created.metadata.accessKeyId, 'AKIAIOSFODNN7EXAMPLE');
  });

  it('generic-secrets: the three create snippets and the webhook lease with a purpose', async () => {
    await vault.credentials.create({
      name: 'webhook-signing-secret',
      type: 'generic-secret',
      value: 'whsec_abc123xyz...',
      metadata: {
        service: 'stripe',
        purpose: 'Verifying Stripe webhook signatures',
        environment: 'production',
      },
    });
    await vault.credentials.create({
      name: 'data-encryption-key-v3',
      type: 'generic-secret',
      value: 'base64encodedkey==',
      metadata: {
        algorithm: 'aes-256-gcm',
        keyVersion: '3',
        purpose: 'Encrypting PII fields in the users table',
      },
    });
    await vault.credentials.create({
      name: 'jwt-signing-secret',
      type: 'generic-secret',
      value: 'a-very-long-random-string',
      metadata: {
        algorithm: 'HS256',
        audience: 'api.example.com',
      },
    });
    const lease = await vault.leases.create({
      credentialName: 'webhook-signing-secret',
      ttl: '1h',
      identity: {
        type: 'agent',
        name: 'webhook-processor',
        purpose: 'Verifying incoming Stripe webhooks',
      },
    });
    assert.equal(lease.value, 'whsec_abc123xyz...');
    assert.equal(lease.ttl, 3600);
    assert.equal(lease.identity.name, 'webhook-processor');
  });
});

describe('list, revoke and errors', () => {
  it('lists with type and state filters', async () => {
    const generic = await vault.credentials.list({ type: 'generic-secret' });
    assert.deepEqual(
      generic.map((c) => c.name).sort(),
      ['data-encryption-key-v3', 'jwt-signing-secret', 'webhook-signing-secret'],
    );
    assert.ok(generic.every((c) => c.type === 'generic-secret' && c.state === 'active'));
    const all = await vault.credentials.list();
    assert.ok(all.some((c) => c.name === 'openai-api-key-prod' && c.version === 2));
  });

  it('revoking a credential ends its leases and refuses new ones', async () => {
    const lease = await vault.leases.create({ credentialName: 'jwt-signing-secret', ttl: '1h' });
    const revoked = await vault.credentials.revoke('jwt-signing-secret');
    assert.equal(revoked.state, 'revoked');
    await assert.rejects(vault.leases.renew(lease.leaseId), (e: unknown) => e instanceof CofferError && e.status >= 400);
    await assert.rejects(
      vault.leases.create({ credentialName: 'jwt-signing-secret' }),
      (e: unknown) => e instanceof CofferError && e.status >= 400 && e.status < 500,
    );
    const revokedList = await vault.credentials.list({ state: 'revoked' });
    assert.deepEqual(revokedList.map((c) => c.name), ['jwt-signing-secret']);
  });

  it('TTLs and increments may be given in seconds', async () => {
    const lease = await vault.leases.create({ credentialName: 'datadog-api-key', ttl: 600 });
    assert.equal(lease.ttl, 600);
    assert.equal(lease.renewable, true);
    const renewed = await vault.leases.renew(lease.leaseId, 900);
    assert.equal(renewed.leaseDuration, 900);
  });

  it('revoking a lease ends it', async () => {
    const lease = await vault.leases.create({ credentialName: 'webhook-signing-secret', ttl: '1h' });
    await vault.leases.revoke(lease.leaseId);
    await assert.rejects(vault.leases.renew(lease.leaseId), CofferError);
  });

  it('a duplicate or invalid credential is a 400 with the server errors and no value in the message', async () => {
    await assert.rejects(
      vault.credentials.create({ name: 'datadog-api-key', type: 'api-key', value: 'dd-second-value' }),
      (e: unknown) => {
        assert.ok(e instanceof CofferError);
        assert.equal(e.status, 400);
        assert.ok(e.errors.length > 0);
        assert.ok(!e.message.includes('dd-second-value'));
        return true;
      },
    );
    await assert.rejects(
      vault.credentials.create({ name: 'empty-key', type: 'api-key', value: '' }),
      (e: unknown) => e instanceof CofferError && e.status === 400,
    );
  });

  it('a missing credential is a 404; a bad name never leaves the client', async () => {
    await assert.rejects(vault.credentials.get('no-such-credential'), (e: unknown) => e instanceof CofferError && e.status === 404);
    await assert.rejects(vault.credentials.get('../sys/mounts'), (e: unknown) => e instanceof CofferError && e.code === 'invalid_input');
  });
});
