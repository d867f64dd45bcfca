//! The `token_*` parameters an auth method keeps per user or role (Vault's `tokenutil`): the
//! policies, lifetimes and use count of the tokens its logins ask for. They are read from a
//! request as a [`TokenParamsUpdate`] (only the fields given), applied to the stored
//! [`TokenParams`], shown in Vault's read shape, and turned into a [`LoginGrant`].
//!
//! Coffer issues service tokens only and does not bind tokens to client addresses, so
//! `token_type` accepts `default` and `service`, and a non-empty `token_bound_cidrs` (or
//! `token_strictly_bind_ip: true`) is refused rather than stored and silently not enforced.

use std::collections::BTreeMap;

use coffer_core::engine::{Identity, LoginGrant};
use coffer_core::ttl::Ttl;
use coffer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields;

/// The token settings stored with a user or role. A persistence type: the wire shape is built
/// by [`TokenParams::write_fields`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenParams {
    policies: Vec<String>,
    /// Seconds; 0 means the mount's default.
    ttl: u64,
    /// Seconds; 0 means none.
    max_ttl: u64,
    /// Seconds; 0 means none.
    explicit_max_ttl: u64,
    /// Seconds; 0 means not periodic.
    period: u64,
    /// 0 means unlimited.
    num_uses: u32,
    no_default_policy: bool,
    token_type: TokenType,
    /// Whether the policies were last set through the legacy `policies` field; Vault then
    /// shows them under `policies` too. Absent in records written before it existed.
    #[serde(default)]
    legacy_policies: bool,
}

/// The `token_type` setting; only the kinds of token Coffer issues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TokenType {
    /// `default`: the mount's default, a service token.
    #[default]
    Default,
    /// `service`.
    Service,
}

impl TokenType {
    fn parse(text: &str) -> Result<TokenType> {
        match text {
            "" | "default" => Ok(TokenType::Default),
            "service" => Ok(TokenType::Service),
            "batch" | "default-batch" | "default-service" => Err(Error::invalid(format!(
                "token_type {text:?} is not supported: only service tokens are issued"
            ))),
            other => Err(Error::invalid(format!("invalid token_type {other:?}"))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            TokenType::Default => "default",
            TokenType::Service => "service",
        }
    }
}

/// The token fields a write request gave; `None` leaves the stored value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TokenParamsUpdate {
    policies: Option<Vec<String>>,
    /// Whether the legacy `policies` field was given with the policies.
    legacy_policies: Option<bool>,
    ttl: Option<Ttl>,
    max_ttl: Option<Ttl>,
    explicit_max_ttl: Option<Ttl>,
    period: Option<Ttl>,
    num_uses: Option<u32>,
    no_default_policy: Option<bool>,
    token_type: Option<TokenType>,
}

impl TokenParamsUpdate {
    /// Every `token_*` field of a user or role write, plus the legacy `policies` alias (used
    /// when `token_policies` is absent).
    pub(crate) fn parse(data: &Map<String, Value>) -> Result<TokenParamsUpdate> {
        let bound_cidrs = fields::string_list(data, "token_bound_cidrs")?;
        if bound_cidrs.is_some_and(|cidrs| !cidrs.is_empty()) {
            return Err(Error::invalid(
                "token_bound_cidrs is not supported: tokens are not bound to client addresses",
            ));
        }
        if fields::boolean(data, "token_strictly_bind_ip")? == Some(true) {
            return Err(Error::invalid(
                "token_strictly_bind_ip is not supported: tokens are not bound to client addresses",
            ));
        }
        let token_type = fields::string(data, "token_type")?
            .map(|text| TokenType::parse(&text))
            .transpose()?;
        let policies = TokenParamsUpdate::parse_policies(data)?;
        Ok(TokenParamsUpdate {
            policies: policies.policies,
            legacy_policies: policies.legacy_policies,
            ttl: fields::duration(data, "token_ttl")?,
            max_ttl: fields::duration(data, "token_max_ttl")?,
            explicit_max_ttl: fields::duration(data, "token_explicit_max_ttl")?,
            period: fields::duration(data, "token_period")?,
            num_uses: fields::count(data, "token_num_uses")?,
            no_default_policy: fields::boolean(data, "token_no_default_policy")?,
            token_type,
        })
    }

    /// Only the policies: `token_policies`, or the legacy `policies` when it is absent. As in
    /// Vault, giving `policies` (alone or beside `token_policies`) marks the policies as set
    /// through the legacy field, and giving only `token_policies` clears that mark.
    pub(crate) fn parse_policies(data: &Map<String, Value>) -> Result<TokenParamsUpdate> {
        let legacy = fields::string_list(data, "policies")?;
        let (policies, legacy_policies) = match fields::string_list(data, "token_policies")? {
            Some(policies) => (Some(policies), Some(legacy.is_some())),
            None => {
                let given = legacy.is_some();
                (legacy, given.then_some(true))
            }
        };
        Ok(TokenParamsUpdate {
            policies,
            legacy_policies,
            ..TokenParamsUpdate::default()
        })
    }
}

