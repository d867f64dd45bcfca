//! The barrier: everything Coffer stores passes through here and is sealed with AES-256-GCM under
//! a keyring of terms, with the storage path as associated data. Also the root key and its
//! Shamir split. It knows storage (below it) but nothing of HTTP, tokens, mounts or policies.
//!
//! Key hierarchy, as in Vault: unseal shares → [`RootKey`] → keyring (one data key per [`Term`],
//! stored at `core/keyring` sealed under the root key) → every stored entry. Engines get a
//! [`View`], a prefix of the barrier they cannot leave.

mod barrier;
mod error;
mod frame;
mod key_wrap;
mod keyring;
mod root_key;
pub mod shamir;
mod view;

pub use barrier::{Barrier, BarrierOp, KEYRING_PATH, Stamp};
pub use error::{Corruption, Error, Result};
pub use key_wrap::{open_with_key, seal_with_key};
pub use keyring::{KeyStatus, Term};
pub use root_key::RootKey;
pub use view::View;
