/**
 * `client.secrets`: named developer secrets stored as KV v2 secrets (the mapping of Coffer issue
 * #7, shared with `coffer secrets`):
 *
 * - a secret `NAME` lives at `<mount>/data/<env>/NAME` when it has an environment (`env`, or an
 *   environment tag among its tags: production, staging, development, prod, dev, test), else at
 *   `<mount>/data/NAME`; the default mount is `secret`;
 * - the value is the KV data `{"value": "..."}`;
 * - tags, caller metadata, expiry and rotation policy are KV `custom_metadata` (`coffer:tags`,
 *   `coffer:expires-in`, `coffer:rotation-*`), and `expiresIn` also sets the secret's
 *   `delete_version_after`, so the server stops serving a version once it is that old.
 *
 * Reading a name without an environment looks at every candidate path in one batch read
 * (`POST /v1/sys/batch/read`): exactly one must exist. Names found under no environment tag are
 * then looked for under the mount's other top-level folders (custom environments like `qa`).
 */
import { CofferError, invalidInput } from './errors.js';
import { encodePath } from './http.js';
/** The environment tags; a tag among these places a secret at `<env>/<NAME>`. */
export const ENVIRONMENTS = ['production', 'staging', 'development', 'prod', 'dev', 'test'];
const NAME = /^[A-Za-z0-9._-]{1,128}$/;
const TAG = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const DURATION = /^(\d+[smhd])+$/;
const BATCH_LIMIT = 256;
const RESERVED = 'coffer:';
const KEY_TAGS = 'coffer:tags';
const KEY_EXPIRES = 'coffer:expires-in';
const KEY_ROT_PERIOD = 'coffer:rotation-period';
const KEY_ROT_NOTIFY = 'coffer:rotation-notify-before';
const KEY_ROT_ENABLED = 'coffer:rotation-enabled';
const KEY_GENERATE = 'coffer:generate';
function checkName(name) {
    if (typeof name !== 'string' || !NAME.test(name)) {
        throw invalidInput('a secret name is 1 to 128 characters of A-Z a-z 0-9 . _ -');
    }
}
function checkTag(tag, what = 'tag') {
    if (typeof tag !== 'string' || !TAG.test(tag)) {
        throw invalidInput(`invalid ${what} ${JSON.stringify(tag)}: use [a-z0-9][a-z0-9_.-]{0,63}`);
    }
}
function checkDuration(duration, what) {
    if (typeof duration !== 'string' || !DURATION.test(duration)) {
        throw invalidInput(`invalid ${what} ${JSON.stringify(duration)}: use a duration like 30m, 12h or 90d`);
    }
}
function checkMetadata(metadata) {
    for (const [key, value] of Object.entries(metadata)) {
        if (key.length === 0 || key.startsWith(RESERVED)) {
            throw invalidInput(`invalid metadata key ${JSON.stringify(key)}: keys are non-empty and must not start with coffer:`);
        }
        if (typeof value !== 'string')
            throw invalidInput(`metadata ${JSON.stringify(key)} must be a string`);
    }
}
function checkRotation(policy) {
    checkDuration(policy.period, 'rotation period');
    if (policy.notifyBefore !== undefined)
        checkDuration(policy.notifyBefore, 'rotation notifyBefore');
}
/** The environment chosen by the tags, if one. */
function envFromTags(tags) {
    const envs = [...new Set((tags ?? []).filter((t) => ENVIRONMENTS.includes(t)))];
    if (envs.length > 1) {
        throw invalidInput(`the tags name several environments (${envs.join(', ')}): pass env to choose one`);
    }
    return envs[0];
}
function normalizeTags(tags) {
    tags.forEach((t) => checkTag(t));
    return [...new Set(tags)].sort();
}
function setRotation(custom, policy) {
    custom[KEY_ROT_PERIOD] = policy.period;
    if (policy.notifyBefore !== undefined)
        custom[KEY_ROT_NOTIFY] = policy.notifyBefore;
    else
        delete custom[KEY_ROT_NOTIFY];
    custom[KEY_ROT_ENABLED] = String(policy.enabled ?? true);
}
/** A {@link Secret} from a KV v2 data read at `path`. */
function toSecret(name, path, read) {
    const data = read.data ?? {};
    const custom = read.metadata?.custom_metadata ?? {};
    const metadata = {};
    for (const [key, value] of Object.entries(custom))
        if (!key.startsWith(RESERVED))
            metadata[key] = value;
    const tags = custom[KEY_TAGS] ? custom[KEY_TAGS].split(',').filter((t) => t.length > 0) : [];
    const slash = path.lastIndexOf('/');
    const secret = {
        name,
        env: slash >= 0 ? path.slice(0, slash) : null,
        path,
        value: typeof data.value === 'string' ? data.value : JSON.stringify(data),
        data,
        version: read.metadata?.version ?? 0,
        createdTime: read.metadata?.created_time ?? '',
        tags,
        metadata,
    };
    if (custom[KEY_EXPIRES])
        secret.expiresIn = custom[KEY_EXPIRES];
    if (custom[KEY_ROT_PERIOD]) {
        const policy = { enabled: custom[KEY_ROT_ENABLED] !== 'false', period: custom[KEY_ROT_PERIOD] };
        if (custom[KEY_ROT_NOTIFY])
            policy.notifyBefore = custom[KEY_ROT_NOTIFY];
        secret.rotationPolicy = policy;
    }
    const generate = Number(custom[KEY_GENERATE]);
    if (custom[KEY_GENERATE] && Number.isInteger(generate) && generate > 0)
        secret.generate = generate;
    return secret;
}
/** `client.secrets`. */
export class Secrets {
    #http;
    #mount;
    #env;
    /** Secrets in the KV v2 mount `mount`, in environment `env` unless a call names another. */
    constructor(http, mount = 'secret', env) {
        if (env !== undefined)
            checkTag(env, 'environment');
        this.#http = http;
        this.#mount = mount.replace(/^\/+|\/+$/g, '');
        this.#env = env;
    }
    #kv(kind, path) {
        return `${this.#mount}/${kind}/${path}`;
    }
    /** Reads a secret's latest (or a given) version; 404 when it does not exist or has expired. */
    async get(name, options = {}) {
        checkName(name);
        if (options.version !== undefined && (!Number.isInteger(options.version) || options.version < 1)) {
            throw invalidInput('version must be a positive integer');
        }
        const env = options.env ?? this.#env;
        if (env !== undefined)
            checkTag(env, 'environment');
        let path;
        if (env !== undefined) {
            path = `${env}/${name}`;
        }
        else {
            const found = (await this.#resolve([name], 'data'))[0];
            path = found.path;
            if (options.version === undefined)
                return toSecret(name, path, found.item.data);
        }
        const query = { version: options.version === undefined ? undefined : String(options.version) };
        const read = await this.#http.data('GET', encodePath(this.#kv('data', path)), { query });
        return toSecret(name, path, read);
    }
    /**
     * Reads several secrets' values in one HTTP request (`sys/batch/read`; more than one only when
     * the names need more than 256 paths). Returns `{NAME: value}`; throws 404 naming every missing
     * secret.
     */
    async batchGet(names, options = {}) {
        names.forEach(checkName);
        const env = options.env ?? this.#env;
        if (env !== undefined)
            checkTag(env, 'environment');
        const unique = [...new Set(names)];
        const found = await this.#resolve(unique, 'data', env);
        const values = {};
        unique.forEach((name, i) => {
            const hit = found[i];
            if (hit)
                values[name] = toSecret(name, hit.path, hit.item.data).value;
        });
        return values;
    }
    /** Creates a secret (KV version 1 with its tags, metadata, expiry and rotation policy); 400 if it exists. */
    async create(input) {
        checkName(input.name);
        if (typeof input.value !== 'string')
            throw invalidInput('value must be a string');
        const tags = normalizeTags(input.tags ?? []);
        if (input.metadata)
            checkMetadata(input.metadata);
        if (input.expiresIn !== undefined)
            checkDuration(input.expiresIn, 'expiresIn');
        if (input.rotationPolicy)
            checkRotation(input.rotationPolicy);
        if (input.env !== undefined)
            checkTag(input.env, 'environment');
        const env = input.env ?? envFromTags(tags) ?? this.#env;
        const path = env === undefined ? input.name : `${env}/${input.name}`;
        const custom = { ...(input.metadata ?? {}) };
        if (tags.length > 0)
            custom[KEY_TAGS] = tags.join(',');
        if (input.expiresIn !== undefined)
            custom[KEY_EXPIRES] = input.expiresIn;
        if (input.rotationPolicy)
            setRotation(custom, input.rotationPolicy);
        let written;
        try {
            written = await this.#http.data('POST', encodePath(this.#kv('data', path)), {
                body: { options: { cas: 0 }, data: { value: input.value } },
            });
        }
        catch (error) {
            if (error instanceof CofferError && error.status === 400 && error.errors.some((e) => e.includes('check-and-set'))) {
                throw new CofferError(400, [`secret ${path} already exists: use secrets.update`], 'http', error.request);
            }
            throw error;
        }
        await this.#writeMetadata(path, custom, input.expiresIn);
        return toSecret(input.name, path, {
            data: { value: input.value },
            metadata: { ...written, custom_metadata: custom },
        });
    }
    /** Changes an existing secret: a new version when `value` is given, and/or its tags, metadata, expiry, rotation. */
    async update(input) {
        checkName(input.name);
        if (input.value !== undefined && typeof input.value !== 'string')
            throw invalidInput('value must be a string');
        const tags = input.tags === undefined ? undefined : normalizeTags(input.tags);
        if (input.metadata)
            checkMetadata(input.metadata);
        if (input.expiresIn !== undefined)
            checkDuration(input.expiresIn, 'expiresIn');
        if (input.rotationPolicy)
            checkRotation(input.rotationPolicy);
        if (input.env !== undefined)
            checkTag(input.env, 'environment');
        const env = input.env ?? envFromTags(tags) ?? this.#env;
        let path;
        let current;
        if (env !== undefined) {
            path = `${env}/${input.name}`;
            current = await this.#http.data('GET', encodePath(this.#kv('metadata', path)));
        }
        else {
            const found = (await this.#resolve([input.name], 'metadata'))[0];
            path = found.path;
            current = found.item.data;
        }
        if (input.value !== undefined) {
            await this.#http.data('POST', encodePath(this.#kv('data', path)), {
                body: { options: { cas: current.current_version ?? 0 }, data: { value: input.value } },
            });
        }
        const custom = { ...(current.custom_metadata ?? {}) };
        if (tags !== undefined) {
            if (tags.length > 0)
                custom[KEY_TAGS] = tags.join(',');
            else
                delete custom[KEY_TAGS];
        }
        Object.assign(custom, input.metadata ?? {});
        if (input.expiresIn !== undefined)
            custom[KEY_EXPIRES] = input.expiresIn;
        if (input.rotationPolicy)
            setRotation(custom, input.rotationPolicy);
        if (tags !== undefined || input.metadata || input.expiresIn !== undefined || input.rotationPolicy) {
            await this.#writeMetadata(path, custom, input.expiresIn);
        }
        const read = await this.#http.data('GET', encodePath(this.#kv('data', path)));
        return toSecret(input.name, path, read);
    }
    async #writeMetadata(path, custom, expiresIn) {
        const body = { custom_metadata: custom };
        if (expiresIn !== undefined)
            body.delete_version_after = expiresIn;
        await this.#http.request('POST', encodePath(this.#kv('metadata', path)), { body });
    }
    /**
     * Finds each name's KV path with batch reads of `kind` (data or metadata): the path under
     * `env` when given, else the one existing among `NAME` and `<env>/NAME` for every environment
     * tag, in one request. Only for names found nowhere, the mount's other top-level folders (custom
     * environments such as `qa`) are listed and tried in a second one. A version that is deleted or
     * expired still counts as existing (and is then a 404). Throws 404 naming the missing names, the
     * server's status when reads were refused, or an `ambiguous` error naming the environments.
     */
    async #resolve(names, kind, env) {
        const request = { method: 'POST', path: 'sys/batch/read' };
        const found = await this.#candidates(names, kind, env !== undefined ? [`${env}/`] : ['', ...ENVIRONMENTS.map((e) => `${e}/`)]);
        const exists = (item) => (item.status === 200 || (kind === 'data' && item.status === 404)) && item.data !== undefined && item.data !== null;
        const unresolved = names.filter((name) => !(found.get(name) ?? []).some((h) => exists(h.item)));
        if (env === undefined && unresolved.length > 0) {
            const extra = await this.#customEnvironments();
            if (extra.length > 0) {
                const more = await this.#candidates(unresolved, kind, extra.map((e) => `${e}/`));
                for (const [name, hits] of more)
                    found.get(name)?.push(...hits);
            }
        }
        const missing = [];
        const denied = [];
        const result = [];
        for (const name of names) {
            const mine = found.get(name) ?? [];
            const hits = mine.filter((h) => exists(h.item));
            if (hits.length > 1) {
                const envs = hits.map((h) => (h.path.includes('/') ? h.path.slice(0, h.path.lastIndexOf('/')) : '(none)'));
                throw new CofferError(0, [`secret ${name} exists in several environments (${envs.join(', ')}): pass env to choose one`], 'ambiguous', request);
            }
            const hit = hits[0];
            if (hit && hit.item.status !== 200) {
                throw new CofferError(404, [`secret ${hit.path} has no current version (deleted or expired)`], 'http', request);
            }
            if (hit) {
                result.push(hit);
                continue;
            }
            const refused = mine.find((h) => h.item.status !== 404);
            if (refused)
                denied.push({ name, item: refused.item });
            else
                missing.push(name);
        }
        const firstDenied = denied[0];
        if (firstDenied) {
            const reasons = denied.map((d) => `${d.name}: ${(d.item.errors ?? []).join('; ') || `status ${d.item.status}`}`);
            throw new CofferError(firstDenied.item.status, reasons, 'http', request);
        }
        if (missing.length > 0) {
            throw new CofferError(404, [`secret not found: ${missing.join(', ')}`], 'http', request);
        }
        return result;
    }
    /** Batch-reads `<prefix><name>` for every name and prefix (256 paths a request); by name. */
    async #candidates(names, kind, prefixes) {
        const wanted = names.flatMap((name) => prefixes.map((prefix) => ({ name, path: `${prefix}${name}` })));
        const found = new Map(names.map((n) => [n, []]));
        for (let start = 0; start < wanted.length; start += BATCH_LIMIT) {
            const chunk = wanted.slice(start, start + BATCH_LIMIT);
            const reply = await this.#http.data('POST', 'sys/batch/read', {
                body: { paths: chunk.map((c) => this.#kv(kind, c.path)) },
            });
            const responses = reply.responses ?? [];
            if (responses.length !== chunk.length) {
                throw new CofferError(0, ['the batch read answered a different number of paths'], 'network', {
                    method: 'POST',
                    path: 'sys/batch/read',
                });
            }
            chunk.forEach((c, i) => found.get(c.name)?.push({ path: c.path, item: responses[i] }));
        }
        return found;
    }
    /** Top-level folders of the mount that are not environment tags but could be environments. */
    async #customEnvironments() {
        let keys;
        try {
            keys = (await this.#http.data('GET', encodePath(`${this.#mount}/metadata`), {
                query: { list: 'true' },
            })).keys;
        }
        catch (error) {
            if (error instanceof CofferError && (error.status === 404 || error.status === 403))
                return [];
            throw error;
        }
        if (!Array.isArray(keys))
            return [];
        return keys
            .filter((k) => typeof k === 'string' && k.endsWith('/'))
            .map((k) => k.slice(0, -1))
            .filter((folder) => TAG.test(folder) && !ENVIRONMENTS.includes(folder));
    }
}
