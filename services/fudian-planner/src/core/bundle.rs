//! 一停多用: jobs whose outages overlap or nest and whose windows share days are proposed
//! as one outage, costing the union of their customers times the longest duration instead
//! of the sum of their separate outages.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::core::assess::Assessment;
use crate::core::job::JobRequest;

/// Jobs proposed as one outage, with what it saves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub jobs: Vec<String>,
    /// The days every job of the bundle may take place on.
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    /// Customers out, each counted once.
    pub customers: usize,
    pub duration_hours: f64,
    /// Σ customers × hours of the jobs done apart.
    pub separate_customer_hours: f64,
    /// Union of customers × the longest duration.
    pub bundled_customer_hours: f64,
    pub saving_customer_hours: f64,
}

/// Merges two sorted, deduplicated lists.
pub(crate) fn union_sorted(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut merged = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                merged.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                merged.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                merged.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    merged.extend_from_slice(&a[i..]);
    merged.extend_from_slice(&b[j..]);
    merged
}

/// Whether two sorted lists share an element.
pub(crate) fn intersects(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

struct Group {
    members: Vec<usize>,
    customers: Vec<u32>,
    earliest: NaiveDate,
    latest: NaiveDate,
    duration_hours: f64,
    separate: f64,
}

impl Group {
    fn cost(&self) -> f64 {
        self.customers.len() as f64 * self.duration_hours
    }
}

/// Proposes bundles among assessed jobs (`jobs[i]` with `assessments[i]`): biggest outages
/// first, a job joins the first bundle whose customers it shares, whose common window it
/// shares a day with, and whose cost it does not raise beyond doing it apart. Only bundles
/// of two or more jobs that save something are returned. Live-line jobs take nobody out
/// and are never bundled.
pub fn propose_bundles(jobs: &[JobRequest], assessments: &[Assessment]) -> Vec<Bundle> {
    let mut order: Vec<usize> = (0..jobs.len().min(assessments.len()))
        .filter(|&i| !assessments[i].customers.is_empty())
        .collect();
    order.sort_by(|&a, &b| {
        assessments[b]
            .charged_customer_hours
            .total_cmp(&assessments[a].charged_customer_hours)
            .then(a.cmp(&b))
    });
    let mut groups: Vec<Group> = Vec::new();
    for i in order {
        let (job, assessment) = (&jobs[i], &assessments[i]);
        let alone = assessment.customers.len() as f64 * job.duration_hours;
        let joined = groups.iter_mut().find(|group| {
            let earliest = group.earliest.max(job.earliest);
            let latest = group.latest.min(job.latest);
            if earliest > latest || !intersects(&group.customers, &assessment.customers) {
                return false;
            }
            let union = union_sorted(&group.customers, &assessment.customers);
            let bundled = union.len() as f64 * group.duration_hours.max(job.duration_hours);
            bundled < group.cost() + alone
        });
        match joined {
            Some(group) => {
                group.customers = union_sorted(&group.customers, &assessment.customers);
                group.earliest = group.earliest.max(job.earliest);
                group.latest = group.latest.min(job.latest);
                group.duration_hours = group.duration_hours.max(job.duration_hours);
                group.separate += alone;
                group.members.push(i);
            }
            None => groups.push(Group {
                members: vec![i],
                customers: assessment.customers.clone(),
                earliest: job.earliest,
                latest: job.latest,
                duration_hours: job.duration_hours,
                separate: alone,
            }),
        }
    }
    groups
        .into_iter()
        .filter(|group| group.members.len() > 1)
        .map(|group| Bundle {
            jobs: group
                .members
                .iter()
                .map(|&i| jobs[i].id.to_string())
                .collect(),
            earliest: group.earliest,
            latest: group.latest,
            customers: group.customers.len(),
            duration_hours: group.duration_hours,
            separate_customer_hours: group.separate,
            bundled_customer_hours: group.cost(),
            saving_customer_hours: group.separate - group.cost(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::assess::{AssessContext, Assessor, TransferChoice};
    use crate::core::fixture::oberrhein;
    use crate::core::job::sample_request;

    /// Two jobs on the sample grid: one big section and one nested in it.
    fn nested_pair() -> (Vec<JobRequest>, Vec<Assessment>) {
        let (grid, topology) = oberrhein();
        let assessor = Assessor::new(&grid, &topology);
        let assess = |job: &JobRequest| {
            assessor
                .assess(
                    job,
                    &AssessContext::default(),
                    &TransferChoice::Decline {
                        reason: "compare raw sections".into(),
                    },
                )
                .unwrap()
        };
        let lines: Vec<JobRequest> = grid
            .branches
            .iter()
            .filter(|b| b.kind == fudian_grid::BranchKind::Line)
            .map(|b| sample_request(&format!("J-{}", b.id), &[&b.id]))
            .collect();
        let assessed: Vec<Assessment> = lines.iter().map(assess).collect();
        for (a, big) in assessed.iter().enumerate() {
            for (b, small) in assessed.iter().enumerate() {
                let nested = small.customers.len() >= 2
                    && big.customers.len() > small.customers.len()
                    && small
                        .customers
                        .iter()
                        .all(|c| big.customers.binary_search(c).is_ok());
                if a != b && nested {
                    return (
                        vec![lines[a].clone(), lines[b].clone()],
                        vec![big.clone(), small.clone()],
                    );
                }
            }
        }
        panic!("no nested sections on the sample grid");
    }

    #[test]
    fn bundling_two_nested_jobs_counts_each_customer_once() {
        let (jobs, assessments) = nested_pair();
        let bundles = propose_bundles(&jobs, &assessments);
        assert_eq!(bundles.len(), 1);
        let bundle = &bundles[0];
        let (big, small) = (&assessments[0], &assessments[1]);
        assert_eq!(bundle.customers, big.customers.len());
        assert_eq!(
            bundle.bundled_customer_hours,
            big.customers.len() as f64 * 4.0
        );
        assert_eq!(
            bundle.separate_customer_hours,
            (big.customers.len() + small.customers.len()) as f64 * 4.0
        );
        assert_eq!(
            bundle.saving_customer_hours,
            small.customers.len() as f64 * 4.0
        );
    }

    #[test]
    fn jobs_without_a_common_day_are_not_bundled() {
        let (mut jobs, assessments) = nested_pair();
        jobs[1].earliest = jobs[0].latest.succ_opt().unwrap();
        jobs[1].latest = jobs[1].earliest;
        assert!(propose_bundles(&jobs, &assessments).is_empty());
    }

    #[test]
    fn union_of_sorted_lists_keeps_each_element_once() {
        assert_eq!(union_sorted(&[1, 3, 5], &[2, 3, 6]), vec![1, 2, 3, 5, 6]);
        assert!(intersects(&[1, 4], &[2, 4]));
        assert!(!intersects(&[1, 3], &[2, 4]));
    }
}
