/**
 * Coffer's TypeScript SDK: fetch-based, typed, no runtime dependencies.
 *
 * ```ts
 * import { CofferClient } from '@coffer/sdk';
 * const vault = new CofferClient(); // COFFER_ADDR / COFFER_TOKEN
 * const lease = await vault.leases.create({ credentialName: 'openai-api-key-prod', ttl: '30m' });
 * const secrets = await vault.secrets.batchGet(['DATABASE_URL', 'API_KEY']);
 * ```
 */
export { CofferClient, VSecureClient } from './client.js';
export { CofferError } from './errors.js';
export { Credentials } from './credentials.js';
export { Leases } from './leases.js';
export { ENVIRONMENTS, Secrets } from './secrets.js';
