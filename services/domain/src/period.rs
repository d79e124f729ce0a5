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
