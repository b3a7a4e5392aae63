//! Business hours and holidays, evaluated in the calendar's own time zone.

use std::collections::BTreeSet;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Clone, Debug)]
pub struct CompiledCalendar {
    pub tz: TimeZone,
    /// Per weekday (Monday first): open ranges in minutes after midnight, end exclusive.
    pub hours: [Vec<(u16, u16)>; 7],
    pub holidays: BTreeSet<Date>,
}

/// Why a calendar's opening hours are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("{0:?} is not a range like \"09:00-18:00\"")]
    NotARange(String),
    #[error("{0:?} ends before it starts")]
    Backwards(String),
}

/// Parses "HH:MM-HH:MM" (end may be 24:00), in minutes of the day.
pub fn parse_range(s: &str) -> Result<(u16, u16), RangeError> {
    let bad = || RangeError::NotARange(s.to_string());
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let minutes = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
    };
    let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
    if start >= end {
        return Err(RangeError::Backwards(s.to_string()));
    }
    Ok((start, end))
}

impl CompiledCalendar {
    pub fn is_open(&self, now_ms: i64) -> bool {
        let Ok(t) = Timestamp::from_millisecond(now_ms) else {
            return false;
        };
        let z = t.to_zoned(self.tz.clone());
        if self.holidays.contains(&z.date()) {
            return false;
        }
        let day = z.weekday().to_monday_zero_offset() as usize;
        let minute = z.hour() as u16 * 60 + z.minute() as u16;
        self.hours[day]
            .iter()
            .any(|&(a, b)| minute >= a && minute < b)
    }
}
