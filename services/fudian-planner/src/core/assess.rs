//! 先算后停, 能转必转, 能带不停: what a job takes out before anyone opens a switch.
//!
//! A planned outage de-energizes the switch-bounded section around each element (the
//! fault-section of the grid model, from the present state) by opening its boundary
//! switches; everyone that section feeds goes dark with it. The grid's restoration plan
//! then closes normally-open ties to pick up the healthy sections downstream, refusing
//! closings that overload a rated branch. Unlike a fault, no protective device trips, so
//! customers upstream of the section never go out.

use fudian_grid::topology::LocalPlanner;
use fudian_grid::{CapacityCheck, ElementRef, FaultSection, Grid, Topology};
use serde::{Deserialize, Serialize};

use crate::core::job::{JobRequest, require_reason};
use crate::error::{PlannerError, Result};

const NO_TRANSFORMER: u32 = u32::MAX;

/// Whether the planner takes the transfer the grid model offers (能转必转) or declines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferChoice {
    UseTransfer,
    /// The planner overrides the transfer; the reason is kept with the assessment.
    Decline {
        reason: String,
    },
}

/// Facts from outside the grid model that an assessment needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssessContext<'a> {
    /// Interruptions each customer (by grid index) had this year; shorter slices mean zero.
    pub interruptions_this_year: &'a [u32],
    /// Interruptions in a year from which a customer is a frequent-outage customer
    /// (频繁停电); 0 turns the check off.
    pub frequent_threshold: u32,
    /// Customer-hours left in the job's area before this job, when known.
    pub budget_remaining: Option<f64>,
}

/// How the job would be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkMode {
    /// 能带不停: live-line work, nobody goes out.
    LiveLine,
    OutageWithTransfer,
    OutageWithoutTransfer,
}

/// Whether the ties' added load fits the ratings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferCapacity {
    /// No tie is closed.
    NoTransfer,
    Checked,
    Unchecked {
        reason: String,
    },
    /// Some section stays out because its tie would overload `branch`.
    Violated {
        branch: String,
        load_kw: f64,
        rated_kva: f64,
    },
}

/// The outcome of 先算后停 for one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub job: String,
    pub mode: WorkMode,
    pub duration_hours: f64,
    /// Switches to open (those closed now on the section's boundary).
    pub open_switches: Vec<String>,
    /// Normally-open ties to close (empty without transfer).
    pub close_switches: Vec<String>,
    pub capacity: TransferCapacity,
    pub customers_out: usize,
    pub customers_out_with_transfer: usize,
    /// 台区 (and medium-voltage customers, one each) out.
    pub transformers_out: u32,
    pub transformers_out_with_transfer: u32,
    /// 停电时户数, customer caliber, without and with transfer.
    pub customer_hours: f64,
    pub customer_hours_with_transfer: f64,
    /// 停电时户数, 台区 caliber.
    pub transformer_hours: f64,
    pub transformer_hours_with_transfer: f64,
    /// What the chosen mode charges to the budget (customer caliber).
    pub charged_customer_hours: f64,
    /// Customer-hours the outage would have cost and live-line work avoids.
    pub avoided_customer_hours: f64,
    /// Why transfer was declined, when it was.
    pub transfer_declined: Option<String>,
    /// Customer indices out in the chosen mode, sorted.
    pub customers: Vec<u32>,
    /// Customer indices out without transfer, sorted.
    pub customers_without_transfer: Vec<u32>,
    pub critical_customers: Vec<String>,
    /// Customers this outage would make frequent-outage customers.
    pub new_frequent_outage_customers: Vec<String>,
    pub budget_remaining_after: Option<f64>,
}

/// Identifies a switch-bounded section: its first branch and its boundary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SectionKey {
    first_branch: u32,
    boundary: Vec<u32>,
}

/// What de-energizing one section takes out.
#[derive(Debug, Clone)]
struct SectionOutage {
    open: Vec<u32>,
    close: Vec<u32>,
    with_transfer: Vec<u32>,
    without_transfer: Vec<u32>,
    capacity: TransferCapacity,
}

/// Section outages already computed, for jobs that share sections.
#[derive(Debug, Default)]
struct SectionCache {
    sections: std::collections::HashMap<SectionKey, SectionOutage>,
}