impl TokenParams {
    /// Applies the fields `update` gives; refuses (changing nothing) a result whose TTL exceeds
    /// its max TTL.
    pub(crate) fn apply(&mut self, update: &TokenParamsUpdate) -> Result<()> {
        let mut next = self.clone();
        if let Some(policies) = &update.policies {
            next.policies.clone_from(policies);
        }
        next.legacy_policies = update.legacy_policies.unwrap_or(next.legacy_policies);
        let secs = |ttl: Option<Ttl>, current: u64| ttl.map_or(current, Ttl::as_secs);
        next.ttl = secs(update.ttl, next.ttl);
        next.max_ttl = secs(update.max_ttl, next.max_ttl);
        next.explicit_max_ttl = secs(update.explicit_max_ttl, next.explicit_max_ttl);
        next.period = secs(update.period, next.period);
        next.num_uses = update.num_uses.unwrap_or(next.num_uses);
        next.no_default_policy = update.no_default_policy.unwrap_or(next.no_default_policy);
        next.token_type = update.token_type.unwrap_or(next.token_type);
        if next.max_ttl > 0 && next.ttl > next.max_ttl {
            return Err(Error::invalid(
                "\"token_ttl\" cannot be greater than \"token_max_ttl\"",
            ));
        }
        if next.explicit_max_ttl > 0 && next.ttl > next.explicit_max_ttl {
            return Err(Error::invalid(
                "\"token_ttl\" cannot be greater than \"token_explicit_max_ttl\"",
            ));
        }
        *self = next;
        Ok(())
    }

    /// Adds the fields of Vault's read shape (`token_policies`, `token_ttl`, …) to `out`, and
    /// the legacy `policies` when they were set through it and are not empty.
    pub(crate) fn write_fields(&self, out: &mut Map<String, Value>) {
        if self.legacy_policies && !self.policies.is_empty() {
            out.insert("policies".to_owned(), json!(self.policies));
        }
        let fields = [
            ("token_bound_cidrs", json!([])),
            ("token_explicit_max_ttl", json!(self.explicit_max_ttl)),
            ("token_max_ttl", json!(self.max_ttl)),
            ("token_no_default_policy", json!(self.no_default_policy)),
            ("token_num_uses", json!(self.num_uses)),
            ("token_period", json!(self.period)),
            ("token_policies", json!(self.policies)),
            ("token_strictly_bind_ip", json!(false)),
            ("token_ttl", json!(self.ttl)),
            ("token_type", json!(self.token_type.as_str())),
        ];
        for (name, value) in fields {
            out.insert(name.to_owned(), value);
        }
    }

