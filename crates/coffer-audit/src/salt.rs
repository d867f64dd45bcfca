//! A device's salt: the HMAC-SHA256 key under which every logged string, token and accessor is
//! replaced by `hmac-sha256:<hex>`, exactly what `sys/audit-hash/<device>` returns.

use std::fmt;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// How many random bytes [`generate_salt`] returns.
pub const SALT_LEN: usize = 32;

/// The fewest salt bytes a device accepts.
const MIN_SALT_LEN: usize = 16;

/// The prefix of every HMAC written to a record.
const HMAC_PREFIX: &str = "hmac-sha256:";

/// Fresh random salt for a new device (the core persists it behind the barrier).
pub fn generate_salt() -> Result<Zeroizing<Vec<u8>>> {
    let mut salt = Zeroizing::new(vec![0u8; SALT_LEN]);
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| Error::Random)?;
    Ok(salt)
}

/// The HMAC key of one device. Its `Debug` shows nothing of the key.
pub(crate) struct Salt {
    key: hmac::Key,
}

impl Salt {
    /// Builds the key; the salt bytes are zeroized when `bytes` drops.
    pub(crate) fn new(bytes: &Zeroizing<Vec<u8>>) -> Result<Salt> {
        if bytes.len() < MIN_SALT_LEN {
            return Err(Error::Config(format!(
                "an audit salt needs at least {MIN_SALT_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Salt {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        })
    }

    /// `hmac-sha256:<hex>` of `input`.
    pub(crate) fn hash(&self, input: &str) -> String {
        let tag = hmac::sign(&self.key, input.as_bytes());
        let mut out = String::with_capacity(HMAC_PREFIX.len() + 64);
        out.push_str(HMAC_PREFIX);
        out.push_str(&hex::encode(tag.as_ref()));
        out
    }

    /// A copy of `value` with every string (at any depth, list elements included) replaced by
    /// its HMAC; numbers, booleans, null and object keys stay clear.
    pub(crate) fn hash_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.hash(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.hash_value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.hash_value(v)))
                    .collect(),
            ),
            Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
        }
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn salt() -> Salt {
        Salt::new(&Zeroizing::new(vec![7u8; 32])).expect("32 bytes is a valid salt")
    }

    /// Renders the hashed form of `input`, writing `H(x)` for the HMAC of string `x`.
    fn check(input: Value, expected: Value) {
        let salt = salt();
        let mut want = expected;
        substitute(&salt, &mut want);
        assert_eq!(salt.hash_value(&input), want, "input: {input}");
    }

    /// Replaces every `"H(x)"` string in `value` by the HMAC of `x`.
    fn substitute(salt: &Salt, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Some(inner) = s.strip_prefix("H(").and_then(|r| r.strip_suffix(')')) {
                    *s = salt.hash(inner);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| substitute(salt, v)),
            Value::Object(map) => map.values_mut().for_each(|v| substitute(salt, v)),
            _ => {}
        }
    }

    #[test]
    fn hmac_rules() {
        check(json!("s3cr3t"), json!("H(s3cr3t)"));
        check(json!(""), json!("H()"));
        check(json!(42), json!(42));
        check(json!(-1.5), json!(-1.5));
        check(json!(true), json!(true));
        check(json!(null), json!(null));
        check(json!({"password": "p"}), json!({"password": "H(p)"}));
        check(
            json!({"ttl": 3600, "renewable": false}),
            json!({"ttl": 3600, "renewable": false}),
        );
        check(json!(["a", 1, "b"]), json!(["H(a)", 1, "H(b)"]));
        check(
            json!({"data": {"policies": ["default", "admin"], "n": [1, [2, "x"]]}}),
            json!({"data": {"policies": ["H(default)", "H(admin)"], "n": [1, [2, "H(x)"]]}}),
        );
        check(json!({"k": {}}), json!({"k": {}}));
    }

    #[test]
    fn hash_is_hmac_sha256_with_prefix_and_depends_on_the_salt() {
        let a = salt();
        let b = Salt::new(&Zeroizing::new(vec![8u8; 32])).expect("valid salt");
        let h = a.hash("s3cr3t");
        assert!(h.starts_with("hmac-sha256:"));
        assert_eq!(h.len(), "hmac-sha256:".len() + 64);
        assert_eq!(h, a.hash("s3cr3t"));
        assert_ne!(h, b.hash("s3cr3t"));
        assert_ne!(h, a.hash("s3cr3T"));
        // RFC 4231 test case 2 ("Jefe"), which shows the construction is plain HMAC-SHA256.
        let jefe = Salt {
            key: hmac::Key::new(hmac::HMAC_SHA256, b"Jefe"),
        };
        assert_eq!(
            jefe.hash("what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn short_salts_are_refused_and_debug_is_redacted() {
        assert!(matches!(
            Salt::new(&Zeroizing::new(vec![1u8; 8])),
            Err(Error::Config(_))
        ));
        assert_eq!(format!("{:?}", salt()), "Salt(<redacted>)");
        assert_eq!(generate_salt().expect("rng").len(), SALT_LEN);
        assert_ne!(
            *generate_salt().expect("rng"),
            *generate_salt().expect("rng")
        );
    }
}
