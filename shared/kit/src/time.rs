//! Time as closeloop stores it: instants as microseconds since the Unix epoch (UTC), calendar
//! dates as `time::Date` (stored as days since the epoch, so ranges compare as integers).

use time::{Date, OffsetDateTime};

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
}
