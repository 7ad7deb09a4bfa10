//! Opening hours: whether a schedule is open at an instant, in the schedule's own time zone.

use super::flow::Schedule;
use jiff::civil::{Date, Time, Weekday};
use jiff::{Timestamp, tz::TimeZone};

/// Why a schedule cannot be read (validation reports these; at run time an unreadable schedule is closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("unknown day {0:?} (use mon, tue, wed, thu, fri, sat, sun)")]
    Day(String),
    #[error("interval {0:?} is not HH:MM-HH:MM with the start before the end")]
    Interval(String),
    #[error("holiday {0:?} is not a date YYYY-MM-DD")]
    Holiday(String),
}

pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday_name(w: Weekday) -> &'static str {
    DAYS[w.to_monday_zero_offset() as usize]
}

/// Minutes since midnight of `HH:MM` (24:00 allowed as an end).
fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// `09:00-18:00` → (540, 1080).
pub fn interval(s: &str) -> Result<(u32, u32), ScheduleError> {
    let bad = || ScheduleError::Interval(s.to_string());
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
    if a < b { Ok((a, b)) } else { Err(bad()) }
}

/// Every problem of the schedule, for validation.
pub fn check(s: &Schedule) -> Vec<ScheduleError> {
    let mut out = Vec::new();
    if TimeZone::get(&s.timezone).is_err() {
        out.push(ScheduleError::TimeZone(s.timezone.clone()));
    }
    for (day, intervals) in &s.hours {
        if !DAYS.contains(&day.as_str()) {
            out.push(ScheduleError::Day(day.clone()));
        }
        out.extend(intervals.iter().filter_map(|i| interval(i).err()));
    }
    for h in &s.holidays {
        if h.parse::<Date>().is_err() {
            out.push(ScheduleError::Holiday(h.clone()));
        }
    }
    out
}

/// The schedule's local date and time at `at`; None when its time zone is unknown.
fn local(s: &Schedule, at: Timestamp) -> Option<(Date, Time)> {
    let local = TimeZone::get(&s.timezone).ok()?.to_datetime(at);
    Some((local.date(), local.time()))
}

pub fn is_holiday(s: &Schedule, at: Timestamp) -> bool {
    local(s, at).is_some_and(|(date, _)| {
        s.holidays
            .iter()
            .any(|h| h.parse::<Date>().is_ok_and(|d| d == date))
    })
}

pub fn is_open(s: &Schedule, at: Timestamp) -> bool {
    let Some((date, time)) = local(s, at) else {
        return false;
    };
    if is_holiday(s, at) {
        return false;
    }
    let now = time.hour() as u32 * 60 + time.minute() as u32;
    s.hours
        .get(weekday_name(date.weekday()))
        .into_iter()
        .flatten()
        .filter_map(|i| interval(i).ok())
        .any(|(a, b)| a <= now && now < b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn tokyo() -> Schedule {
        let mut hours = BTreeMap::new();
        for d in ["mon", "tue", "wed", "thu", "fri"] {
            hours.insert(
                d.to_string(),
                vec!["09:00-12:00".to_string(), "13:00-18:00".to_string()],
            );
        }
        hours.insert("sat".into(), vec!["10:00-24:00".into()]);
        Schedule {
            timezone: "Asia/Tokyo".into(),
            hours,
            holidays: vec!["2026-12-31".into()],
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn open_in_the_schedules_time_zone() {
        let s = tokyo();
        // 2026-12-01 is a Tuesday; 00:30 UTC = 09:30 in Tokyo.
        assert!(is_open(&s, at("2026-12-01T00:30:00Z")));
        assert!(!is_open(&s, at("2026-12-01T03:30:00Z")), "lunch break 12:30");
        assert!(!is_open(&s, at("2026-12-01T09:00:00Z")), "18:00 is closed");
        assert!(!is_open(&s, at("2026-12-05T23:30:00Z")), "Sunday 08:30");
        assert!(is_open(&s, at("2026-12-05T14:59:00Z")), "Saturday 23:59");
    }

    #[test]
    fn holidays_are_closed_all_day() {
        let s = tokyo();
        // Thursday 2026-12-31 10:00 in Tokyo.
        assert!(is_holiday(&s, at("2026-12-31T01:00:00Z")));
        assert!(!is_open(&s, at("2026-12-31T01:00:00Z")));
        // Still the 30th in Tokyo at 14:00 UTC on the 30th (23:00 local): not a holiday.
        assert!(!is_holiday(&s, at("2026-12-30T14:00:00Z")));
    }

    #[test]
    fn problems_are_named() {
        let mut s = tokyo();
        s.timezone = "Mars/Olympus".into();
        s.hours
            .insert("noday".into(), vec!["18:00-09:00".into(), "9-5".into()]);
        s.holidays.push("31/12/2026".into());
        let e = check(&s);
        assert!(e.contains(&ScheduleError::TimeZone("Mars/Olympus".into())));
        assert!(e.contains(&ScheduleError::Day("noday".into())));
        assert!(e.contains(&ScheduleError::Interval("18:00-09:00".into())));
        assert!(e.contains(&ScheduleError::Interval("9-5".into())));
        assert!(e.contains(&ScheduleError::Holiday("31/12/2026".into())));
        assert!(!is_open(&s, at("2026-12-01T00:30:00Z")), "unknown zone: closed");
        assert!(check(&tokyo()).is_empty());
    }
}
