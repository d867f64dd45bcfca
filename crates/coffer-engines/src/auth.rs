//! What the auth engines (`userpass`, `approle`) share: Vault's lenient reading of request
//! fields ([`fields`]) and the `token_*` parameters every auth method keeps for the tokens it
//! asks the core to issue ([`token_params`]). Nothing here knows users, roles or storage layout.

pub(crate) mod fields;
pub(crate) mod token_params;
