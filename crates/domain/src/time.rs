//! How instants are written down: the center keeps Unix milliseconds (UTC) everywhere;
//! they become text only where people or other programs read them (the API, stored event
//! details).

/// Unix milliseconds as RFC 3339 in UTC with millisecond precision, e.g.
/// `2026-12-07T09:30:00.250Z`. An instant outside jiff's range (years −9999…9999) is
/// written as the plain number rather than refused: it can only come from bad data, and
/// a report should still show it.
pub fn rfc3339_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_kept_and_the_zone_is_utc() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_796_635_800_250), "2026-12-07T09:30:00.250Z");
        assert_eq!(rfc3339_ms(i64::MAX), i64::MAX.to_string());
    }
}
