//! Fault isolation and service restoration (故障隔离与转供): the faulted section of an
//! element, the switches that bound it, and a plan that closes normally-open switches to
//! re-energize healthy sections, checking capacity where ratings and loads are known.
//!
//! Plans are what-if computations on a copy of the conducting flags; the live index is
//! never changed.

use super::{NONE, Topology};
use crate::model::{BranchKind, index};

/// The connected lines, transformers and buses around a faulted element, bounded by
/// switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSection {
    pub buses: Vec<u32>,
    /// Lines and transformers inside (and the faulted element itself).
    pub branches: Vec<u32>,
    /// Switches with exactly one end inside: opening them all isolates the section.
    pub boundary_switches: Vec<u32>,
}

/// Whether a load transfer fits the ratings on its way.
#[derive(Debug, Clone, PartialEq)]
pub enum CapacityCheck {
    /// Every rated branch on the way (and the tie) carries the added load within rating.
    Checked,
    /// Could not check: ratings or customer peaks are missing.
    Unchecked { reason: String },
    /// A rated branch would be overloaded (kW compared with kVA at unity power factor).
    Violated {
        branch: u32,
        load_kw: f64,
        rated_kva: f64,
    },
}

/// One normally-open switch the plan closes (or refused to close).
#[derive(Debug, Clone, PartialEq)]
pub struct TieClosing {
    pub switch: u32,
    /// Customers the closing re-energizes.
    pub customers: Vec<u32>,
    /// Their summed peak, when every one of them has `peak_kw`.
    pub transferred_kw: Option<f64>,
    pub capacity: CapacityCheck,
}

/// A fault isolation and restoration plan for a fault on one element, from the present
/// (pre-fault) state.
#[derive(Debug, Clone, PartialEq)]
pub struct RestorationPlan {
    pub faulted: u32,
    pub protective_device: Option<u32>,
    pub section: FaultSection,
    /// Switches to open (or keep open) around the faulted section.
    pub isolating_switches: Vec<u32>,
    /// The protective device re-closed after isolation, unless it is itself isolating.
    pub reclose: Option<u32>,
    /// Normally-open switches to close, in order.
    pub close_switches: Vec<TieClosing>,
    /// Closings refused because they would overload something.
    pub refused_switches: Vec<TieClosing>,
    /// Customers the protective device takes out.
    pub customers_out: Vec<u32>,
    /// Customers back on supply at the end of the plan.
    pub restored: Vec<u32>,
    /// Customers inside the faulted section.
    pub stay_out_faulted: Vec<u32>,
    /// Customers of healthy sections that stay dark (no source reaches them, or only
    /// through a refused closing).
    pub stay_out_unreachable: Vec<u32>,
    /// The plan as a whole: `Checked` when every closing was checked, `Violated` when some
    /// section stays out for capacity, else `Unchecked`.
    pub capacity: CapacityCheck,
}

impl RestorationPlan {
    /// Everyone supplied before the fault and not after the plan.
    pub fn stay_out(&self) -> Vec<u32> {
        let mut all = self.stay_out_faulted.clone();
        all.extend_from_slice(&self.stay_out_unreachable);
        all.sort_unstable();
        all
    }
}

/// A what-if energization: BFS tree and the load below every bus.
struct WhatIf {
    energized: Vec<bool>,
    parent: Vec<u32>,
    load_kw: Vec<f64>,
    load_unknown: Vec<u32>,
}

impl Topology {
    /// The faulted section of `branch`: buses reached from its ends through in-service
    /// lines and transformers, bounded by switches.
    pub fn fault_section(&self, branch: u32) -> FaultSection {
        let mut inside = vec![false; self.bus_count()];
        let mut buses = Vec::new();
        let mut branches = vec![branch];
        let mut seen_branch = std::collections::HashSet::from([branch]);
        let Some(&[from, to]) = self.ends.get(branch as usize) else {
            return FaultSection {
                buses,
                branches: Vec::new(),
                boundary_switches: Vec::new(),
            };
        };
        for bus in [from, to] {
            if !inside[bus as usize] {
                inside[bus as usize] = true;
                buses.push(bus);
            }
        }
        let mut next = 0;
        while next < buses.len() {
            let bus = buses[next] as usize;
            next += 1;
            for adjacent in self.adjacent(bus) {
                let b = adjacent.branch as usize;
                if self.kinds[b] == BranchKind::Switch || !self.in_service[b] {
                    continue;
                }
                if seen_branch.insert(adjacent.branch) {
                    branches.push(adjacent.branch);
                }
                if !inside[adjacent.bus as usize] {
                    inside[adjacent.bus as usize] = true;
                    buses.push(adjacent.bus);
                }
            }
        }
        let mut boundary_switches: Vec<u32> = buses
            .iter()
            .flat_map(|&bus| self.adjacent(bus as usize))
            .filter(|a| a.branch != branch && self.kinds[a.branch as usize] == BranchKind::Switch)
            .filter(|a| {
                let [f, t] = self.ends[a.branch as usize];
                inside[f as usize] != inside[t as usize]
            })
            .map(|a| a.branch)
            .collect();
        boundary_switches.sort_unstable();
        boundary_switches.dedup();
        FaultSection {
            buses,
            branches,
            boundary_switches,
        }
    }

