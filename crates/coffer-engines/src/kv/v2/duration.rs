//! Durations as Vault reads and prints them: input in whole seconds from Go duration strings
//! (`1h30m`, `768h`, `1.5h`), day counts (`2d`), or plain seconds (`90`, `"90"`); output in Go's
//! `time.Duration` form (`768h0m0s`, `1m30s`, `0s`, `-1s`).

use serde_json::Value;

use super::input::quote;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Reads a duration in whole seconds (truncated toward zero); the error is Go's message.
pub(crate) fn parse_seconds(value: &Value) -> Result<i64, String> {
    let text = match value {
        Value::Null => return Ok(0),
        // Vault reads a JSON number through its text, as a plain count of seconds.
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.clone(),
        _ => return Err("could not parse duration from input".to_owned()),
    };
    if text.is_empty() {
        return Ok(0);
    }
    if text.ends_with(['s', 'm', 'h']) {
        let nanos = parse_go_duration(&text)?;
        let secs = nanos / NANOS_PER_SEC;
        return i64::try_from(secs).map_err(|_| invalid(&text));
    }
    if let Some(days) = text.strip_suffix('d') {
        let days = parse_int(days)?;
        return days.checked_mul(86_400).ok_or_else(|| {
            format!(
                "strconv.ParseInt: parsing {}: value out of range",
                quote(&text)
            )
        });
    }
    parse_int(&text)
}

/// Go's `time.Duration.String()` of a whole number of seconds.
pub(crate) fn format_seconds(secs: i64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let magnitude = secs.unsigned_abs();
    let (hours, minutes, seconds) = (magnitude / 3600, magnitude % 3600 / 60, magnitude % 60);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

fn parse_int(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            quote(text)
        ));
    }
    text.trim_start_matches('+').parse::<i64>().map_err(|_| {
        format!(
            "strconv.ParseInt: parsing {}: value out of range",
            quote(text)
        )
    })
}

/// Go's `time.ParseDuration`, in nanoseconds (within Go's ±292 years).
fn parse_go_duration(original: &str) -> Result<i128, String> {
    let (negative, mut rest) = match original.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, original.strip_prefix('+').unwrap_or(original)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid(original));
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        let (fraction, after_number) = match after_whole.strip_prefix('.') {
            Some(after_dot) => split_digits(after_dot),
            None => ("", after_whole),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid(original));
        }
        let unit_len = after_number
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "time: missing unit in duration {}",
                quote(original)
            ));
        }
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit),
                    quote(original)
                ));
            }
        };
        // Thirty digits already overflow Go's range, so longer numbers are refused early.
        if whole.len() > 30 {
            return Err(invalid(original));
        }
        let whole_value: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid(original))?
        };
        let mut amount = whole_value
            .checked_mul(scale)
            .ok_or_else(|| invalid(original))?;
        let mut place = scale;
        for digit in fraction.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            amount += i128::from(digit - b'0') * place;
        }
        total = total.checked_add(amount).ok_or_else(|| invalid(original))?;
        if total > i128::from(i64::MAX) + i128::from(negative) {
            return Err(invalid(original));
        }
        rest = after_unit;
    }
    Ok(if negative { -total } else { total })
}

/// Splits leading ASCII digits off `text` (the cut is on a character boundary).
fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

fn invalid(original: &str) -> String {
    format!("time: invalid duration {}", quote(original))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(value: Value, expect: Result<i64, &str>) {
        assert_eq!(
            parse_seconds(&value),
            expect.map_err(str::to_owned),
            "{value}"
        );
    }

    #[test]
    fn parses_like_vault() {
        check(json!("768h"), Ok(768 * 3600));
        check(json!("720h0m0s"), Ok(720 * 3600));
        check(json!("1h30m"), Ok(5400));
        check(json!("1.5h"), Ok(5400));
        check(json!("90s"), Ok(90));
        check(json!("1500ms"), Ok(1));
        check(json!("-1s"), Ok(-1));
        check(json!("0s"), Ok(0));
        check(json!("2d"), Ok(172_800));
        check(json!("90"), Ok(90));
        check(json!(90), Ok(90));
        check(json!(""), Ok(0));
        check(json!(null), Ok(0));
        check(
            json!("abc"),
            Err("strconv.ParseInt: parsing \"abc\": invalid syntax"),
        );
        check(
            json!("1.5"),
            Err("strconv.ParseInt: parsing \"1.5\": invalid syntax"),
        );
        check(
            json!(1.5),
            Err("strconv.ParseInt: parsing \"1.5\": invalid syntax"),
        );
        check(json!("xs"), Err("time: invalid duration \"xs\""));
        check(
            json!("1xs"),
            Err("time: unknown unit \"xs\" in duration \"1xs\""),
        );
        check(json!("h"), Err("time: invalid duration \"h\""));
        check(
            json!("9999999999h"),
            Err("time: invalid duration \"9999999999h\""),
        );
        check(json!(true), Err("could not parse duration from input"));
        check(
            json!("xd"),
            Err("strconv.ParseInt: parsing \"x\": invalid syntax"),
        );
    }

    #[test]
    fn prints_like_go() {
        for (secs, text) in [
            (0, "0s"),
            (1, "1s"),
            (90, "1m30s"),
            (3600, "1h0m0s"),
            (768 * 3600, "768h0m0s"),
            (-1, "-1s"),
            (-3661, "-1h1m1s"),
        ] {
            assert_eq!(format_seconds(secs), text, "{secs}");
        }
    }
}
