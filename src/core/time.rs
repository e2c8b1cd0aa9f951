//! Millisecond UTC timestamps, as the platform records them.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses RFC 3339 / ISO 8601 (`2025-03-14T09:21:07.412Z`, an offset instead
    /// of `Z`, a space instead of `T`, or no fraction). A time with non-zero
    /// digits below the millisecond is refused: keeping it would need a wider
    /// type, dropping it would alter evidence.
    pub fn parse(s: &str) -> Result<Timestamp, String> {
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
        if d.timestamp_subsec_nanos() % 1_000_000 != 0 {
            return Err(format!(
                "{s:?} has precision below a millisecond, which auditlens cannot keep"
            ));
        }
        Ok(Timestamp(d.timestamp_millis()))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
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
    fn refuses_what_it_cannot_keep() {
        assert!(Timestamp::parse("2025-03-14T09:21:07.4123Z").is_err());
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("").is_err());
    }
}