    fn adjacent(&self, bus: usize) -> &[super::Adjacent] {
        &self.adjacency[self.adjacency_start[bus] as usize..self.adjacency_start[bus + 1] as usize]
    }

    /// BFS from every source over `conducting`, never entering `dead` buses, with the load
    /// carried below each bus.
    fn what_if(&self, conducting: &[bool], dead: &[bool]) -> WhatIf {
        let n = self.bus_count();
        let mut energized = vec![false; n];
        let mut parent = vec![NONE; n];
        let mut order: Vec<u32> = Vec::new();
        for &bus in &self.source_bus {
            if !energized[bus as usize] && !dead[bus as usize] {
                energized[bus as usize] = true;
                order.push(bus);
            }
        }
        let mut next = 0;
        while next < order.len() {
            let bus = order[next] as usize;
            next += 1;
            for adjacent in self.adjacent(bus) {
                let v = adjacent.bus as usize;
                if conducting[adjacent.branch as usize] && !energized[v] && !dead[v] {
                    energized[v] = true;
                    parent[v] = adjacent.branch;
                    order.push(adjacent.bus);
                }
            }
        }
        let mut load_kw = self.bus_load_kw.clone();
        let mut load_unknown = self.bus_load_unknown.clone();
        for &bus in order.iter().rev() {
            let b = bus as usize;
            if parent[b] != NONE {
                let up = self.other_end(parent[b], bus) as usize;
                load_kw[up] += load_kw[b];
                load_unknown[up] += load_unknown[b];
            }
        }
        WhatIf {
            energized,
            parent,
            load_kw,
            load_unknown,
        }
    }

    /// Checks adding `transferred` (kW, `None` if unknown) through `tie` and up the what-if
    /// tree from `bus` to its source.
    fn check_transfer(
        &self,
        what_if: &WhatIf,
        tie: u32,
        bus: u32,
        transferred: Option<f64>,
    ) -> CapacityCheck {
        let mut rated_seen = false;
        let mut unknown: Option<String> = None;
        let Some(added) = transferred else {
            return CapacityCheck::Unchecked {
                reason: "customers without peak_kw in the transferred section".into(),
            };
        };
        let mut check = |branch: u32, carried: Option<f64>| -> Option<CapacityCheck> {
            let rated = self.rated_kva[branch as usize]?;
            rated_seen = true;
            match carried {
                Some(load) if load + added > rated => Some(CapacityCheck::Violated {
                    branch,
                    load_kw: load + added,
                    rated_kva: rated,
                }),
                Some(_) => None,
                None => {
                    unknown.get_or_insert_with(|| {
                        "customers without peak_kw on the receiving feeder".into()
                    });
                    None
                }
            }
        };
        if let Some(violation) = check(tie, Some(0.0)) {
            return violation;
        }
        let mut at = bus;
        while what_if.parent[at as usize] != NONE {
            let up = what_if.parent[at as usize];
            let carried =
                (what_if.load_unknown[at as usize] == 0).then_some(what_if.load_kw[at as usize]);
            if let Some(violation) = check(up, carried) {
                return violation;
            }
            at = self.other_end(up, at);
        }
        match (unknown, rated_seen) {
            (Some(reason), _) => CapacityCheck::Unchecked { reason },
            (None, false) => CapacityCheck::Unchecked {
                reason: "no rated_kva on the transfer path".into(),
            },
            (None, true) => CapacityCheck::Checked,
        }
    }

