//! Dapr's time formats for due times, periods and TTLs: Go durations (`1h0m0s0ms0μs`),
//! ISO 8601 durations (`PT1M`, `P2W`, with `R<n>/` repetitions for periods) and RFC 3339
//! timestamps. ISO 8601 and RFC 3339 parsing are crates'; Go durations are parsed here,
//! because the one crate for them panics on `µs`/`μs` after other units, which Dapr's SDKs
//! send (`1h0m0s0ms0μs`).

use std::time::Duration;

use chrono::{DateTime, Months, Utc};

/// A malformed or out-of-range time value, with the field it came from.
#[derive(Debug, thiserror::Error)]
#[error("invalid {field} {value:?}: {reason}")]
pub struct DurationError {
    /// The field the value came from, as Dapr names it: `dueTime`, `period` or `ttl`.
    pub field: &'static str,
    /// The refused text, as given.
    pub value: String,
    /// Why it was refused, in words for the caller.
    pub reason: String,
}

/// How often a reminder or timer repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// The time between two firings (at least 1 ms).
    pub every: Duration,
    /// Number of firings in all (`R<n>/`), or unlimited.
    pub repetitions: Option<u32>,
}

/// An ISO 8601 duration split into its calendar part (months) and its fixed part.
struct IsoDuration {
    months: u32,
    fixed: Duration,
}

fn iso(text: &str) -> Option<IsoDuration> {
    // The crate takes a bare `P` or `PT` as zero; a duration needs at least one number.
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    // The crate's `duration` ignores trailing garbage; its parser reports it.
    let (rest, parsed) = iso8601::parsers::parse_duration(text.as_bytes()).ok()?;
    if !rest.is_empty() {
        return None;
    }
    Some(match parsed {
        iso8601::Duration::Weeks(w) => IsoDuration {
            months: 0,
            fixed: Duration::from_secs(u64::from(w) * 7 * 86_400),
        },
        iso8601::Duration::YMDHMS {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millisecond,
        } => IsoDuration {
            months: year.checked_mul(12)?.checked_add(month)?,
            fixed: Duration::from_millis(
                ((u64::from(day) * 24 + u64::from(hour)) * 60 + u64::from(minute)) * 60_000
                    + u64::from(second) * 1000
                    + u64::from(millisecond),
            ),
        },
    })
}

/// Nanoseconds of a Go duration (Go's `time.ParseDuration` grammar), or `None` if `text`
/// is not one. Fractions are allowed (`1.5h`), as are both micro signs.
fn go_nanos(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    // Go's limit is about 292 years; anything beyond is not a duration anyone means.
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
}

/// A Go duration such as `90s`, `1h0m0s0ms0μs`; negative values are refused.
fn go(text: &str) -> Option<Result<Duration, String>> {
    let nanos = go_nanos(text)?;
    Some(
        u64::try_from(nanos)
            .map(Duration::from_nanos)
            .map_err(|_| "must not be negative".to_string()),
    )
}

fn err(field: &'static str, value: &str, reason: impl Into<String>) -> DurationError {
    DurationError {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// `now` plus a relative duration in Go or ISO 8601 form (months counted on the calendar).
fn relative(
    field: &'static str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DurationError> {
    if let Some(d) = go(text) {
        let d = d.map_err(|r| err(field, text, r))?;
        let d = chrono::Duration::from_std(d).map_err(|e| err(field, text, e.to_string()))?;
        // Far enough out, a time is past what a date can hold.
        return now
            .checked_add_signed(d)
            .map(Some)
            .ok_or_else(|| err(field, text, "out of range"));
    }
    if let Some(d) = iso(text) {
        let shifted = now
            .checked_add_months(Months::new(d.months))
            .ok_or_else(|| err(field, text, "out of range"))?;
        let fixed =
            chrono::Duration::from_std(d.fixed).map_err(|e| err(field, text, e.to_string()))?;
        return shifted
            .checked_add_signed(fixed)
            .map(Some)
            .ok_or_else(|| err(field, text, "out of range"));
    }
    Ok(None)
}

const FORMATS: &str =
    "expected a Go duration (1m30s), an ISO 8601 duration (PT1M30S) or an RFC 3339 time";

/// When something first fires: empty means now.
pub fn parse_due_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(now);
    }
    if let Some(at) = relative("dueTime", text, now)? {
        return Ok(at);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| err("dueTime", text, FORMATS))
}

/// When something stops firing, relative to `base`: empty means never.
pub fn parse_ttl(text: &str, base: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.starts_with('R') {
        return Err(err("ttl", text, "repetitions are not allowed in a ttl"));
    }
    if let Some(at) = relative("ttl", text, base)? {
        return Ok(Some(at));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| err("ttl", text, FORMATS))
}

