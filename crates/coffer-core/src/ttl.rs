//! Durations as Vault accepts them: Go-style strings (`"1h30m"`, `"720h0m0s"`, `"1.5h"`), a bare
//! number of seconds (`3600` or `"3600"`), plus `d` for days (`"7d"`), which Coffer's own CLI uses.

use std::time::Duration;

use serde_json::Value;

/// A parsed, non-negative duration with whole-second precision where Vault uses seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Ttl(Duration);

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct TtlError {
    input: String,
    reason: &'static str,
}

impl Ttl {
    /// Zero, meaning "not set" wherever Vault uses 0 that way.
    pub const ZERO: Ttl = Ttl(Duration::ZERO);

    /// From a number of seconds.
    pub fn from_secs(secs: u64) -> Self {
        Ttl(Duration::from_secs(secs))
    }

    /// The duration.
    pub fn duration(self) -> Duration {
        self.0
    }

    /// Whole seconds.
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses text: Go duration syntax, a bare number of seconds, or days with `d`.
    pub fn parse(input: &str) -> Result<Ttl, TtlError> {
        let text = input.trim();
        let fail = |reason| TtlError {
            input: input.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(fail("empty duration"));
        }
        if let Ok(secs) = text.parse::<u64>() {
            return Ok(Ttl::from_secs(secs));
        }
        if text.starts_with('-') {
            return Err(fail("negative durations are not allowed"));
        }
        let mut total = 0f64;
        let mut rest = text.strip_prefix('+').unwrap_or(text);
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| fail("missing unit (use s, m, h or d)"))?;
            if number_len == 0 {
                return Err(fail("expected a number"));
            }
            let (number, after) = rest.split_at(number_len);
            let value: f64 = number.parse().map_err(|_| fail("bad number"))?;
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, tail) = after.split_at(unit_len);
            let scale = match unit {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                "d" => 86_400.0,
                _ => return Err(fail("unknown unit (use s, m, h or d)")),
            };
            total += value * scale;
            rest = tail;
        }
        if !total.is_finite() || total > 1e12 {
            return Err(fail("too large"));
        }
        Ok(Ttl(Duration::from_secs_f64(total)))
    }

    /// Parses a JSON parameter: a number of seconds or a duration string.
    pub fn from_json(value: &Value) -> Result<Ttl, TtlError> {
        match value {
            Value::Number(n) => match n.as_u64() {
                Some(secs) => Ok(Ttl::from_secs(secs)),
                None => Err(TtlError {
                    input: n.to_string(),
                    reason: "must be a whole, non-negative number of seconds",
                }),
            },
            Value::String(s) => Ttl::parse(s),
            Value::Null => Ok(Ttl::ZERO),
            other => Err(TtlError {
                input: other.to_string(),
                reason: "must be a number of seconds or a duration string",
            }),
        }
    }

    /// Go's `time.Duration` text for whole seconds, e.g. `"1h0m0s"`, `"30m0s"`, `"0s"`.
    pub fn go_string(self) -> String {
        let secs = self.0.as_secs();
        if secs == 0 {
            return "0s".to_owned();
        }
        let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        if h > 0 {
            format!("{h}h{m}m{s}s")
        } else if m > 0 {
            format!("{m}m{s}s")
        } else {
            format!("{s}s")
        }
    }
}

impl From<Duration> for Ttl {
    fn from(d: Duration) -> Self {
        Ttl(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<u64, &str>) {
        let got = Ttl::parse(input).map(Ttl::as_secs).map_err(|e| e.reason);
        assert_eq!(got, expect, "input {input:?}");
    }

    #[test]
    fn parses_vault_durations() {
        check("3600", Ok(3600));
        check("0", Ok(0));
        check("1h", Ok(3600));
        check("1h0m0s", Ok(3600));
        check("30m", Ok(1800));
        check("1h30m", Ok(5400));
        check("1.5h", Ok(5400));
        check("720h", Ok(2_592_000));
        check("7d", Ok(604_800));
        check("90s", Ok(90));
        check(" 5m ", Ok(300));
        check("1500ms", Ok(1));
        check("", Err("empty duration"));
        check("1x", Err("unknown unit (use s, m, h or d)"));
        check("h", Err("expected a number"));
        check("10 m", Err("unknown unit (use s, m, h or d)"));
        check("-5m", Err("negative durations are not allowed"));
        check("abc", Err("expected a number"));
        check("1e400h", Err("unknown unit (use s, m, h or d)"));
    }

    #[test]
    fn json_forms() {
        assert_eq!(
            Ttl::from_json(&serde_json::json!(60)).map(Ttl::as_secs),
            Ok(60)
        );
        assert_eq!(
            Ttl::from_json(&serde_json::json!("2m")).map(Ttl::as_secs),
            Ok(120)
        );
        assert_eq!(
            Ttl::from_json(&serde_json::json!(null)).map(Ttl::as_secs),
            Ok(0)
        );
        assert!(Ttl::from_json(&serde_json::json!(-1)).is_err());
        assert!(Ttl::from_json(&serde_json::json!(true)).is_err());
    }

    #[test]
    fn go_strings() {
        assert_eq!(Ttl::from_secs(0).go_string(), "0s");
        assert_eq!(Ttl::from_secs(3600).go_string(), "1h0m0s");
        assert_eq!(Ttl::from_secs(1800).go_string(), "30m0s");
        assert_eq!(Ttl::from_secs(61).go_string(), "1m1s");
        assert_eq!(Ttl::from_secs(2_764_800).go_string(), "768h0m0s");
    }
}
