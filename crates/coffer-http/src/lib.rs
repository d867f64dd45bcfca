//! The HTTP edge of a Coffer node: the axum router for `/v1/*`, extraction of token, body and
//! query into a core [`coffer_core::Request`], Vault's reply envelope, and the one table that maps
//! core errors to HTTP status codes. The only crate (with `coffer-api`) that knows HTTP and
//! Vault's JSON shapes.

mod body;
mod error_table;
mod logical;
mod router;
mod status;

pub use error_table::status_for;
pub use router::{HttpConfig, app};
