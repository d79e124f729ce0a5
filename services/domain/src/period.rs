//! Reporting periods of the safety office's statistics: a quarter (`2026-Q3`) or a month
//! (`2026-07`), as months of the program's calendar.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Period {
    Quarter { year: i32, quarter: u32 },
    Month { year: i32, month: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a period is a quarter like 2026-Q3 or a month like 2026-07, of a year from 2000 to 2999")]
pub struct NotAPeriod;

impl Period {
    /// The first day of the period's first month.
    pub fn first_month(self) -> NaiveDate {
        let (year, month) = match self {
            Period::Quarter { year, quarter } => (year, (quarter - 1) * 3 + 1),
            Period::Month { year, month } => (year, month),
        };
        NaiveDate::from_ymd_opt(year, month, 1).expect("a checked period is a real month")
    }

    /// The first day after the period.
    pub fn end(self) -> NaiveDate {
        let months = match self {
            Period::Quarter { .. } => 3,
            Period::Month { .. } => 1,
        };
        self.first_month() + Months::new(months)
    }

    /// The quarter a day falls in.
    pub fn quarter_of(day: NaiveDate) -> Period {
        Period::Quarter {
            year: day.year(),
            quarter: day.month0() / 3 + 1,
        }
    }

    /// The quarter before this one (for a month, the quarter before the month's).
    pub fn previous_quarter(self) -> Period {
        Period::quarter_of(self.first_month() - Months::new(3))
    }
}

/// Which periods the safety office reads, and with which others each is suppressed (see
/// [`crate::suppression::suppress_linked`]). Only periods that are over: a running period,
/// polled, would show single cases arriving. Quarters only by default; with `months`, a month
/// too, once its quarter is over, suppressed together with the quarter and its other months so
/// that no combination of them gives away what one hides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyOfficePeriods {
    pub months: bool,
}

/// Why the safety office is not served a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotServed {
    #[error("{0} is not over yet: the safety office reads periods that are over")]
    NotOver(Period),
    #[error("the safety office reads quarters only (months are not served: statistics.safety_office_months)")]
    MonthsNotServed,
    #[error("the statistics of {0} were fixed before months were served, so its months are not")]
    FixedWithoutMonths(Period),
}

impl NotServed {
    /// The rule's stable name, for problem+json.
    pub fn rule(self) -> &'static str {
        match self {
            NotServed::NotOver(_) => "period-not-over",
            NotServed::MonthsNotServed | NotServed::FixedWithoutMonths(_) => "months-not-served",
        }
    }
}

impl SafetyOfficePeriods {
    /// The periods suppressed together with `period` when the safety office reads it on
    /// `today`: its quarter first, then the quarter's three months where months are served.
    /// Or why it is not served.
    pub fn linked(self, period: Period, today: NaiveDate) -> Result<Vec<Period>, NotServed> {
        if matches!(period, Period::Month { .. }) && !self.months {
            return Err(NotServed::MonthsNotServed);
        }
        let quarter = Period::quarter_of(period.first_month());
        // A month is served only once its whole quarter is over: the months are suppressed
        // with the quarter, which is not known before.
        if quarter.end() > today {
            return Err(NotServed::NotOver(period));
        }
        let mut linked = vec![quarter];
        if self.months {
            linked.extend((0..3).map(|m| Period::Month {
                year: quarter.first_month().year(),
                month: quarter.first_month().month() + m,
            }));
        }
        Ok(linked)
    }

    /// The last quarter that is over on `today`: what the safety office reads first.
    pub fn latest_quarter(today: NaiveDate) -> Period {
        Period::quarter_of(today).previous_quarter()
    }
}