/// How something repeats: empty means it fires once.
pub fn parse_period(text: &str) -> Result<Option<Period>, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (repetitions, rest) = match text.strip_prefix('R').and_then(|r| r.split_once('/')) {
        Some((n, rest)) => {
            let n: u32 = n.parse().map_err(|_| {
                err(
                    "period",
                    text,
                    "R must be followed by a count, as in R5/PT10S",
                )
            })?;
            if n == 0 {
                return Err(err("period", text, "R0 would never fire"));
            }
            (Some(n), rest)
        }
        None => (None, text),
    };
    let every = if let Some(d) = go(rest) {
        d.map_err(|r| err("period", text, r))?
    } else if let Some(d) = iso(rest) {
        if d.months > 0 {
            return Err(err(
                "period",
                text,
                "periods in years or months are not supported; use days (P30D) or hours",
            ));
        }
        d.fixed
    } else {
        return Err(err(
            "period",
            text,
            "expected a Go duration (1m) or an ISO 8601 duration (PT1M, R5/PT10S)",
        ));
    };
    if every.is_zero() {
        return Err(err("period", text, "must be longer than zero"));
    }
    // Schedules count in milliseconds: a shorter period would be none at all.
    if every < Duration::from_millis(1) {
        return Err(err("period", text, "must be at least 1ms"));
    }
    Ok(Some(Period { every, repetitions }))
}

/// A Go duration only (as in `/dapr/config`'s `actorIdleTimeout`).
pub fn parse_go(text: &str) -> Option<Duration> {
    go(text.trim())?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-31T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn due(text: &str) -> i64 {
        (parse_due_time(text, t0()).unwrap() - t0()).num_milliseconds()
    }

    /// Found in review: a period under a millisecond was stored as 0 ms.
    #[test]
    fn periods_under_a_millisecond_are_refused() {
        let refused = parse_period("500us").unwrap_err();
        assert!(refused.to_string().contains("at least 1ms"), "{refused}");
        assert!(parse_period("1ms").unwrap().is_some());
    }

    /// Found by the `durations` fuzz target: a time past what a date holds was a panic.
    #[test]
    fn times_past_the_calendar_are_refused() {
        for text in ["P33331166W", "P4294967295W"] {
            let refused = parse_due_time(text, t0()).unwrap_err();
            assert!(
                refused.to_string().contains("out of range"),
                "{text}: {refused}"
            );
            assert!(parse_ttl(text, t0()).is_err(), "{text}");
        }
    }

    #[test]
    fn due_times_in_every_dapr_form() {
        assert_eq!(due(""), 0);
        assert_eq!(due("1m"), 60_000);
        assert_eq!(due("0h0m3s0ms"), 3_000);
        assert_eq!(due("1h0m0s0ms0μs"), 3_600_000);
        assert_eq!(due("1h0m0s0ms0µs"), 3_600_000);
        assert_eq!(due("500ms"), 500);
        assert_eq!(due("PT1M"), 60_000);
        assert_eq!(due("P1DT2H"), 26 * 3_600_000);
        assert_eq!(due("P2W"), 14 * 86_400_000);
        // Months are calendar months: January 31st plus one month is the end of February.
        assert_eq!(due("P1M"), 28 * 86_400_000);
        assert_eq!(due("2026-01-31T00:00:10Z"), 10_000);
        for bad in ["soon", "PT", "1x", "-1s", "PT1Mfoo", "2026-13-01T00:00:00Z"] {
            assert!(parse_due_time(bad, t0()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn go_durations_follow_go() {
        assert_eq!(go_nanos("0"), Some(0));
        assert_eq!(go_nanos("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_nanos("1h0m0s0ms0μs"), Some(3_600_000_000_000));
        assert_eq!(go_nanos("2us"), Some(2_000));
        assert_eq!(go_nanos("-3s"), Some(-3_000_000_000));
        for bad in ["", "1", "s", "1d", ".s", "1..2s", "1h2", "h1"] {
            assert_eq!(go_nanos(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn periods_with_and_without_repetitions() {
        let p = |s| parse_period(s).unwrap().unwrap();
        assert_eq!(
            p("1s"),
            Period {
                every: Duration::from_secs(1),
                repetitions: None
            }
        );
        assert_eq!(
            p("R5/PT10S"),
            Period {
                every: Duration::from_secs(10),
                repetitions: Some(5)
            }
        );
        assert_eq!(p("PT24H").every, Duration::from_secs(86_400));
        assert_eq!(p("P1D").every, Duration::from_secs(86_400));
        assert_eq!(parse_period("").unwrap(), None);
        for bad in [
            "R0/PT1S",
            "Rx/PT1S",
            "P1M",
            "0s",
            "PT0S",
            "every day",
            "-5s",
        ] {
            let e = parse_period(bad).unwrap_err();
            assert_eq!(e.field, "period", "{bad}");
        }
    }

    #[test]
    fn ttls_are_relative_or_absolute() {
        let ttl = |s| {
            parse_ttl(s, t0())
                .unwrap()
                .map(|t| (t - t0()).num_seconds())
        };
        assert_eq!(ttl(""), None);
        assert_eq!(ttl("10s"), Some(10));
        assert_eq!(ttl("PT1M"), Some(60));
        assert_eq!(ttl("2026-01-31T00:01:00Z"), Some(60));
        assert!(parse_ttl("R2/PT1S", t0()).is_err());
    }
}