/// Assesses jobs against one grid in one switching state.
#[derive(Debug)]
pub struct Assessor<'g> {
    grid: &'g Grid,
    topology: &'g Topology,
    /// The public transformer (台区) above each customer, or `NO_TRANSFORMER` for a
    /// customer supplied at medium voltage.
    transformer_of: Vec<u32>,
    /// Per branch: whether an open switch that could be closed to pick up load hangs
    /// somewhere below it in the present tree.
    tie_below: Vec<bool>,
    /// Per bus: an in-service line or transformer touching it, whose section is the bus's.
    bus_branch: Vec<Option<u32>>,
    /// Restoration plans computed on the section's own subtree and ties (the whole-grid
    /// plan only where the local one cannot be sure).
    local: LocalPlanner<'g>,
}

impl<'g> Assessor<'g> {
    pub fn new(grid: &'g Grid, topology: &'g Topology) -> Self {
        let mut transformer_of = vec![NO_TRANSFORMER; grid.customers.len()];
        for branch in 0..grid.branches.len() {
            let branch = u32::try_from(branch).unwrap_or(u32::MAX);
            if grid.is_public_transformer(branch) {
                for &customer in topology.customers_below_branch(branch).customers {
                    transformer_of[customer as usize] = branch;
                }
            }
        }
        let mut tie_below = vec![false; grid.branches.len()];
        for (switch, branch) in grid.branches.iter().enumerate() {
            let switch = u32::try_from(switch).unwrap_or(u32::MAX);
            if !branch.is_switch()
                || topology.is_conducting(switch)
                || !topology.is_in_service(switch)
            {
                continue;
            }
            for end in topology.branch_ends(switch) {
                for up in topology
                    .upstream_path(end)
                    .map(|path| path.branches)
                    .unwrap_or_default()
                {
                    tie_below[up as usize] = true;
                }
            }
        }
        let mut bus_branch = vec![None; grid.buses.len()];
        for (index, branch) in grid.branches.iter().enumerate() {
            if branch.is_switch() || !branch.in_service {
                continue;
            }
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            for bus in [branch.from_bus, branch.to_bus] {
                if let Some(slot) = bus_branch.get_mut(bus as usize) {
                    slot.get_or_insert(index);
                }
            }
        }
        Self {
            grid,
            topology,
            transformer_of,
            tie_below,
            bus_branch,
            local: LocalPlanner::new(topology),
        }
    }

