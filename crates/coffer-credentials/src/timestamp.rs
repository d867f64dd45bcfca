//! Conversions between Unix seconds, `SystemTime` and RFC 3339 text, total for any input (no
//! panics on times before 1970 or far in the future, which untrusted tokens may carry).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, negative before it, saturating at the `i64` range.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The `SystemTime` for Unix seconds, or `None` when the platform cannot represent it.
pub(crate) fn from_unix_seconds(seconds: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

/// Formats Unix seconds as RFC 3339 UTC, e.g. `2024-05-01T12:00:00Z`.
pub(crate) fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Proleptic Gregorian date for a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each 400-year era.
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    let year = i64::try_from(year).unwrap_or(i64::MAX);
    (year, month as i64, day as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(seconds: i64, expected: &str) {
        assert_eq!(rfc3339(seconds), expected, "{seconds}");
    }

    #[test]
    fn formats_rfc3339() {
        check(0, "1970-01-01T00:00:00Z");
        check(-1, "1969-12-31T23:59:59Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_700_000_000, "2023-11-14T22:13:20Z");
        check(253_402_300_799, "9999-12-31T23:59:59Z");
        check(4_102_444_800, "2100-01-01T00:00:00Z");
        // Extreme values from untrusted input must not panic.
        assert!(!rfc3339(i64::MAX).is_empty());
        assert!(!rfc3339(i64::MIN).is_empty());
    }

    #[test]
    fn round_trips_system_time() {
        for seconds in [0, 1, -86_400, 1_700_000_000] {
            let time = from_unix_seconds(seconds).expect("small offsets are representable");
            assert_eq!(unix_seconds(time), seconds);
        }
    }
}
