//! The ground truth of a simulation (what really failed, and who was out) and the score of
//! an outage service's incidents against it.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// Everything a test needs to judge the service: one entry per sustained fault and per
/// momentary interruption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub seed: u64,
    /// Offset 0 of the simulation.
    pub start: DateTime<FixedOffset>,
    pub faults: Vec<TruthFault>,
    pub momentaries: Vec<TruthMomentary>,
    /// Faults started later than planned because every candidate line was on a feeder
    /// already busy with an earlier fault.
    pub deferred_faults: usize,
}

/// One sustained fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthFault {
    /// The faulted line.
    pub faulted_element: String,
    /// The breaker, recloser or fuse that cleared it.
    pub protective_device: String,
    /// Customer ids out when it tripped, sorted.
    pub customers: Vec<String>,
    pub start: DateTime<FixedOffset>,
    pub start_offset_ms: u64,
    /// When the last customer got supply back.
    pub restored_offset_ms: u64,
    /// Customers back through switching before the repair, sorted.
    pub restored_by_switching: Vec<String>,
    pub crew: String,
}

/// One momentary interruption: a trip reclosed within seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthMomentary {
    pub device: String,
    pub customers: Vec<String>,
    pub start: DateTime<FixedOffset>,
    pub start_offset_ms: u64,
    pub reclosed_offset_ms: u64,
}

impl GroundTruth {
    pub fn to_json(&self) -> String {
        // Plain strings, numbers and times: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, SimError> {
        Ok(serde_json::from_str(text)?)
    }
}

/// An incident as the outage service reports it: the device it blames and its customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedIncident {
    pub device: Option<String>,
    pub customers: Vec<String>,
}

/// How well incidents match the truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Sustained faults in the truth.
    pub faults: usize,
    /// Faults matched by an incident that names their protective device.
    pub devices_found: usize,
    /// `devices_found / faults` (1 when there are no faults).
    pub device_share: f64,
    /// Customers of matched incidents that were really out with the matched fault, over
    /// all customers of all incidents (1 when no customer is reported).
    pub precision: f64,
    /// Customers of faults found in their matched incident, over all customers out
    /// (1 when no customer was out).
    pub recall: f64,
}

/// Scores incidents against the truth's sustained faults. Each fault, in start order, is
/// matched to at most one unused incident: one naming its protective device if any (the
/// one sharing most customers), else the one sharing most customers. Customers of
/// unmatched incidents (e.g. ones raised for momentary interruptions) only lower precision.
pub fn score(truth: &GroundTruth, incidents: &[ReportedIncident]) -> Score {
    let incident_sets: Vec<HashSet<&str>> = incidents
        .iter()
        .map(|i| i.customers.iter().map(String::as_str).collect())
        .collect();
    let mut used = vec![false; incidents.len()];
    let mut faults: Vec<&TruthFault> = truth.faults.iter().collect();
    faults.sort_by_key(|f| f.start_offset_ms);

    let (mut devices_found, mut true_positive, mut truth_total) = (0usize, 0usize, 0usize);
    for fault in faults {
        truth_total += fault.customers.len();
        let overlap = |i: usize| -> usize {
            fault
                .customers
                .iter()
                .filter(|c| incident_sets[i].contains(c.as_str()))
                .count()
        };
        let free = || (0..incidents.len()).filter(|&i| !used[i]);
        let by_device = free()
            .filter(|&i| incidents[i].device.as_deref() == Some(fault.protective_device.as_str()))
            .max_by_key(|&i| (overlap(i), std::cmp::Reverse(i)));
        let chosen = match by_device {
            Some(i) => {
                devices_found += 1;
                Some(i)
            }
            None => free()
                .map(|i| (i, overlap(i)))
                .filter(|&(_, shared)| shared > 0)
                .max_by_key(|&(i, shared)| (shared, std::cmp::Reverse(i)))
                .map(|(i, _)| i),
        };
        if let Some(i) = chosen {
            used[i] = true;
            true_positive += overlap(i);
        }
    }
    let reported_total: usize = incident_sets.iter().map(HashSet::len).sum();
    let ratio = |part: usize, whole: usize| {
        if whole == 0 {
            1.0
        } else {
            part as f64 / whole as f64
        }
    };
    Score {
        faults: truth.faults.len(),
        devices_found,
        device_share: ratio(devices_found, truth.faults.len()),
        precision: ratio(true_positive, reported_total),
        recall: ratio(true_positive, truth_total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(device: &str, customers: &[&str], offset: u64) -> TruthFault {
        TruthFault {
            faulted_element: format!("L-{device}"),
            protective_device: device.to_owned(),
            customers: customers.iter().map(|c| (*c).to_owned()).collect(),
            start: DateTime::parse_from_rfc3339("2026-11-26T14:00:00+08:00").unwrap(),
            start_offset_ms: offset,
            restored_offset_ms: offset + 1,
            restored_by_switching: Vec::new(),
            crew: "CREW-1".to_owned(),
        }
    }

    fn truth(faults: Vec<TruthFault>) -> GroundTruth {
        GroundTruth {
            seed: 1,
            start: DateTime::parse_from_rfc3339("2026-11-26T14:00:00+08:00").unwrap(),
            faults,
            momentaries: Vec::new(),
            deferred_faults: 0,
        }
    }

    fn incident(device: &str, customers: &[&str]) -> ReportedIncident {
        ReportedIncident {
            device: Some(device.to_owned()),
            customers: customers.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn a_wrong_device_with_the_right_customers_counts_for_recall_but_not_devices() {
        let truth = truth(vec![fault("S1", &["C1", "C2"], 0)]);
        let score = score(&truth, &[incident("S9", &["C1", "C2", "C3"])]);
        assert_eq!(score.devices_found, 0);
        assert_eq!(score.recall, 1.0);
        assert!((score.precision - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn two_faults_on_one_device_need_two_incidents() {
        let truth = truth(vec![fault("S1", &["C1"], 0), fault("S1", &["C1"], 10)]);
        let score = score(&truth, &[incident("S1", &["C1"])]);
        assert_eq!(score.devices_found, 1);
        assert_eq!(score.device_share, 0.5);
        assert_eq!(score.recall, 0.5);
        assert_eq!(score.precision, 1.0);
    }

    #[test]
    fn no_incidents_score_zero_recall_and_vacuous_precision() {
        let truth = truth(vec![fault("S1", &["C1"], 0)]);
        let score = score(&truth, &[]);
        assert_eq!(
            (score.recall, score.precision, score.devices_found),
            (0.0, 1.0, 0)
        );
    }

    #[test]
    fn the_truth_survives_a_json_round_trip() {
        let truth = truth(vec![fault("S1", &["C1"], 0)]);
        assert_eq!(GroundTruth::from_json(&truth.to_json()).unwrap(), truth);
        assert!(matches!(
            GroundTruth::from_json("{}"),
            Err(SimError::BadTruth(_))
        ));
    }
}