    /// What a successful login asks the core for. The token's hard cap is the smaller of
    /// `token_max_ttl` and `token_explicit_max_ttl` that is set.
    pub(crate) fn grant(
        &self,
        identity: Identity,
        display_name: String,
        metadata: BTreeMap<String, String>,
    ) -> LoginGrant {
        let max_ttl = match (self.max_ttl, self.explicit_max_ttl) {
            (0, explicit) => explicit,
            (max, 0) => max,
            (max, explicit) => max.min(explicit),
        };
        LoginGrant {
            policies: self.policies.clone(),
            identity,
            display_name,
            metadata,
            ttl: Ttl::from_secs(self.ttl),
            max_ttl: Ttl::from_secs(max_ttl),
            period: Ttl::from_secs(self.period),
            num_uses: self.num_uses,
            no_default_policy: self.no_default_policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies the updates parsed from `bodies` in turn to default parameters; expects the
    /// read shape, or the first error.
    fn check(bodies: &[Value], expect: std::result::Result<Value, &str>) {
        let mut params = TokenParams::default();
        let got = bodies
            .iter()
            .try_for_each(|body| {
                let Value::Object(data) = body else {
                    panic!("test bodies are JSON objects");
                };
                params.apply(&TokenParamsUpdate::parse(data)?)
            })
            .map(|()| {
                let mut out = Map::new();
                params.write_fields(&mut out);
                Value::Object(out)
            })
            .map_err(|e| e.to_string());
        assert_eq!(got, expect.map_err(str::to_owned), "{bodies:?}");
    }

    /// The read shape of default parameters with `changes` merged in.
    fn shape(changes: Value) -> Value {
        let mut out = Map::new();
        TokenParams::default().write_fields(&mut out);
        if let Value::Object(changes) = changes {
            out.extend(changes);
        }
        Value::Object(out)
    }

    #[test]
    fn defaults_have_vaults_shape() {
        check(
            &[json!({})],
            Ok(json!({
                "token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 0,
                "token_no_default_policy": false, "token_num_uses": 0, "token_period": 0,
                "token_policies": [], "token_strictly_bind_ip": false, "token_ttl": 0,
                "token_type": "default"
            })),
        );
    }

    #[test]
    fn updates() {
        check(
            &[json!({"token_policies": "a, b", "token_ttl": "1h", "token_max_ttl": "4h"})],
            Ok(shape(
                json!({"token_policies": ["a", "b"], "token_ttl": 3600, "token_max_ttl": 14400}),
            )),
        );
        // The legacy `policies` field, shown back as Vault does (checked against OpenBao 2.7.2).
        check(
            &[json!({"policies": ["legacy"]})],
            Ok(shape(
                json!({"token_policies": ["legacy"], "policies": ["legacy"]}),
            )),
        );
        check(
            &[json!({"policies": ["legacy"], "token_policies": ["new"]})],
            Ok(shape(
                json!({"token_policies": ["new"], "policies": ["new"]}),
            )),
        );
        check(
            &[json!({"policies": "a"}), json!({"token_ttl": "1h"})],
            Ok(shape(
                json!({"token_policies": ["a"], "policies": ["a"], "token_ttl": 3600}),
            )),
        );
        check(
            &[json!({"policies": "a"}), json!({"token_policies": "b"})],
            Ok(shape(json!({"token_policies": ["b"]}))),
        );
        check(
            &[json!({"token_policies": "a"}), json!({"policies": "b"})],
            Ok(shape(json!({"token_policies": ["b"], "policies": ["b"]}))),
        );
        check(
            &[json!({"policies": "a"}), json!({"policies": ""})],
            Ok(shape(json!({}))),
        );
        // A later update keeps what it does not mention.
        check(
            &[
                json!({"token_policies": ["a"], "token_num_uses": 3}),
                json!({"token_period": "30m", "token_no_default_policy": true}),
            ],
            Ok(shape(json!({
                "token_policies": ["a"], "token_num_uses": 3, "token_period": 1800,
                "token_no_default_policy": true
            }))),
        );
        check(
            &[
                json!({"token_policies": ["a"]}),
                json!({"token_policies": ""}),
            ],
            Ok(shape(json!({}))),
        );
        check(
            &[
                json!({"token_type": "service", "token_explicit_max_ttl": 60, "token_bound_cidrs": []}),
            ],
            Ok(shape(
                json!({"token_type": "service", "token_explicit_max_ttl": 60}),
            )),
        );
    }

    #[test]
    fn refused_updates() {
        check(
            &[json!({"token_ttl": "2h", "token_max_ttl": "1h"})],
            Err("\"token_ttl\" cannot be greater than \"token_max_ttl\""),
        );
        check(
            &[json!({"token_max_ttl": "1h"}), json!({"token_ttl": "2h"})],
            Err("\"token_ttl\" cannot be greater than \"token_max_ttl\""),
        );
        check(
            &[json!({"token_ttl": "2h", "token_explicit_max_ttl": "1h"})],
            Err("\"token_ttl\" cannot be greater than \"token_explicit_max_ttl\""),
        );
        check(
            &[json!({"token_bound_cidrs": ["10.0.0.0/8"]})],
            Err("token_bound_cidrs is not supported: tokens are not bound to client addresses"),
        );
        check(
            &[json!({"token_strictly_bind_ip": true})],
            Err(
                "token_strictly_bind_ip is not supported: tokens are not bound to client addresses",
            ),
        );
        check(
            &[json!({"token_type": "batch"})],
            Err("token_type \"batch\" is not supported: only service tokens are issued"),
        );
        check(
            &[json!({"token_type": "odd"})],
            Err("invalid token_type \"odd\""),
        );
        check(
            &[json!({"token_num_uses": -1})],
            Err(
                "error converting input for field \"token_num_uses\": expected a whole number from 0 to 4294967295",
            ),
        );
    }

    #[test]
    fn a_refused_update_changes_nothing() {
        let mut params = TokenParams::default();
        let Value::Object(bad) =
            json!({"token_policies": ["x"], "token_ttl": "2h", "token_max_ttl": "1h"})
        else {
            panic!("test bodies are JSON objects");
        };
        let update = TokenParamsUpdate::parse(&bad).expect("the fields parse");
        assert!(params.apply(&update).is_err());
        assert_eq!(params, TokenParams::default());
    }

    #[test]
    fn grants() {
        fn max_ttl(body: Value) -> u64 {
            let Value::Object(data) = body else {
                panic!("test bodies are JSON objects");
            };
            let mut params = TokenParams::default();
            params
                .apply(&TokenParamsUpdate::parse(&data).expect("the fields parse"))
                .expect("the update is valid");
            let identity = Identity {
                kind: "user".to_owned(),
                name: "alice".to_owned(),
            };
            params
                .grant(identity, "userpass-alice".to_owned(), BTreeMap::new())
                .max_ttl
                .as_secs()
        }
        assert_eq!(max_ttl(json!({})), 0);
        assert_eq!(max_ttl(json!({"token_max_ttl": 60})), 60);
        assert_eq!(max_ttl(json!({"token_explicit_max_ttl": 90})), 90);
        assert_eq!(
            max_ttl(json!({"token_max_ttl": 60, "token_explicit_max_ttl": 90})),
            60
        );
        assert_eq!(
            max_ttl(json!({"token_max_ttl": 120, "token_explicit_max_ttl": 90})),
            90
        );
    }
}
