//! Millisecond UTC timestamps, as the platform records them.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses RFC 3339 / ISO 8601 (`2025-03-14T09:21:07.412Z`, an offset instead
    /// of `Z`, a space instead of `T`, or no fraction). A time with non-zero
    /// digits below the millisecond is refused: keeping it would need a wider
    /// type, dropping it would alter evidence.
    pub fn parse(s: &str) -> Result<Timestamp, String> {
        match Self::parse_canonical(s) {
            Some(t) => Ok(t),
            None => Self::parse_general(s),
        }
    }

    /// A bound of a time filter, as a person types it: a timestamp as
    /// [`Timestamp::parse`] reads it, or a date alone (`2025-03-14`) for its
    /// midnight UTC, so that `--from 2025-03-01 --to 2025-04-01` is March.
    /// Only for filters: a record's time is never completed this way.
    pub fn parse_bound(s: &str) -> Result<Timestamp, String> {
        let t = s.trim();
        if t.len() == 10 && chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok() {
            return Self::parse(&format!("{t}T00:00:00.000Z"));
        }
        Self::parse(s).map_err(|e| format!("{e}; a date alone (2025-03-14) is its midnight UTC"))
    }

    fn parse_general(s: &str) -> Result<Timestamp, String> {
        let t = s.trim();
        let parsed: Option<DateTime<Utc>> = DateTime::parse_from_rfc3339(t)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                let normalised = t.replacen(' ', "T", 1);
                DateTime::parse_from_rfc3339(&normalised)
                    .map(|d| d.with_timezone(&Utc))
                    .ok()
            })
            .or_else(|| {
                // Postgres-style "+00" offsets and zone-less times are taken as UTC.
                let base = t.strip_suffix("+00").unwrap_or(t);
                ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                    .iter()
                    .find_map(|f| NaiveDateTime::parse_from_str(base, f).ok())
                    .map(|n| Utc.from_utc_datetime(&n))
            });
        let d = parsed.ok_or_else(|| {
            format!("{s:?} is not a timestamp (expected ISO 8601 such as 2025-03-14T09:21:07.412Z)")
        })?;
        // The canonical form has a four-digit year; a time outside it would be
        // written as "-0100-…" or "+12345-…", which no reader takes back.
        if !(0..=9999).contains(&chrono::Datelike::year(&d)) {
            return Err(format!(
                "{s:?} is outside the years 0000 to 9999 (in UTC), which auditlens cannot keep"
            ));
        }
        if d.timestamp_subsec_nanos() % 1_000_000 != 0 {
            return Err(format!(
                "{s:?} has precision below a millisecond, which auditlens cannot keep"
            ));
        }
        Ok(Timestamp(d.timestamp_millis()))
    }

    /// The canonical form `YYYY-MM-DDTHH:MM:SS.mmmZ` only, without the general
    /// parser's cost: every stored record's time is in this form, and
    /// verification reads millions of them.
    pub(crate) fn parse_canonical(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if !has_canonical_shape(b) {
            return None;
        }
        // Every digit was checked above.
        let num = |r: std::ops::Range<usize>| -> u32 {
            b[r].iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'))
        };
        let (year, month, day) = (num(0..4), num(5..7), num(8..10));
        let (hour, minute, second, milli) = (num(11..13), num(14..16), num(17..19), num(20..23));
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
        let seconds =
            ((days * 24 + i64::from(hour)) * 60 + i64::from(minute)) * 60 + i64::from(second);
        Some(Timestamp(seconds * 1000 + i64::from(milli)))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Whether `b` is written `YYYY-MM-DDTHH:MM:SS.mmmZ`: 24 bytes, digits
/// where the digits go and this punctuation between them (the values are
/// not checked). Branch-free: every record has two or three times.
#[inline]
pub(crate) fn has_canonical_shape(b: &[u8]) -> bool {
    const SHAPE: &[u8; 24] = b"0000-00-00T00:00:00.000Z";
    let Ok(b) = <&[u8; 24]>::try_from(b) else {
        return false;
    };
    let mut ok = true;
    for (&c, &want) in b.iter().zip(SHAPE) {
        ok &= if want == b'0' {
            c.wrapping_sub(b'0') <= 9
        } else {
            c == want
        };
    }
    ok
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`), for a valid date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

impl fmt::Display for Timestamp {
    /// The canonical form: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

#[cfg(test)]
mod tests {
    /// The canonical fast path gives chrono's answer for every day of the
    /// years 0000 to 9999 (and refuses the dates chrono refuses).
    #[test]
    fn canonical_times_agree_with_chrono_on_every_day() {
        use super::Timestamp;
        let mut day = chrono::NaiveDate::from_ymd_opt(0, 1, 1).unwrap();
        let last = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        let mut n = 0u32;
        loop {
            n = n.wrapping_mul(31).wrapping_add(7);
            let (h, m, s, ms) = (n % 24, n / 24 % 60, n / 1440 % 60, n / 86400 % 1000);
            let text = format!("{}T{h:02}:{m:02}:{s:02}.{ms:03}Z", day.format("%Y-%m-%d"));
            let want = day
                .and_hms_milli_opt(h, m, s, ms)
                .unwrap()
                .and_utc()
                .timestamp_millis();
            assert_eq!(
                Timestamp::parse_canonical(&text),
                Some(Timestamp(want)),
                "{text}"
            );
            if day == last {
                break;
            }
            day = day.succ_opt().unwrap();
        }
        for bad in [
            "2023-02-29T00:00:00.000Z",
            "1900-02-29T00:00:00.000Z",
            "2024-04-31T00:00:00.000Z",
            "2024-13-01T00:00:00.000Z",
            "2024-00-10T00:00:00.000Z",
            "2024-01-00T00:00:00.000Z",
            "2024-01-01T24:00:00.000Z",
            "2024-01-01T23:60:00.000Z",
            "2024-01-01T23:59:60.000Z",
        ] {
            assert_eq!(Timestamp::parse_canonical(bad), None, "{bad}");
        }
        assert!(Timestamp::parse_canonical("2000-02-29T00:00:00.000Z").is_some());
    }

    use super::*;

    #[test]
    fn parses_platform_forms() {
        let t = Timestamp::parse("2025-03-14T09:21:07.412Z").unwrap();
        assert_eq!(t.to_string(), "2025-03-14T09:21:07.412Z");
        assert_eq!(
            Timestamp::parse("2025-03-14 11:21:07.412+02:00").unwrap(),
            t
        );
        assert_eq!(Timestamp::parse("2025-03-14 09:21:07.412+00").unwrap(), t);
        assert_eq!(Timestamp::parse("2025-03-14T09:21:07.412000Z").unwrap(), t);
        assert_eq!(
            Timestamp::parse("2025-03-14T09:21:07Z")
                .unwrap()
                .to_string(),
            "2025-03-14T09:21:07.000Z"
        );
    }

    #[test]
    fn canonical_fast_path_agrees_with_the_general_parser() {
        let mut texts = vec![
            "2024-02-29T23:59:59.999Z".to_string(),
            "2023-02-29T00:00:00.000Z".to_string(),
            "1969-12-31T23:59:59.999Z".to_string(),
            "0001-01-01T00:00:00.000Z".to_string(),
            "2025-13-01T00:00:00.000Z".to_string(),
            "2025-01-01T24:00:00.000Z".to_string(),
            "2025-01-01T23:60:00.000Z".to_string(),
            "2025-01-01T23:59:60.000Z".to_string(),
            "2025-01-01T23:59:59.+00Z".to_string(),
            "2025-01-01T23:59:59.000z".to_string(),
        ];
        let mut ms = -86_400_000_000i64;
        while ms < 4_102_444_800_000 {
            texts.push(Timestamp(ms).to_string());
            ms += 7_777_777_777;
        }
        for t in texts {
            let general = Timestamp::parse_general(&t).ok();
            assert_eq!(Timestamp::parse_canonical(&t).or(general), general, "{t}");
            if general.is_some() && t.ends_with('Z') && !t.contains(":60") {
                assert!(Timestamp::parse_canonical(&t).is_some(), "{t}");
            }
        }
    }

    /// The branch-free shape check says what a check of each place says,
    /// for every byte at every place of a canonical time, and for other lengths.
    #[test]
    fn the_shape_is_checked_at_every_place() {
        let by_place = |b: &[u8]| {
            b.len() == 24
                && b.iter().enumerate().all(|(i, &c)| match i {
                    4 | 7 => c == b'-',
                    10 => c == b'T',
                    13 | 16 => c == b':',
                    19 => c == b'.',
                    23 => c == b'Z',
                    _ => c.is_ascii_digit(),
                })
        };
        let good = *b"2025-03-14T09:21:07.412Z";
        assert!(super::has_canonical_shape(&good));
        for at in 0..good.len() {
            for c in 0..=255u8 {
                let mut t = good;
                t[at] = c;
                assert_eq!(super::has_canonical_shape(&t), by_place(&t), "{t:?}");
            }
        }
        for n in [0, 1, 23, 25] {
            let t: Vec<u8> = good.iter().copied().cycle().take(n).collect();
            assert!(!super::has_canonical_shape(&t));
        }
    }

    #[test]
    fn a_filter_bound_may_be_a_date_alone() {
        let midnight = Timestamp::parse("2025-03-14T00:00:00.000Z").unwrap();
        assert_eq!(Timestamp::parse_bound("2025-03-14").unwrap(), midnight);
        assert_eq!(Timestamp::parse_bound(" 2025-03-14 ").unwrap(), midnight);
        assert_eq!(
            Timestamp::parse_bound("2025-03-14T09:21:07.412Z").unwrap(),
            Timestamp::parse("2025-03-14T09:21:07.412Z").unwrap()
        );
        for bad in ["2025-02-30", "2025-3-14", "14/03/2025", "yesterday", ""] {
            let e = Timestamp::parse_bound(bad).unwrap_err();
            assert!(e.contains("a date alone (2025-03-14)"), "{bad}: {e}");
        }
        // A record's time is never completed from a date.
        assert!(Timestamp::parse("2025-03-14").is_err());
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        assert!(Timestamp::parse("2025-03-14T09:21:07.4123Z").is_err());
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("").is_err());
        for far in [
            "-0100-01-01T00:00:00",
            "+12345-01-01 00:00:00",
            "9999-12-31T23:00:00-05:00",
        ] {
            assert!(Timestamp::parse(far).is_err(), "{far}");
        }
    }
}
