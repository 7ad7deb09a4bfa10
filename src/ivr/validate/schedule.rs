//! Opening hours: the rules on a flow's schedules, and the parsers of their days, intervals and dates
//! (public, so that whatever evaluates a schedule reads it exactly as validation did).

use super::Issue;
use crate::ivr::flow::Flow;
use jiff::civil::{Date, Weekday};

pub(super) fn check(flow: &Flow) -> Vec<Issue> {
    let mut issues = Vec::new();
    for (name, schedule) in &flow.schedules {
        let at = format!("schedules.{name}");
        if jiff::tz::TimeZone::get(&schedule.timezone).is_err() {
            issues.push(Issue::flow(
                format!("{at}.timezone"),
                format!(
                    "\"{}\" is not a known time zone: use an IANA name such as Asia/Tokyo or Europe/London",
                    schedule.timezone
                ),
            ));
        }
        for (day, intervals) in &schedule.hours {
            if weekday(day).is_none() {
                issues.push(Issue::flow(
                    format!("{at}.hours.{day}"),
                    format!("\"{day}\" is not a day: use mon, tue, wed, thu, fri, sat or sun"),
                ));
            }
            for (i, text) in intervals.iter().enumerate() {
                if let Err(why) = interval(text) {
                    issues.push(Issue::flow(format!("{at}.hours.{day}[{i}]"), why));
                }
            }
        }
        for (i, text) in schedule.holidays.iter().enumerate() {
            if date(text).is_none() {
                issues.push(Issue::flow(
                    format!("{at}.holidays[{i}]"),
                    format!("\"{text}\" is not a date like 2025-12-31"),
                ));
            }
        }
    }
    issues
}

/// `mon` … `sun`.
pub fn weekday(day: &str) -> Option<Weekday> {
    Some(match day {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

/// `"09:00-18:00"` as minutes since midnight, open from the first and closed from the second
/// (`24:00` ends at midnight). The error says what is wrong.
pub fn interval(text: &str) -> Result<(u16, u16), String> {
    let parsed = text
        .split_once('-')
        .and_then(|(from, to)| Some((minutes(from)?, minutes(to)?)));
    match parsed {
        Some((from, to)) if from < to && from < 24 * 60 => Ok((from, to)),
        Some(_) => Err(format!(
            "\"{text}\" does not end after it starts (split an interval over midnight in two days)"
        )),
        None => Err(format!("\"{text}\" is not an interval like 09:00-18:00")),
    }
}

/// `HH:MM`, `00:00` to `24:00`.
fn minutes(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    (m < 60 && total <= 24 * 60).then_some(total)
}

/// `YYYY-MM-DD`, a real date.
pub fn date(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !digits(y, 4) || !digits(m, 2) || !digits(d, 2) {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}
