//! The restoration plan of one section computed locally: on the subtree the section feeds,
//! the normally-open ties around it and the paths up from their live ends, instead of
//! the whole-grid what-if of [`Topology::restoration_plan`]. A planner assessing thousands
//! of jobs on a city grid needs this: the whole-grid plan costs a few breadth-first
//! searches of every bus per job.
//!
//! It answers only where the local view is provably the whole-grid answer: the section
//! hangs radially below one isolating switch of a single-source island, nothing else
//! reaches the subtree, every dark region is a tree and every path walked up for a
//! capacity check is made of bridges. Otherwise it returns `None` and the caller falls
//! back to the whole-grid plan. The tests compare both on every branch of the sample grid
//! and of a generated one.

use std::collections::{HashMap, HashSet};

use super::plan::{CapacityCheck, RestorationPlan, TieClosing, plan_capacity, restored_customers};
use super::{NONE, Topology};
use crate::model::BranchKind;

/// Loads below every energized bus in the present tree, built once per switching state;
/// answers local restoration plans for that state.
#[derive(Debug, Clone)]
pub struct LocalPlanner<'t> {
    topology: &'t Topology,
    /// Σ peak kW of the customers on and below each bus in the present tree.
    below_kw: Vec<f64>,
    /// Customers without a peak on and below each bus.
    below_unknown: Vec<u32>,
}

/// The subtree a section takes out, with its local indices (preorder offsets).
struct Local {
    island: u32,
    top: u32,
    pre_top: u32,
    end_top: u32,
    dead: Vec<bool>,
    restored: Vec<bool>,
    /// Parent branch in the what-if tree of a restored bus (the tie for a region's root).
    parent: Vec<u32>,
    /// Load on and below a restored bus inside its region, before later attachments.
    region_kw: Vec<f64>,
    region_unknown: Vec<u32>,
    /// Load attached below a bus by closings of this plan.
    extra: HashMap<u32, (f64, u32)>,
    lost_kw: f64,
    lost_unknown: u32,
}

/// The branches at `bus` with the bus at their other end.
fn adjacent(topology: &Topology, bus: u32) -> &[super::Adjacent] {
    let b = bus as usize;
    &topology.adjacency
        [topology.adjacency_start[b] as usize..topology.adjacency_start[b + 1] as usize]
}

impl Local {
    fn contains(&self, topology: &Topology, bus: u32) -> bool {
        let b = bus as usize;
        topology.island_of[b] == self.island
            && topology.pre[b] >= self.pre_top
            && topology.pre[b] < self.end_top
    }

    fn at(&self, topology: &Topology, bus: u32) -> usize {
        (topology.pre[bus as usize] - self.pre_top) as usize
    }
}

impl<'t> LocalPlanner<'t> {
    /// Sums the loads of the present tree (one pass over the energized buses).
    pub fn new(topology: &'t Topology) -> Self {
        let n = topology.bus_count();
        let mut below_kw = vec![0.0; n];
        let mut below_unknown = vec![0u32; n];
        for island in topology.islands.iter().flatten() {
            for &bus in island.buses.iter().rev() {
                let b = bus as usize;
                below_kw[b] += topology.bus_load_kw[b];
                below_unknown[b] += topology.bus_load_unknown[b];
                let up = topology.parent[b];
                if up != NONE {
                    let u = topology.other_end(up, bus) as usize;
                    below_kw[u] += below_kw[b];
                    below_unknown[u] += below_unknown[b];
                }
            }
        }
        Self {
            topology,
            below_kw,
            below_unknown,
        }
    }