impl FromStr for Period {
    type Err = NotAPeriod;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (year, rest) = text.split_once('-').ok_or(NotAPeriod)?;
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NotAPeriod);
        }
        let year: i32 = year.parse().map_err(|_| NotAPeriod)?;
        if !(2000..=2999).contains(&year) {
            return Err(NotAPeriod);
        }
        let number = |digits: &str, range: std::ops::RangeInclusive<u32>| {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(NotAPeriod);
            }
            let value: u32 = digits.parse().map_err(|_| NotAPeriod)?;
            range.contains(&value).then_some(value).ok_or(NotAPeriod)
        };
        match rest.strip_prefix('Q') {
            Some(quarter) if quarter.len() == 1 => Ok(Period::Quarter {
                year,
                quarter: number(quarter, 1..=4)?,
            }),
            None if rest.len() == 2 => Ok(Period::Month {
                year,
                month: number(rest, 1..=12)?,
            }),
            _ => Err(NotAPeriod),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Quarter { year, quarter } => write!(f, "{year}-Q{quarter}"),
            Period::Month { year, month } => write!(f, "{year}-{month:02}"),
        }
    }
}

impl TryFrom<String> for Period {
    type Error = NotAPeriod;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Period> for String {
    fn from(value: Period) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_quarter_is_three_months_and_a_month_is_one() {
        let q3: Period = "2026-Q3".parse().unwrap();
        assert_eq!(
            (q3.first_month(), q3.end()),
            (day(2026, 7, 1), day(2026, 10, 1))
        );
        let q4: Period = "2026-Q4".parse().unwrap();
        assert_eq!(q4.end(), day(2027, 1, 1));
        let july: Period = "2026-07".parse().unwrap();
        assert_eq!(
            (july.first_month(), july.end()),
            (day(2026, 7, 1), day(2026, 8, 1))
        );
        assert_eq!(q3.to_string(), "2026-Q3");
        assert_eq!(july.to_string(), "2026-07");
    }

    #[test]
    fn the_quarter_of_a_day_and_the_one_before() {
        assert_eq!(Period::quarter_of(day(2026, 11, 23)).to_string(), "2026-Q4");
        assert_eq!(
            Period::quarter_of(day(2026, 1, 2))
                .previous_quarter()
                .to_string(),
            "2025-Q4"
        );
    }

    #[test]
    fn the_safety_office_reads_quarters_that_are_over_and_months_only_where_served() {
        let today = day(2026, 11, 23);
        let quarters_only = SafetyOfficePeriods::default();
        let q3: Period = "2026-Q3".parse().unwrap();
        assert_eq!(quarters_only.linked(q3, today), Ok(vec![q3]));
        let q4: Period = "2026-Q4".parse().unwrap();
        assert_eq!(quarters_only.linked(q4, today), Err(NotServed::NotOver(q4)));
        let august: Period = "2026-08".parse().unwrap();
        assert_eq!(
            quarters_only.linked(august, today),
            Err(NotServed::MonthsNotServed)
        );
        assert_eq!(SafetyOfficePeriods::latest_quarter(today), q3);

        let months = SafetyOfficePeriods { months: true };
        let linked: Vec<String> = months
            .linked(august, today)
            .unwrap()
            .iter()
            .map(Period::to_string)
            .collect();
        assert_eq!(linked, ["2026-Q3", "2026-07", "2026-08", "2026-09"]);
        assert_eq!(months.linked(q3, today).unwrap().len(), 4);
        // October is over on 23 November, but its quarter is not.
        let october: Period = "2026-10".parse().unwrap();
        assert_eq!(
            months.linked(october, today),
            Err(NotServed::NotOver(october))
        );
        // The day a quarter ends is the first day after it.
        assert!(quarters_only.linked(q3, day(2026, 10, 1)).is_ok());
        assert!(quarters_only.linked(q3, day(2026, 9, 30)).is_err());
    }

    #[test]
    fn anything_else_is_not_a_period() {
        for bad in [
            "",
            "2026",
            "2026-Q0",
            "2026-Q5",
            "2026-Q10",
            "2026-13",
            "2026-00",
            "2026-7",
            "26-Q3",
            "2026-q3",
            "1999-Q1",
            "3000-01",
            "2026-Q+3",
            "2026-+7",
            "2026-07-01",
        ] {
            assert_eq!(bad.parse::<Period>(), Err(NotAPeriod), "{bad:?}");
        }
    }
}
