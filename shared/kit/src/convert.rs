//! Conversions between the shared proto types (`closeloop.common.v1`, well-known types) and the
//! kit's value types. Parsers return a message for a field violation on failure.

use closeloop_proto::common::v1 as pb;
use time::{Date, Month};

use crate::types::{CurrencyCode, Money};

/// Parses a required `Money`.
///
/// # Errors
/// When missing, or its currency code is not ISO-4217.
pub fn money(m: Option<&pb::Money>) -> Result<Money, String> {
    let m = m.ok_or("required")?;
    let currency =
        CurrencyCode::parse(&m.currency_code).map_err(|e| format!("currency_code: {e}"))?;
    Ok(Money::new(currency, m.amount_minor))
}

/// A `Money` for the wire.
pub fn money_to_proto(m: Money) -> pb::Money {
    pb::Money {
        currency_code: m.currency.as_str().to_owned(),
        amount_minor: m.minor,
    }
}

/// Parses a required `Date`.
///
/// # Errors
/// When missing or not a real calendar date.
pub fn date(d: Option<&pb::Date>) -> Result<Date, String> {
    let d = d.ok_or("required")?;
    let month = u8::try_from(d.month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or("month must be 1 to 12")?;
    if !(1..=9999).contains(&d.year) {
        return Err("year must be 1 to 9999".into());
    }
    let day = u8::try_from(d.day).map_err(|_| "day out of range")?;
    Date::from_calendar_date(d.year, month, day).map_err(|_| {
        format!(
            "{}-{:02}-{:02} is not a calendar date",
            d.year, d.month, d.day
        )
    })
}

/// Parses an optional `Date` (absent stays `None`).
///
/// # Errors
/// When present but not a real calendar date.
pub fn optional_date(d: Option<&pb::Date>) -> Result<Option<Date>, String> {
    d.map(|d| date(Some(d))).transpose()
}

/// A `Date` for the wire.
pub fn date_to_proto(d: Date) -> pb::Date {
    pb::Date {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    }
}

/// Parses a required `DateRange` (start on or before end).
///
/// # Errors
/// When missing, either date is invalid, or the range is reversed.
pub fn date_range(r: Option<&pb::DateRange>) -> Result<(Date, Date), String> {
    let r = r.ok_or("required")?;
    let start = date(r.start_date.as_ref()).map_err(|e| format!("start_date: {e}"))?;
    let end = date(r.end_date.as_ref()).map_err(|e| format!("end_date: {e}"))?;
    if end < start {
        return Err("end_date is before start_date".into());
    }
    Ok((start, end))
}

/// A `DateRange` for the wire.
pub fn date_range_to_proto((start, end): (Date, Date)) -> pb::DateRange {
    pb::DateRange {
        start_date: Some(date_to_proto(start)),
        end_date: Some(date_to_proto(end)),
    }
}

/// The paths of a required `update_mask` (AIP-134): `"*"` stands for every updatable field; an
/// empty mask or a path outside `updatable` is refused. Each refused path is named once
/// (clipped), and the fields that can be updated are listed once, in the first violation; a
/// mask of more paths than any update could name is refused whole.
///
/// # Errors
/// INVALID_ARGUMENT on `update_mask`.
pub fn update_mask<'a>(
    mask: Option<&'a prost_types::FieldMask>,
    updatable: &'a [&'a str],
) -> Result<Vec<&'a str>, crate::Problem> {
    let paths: Vec<&str> = mask
        .map(|m| m.paths.iter().map(String::as_str).collect())
        .unwrap_or_default();
    if paths.is_empty() {
        return Err(crate::Problem::invalid(
            "update_mask",
            "required: name the fields to replace, or \"*\" for all updatable fields",
        ));
    }
    if paths == ["*"] {
        return Ok(updatable.to_vec());
    }
    if paths.len() > updatable.len() {
        let mut distinct = paths.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() > updatable.len() {
            return Err(crate::Problem::invalid(
                "update_mask",
                format!(
                    "{} distinct paths; at most {} can be updated: {}",
                    distinct.len(),
                    updatable.len(),
                    updatable.join(", ")
                ),
            ));
        }
    }
    let mut v = crate::Violations::new();
    for path in paths.iter().filter(|p| !updatable.contains(p)) {
        let path: String = path.chars().take(64).collect();
        if v.is_empty() {
            v.add(
                "update_mask",
                format!(
                    "{path:?} cannot be updated; updatable fields: {}",
                    updatable.join(", ")
                ),
            );
        } else {
            v.add("update_mask", format!("{path:?} cannot be updated"));
        }
    }
    v.finish(|| paths)
}

/// A timestamp from microseconds since the epoch.
pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// A duration from microseconds.
pub fn duration(micros: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: micros / 1_000_000,
        nanos: ((micros % 1_000_000) * 1000) as i32,
    }
}

/// The `OwedCall` a resource shows for the command `command_id` calling `method`.
pub fn owed_call_to_proto(
    method: &str,
    command_id: &str,
    status: &crate::outbox::OwedStatus,
) -> pb::OwedCall {
    use crate::outbox::OwedState;
    let (state, code, message) = match &status.state {
        OwedState::Pending => (pb::OwedCallState::Pending, "", ""),
        OwedState::Delivered => (pb::OwedCallState::Delivered, "", ""),
        OwedState::Refused { code, message } => {
            (pb::OwedCallState::Refused, code.as_str(), message.as_str())
        }
    };
    let time = |t: i64| (t > 0).then(|| timestamp(t));
    pb::OwedCall {
        state: state.into(),
        method: method.to_owned(),
        command_id: command_id.to_owned(),
        refusal_code: code.to_owned(),
        refusal_message: message.to_owned(),
        create_time: time(status.create_time),
        state_change_time: time(status.state_change_time),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_reject_impossible_days() {
        let ok = pb::Date {
            year: 2024,
            month: 2,
            day: 29,
        };
        assert_eq!(date_to_proto(date(Some(&ok)).unwrap()), ok);
        for bad in [
            pb::Date {
                year: 2025,
                month: 2,
                day: 29,
            },
            pb::Date {
                year: 2025,
                month: 13,
                day: 1,
            },
            pb::Date {
                year: 0,
                month: 1,
                day: 1,
            },
            pb::Date {
                year: 2025,
                month: 1,
                day: -1,
            },
        ] {
            assert!(date(Some(&bad)).is_err(), "{bad:?}");
        }
        assert!(date(None).is_err());
    }

    #[test]
    fn update_masks_expand_star_and_refuse_the_rest() {
        let mask = |paths: &[&str]| prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        };
        let all = ["a", "b"];
        assert_eq!(update_mask(Some(&mask(&["*"])), &all).unwrap(), ["a", "b"]);
        assert_eq!(update_mask(Some(&mask(&["b"])), &all).unwrap(), ["b"]);
        assert!(update_mask(Some(&mask(&[])), &all).is_err());
        assert!(update_mask(None, &all).is_err());
        assert!(update_mask(Some(&mask(&["a", "c"])), &all).is_err());
    }

    #[test]
    fn timestamps_handle_negative_micros() {
        let t = timestamp(-1);
        assert_eq!((t.seconds, t.nanos), (-1, 999_999_000));
    }
}