    pub fn grid(&self) -> &'g Grid {
        self.grid
    }

    /// The public transformer (台区) above a customer; `None` for a customer supplied at
    /// medium voltage.
    pub fn transformer_of(&self, customer: u32) -> Option<u32> {
        self.transformer_of
            .get(customer as usize)
            .copied()
            .filter(|&t| t != NO_TRANSFORMER)
    }

    /// Users in the 台区 caliber: one per transformer, one per medium-voltage customer.
    pub fn transformer_users(&self, customers: &[u32]) -> u32 {
        let mut transformers: Vec<u32> = Vec::new();
        let mut medium_voltage = 0u32;
        for &customer in customers {
            match self.transformer_of.get(customer as usize) {
                Some(&t) if t != NO_TRANSFORMER => transformers.push(t),
                _ => medium_voltage += 1,
            }
        }
        transformers.sort_unstable();
        transformers.dedup();
        u32::try_from(transformers.len())
            .unwrap_or(u32::MAX)
            .saturating_add(medium_voltage)
    }

    /// 先算后停 for `job`.
    pub fn assess(
        &self,
        job: &JobRequest,
        context: &AssessContext<'_>,
        transfer: &TransferChoice,
    ) -> Result<Assessment> {
        self.assess_cached(job, context, transfer, &mut SectionCache::default())
    }

    /// Assesses many jobs on every core, reusing the outage of sections several jobs
    /// share; results are in the order of `jobs`.
    pub fn assess_many(
        &self,
        jobs: &[JobRequest],
        context: &AssessContext<'_>,
        transfer: &TransferChoice,
    ) -> Vec<Result<Assessment>> {
        let threads = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .clamp(1, jobs.len().max(1));
        let chunk = jobs.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = jobs
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut cache = SectionCache::default();
                        part.iter()
                            .map(|job| self.assess_cached(job, context, transfer, &mut cache))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }

    /// The closed boundary switch the section is fed through: the first one on the way up
    /// from an energized bus of the section.
    fn feeding_switch(&self, section: &FaultSection, open: &[u32]) -> Option<u32> {
        let bus = section
            .buses
            .iter()
            .copied()
            .find(|&bus| self.topology.is_energized(bus))?;
        let path = self.topology.upstream_path(bus)?;
        path.branches.into_iter().find(|b| open.contains(b))
    }

    /// What de-energizing the section around `branch` takes out, with and without the
    /// ties. When no normally-open switch hangs below the section (nothing can pick its
    /// downstream up), no restoration plan is needed: the index answers at once what
    /// opening the boundary switches takes out.
    fn section_outage(&self, branch: u32, section: &FaultSection) -> SectionOutage {
        let open: Vec<u32> = section
            .boundary_switches
            .iter()
            .copied()
            .filter(|&s| self.topology.is_conducting(s))
            .collect();
        let mut inside: Vec<u32> = section
            .buses
            .iter()
            .filter(|&&bus| self.topology.is_energized(bus))
            .flat_map(|&bus| self.topology.customers_at(bus).iter().copied())
            .collect();
        if let Some(feeding) = self.feeding_switch(section, &open)
            && open
                .iter()
                .all(|&s| s == feeding || !self.tie_below[s as usize])
        {
            for &switch in &open {
                inside.extend_from_slice(self.topology.outage_if_opened(switch).customers);
            }
            inside.sort_unstable();
            inside.dedup();
            return SectionOutage {
                open,
                close: Vec::new(),
                with_transfer: inside.clone(),
                without_transfer: inside,
                capacity: TransferCapacity::NoTransfer,
            };
        }
        let plan = self
            .local
            .restoration_plan(branch)
            .unwrap_or_else(|| self.topology.restoration_plan(branch));
        let mut with_transfer = plan.stay_out_faulted.clone();
        with_transfer.extend_from_slice(&plan.stay_out_unreachable);
        let mut without_transfer = with_transfer.clone();
        for closing in &plan.close_switches {
            without_transfer.extend(
                closing
                    .customers
                    .iter()
                    .copied()
                    .filter(|&c| self.topology.is_energized(self.grid.customer(c).bus)),
            );
        }
        with_transfer.sort_unstable();
        without_transfer.sort_unstable();
        without_transfer.dedup();
        let transferred = !plan.close_switches.is_empty() || !plan.refused_switches.is_empty();
        SectionOutage {
            open,
            close: plan.close_switches.iter().map(|c| c.switch).collect(),
            with_transfer,
            without_transfer,
            capacity: self.capacity_of(&plan.capacity, transferred),
        }
    }

    fn assess_cached(
        &self,
        job: &JobRequest,
        context: &AssessContext<'_>,
        transfer: &TransferChoice,
        cache: &mut SectionCache,
    ) -> Result<Assessment> {
        job.validate()?;
        let job_id = job.id.to_string();
        let declined = match transfer {
            TransferChoice::UseTransfer => None,
            TransferChoice::Decline { reason } => {
                Some(require_reason(&job.id, "declining the transfer", reason)?)
            }
        };
        let mut with_transfer: Vec<u32> = Vec::new();
        let mut without_transfer: Vec<u32> = Vec::new();
        let mut open: Vec<u32> = Vec::new();
        let mut close: Vec<u32> = Vec::new();
        let mut covered_branches: Vec<u32> = Vec::new();
        let mut capacity = TransferCapacity::NoTransfer;
        for element in &job.elements {
            let branch = match self.grid.element(element) {
                Some(ElementRef::Branch(branch)) => Some(branch),
                Some(ElementRef::Bus(bus)) => self.bus_branch.get(bus as usize).copied().flatten(),
                Some(ElementRef::Source(_)) | None => None,
            }
            .ok_or_else(|| PlannerError::UnknownElement {
                job: job_id.clone(),
                element: element.clone(),
            })?;
            if covered_branches.contains(&branch) {
                continue;
            }
            let section = self.topology.fault_section(branch);
            covered_branches.extend_from_slice(&section.branches);
            let key = SectionKey {
                first_branch: section.branches.iter().copied().min().unwrap_or(branch),
                boundary: section.boundary_switches.clone(),
            };
            if !cache.sections.contains_key(&key) {
                let outage = self.section_outage(branch, &section);
                cache.sections.insert(key.clone(), outage);
            }
            let Some(outage) = cache.sections.get(&key) else {
                continue;
            };
            open.extend_from_slice(&outage.open);
            close.extend_from_slice(&outage.close);
            with_transfer.extend_from_slice(&outage.with_transfer);
            without_transfer.extend_from_slice(&outage.without_transfer);
            capacity = worse(capacity, outage.capacity.clone());
        }
        for list in [
            &mut with_transfer,
            &mut without_transfer,
            &mut open,
            &mut close,
        ] {
            list.sort_unstable();
            list.dedup();
        }
        let hours = job.duration_hours;
        let transformers_out = self.transformer_users(&without_transfer);
        let transformers_out_with_transfer = self.transformer_users(&with_transfer);
        let outage_hours = if declined.is_some() {
            without_transfer.len() as f64 * hours
        } else {
            with_transfer.len() as f64 * hours
        };
        let mut assessment = Assessment {
            job: job_id,
            mode: if declined.is_some() {
                WorkMode::OutageWithoutTransfer
            } else {
                WorkMode::OutageWithTransfer
            },
            duration_hours: hours,
            open_switches: self.branch_ids(&open),
            close_switches: if declined.is_some() {
                Vec::new()
            } else {
                self.branch_ids(&close)
            },
            capacity,
            customers_out: without_transfer.len(),
            customers_out_with_transfer: with_transfer.len(),
            transformers_out,
            transformers_out_with_transfer,
            customer_hours: without_transfer.len() as f64 * hours,
            customer_hours_with_transfer: with_transfer.len() as f64 * hours,
            transformer_hours: f64::from(transformers_out) * hours,
            transformer_hours_with_transfer: f64::from(transformers_out_with_transfer) * hours,
            charged_customer_hours: outage_hours,
            avoided_customer_hours: 0.0,
            transfer_declined: declined.clone(),
            customers: if declined.is_some() {
                without_transfer.clone()
            } else {
                with_transfer
            },
            customers_without_transfer: without_transfer,
            critical_customers: Vec::new(),
            new_frequent_outage_customers: Vec::new(),
            budget_remaining_after: None,
        };
        if job.live_line_possible {
            assessment = live_line(assessment);
        }
        assessment.critical_customers = self.customer_ids(
            assessment
                .customers
                .iter()
                .copied()
                .filter(|&c| self.grid.customer(c).critical),
        );
        if context.frequent_threshold > 0 {
            let threshold = context.frequent_threshold;
            assessment.new_frequent_outage_customers =
                self.customer_ids(assessment.customers.iter().copied().filter(|&c| {
                    let before = context
                        .interruptions_this_year
                        .get(c as usize)
                        .copied()
                        .unwrap_or(0);
                    before < threshold && before + 1 >= threshold
                }));
        }
        assessment.budget_remaining_after = context
            .budget_remaining
            .map(|remaining| remaining - assessment.charged_customer_hours);
        Ok(assessment)
    }

    fn capacity_of(&self, check: &CapacityCheck, transferred: bool) -> TransferCapacity {
        if !transferred {
            return TransferCapacity::NoTransfer;
        }
        match check {
            CapacityCheck::Checked => TransferCapacity::Checked,
            CapacityCheck::Unchecked { reason } => TransferCapacity::Unchecked {
                reason: reason.clone(),
            },
            CapacityCheck::Violated {
                branch,
                load_kw,
                rated_kva,
            } => TransferCapacity::Violated {
                branch: self.grid.branch(*branch).id.to_string(),
                load_kw: *load_kw,
                rated_kva: *rated_kva,
            },
        }
    }

    fn branch_ids(&self, branches: &[u32]) -> Vec<String> {
        branches
            .iter()
            .map(|&b| self.grid.branch(b).id.to_string())
            .collect()
    }

    fn customer_ids(&self, customers: impl Iterator<Item = u32>) -> Vec<String> {
        let mut ids: Vec<String> = customers
            .map(|c| self.grid.customer(c).id.to_string())
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// 能带不停: nobody goes out; what the outage would have cost (with transfer, the best
/// alternative) is counted as avoided.
fn live_line(outage: Assessment) -> Assessment {
    Assessment {
        mode: WorkMode::LiveLine,
        open_switches: Vec::new(),
        close_switches: Vec::new(),
        capacity: TransferCapacity::NoTransfer,
        customers_out: 0,
        customers_out_with_transfer: 0,
        transformers_out: 0,
        transformers_out_with_transfer: 0,
        customer_hours: 0.0,
        customer_hours_with_transfer: 0.0,
        transformer_hours: 0.0,
        transformer_hours_with_transfer: 0.0,
        charged_customer_hours: 0.0,
        avoided_customer_hours: outage.customer_hours_with_transfer,
        transfer_declined: None,
        customers: Vec::new(),
        customers_without_transfer: Vec::new(),
        ..outage
    }
}

/// The worse of two capacity verdicts (violated > unchecked > checked > no transfer).
fn worse(a: TransferCapacity, b: TransferCapacity) -> TransferCapacity {
    let rank = |c: &TransferCapacity| match c {
        TransferCapacity::NoTransfer => 0,
        TransferCapacity::Checked => 1,
        TransferCapacity::Unchecked { .. } => 2,
        TransferCapacity::Violated { .. } => 3,
    };
    if rank(&b) > rank(&a) { b } else { a }
}

#[cfg(test)]
pub(crate) mod tests;
