//! Major Event Days by the 2.5β method of IEEE 1366-2022: the daily-SAIDI history
//! (read from and written to CSV `date,saidi_minutes`) and the threshold T_MED.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{ReliabilityError, Result};

/// The system SAIDI of one calendar day, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DailySaidi {
    pub date: NaiveDate,
    pub saidi_minutes: f64,
}

/// The 2.5β threshold and the statistics it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MedThreshold {
    /// α: mean of ln(daily SAIDI) over the days with SAIDI > 0.
    pub alpha: f64,
    /// β: sample standard deviation (n − 1) of the same logarithms.
    pub beta: f64,
    /// T_MED = exp(α + 2.5 β), minutes.
    pub t_med_minutes: f64,
    /// Days with SAIDI > 0 that entered α and β.
    pub days_used: usize,
}

impl MedThreshold {
    /// IEEE 1366-2022 (major event day, 2.5β method): T_MED = exp(α + 2.5 β) from the daily SAIDI history.
    ///
    /// The standard takes the five most recent complete years (fewer if that is all there
    /// is); choosing the days is the caller's business. Days with SAIDI = 0 are left out,
    /// as the standard says, since their logarithm does not exist.
    pub fn from_history(history: &[DailySaidi]) -> Result<Self> {
        let logs: Vec<f64> = history
            .iter()
            .filter(|day| day.saidi_minutes > 0.0)
            .map(|day| day.saidi_minutes.ln())
            .collect();
        if logs.len() < 2 {
            return Err(ReliabilityError::InsufficientHistory {
                positive_days: logs.len(),
            });
        }
        let n = logs.len() as f64;
        let alpha = logs.iter().sum::<f64>() / n;
        let beta = (logs.iter().map(|ln| (ln - alpha).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        Ok(Self {
            alpha,
            beta,
            t_med_minutes: (alpha + 2.5 * beta).exp(),
            days_used: logs.len(),
        })
    }

    /// Reads the history from CSV and computes the threshold.
    pub fn from_csv(text: &str) -> Result<Self> {
        Self::from_history(&parse_daily_saidi_csv(text)?)
    }

    /// IEEE 1366-2022 (major event day, 2.5β method): a day whose SAIDI exceeds T_MED (strictly) is a Major Event Day.
    pub fn is_major_event_day(&self, saidi_minutes: f64) -> bool {
        saidi_minutes > self.t_med_minutes
    }
}

const HEADER: [&str; 2] = ["date", "saidi_minutes"];

/// Parses `date,saidi_minutes` lines (the header line is optional; dates `YYYY-MM-DD`;
/// SAIDI finite and not negative; each date at most once).
///
/// Errors name the 1-based line of the first bad record.
pub fn parse_daily_saidi_csv(text: &str) -> Result<Vec<DailySaidi>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut days = Vec::new();
    let mut seen = BTreeSet::new();
    for (position, row) in reader.records().enumerate() {
        let row = row.map_err(|error| ReliabilityError::BadCsvLine {
            line: error.position().map_or(position as u64 + 1, |at| at.line()),
            reason: error.to_string(),
        })?;
        let line = row.position().map_or(position as u64 + 1, |at| at.line());
        let bad = |reason: String| ReliabilityError::BadCsvLine { line, reason };
        if position == 0 && row.iter().eq(HEADER) {
            continue;
        }
        if row.len() != 2 {
            return Err(bad(format!(
                "expected 2 fields (date,saidi_minutes), found {}",
                row.len()
            )));
        }
        let date = NaiveDate::parse_from_str(&row[0], "%Y-%m-%d")
            .map_err(|error| bad(format!("date {:?} is not YYYY-MM-DD: {error}", &row[0])))?;
        let saidi_minutes: f64 = row[1]
            .parse()
            .map_err(|_| bad(format!("saidi_minutes {:?} is not a number", &row[1])))?;
        if !saidi_minutes.is_finite() || saidi_minutes < 0.0 {
            return Err(bad(format!(
                "saidi_minutes {saidi_minutes} is not a finite number at or above zero"
            )));
        }
        if !seen.insert(date) {
            return Err(ReliabilityError::DuplicateDate { line, date });
        }
        days.push(DailySaidi {
            date,
            saidi_minutes,
        });
    }
    Ok(days)
}

/// Writes the history as CSV with a header, readable by [`parse_daily_saidi_csv`].
pub fn write_daily_saidi_csv(days: &[DailySaidi]) -> String {
    let mut text = String::from("date,saidi_minutes\n");
    for day in days {
        // `{}` on f64 prints the shortest text that parses back to the same value.
        text.push_str(&format!(
            "{},{}\n",
            day.date.format("%Y-%m-%d"),
            day.saidi_minutes
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, saidi_minutes: f64) -> DailySaidi {
        DailySaidi {
            date: date.parse().unwrap(),
            saidi_minutes,
        }
    }

    #[test]
    fn threshold_of_logs_two_three_four_is_e_to_the_five_and_a_half() {
        // ln values 2, 3, 4 (the zero day is left out):
        //   α = (2 + 3 + 4) / 3 = 3
        //   β = sqrt(((2-3)² + (3-3)² + (4-3)²) / (3 - 1)) = sqrt(2 / 2) = 1
        //   T_MED = exp(3 + 2.5 × 1) = exp(5.5) = 244.69193226422038 minutes
        let history = [
            day("2021-01-01", 2.0_f64.exp()),
            day("2021-01-02", 0.0),
            day("2021-01-03", 3.0_f64.exp()),
            day("2021-01-04", 4.0_f64.exp()),
        ];
        let threshold = MedThreshold::from_history(&history).unwrap();
        assert_eq!(threshold.days_used, 3);
        assert!((threshold.alpha - 3.0).abs() < 1e-12);
        assert!((threshold.beta - 1.0).abs() < 1e-12);
        assert!((threshold.t_med_minutes - 244.691_932_264_220_38).abs() < 1e-9);
        assert!(threshold.is_major_event_day(245.0));
        assert!(!threshold.is_major_event_day(244.0));
    }

    #[test]
    fn history_with_one_positive_day_is_refused() {
        let history = [day("2021-01-01", 3.0), day("2021-01-02", 0.0)];
        assert_eq!(
            MedThreshold::from_history(&history),
            Err(ReliabilityError::InsufficientHistory { positive_days: 1 })
        );
    }

    #[test]
    fn csv_with_header_and_without_reads_the_same_days() {
        let with_header = "date,saidi_minutes\n2021-01-01,1.5\n2021-01-02, 0\n";
        let without = "2021-01-01,1.5\n2021-01-02,0\n";
        let expected = vec![day("2021-01-01", 1.5), day("2021-01-02", 0.0)];
        assert_eq!(parse_daily_saidi_csv(with_header).unwrap(), expected);
        assert_eq!(parse_daily_saidi_csv(without).unwrap(), expected);
    }

    #[test]
    fn csv_errors_name_the_bad_line() {
        let cases = [
            ("date,saidi_minutes\n2021-01-01,1\n2021-13-01,2\n", 3),
            ("2021-01-01,1\n2021-01-02,abc\n", 2),
            ("2021-01-01,1\n2021-01-02,-4\n", 2),
            ("2021-01-01,1\n2021-01-02,NaN\n", 2),
            ("2021-01-01,1,7\n", 1),
        ];
        for (text, expected_line) in cases {
            match parse_daily_saidi_csv(text) {
                Err(ReliabilityError::BadCsvLine { line, .. }) => {
                    assert_eq!(line, expected_line, "{text:?}")
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn csv_refuses_a_date_given_twice() {
        let text = "2021-01-01,1\n2021-01-01,2\n";
        assert_eq!(
            parse_daily_saidi_csv(text),
            Err(ReliabilityError::DuplicateDate {
                line: 2,
                date: "2021-01-01".parse().unwrap()
            })
        );
    }

    #[test]
    fn written_csv_reads_back_to_the_same_days() {
        let days = vec![day("2022-03-04", 0.1 + 0.2), day("2022-03-05", 1e-7)];
        let text = write_daily_saidi_csv(&days);
        assert_eq!(parse_daily_saidi_csv(&text).unwrap(), days);
    }
}
