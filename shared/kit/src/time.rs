//! Time as closeloop stores it: instants as microseconds since the Unix epoch (UTC), calendar
//! dates as `time::Date` (stored as days since the epoch, so ranges compare as integers).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Date, OffsetDateTime};

/// A service's clock: every rule that depends on the date or the time (due dates, expiry,
/// retries) reads it, so a test can move a running service days ahead ([`Clock::advance`])
/// instead of sleeping, and what the service answers is the same as if the days had passed.
/// Clones share one reading. In a deployed service nothing moves it: it is the system clock.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Microseconds added to the system clock.
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Microseconds since the Unix epoch, now.
    pub fn now_micros(&self) -> i64 {
        now_micros().saturating_add(self.offset.load(Ordering::Relaxed))
    }

    /// Today's date in UTC.
    pub fn today(&self) -> Date {
        date_of_micros(self.now_micros())
    }

    /// Moves the clock `micros` ahead (behind when negative), for every clone.
    pub fn advance(&self, micros: i64) {
        self.offset.fetch_add(micros, Ordering::Relaxed);
    }

    /// Moves the clock `days` whole days ahead.
    pub fn advance_days(&self, days: i64) {
        self.advance(days.saturating_mul(MICROS_PER_DAY));
    }
}

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    micros_of(OffsetDateTime::now_utc())
}

/// Microseconds since the Unix epoch of an instant.
pub fn micros_of(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

/// Today's date in UTC.
pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// The UTC date of an instant in microseconds.
pub fn date_of_micros(micros: i64) -> Date {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map(|t| t.date())
        .unwrap_or(Date::MIN)
}

/// Days since 1970-01-01 (negative before).
pub fn epoch_days(date: Date) -> i64 {
    i64::from(date.to_julian_day() - EPOCH_JULIAN_DAY)
}

/// The date `days` after 1970-01-01.
pub fn from_epoch_days(days: i64) -> Date {
    i32::try_from(days + i64::from(EPOCH_JULIAN_DAY))
        .ok()
        .and_then(|jd| Date::from_julian_day(jd).ok())
        .unwrap_or(Date::MIN)
}

const EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// `date` plus `months` calendar months, keeping the day of the month or taking the month's last
/// day when it does not exist (2026-01-31 + 1 month = 2026-02-28), as closeloop.common.v1 says;
/// `None` past the calendar's end.
pub fn add_months(date: Date, months: i32) -> Option<Date> {
    let index = date.year() * 12 + i32::from(u8::from(date.month())) - 1 + months;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let day = date.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).ok()
}

/// The last day of a term of `months` months starting on `start`: start + months - 1 day.
pub fn term_end(start: Date, months: i32) -> Option<Date> {
    add_months(start, months)?.previous_day()
}

/// The whole months of a term from `start` to `end` (inclusive): the largest n with
/// start + n months <= end + 1 day, the inverse of [`term_end`].
pub fn whole_months(start: Date, end: Date) -> i32 {
    let Some(after) = end.next_day() else {
        return 0;
    };
    let mut n = (after.year() - start.year()) * 12 + i32::from(u8::from(after.month()))
        - i32::from(u8::from(start.month()));
    while n > 0 && add_months(start, n).is_none_or(|d| d > after) {
        n -= 1;
    }
    n.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn epoch_days_round_trip() {
        assert_eq!(epoch_days(date!(1970 - 01 - 01)), 0);
        assert_eq!(epoch_days(date!(1970 - 01 - 02)), 1);
        let d = date!(2026 - 11 - 23);
        assert_eq!(from_epoch_days(epoch_days(d)), d);
        assert_eq!(date_of_micros(86_400_000_000), date!(1970 - 01 - 02));
    }

    #[test]
    fn terms_in_months_follow_the_common_rule() {
        assert_eq!(
            add_months(date!(2026 - 01 - 31), 1),
            Some(date!(2026 - 02 - 28))
        );
        assert_eq!(
            add_months(date!(2026 - 11 - 15), 3),
            Some(date!(2027 - 02 - 15))
        );
        assert_eq!(
            term_end(date!(2026 - 01 - 15), 3),
            Some(date!(2026 - 04 - 14))
        );
        assert_eq!(
            whole_months(date!(2026 - 01 - 15), date!(2026 - 04 - 14)),
            3
        );
        assert_eq!(
            whole_months(date!(2026 - 01 - 15), date!(2026 - 04 - 13)),
            2
        );
        assert_eq!(
            whole_months(date!(2026 - 01 - 01), date!(2026 - 12 - 31)),
            12
        );
        assert_eq!(
            whole_months(date!(2026 - 01 - 31), date!(2026 - 02 - 27)),
            1
        );
        for months in 1..=120 {
            for start in [
                date!(2026 - 01 - 31),
                date!(2024 - 02 - 29),
                date!(2026 - 07 - 15),
            ] {
                let end = term_end(start, months).unwrap();
                assert_eq!(whole_months(start, end), months, "{start} {months}");
            }
        }
    }

    #[test]
    fn a_moved_clock_moves_every_clone() {
        let clock = Clock::system();
        let other = clock.clone();
        let today = clock.today();
        other.advance_days(3);
        assert_eq!(clock.today(), today + time::Duration::days(3));
        assert!(clock.now_micros() >= now_micros() + 3 * MICROS_PER_DAY - 1_000_000);
    }
}