    /// Plans isolation and restoration for a fault on `branch` from the present state.
    pub fn restoration_plan(&self, branch: u32) -> RestorationPlan {
        let fault = self.fault_on(branch);
        let section = self.fault_section(branch);
        let isolating_switches = section.boundary_switches.clone();
        let reclose = fault
            .protective_device
            .filter(|d| !isolating_switches.contains(d));

        let mut conducting = self.active.clone();
        for &switch in &isolating_switches {
            conducting[switch as usize] = false;
        }
        let mut dead = vec![false; self.bus_count()];
        for &bus in &section.buses {
            dead[bus as usize] = true;
        }
        let mut what_if = self.what_if(&conducting, &dead);
        let lost =
            |what_if: &WhatIf, bus: usize| self.is_energized(index(bus)) && !what_if.energized[bus];

        let mut close_switches: Vec<TieClosing> = Vec::new();
        let mut refused: Vec<TieClosing> = Vec::new();
        let candidates: Vec<u32> = (0..self.branch_count())
            .map(index)
            .filter(|&b| {
                self.kinds[b as usize] == BranchKind::Switch
                    && self.normal_open[b as usize]
                    && !conducting[b as usize]
                    && self.in_service[b as usize]
                    && !isolating_switches.contains(&b)
                    && b != branch
            })
            .collect();
        loop {
            let mut progressed = false;
            for &tie in &candidates {
                if !conducting[tie as usize] && close_switches.iter().all(|c| c.switch != tie) {
                    let [a, z] = self.ends[tie as usize];
                    let (live, dark) =
                        match (what_if.energized[a as usize], what_if.energized[z as usize]) {
                            (true, false) => (a, z),
                            (false, true) => (z, a),
                            _ => continue,
                        };
                    if dead[dark as usize] {
                        continue;
                    }
                    let region = self.dark_region(dark, &conducting, &what_if.energized, &dead);
                    if !region.iter().any(|&bus| lost(&what_if, bus as usize)) {
                        continue;
                    }
                    let customers: Vec<u32> = region
                        .iter()
                        .flat_map(|&bus| self.customers_at(bus).iter().copied())
                        .collect();
                    let unknown: u32 = region
                        .iter()
                        .map(|&bus| self.bus_load_unknown[bus as usize])
                        .sum();
                    let transferred_kw = (unknown == 0).then(|| {
                        region
                            .iter()
                            .map(|&bus| self.bus_load_kw[bus as usize])
                            .sum()
                    });
                    let capacity = self.check_transfer(&what_if, tie, live, transferred_kw);
                    let closing = TieClosing {
                        switch: tie,
                        customers,
                        transferred_kw,
                        capacity,
                    };
                    if matches!(closing.capacity, CapacityCheck::Violated { .. }) {
                        refused.retain(|r| r.switch != tie);
                        refused.push(closing);
                        continue;
                    }
                    conducting[tie as usize] = true;
                    close_switches.push(closing);
                    what_if = self.what_if(&conducting, &dead);
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        // A refused closing matters only if its dark side stayed dark.
        refused.retain(|r| {
            let [a, z] = self.ends[r.switch as usize];
            !(what_if.energized[a as usize] && what_if.energized[z as usize])
        });

        let mut stay_out_faulted = Vec::new();
        let mut stay_out_unreachable = Vec::new();
        for (bus, &is_dead) in dead.iter().enumerate() {
            if lost(&what_if, bus) {
                let target = if is_dead {
                    &mut stay_out_faulted
                } else {
                    &mut stay_out_unreachable
                };
                target.extend_from_slice(self.customers_at(index(bus)));
            }
        }
        stay_out_faulted.sort_unstable();
        stay_out_unreachable.sort_unstable();
        let mut customers_out = fault.customers_out;
        customers_out.sort_unstable();
        let restored = restored_customers(&customers_out, &stay_out_faulted, &stay_out_unreachable);
        let capacity = plan_capacity(&refused, &close_switches);
        RestorationPlan {
            faulted: branch,
            protective_device: fault.protective_device,
            section,
            isolating_switches,
            reclose,
            close_switches,
            refused_switches: refused,
            customers_out,
            restored,
            stay_out_faulted,
            stay_out_unreachable,
            capacity,
        }
    }

    /// Dark buses reachable from `start` over conducting branches, avoiding `dead` ones.
    fn dark_region(
        &self,
        start: u32,
        conducting: &[bool],
        energized: &[bool],
        dead: &[bool],
    ) -> Vec<u32> {
        let mut region = vec![start];
        let mut seen = std::collections::HashSet::from([start]);
        let mut next = 0;
        while next < region.len() {
            let bus = region[next] as usize;
            next += 1;
            for adjacent in self.adjacent(bus) {
                let v = adjacent.bus;
                if conducting[adjacent.branch as usize]
                    && !energized[v as usize]
                    && !dead[v as usize]
                    && seen.insert(v)
                {
                    region.push(v);
                }
            }
        }
        region
    }
}

/// The customers of `customers_out` (sorted) that neither stay out with the faulted section
/// nor stay out unreachable (both sorted).
pub(super) fn restored_customers(
    customers_out: &[u32],
    stay_out_faulted: &[u32],
    stay_out_unreachable: &[u32],
) -> Vec<u32> {
    customers_out
        .iter()
        .copied()
        .filter(|&c| {
            stay_out_faulted.binary_search(&c).is_err()
                && stay_out_unreachable.binary_search(&c).is_err()
        })
        .collect()
}

/// A plan's capacity status: the first refused closing's violation, else the first
/// unchecked closing's reason, else checked.
pub(super) fn plan_capacity(
    refused: &[TieClosing],
    close_switches: &[TieClosing],
) -> CapacityCheck {
    if let Some(violation) = refused.first() {
        violation.capacity.clone()
    } else if let Some(unchecked) = close_switches
        .iter()
        .find(|c| matches!(c.capacity, CapacityCheck::Unchecked { .. }))
    {
        unchecked.capacity.clone()
    } else {
        CapacityCheck::Checked
    }
}
