//! Wrapping TTLs as written in policies: a number of seconds (`300`, `"300"`) or a Go-style
//! duration (`"1h"`, `"1h30m"`, `"1.5h"`, `"500ms"`), plus the `d` (days) unit Vault's
//! `parseutil` accepts. Negative values are rejected.

use std::time::Duration;

use serde_json::Value;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Parses a TTL value; `None` when it is not a valid duration.
pub(crate) fn parse_ttl(value: &Value) -> Option<Duration> {
    match value {
        Value::Number(number) => {
            if let Some(seconds) = number.as_u64() {
                Some(Duration::from_secs(seconds))
            } else {
                number
                    .as_f64()
                    .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            }
        }
        Value::String(text) => parse_text(text.trim()),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
    }
}

fn parse_text(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return Some(Duration::ZERO);
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        return text.parse().ok().map(Duration::from_secs);
    }
    parse_go_duration(text)
}

/// Go's `time.ParseDuration` grammar (without the sign): one or more `<decimal><unit>` terms.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let not_digit = |c: char| !c.is_ascii_digit();
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after) = rest.split_at(rest.find(not_digit).unwrap_or(rest.len()));
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => after.split_at(after.find(not_digit).unwrap_or(after.len())),
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SECOND,
            "m" => 60 * NANOS_PER_SECOND,
            "h" => 3_600 * NANOS_PER_SECOND,
            "d" => 86_400 * NANOS_PER_SECOND,
            _ => return None,
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        total = total.checked_add(whole.checked_mul(unit_nanos)?)?;
        // Digits beyond nanosecond precision of the largest unit cannot matter.
        let fraction = fraction.get(..18).unwrap_or(fraction);
        if !fraction.is_empty() {
            let numerator: u128 = fraction.parse().ok()?;
            let denominator = 10u128.pow(u32::try_from(fraction.len()).ok()?);
            total = total.checked_add(numerator * unit_nanos / denominator)?;
        }
        rest = after;
    }
    let seconds = u64::try_from(total / NANOS_PER_SECOND).ok()?;
    let nanos = u32::try_from(total % NANOS_PER_SECOND).ok()?;
    Some(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: Value, expected: Option<Duration>) {
        assert_eq!(parse_ttl(&input), expected, "input {input}");
    }

    #[test]
    fn ttls() {
        let secs = |s| Some(Duration::from_secs(s));
        check(Value::from(300), secs(300));
        check(Value::from(1.5), Some(Duration::from_millis(1500)));
        check(Value::from("300"), secs(300));
        check(Value::from(" 60 "), secs(60));
        check(Value::from(""), secs(0));
        check(Value::from("0"), secs(0));
        check(Value::from("1h"), secs(3600));
        check(Value::from("1h30m"), secs(5400));
        check(Value::from("1.5h"), secs(5400));
        check(Value::from(".5s"), Some(Duration::from_millis(500)));
        check(Value::from("500ms"), Some(Duration::from_millis(500)));
        check(Value::from("1µs"), Some(Duration::from_micros(1)));
        check(Value::from("2d"), secs(172_800));
        check(Value::from("+5m"), secs(300));
        check(Value::from(-5), None);
        check(Value::from("-5m"), None);
        check(Value::from("5"), secs(5));
        check(Value::from("5x"), None);
        check(Value::from("h"), None);
        check(Value::from("."), None);
        check(Value::from("1.h"), secs(3600));
        check(Value::from("99999999999999999999999h"), None);
        check(Value::Bool(true), None);
    }
}
