//! `Policy` and its `Rule`s: a named, validated policy parsed from Vault's HCL or JSON policy
//! language, plus the built-in `root` and `default` policies.

use std::time::Duration;

use serde_json::Value;

use crate::capability::{Capabilities, Capability};
use crate::error::{Error, Result};
use crate::name::{DEFAULT_POLICY, PolicyName, root_policy_name};
use crate::parameters::{ParameterConstraints, ParameterValues};
use crate::pattern::Pattern;
use crate::syntax::{RawRule, RuleKey, parse_document};
use crate::ttl::parse_ttl;

/// Text of Vault's built-in `default` policy, attached to every token unless
/// `no_default_policy` is set.
///
/// The `identity/entity/id/{{identity.entity.id}}` rule uses an identity template. Coffer does
/// not expand templates yet: the rule is parsed and kept on the policy, but never matches.
pub const DEFAULT_POLICY_HCL: &str = r#"# Allow tokens to look up their own properties.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Allow tokens to renew themselves.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# Allow tokens to revoke themselves.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Allow a token to look up its own entity by id (needs identity templating).
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}

# Allow a token to look up its resultant ACL from all policies (used by the UI).
path "sys/internal/ui/resultant-acl" {
  capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body.
path "sys/leases/renew" {
  capabilities = ["update"]
}

# Allow looking up lease properties (requires knowing the lease ID).
path "sys/leases/lookup" {
  capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole.
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a response-wrapping token.
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token.
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Allow general-purpose tools.
path "sys/tools/hash" {
  capabilities = ["update"]
}
"#;

/// A named ACL policy: its rules and the text they came from.
#[derive(Debug, Clone)]
pub struct Policy {
    name: PolicyName,
    text: String,
    rules: Vec<Rule>,
}

/// One `path "<pattern>" { ... }` stanza.
#[derive(Debug, Clone)]
pub struct Rule {
    pattern: Pattern,
    capabilities: Capabilities,
    parameters: ParameterConstraints,
    min_wrapping_ttl: Option<Duration>,
    max_wrapping_ttl: Option<Duration>,
}

impl Policy {
    /// Parses HCL or JSON policy text (JSON if it starts with '{' and parses as JSON, else HCL).
    /// Errors are in Vault's words, e.g.
    /// `failed to parse policy: path "x": invalid capability "bogus"`, and for syntax errors
    /// `failed to parse policy: <parser message>`. The name `root` is refused: the root policy
    /// has no text (see [`Policy::root`]).
    pub fn parse(name: &str, text: &str) -> Result<Policy> {
        let name = PolicyName::new(name)?;
        if name.is_root() {
            return Err(Error::RootPolicyImmutable);
        }
        let rules = parse_document(text)?
            .into_iter()
            .map(Rule::from_raw)
            .collect::<Result<_>>()?;
        Ok(Policy {
            name,
            text: text.to_owned(),
            rules,
        })
    }

    /// The built-in `root` policy: no text and no rules; an ACL holding it grants everything.
    pub fn root() -> Policy {
        Policy {
            name: root_policy_name(),
            text: String::new(),
            rules: Vec::new(),
        }
    }

    /// The built-in `default` policy as shipped ([`DEFAULT_POLICY_HCL`]). It is editable, so a
    /// server uses the stored version once one exists.
    pub fn default_policy() -> Policy {
        Policy::parse(DEFAULT_POLICY, DEFAULT_POLICY_HCL)
            .expect("DEFAULT_POLICY_HCL is a constant, valid policy (covered by a test)")
    }

    /// The policy's name.
    pub fn name(&self) -> &PolicyName {
        &self.name
    }

    /// The text the policy was parsed from, as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The rules in the order they were written.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

impl Rule {
    fn from_raw(raw: RawRule) -> Result<Rule> {
        let RawRule { path, fields } = raw;
        let pattern = Pattern::parse(&path).map_err(|reason| Error::InvalidPattern {
            path: path.clone(),
            reason,
        })?;
        let invalid = |key: RuleKey, expected| Error::InvalidRuleValue {
            path: path.clone(),
            key: key.as_str(),
            expected,
        };
        let mut capabilities = None;
        let mut parameters = ParameterConstraints::default();
        let mut min_wrapping_ttl = None;
        let mut max_wrapping_ttl = None;
        for (key, value) in fields {
            match key {
                RuleKey::Capabilities => {
                    let names = strings(&value).ok_or_else(|| invalid(key, "a list of strings"))?;
                    let mut set = capabilities.unwrap_or(Capabilities::EMPTY);
                    for name in names {
                        let capability =
                            name.parse::<Capability>()
                                .map_err(|_| Error::InvalidCapability {
                                    path: path.clone(),
                                    capability: name.to_owned(),
                                })?;
                        set = set.with(capability);
                    }
                    capabilities = Some(set);
                }
                RuleKey::Policy => {
                    let Value::String(shorthand) = &value else {
                        return Err(invalid(key, "a string"));
                    };
                    let set =
                        legacy_policy(shorthand).ok_or_else(|| Error::InvalidLegacyPolicy {
                            path: path.clone(),
                            value: shorthand.clone(),
                        })?;
                    capabilities = Some(capabilities.unwrap_or(Capabilities::EMPTY).union(set));
                }
                RuleKey::RequiredParameters => {
                    let names = strings(&value).ok_or_else(|| invalid(key, "a list of strings"))?;
                    for name in names {
                        let name = name.to_lowercase();
                        if !parameters.required.contains(&name) {
                            parameters.required.push(name);
                        }
                    }
                }
                RuleKey::AllowedParameters => {
                    let values = parameter_values(value)
                        .ok_or_else(|| invalid(key, "a map of parameter name to list of values"))?;
                    parameters.allowed.extend(values);
                }
                RuleKey::DeniedParameters => {
                    let values = parameter_values(value)
                        .ok_or_else(|| invalid(key, "a map of parameter name to list of values"))?;
                    parameters.denied.extend(values);
                }
                RuleKey::MinWrappingTtl | RuleKey::MaxWrappingTtl => {
                    let ttl = parse_ttl(&value).ok_or_else(|| Error::InvalidDuration {
                        path: path.clone(),
                        key: key.as_str(),
                        value: match &value {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        },
                    })?;
                    let ttl = (!ttl.is_zero()).then_some(ttl);
                    if key == RuleKey::MinWrappingTtl {
                        min_wrapping_ttl = ttl;
                    } else {
                        max_wrapping_ttl = ttl;
                    }
                }
                RuleKey::Comment => {}
            }
        }
        let Some(capabilities) = capabilities else {
            return Err(Error::MissingCapabilities { path });
        };
        if let (Some(min), Some(max)) = (min_wrapping_ttl, max_wrapping_ttl)
            && max < min
        {
            return Err(Error::WrappingTtlOrder { path });
        }
        Ok(Rule {
            pattern,
            capabilities,
            parameters,
            min_wrapping_ttl,
            max_wrapping_ttl,
        })
    }

    /// The path pattern as written (without a leading `/`).
    pub fn path(&self) -> &str {
        self.pattern.as_str()
    }

    /// The capabilities the rule grants (`deny` alone if it denies).
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// Lowercased names of parameters a request must carry.
    pub fn required_parameters(&self) -> &[String] {
        &self.parameters.required
    }

    /// Lowercased parameter names mapped to the values they may take (empty list: any value;
    /// key `"*"`: any other parameter). An empty map means no restriction.
    pub fn allowed_parameters(&self) -> &ParameterValues {
        &self.parameters.allowed
    }

    /// Lowercased parameter names mapped to the values they may not take (empty list: any
    /// value; key `"*"`: every parameter).
    pub fn denied_parameters(&self) -> &ParameterValues {
        &self.parameters.denied
    }

    /// Smallest TTL a response to this path may be wrapped with (`None`: no minimum).
    pub fn min_wrapping_ttl(&self) -> Option<Duration> {
        self.min_wrapping_ttl
    }

    /// Largest TTL a response to this path may be wrapped with (`None`: no maximum).
    pub fn max_wrapping_ttl(&self) -> Option<Duration> {
        self.max_wrapping_ttl
    }

    /// Whether the pattern uses an identity template (`{{identity.entity.id}}`); such rules
    /// never match until Coffer supports templating.
    pub fn is_templated(&self) -> bool {
        self.pattern.is_templated()
    }

    pub(crate) fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    pub(crate) fn parameters(&self) -> &ParameterConstraints {
        &self.parameters
    }
}

/// Vault's pre-0.5 shorthand `policy = "read"` and friends.
fn legacy_policy(shorthand: &str) -> Option<Capabilities> {
    use Capability::{Create, Delete, Deny, List, Patch, Read, Sudo, Update};
    let capabilities: &[Capability] = match shorthand {
        "deny" => &[Deny],
        "read" => &[Read, List],
        "write" => &[Create, Read, Update, Patch, Delete, List],
        "sudo" => &[Create, Read, Update, Patch, Delete, List, Sudo],
        _ => return None,
    };
    Some(capabilities.iter().copied().collect())
}

fn strings(value: &Value) -> Option<Vec<&str>> {
    let Value::Array(items) = value else {
        return None;
    };
    items.iter().map(Value::as_str).collect()
}

fn parameter_values(value: Value) -> Option<ParameterValues> {
    let Value::Object(map) = value else {
        return None;
    };
    map.into_iter()
        .map(|(name, values)| match values {
            Value::Array(values) => Some((name.to_lowercase(), values)),
            _ => None,
        })
        .collect()
}
