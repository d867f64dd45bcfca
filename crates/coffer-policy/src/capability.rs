//! Capabilities (what a rule grants) and operations (what a request needs), as in Vault's
//! `capabilities = [...]` lists. `Capabilities` is a small bitset that keeps Vault's rule that a
//! `deny` erases every other capability in the same set.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// One capability of Vault's policy language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Write to a path that does not exist yet.
    Create,
    /// Read (`GET`).
    Read,
    /// Write to a path that exists, and action endpoints.
    Update,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `LIST` / `?list=true`.
    List,
    /// Needed in addition for root-protected paths.
    Sudo,
    /// Overrides every other capability of the same rule.
    Deny,
    /// OpenBao's recursive list.
    Scan,
}

impl Capability {
    /// Every capability, sorted alphabetically by name (the order Vault reports them in).
    pub const ALL: [Capability; 9] = [
        Capability::Create,
        Capability::Delete,
        Capability::Deny,
        Capability::List,
        Capability::Patch,
        Capability::Read,
        Capability::Scan,
        Capability::Sudo,
        Capability::Update,
    ];

    /// The lowercase name used in policy text and API responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
            Capability::Scan => "scan",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = Error;

    fn from_str(s: &str) -> Result<Capability> {
        Capability::ALL
            .into_iter()
            .find(|capability| capability.as_str() == s)
            .ok_or_else(|| Error::UnknownCapability(s.to_owned()))
    }
}

/// A set of capabilities.
///
/// Invariant: a set holding [`Capability::Deny`] holds nothing else, so `contains(Read)` is
/// false once `Deny` is in, and adding more capabilities to a denied set changes nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u16);

impl Capabilities {
    /// No capability at all.
    pub const EMPTY: Capabilities = Capabilities(0);

    /// Just `deny`.
    pub const DENY: Capabilities = Capabilities(1 << (Capability::Deny as u16));

    /// What the root token has: every capability except `deny`.
    pub const ALL: Capabilities =
        Capabilities(((1 << Capability::ALL.len()) - 1) & !(1 << (Capability::Deny as u16)));

    /// Whether `capability` is in the set.
    pub fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// Whether the set holds no capability, not even `deny`.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set grants anything, i.e. it is neither empty nor `deny`.
    pub fn grants_any(self) -> bool {
        !self.is_empty() && !self.contains(Capability::Deny)
    }

    /// The set with `capability` added (a `deny` replaces everything).
    #[must_use]
    pub fn with(self, capability: Capability) -> Capabilities {
        self.union(Capabilities(capability.bit()))
    }

    /// Both sets together, as Vault merges rules with identical patterns: `deny` on either side
    /// makes the result `deny`.
    #[must_use]
    pub fn union(self, other: Capabilities) -> Capabilities {
        if self.contains(Capability::Deny) || other.contains(Capability::Deny) {
            Capabilities::DENY
        } else {
            Capabilities(self.0 | other.0)
        }
    }

    /// The capabilities in the set, in alphabetical order of their names.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |capability| self.contains(*capability))
    }

    /// The names as Vault's `sys/capabilities` reports them: sorted alphabetically, and
    /// `["deny"]` when the set is `deny` or grants nothing at all. (For the root token Vault
    /// answers `["root"]`; callers check [`crate::Acl::is_root`] for that.)
    pub fn names(self) -> Vec<&'static str> {
        if !self.grants_any() {
            return vec![Capability::Deny.as_str()];
        }
        self.iter().map(Capability::as_str).collect()
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Capabilities {
        iter.into_iter()
            .fold(Capabilities::EMPTY, Capabilities::with)
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// What a request does, mapped from its HTTP method; each needs the capability of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A write to a path that does not exist yet.
    Create,
    /// A read.
    Read,
    /// A write to an existing path, or an action.
    Update,
    /// A `PATCH`.
    Patch,
    /// A `DELETE`.
    Delete,
    /// A list.
    List,
    /// OpenBao's recursive list.
    Scan,
}

impl Operation {
    /// The capability a rule must grant for this operation.
    pub fn capability(self) -> Capability {
        match self {
            Operation::Create => Capability::Create,
            Operation::Read => Capability::Read,
            Operation::Update => Capability::Update,
            Operation::Patch => Capability::Patch,
            Operation::Delete => Capability::Delete,
            Operation::List => Capability::List,
            Operation::Scan => Capability::Scan,
        }
    }

    /// Whether Vault checks `required/allowed/denied_parameters` for this operation (it does for
    /// the operations that carry data: create, read, update and patch).
    pub fn checks_parameters(self) -> bool {
        matches!(
            self,
            Operation::Create | Operation::Read | Operation::Update | Operation::Patch
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.capability().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for capability in Capability::ALL {
            assert_eq!(
                capability.as_str().parse::<Capability>().ok(),
                Some(capability)
            );
            assert_eq!(capability.to_string(), capability.as_str());
        }
        assert!(matches!(
            "Read".parse::<Capability>(),
            Err(Error::UnknownCapability(name)) if name == "Read"
        ));
    }

    #[test]
    fn deny_erases_everything() {
        let set: Capabilities = [Capability::Read, Capability::Deny, Capability::Update]
            .into_iter()
            .collect();
        assert_eq!(set, Capabilities::DENY);
        assert!(!set.contains(Capability::Read));
        assert!(!set.grants_any());
        assert!(!set.is_empty());
        assert_eq!(set.names(), ["deny"]);
    }

    #[test]
    fn names_are_sorted_and_empty_reads_as_deny() {
        let set: Capabilities = [Capability::Update, Capability::Read, Capability::Create]
            .into_iter()
            .collect();
        assert_eq!(set.names(), ["create", "read", "update"]);
        assert_eq!(Capabilities::EMPTY.names(), ["deny"]);
        assert!(Capabilities::EMPTY.is_empty());
        assert_eq!(
            Capabilities::ALL.names(),
            [
                "create", "delete", "list", "patch", "read", "scan", "sudo", "update"
            ]
        );
    }
}