    pub fn topology(&self) -> &'t Topology {
        self.topology
    }

    /// The plan [`Topology::restoration_plan`] would give for `branch`, computed locally;
    /// `None` where the local view cannot be sure of it (see the module documentation).
    pub fn restoration_plan(&self, branch: u32) -> Option<RestorationPlan> {
        let t = self.topology;
        if branch as usize >= t.branch_count() {
            return None;
        }
        let section = t.fault_section(branch);
        let isolating = section.boundary_switches.clone();
        let top = section
            .buses
            .iter()
            .copied()
            .filter(|&bus| t.is_energized(bus))
            .min_by_key(|&bus| t.pre[bus as usize])?;
        let island_id = t.island_of[top as usize];
        let island = t.islands.get(island_id as usize)?.as_ref()?;
        let feeding = t.parent[top as usize];
        if island.sources.len() != 1 || feeding == NONE || !isolating.contains(&feeding) {
            return None;
        }
        let (pre_top, end_top) = (t.pre[top as usize], t.end[top as usize]);
        let lost = &island.buses[(pre_top - 1) as usize..(end_top - 1) as usize];
        let mut local = Local {
            island: island_id,
            top,
            pre_top,
            end_top,
            dead: vec![false; lost.len()],
            restored: vec![false; lost.len()],
            parent: vec![NONE; lost.len()],
            region_kw: vec![0.0; lost.len()],
            region_unknown: vec![0; lost.len()],
            extra: HashMap::new(),
            lost_kw: self.below_kw[top as usize],
            lost_unknown: self.below_unknown[top as usize],
        };
        for &bus in &section.buses {
            if t.is_energized(bus) {
                if !local.contains(t, bus) {
                    return None;
                }
                let at = local.at(t, bus);
                local.dead[at] = true;
            }
        }
        // Nothing but the isolating switches may join the subtree to the rest, and no
        // source may feed it from inside.
        let mut candidates = Vec::new();
        for &bus in lost {
            if !t.sources_at(bus).is_empty() {
                return None;
            }
            let dead = local.dead[local.at(t, bus)];
            for adjacent in adjacent(t, bus) {
                let b = adjacent.branch as usize;
                if t.active[b] {
                    if !isolating.contains(&adjacent.branch) && !local.contains(t, adjacent.bus) {
                        return None;
                    }
                } else if !dead
                    && t.kinds[b] == BranchKind::Switch
                    && t.normal_open[b]
                    && t.in_service[b]
                    && !isolating.contains(&adjacent.branch)
                    && adjacent.branch != branch
                {
                    candidates.push(adjacent.branch);
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();

        let mut close_switches: Vec<TieClosing> = Vec::new();
        let mut refused: Vec<TieClosing> = Vec::new();
        loop {
            let mut progressed = false;
            for &tie in &candidates {
                if close_switches.iter().any(|c| c.switch == tie) {
                    continue;
                }
                let [a, z] = t.ends[tie as usize];
                let (live, dark) = match (self.energized(&local, a), self.energized(&local, z)) {
                    (true, false) => (a, z),
                    (false, true) => (z, a),
                    _ => continue,
                };
                if !local.contains(t, dark) || local.dead[local.at(t, dark)] {
                    continue;
                }
                let (region, parents) = self.dark_region(&local, dark, &isolating)?;
                let customers: Vec<u32> = region
                    .iter()
                    .flat_map(|&bus| t.customers_at(bus).iter().copied())
                    .collect();
                let unknown: u32 = region
                    .iter()
                    .map(|&bus| t.bus_load_unknown[bus as usize])
                    .sum();
                let transferred_kw = (unknown == 0)
                    .then(|| region.iter().map(|&bus| t.bus_load_kw[bus as usize]).sum());
                let capacity = self.check_transfer(&local, tie, live, transferred_kw)?;
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
                self.attach(&mut local, tie, live, &region, &parents)?;
                close_switches.push(closing);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        refused.retain(|r| {
            let [a, z] = t.ends[r.switch as usize];
            !(self.energized(&local, a) && self.energized(&local, z))
        });

        let mut stay_out_faulted = Vec::new();
        let mut stay_out_unreachable = Vec::new();
        for (at, &bus) in lost.iter().enumerate() {
            if local.dead[at] {
                stay_out_faulted.extend_from_slice(t.customers_at(bus));
            } else if !local.restored[at] {
                stay_out_unreachable.extend_from_slice(t.customers_at(bus));
            }
        }
        stay_out_faulted.sort_unstable();
        stay_out_unreachable.sort_unstable();
        let fault = t.fault_on(branch);
        let reclose = fault.protective_device.filter(|d| !isolating.contains(d));
        let mut customers_out = fault.customers_out;
        customers_out.sort_unstable();
        let restored = restored_customers(&customers_out, &stay_out_faulted, &stay_out_unreachable);
        let capacity = plan_capacity(&refused, &close_switches);
        Some(RestorationPlan {
            faulted: branch,
            protective_device: fault.protective_device,
            section,
            isolating_switches: isolating,
            reclose,
            close_switches,
            refused_switches: refused,
            customers_out,
            restored,
            stay_out_faulted,
            stay_out_unreachable,
            capacity,
        })
    }

    /// Whether `bus` has supply in the what-if state: outside the subtree as now, inside
    /// once a closing of the plan picked it up.
    fn energized(&self, local: &Local, bus: u32) -> bool {
        let t = self.topology;
        if local.contains(t, bus) {
            let at = local.at(t, bus);
            !local.dead[at] && local.restored[at]
        } else {
            t.is_energized(bus)
        }
    }

    /// The dark buses reached from `start` over conducting branches (as the whole-grid
    /// plan walks them) with the branch each was reached by; `None` if they hold a loop.
    fn dark_region(
        &self,
        local: &Local,
        start: u32,
        isolating: &[u32],
    ) -> Option<(Vec<u32>, Vec<u32>)> {
        let t = self.topology;
        let mut region = vec![start];
        let mut parents = vec![NONE];
        let mut seen: HashSet<u32> = HashSet::from([start]);
        let mut edges = 0usize;
        let mut next = 0;
        while next < region.len() {
            let bus = region[next];
            next += 1;
            for adjacent in adjacent(t, bus) {
                let b = adjacent.branch as usize;
                if !t.active[b] || isolating.contains(&adjacent.branch) {
                    continue;
                }
                let v = adjacent.bus;
                if !local.contains(t, v) {
                    return None;
                }
                let at = local.at(t, v);
                if local.dead[at] || local.restored[at] {
                    continue;
                }
                edges += 1;
                if seen.insert(v) {
                    region.push(v);
                    parents.push(adjacent.branch);
                }
            }
        }
        // Every tree edge is seen from both ends.
        (edges == 2 * (region.len() - 1)).then_some((region, parents))
    }

    /// The branch above `bus` in the what-if tree and the bus it leads to; `Err` where the
    /// present tree is not the only way up (a loop), `Ok(None)` at a source.
    fn step_up(&self, local: &Local, bus: u32) -> Result<Option<(u32, u32)>, ()> {
        let t = self.topology;
        if local.contains(t, bus) {
            let up = local.parent[local.at(t, bus)];
            if up == NONE {
                return Err(());
            }
            return Ok(Some((up, t.other_end(up, bus))));
        }
        let up = t.parent[bus as usize];
        if up == NONE {
            return Ok(None);
        }
        let above = t.other_end(up, bus);
        if t.low[bus as usize] <= t.pre[above as usize] {
            return Err(());
        }
        Ok(Some((up, above)))
    }

    /// Load carried by the branch above `bus` in the what-if tree.
    fn load_below(&self, local: &Local, bus: u32) -> (f64, u32) {
        let t = self.topology;
        let (extra_kw, extra_unknown) = local.extra.get(&bus).copied().unwrap_or((0.0, 0));
        if local.contains(t, bus) {
            let at = local.at(t, bus);
            return (
                local.region_kw[at] + extra_kw,
                local.region_unknown[at] + extra_unknown,
            );
        }
        let b = bus as usize;
        let top = local.top as usize;
        let above_top =
            t.island_of[b] == local.island && t.pre[b] <= t.pre[top] && t.pre[top] < t.end[b];
        let (lost_kw, lost_unknown) = if above_top {
            (local.lost_kw, local.lost_unknown)
        } else {
            (0.0, 0)
        };
        (
            self.below_kw[b] - lost_kw + extra_kw,
            self.below_unknown[b] - lost_unknown + extra_unknown,
        )
    }

    /// As the whole-grid plan checks a transfer: the tie's own rating, then every rated
    /// branch from `live` up to its source with the load it carries in the what-if state.
    fn check_transfer(
        &self,
        local: &Local,
        tie: u32,
        live: u32,
        transferred: Option<f64>,
    ) -> Option<CapacityCheck> {
        let t = self.topology;
        let Some(added) = transferred else {
            return Some(CapacityCheck::Unchecked {
                reason: "customers without peak_kw in the transferred section".into(),
            });
        };
        let mut rated_seen = false;
        let mut unknown: Option<String> = None;
        let mut check = |branch: u32, carried: Option<f64>| -> Option<CapacityCheck> {
            let rated = t.rated_kva[branch as usize]?;
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
            return Some(violation);
        }
        let mut at = live;
        while let Some((up, above)) = self.step_up(local, at).ok()? {
            let (kw, missing) = self.load_below(local, at);
            if let Some(violation) = check(up, (missing == 0).then_some(kw)) {
                return Some(violation);
            }
            at = above;
        }
        Some(match (unknown, rated_seen) {
            (Some(reason), _) => CapacityCheck::Unchecked { reason },
            (None, false) => CapacityCheck::Unchecked {
                reason: "no rated_kva on the transfer path".into(),
            },
            (None, true) => CapacityCheck::Checked,
        })
    }

    /// Closes `tie`: the region hangs below `live` from now on.
    fn attach(
        &self,
        local: &mut Local,
        tie: u32,
        live: u32,
        region: &[u32],
        parents: &[u32],
    ) -> Option<()> {
        let t = self.topology;
        for (i, &bus) in region.iter().enumerate() {
            let at = local.at(t, bus);
            local.restored[at] = true;
            local.parent[at] = if i == 0 { tie } else { parents[i] };
            local.region_kw[at] = t.bus_load_kw[bus as usize];
            local.region_unknown[at] = t.bus_load_unknown[bus as usize];
        }
        for (i, &bus) in region.iter().enumerate().skip(1).rev() {
            let up = t.other_end(parents[i], bus);
            let (from, to) = (local.at(t, bus), local.at(t, up));
            local.region_kw[to] += local.region_kw[from];
            local.region_unknown[to] += local.region_unknown[from];
        }
        let root = local.at(t, region[0]);
        let (kw, unknown) = (local.region_kw[root], local.region_unknown[root]);
        let mut at = live;
        loop {
            let slot = local.extra.entry(at).or_insert((0.0, 0));
            slot.0 += kw;
            slot.1 += unknown;
            match self.step_up(local, at).ok()? {
                Some((_, above)) => at = above,
                None => return Some(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{GenerateOptions, generate};
    use crate::load_package;

    fn same_capacity(a: &CapacityCheck, b: &CapacityCheck) -> bool {
        match (a, b) {
            (
                CapacityCheck::Violated {
                    branch: x,
                    load_kw: p,
                    rated_kva: r,
                },
                CapacityCheck::Violated {
                    branch: y,
                    load_kw: q,
                    rated_kva: s,
                },
            ) => x == y && (p - q).abs() <= 1e-6 * p.abs().max(1.0) && r == s,
            _ => a == b,
        }
    }

    /// Every branch where the local plan answers: the same plan as the whole-grid one.
    /// Returns how many branches it answered, how many there were, and how many of the
    /// answered plans close a tie.
    fn assert_local_plans_match(topology: &Topology) -> (usize, usize, usize) {
        let local = LocalPlanner::new(topology);
        let mut answered = 0;
        let mut candidates = 0;
        let mut transferring = 0;
        for branch in 0..topology.branch_count() {
            let branch = u32::try_from(branch).unwrap();
            if topology.kinds[branch as usize] == BranchKind::Switch
                || !topology.is_conducting(branch)
            {
                continue;
            }
            candidates += 1;
            let Some(fast) = local.restoration_plan(branch) else {
                continue;
            };
            answered += 1;
            transferring += usize::from(!fast.close_switches.is_empty());
            let full = topology.restoration_plan(branch);
            assert_eq!(fast.section, full.section, "branch {branch}");
            assert_eq!(fast.isolating_switches, full.isolating_switches);
            assert_eq!(fast.protective_device, full.protective_device);
            assert_eq!(fast.reclose, full.reclose);
            assert_eq!(fast.customers_out, full.customers_out);
            assert_eq!(fast.restored, full.restored, "branch {branch}");
            assert_eq!(fast.stay_out_faulted, full.stay_out_faulted);
            assert_eq!(
                fast.stay_out_unreachable, full.stay_out_unreachable,
                "branch {branch}"
            );
            let closings = |plan: &RestorationPlan| -> Vec<(u32, Vec<u32>, Option<f64>)> {
                plan.close_switches
                    .iter()
                    .map(|c| (c.switch, c.customers.clone(), c.transferred_kw))
                    .collect()
            };
            assert_eq!(closings(&fast), closings(&full), "branch {branch}");
            for (a, b) in fast.close_switches.iter().zip(&full.close_switches) {
                assert!(same_capacity(&a.capacity, &b.capacity), "branch {branch}");
            }
            let refused = |plan: &RestorationPlan| -> Vec<u32> {
                plan.refused_switches.iter().map(|c| c.switch).collect()
            };
            assert_eq!(refused(&fast), refused(&full), "branch {branch}");
            assert!(
                same_capacity(&fast.capacity, &full.capacity),
                "branch {branch}: {:?} vs {:?}",
                fast.capacity,
                full.capacity
            );
        }
        (answered, candidates, transferring)
    }

    #[test]
    fn local_plans_equal_whole_grid_plans_on_the_sample_grid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/grids/mv-oberrhein");
        let grid = load_package(&dir).unwrap();
        let topology = Topology::new(&grid);
        let (answered, candidates, transferring) = assert_local_plans_match(&topology);
        assert!(
            answered * 10 >= candidates * 9,
            "answered {answered} of {candidates}"
        );
        assert!(transferring > 0, "no answered plan closes a tie");
    }

    #[test]
    fn local_plans_equal_whole_grid_plans_on_a_generated_city() {
        let dir = tempfile::tempdir().unwrap();
        generate(
            &GenerateOptions {
                customers: 20_000,
                feeders: 12,
                seed: 11,
            },
            dir.path(),
            &mut |_, _| {},
        )
        .unwrap();
        let grid = load_package(dir.path()).unwrap();
        let topology = Topology::new(&grid);
        let (answered, candidates, transferring) = assert_local_plans_match(&topology);
        assert!(
            answered * 10 >= candidates * 9,
            "answered {answered} of {candidates}"
        );
        assert!(transferring > 0, "no answered plan closes a tie");
    }
}
