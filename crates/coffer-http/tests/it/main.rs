//! Integration tests of the HTTP edge: a core over in-memory storage with a manual clock, driven
//! through `coffer_http::app` with `oneshot`, checking status codes, headers and Vault's reply
//! shapes (`reference/vault-api.md` §0, §1.0, §1.1, §1.6, §1.11).

mod audit;
mod bruteforce;
mod credentials;
mod database;
mod denied;
mod envelope;
mod errors;
mod expiry;
mod failed_leases;
mod grants;
mod health;
mod identity;
mod keyring;
mod kv_rotation;
mod mounts;
mod namespaces;
mod policies;
mod reminders;
mod seal;
mod support;
mod tokens;
