//! Pure ACL policies: Vault's HCL/JSON policy language compiled into an ACL that answers "which
//! capabilities does this token have on this path", with Vault's precedence rules. No IO, no
//! async, no storage: this crate never knows where policies are kept or how tokens map to them.
//!
//! Flow: [`Policy::parse`] turns policy text into validated [`Rule`]s; [`Acl::new`] merges the
//! rules of a token's policies and compiles them; [`Acl::check`] and [`Acl::capabilities`]
//! answer per request.

mod acl;
mod capability;
mod error;
mod name;
mod parameters;
mod pattern;
mod policy;
mod syntax;
mod ttl;

pub use acl::{Acl, Decision};
pub use capability::{Capabilities, Capability, Operation};
pub use error::{Error, Result};
pub use name::{DEFAULT_POLICY, PolicyName, ROOT_POLICY, default_policy_name, root_policy_name};
pub use parameters::ParameterValues;
pub use policy::{DEFAULT_POLICY_HCL, Policy, Rule};
