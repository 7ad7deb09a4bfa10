//! Opening hours: each problem of a flow's schedules at its path, found by the parsers the engine reads
//! schedules with (`ivr::schedule`), so that a schedule that passes here is one the engine can read.

use super::Issue;
use crate::ivr::flow::Flow;
use crate::ivr::schedule::{DAYS, ScheduleError, interval};

pub(super) fn check(flow: &Flow) -> Vec<Issue> {
    let mut issues = Vec::new();
    for (name, schedule) in &flow.schedules {
        let at = format!("schedules.{name}");
        if jiff::tz::TimeZone::get(&schedule.timezone).is_err() {
            let error = ScheduleError::TimeZone(schedule.timezone.clone());
            let message = format!("{error}: use an IANA name such as Asia/Tokyo or Europe/London");
            issues.push(Issue::flow(format!("{at}.timezone"), message));
        }
        for (day, intervals) in &schedule.hours {
            if !DAYS.contains(&day.as_str()) {
                let error = ScheduleError::Day(day.clone());
                issues.push(Issue::flow(format!("{at}.hours.{day}"), error.to_string()));
            }
            for (i, text) in intervals.iter().enumerate() {
                if let Err(error) = interval(text) {
                    issues.push(Issue::flow(format!("{at}.hours.{day}[{i}]"), error.to_string()));
                }
            }
        }
        for (i, text) in schedule.holidays.iter().enumerate() {
            // Read as the engine reads a holiday.
            if text.parse::<jiff::civil::Date>().is_err() {
                let error = ScheduleError::Holiday(text.clone());
                issues.push(Issue::flow(format!("{at}.holidays[{i}]"), error.to_string()));
            }
        }
    }
    issues
}
