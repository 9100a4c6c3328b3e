//! Energization and outage questions over the live switching state.
//!
//! The index joins every source bus to a virtual root and numbers each *island* (a
//! connected set of energized buses with its sources) by an iterative DFS over conducting
//! branches. Per bus it keeps the preorder number, the end of its subtree and the low-link,
//! so bridges are known; customers are stored in the preorder of their bus, so the
//! customers below a bus are one contiguous slice and an outage count is a subtraction.
//! A state change re-numbers only the islands the changed branch touches.

mod plan;
mod what_if;

pub use plan::{CapacityCheck, FaultSection, RestorationPlan, TieClosing};
pub use what_if::LocalPlanner;

use crate::model::{BranchKind, Grid, SwitchDevice, index};

/// "No island", "no parent branch".
const NONE: u32 = u32::MAX;

/// A change of the live state of one branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Open a switch (any branch: an opened branch stops conducting).
    Open(u32),
    /// Close a switch.
    Close(u32),
    /// Take a line, transformer or switch out of service.
    OutOfService(u32),
    /// Return it into service.
    IntoService(u32),
}

/// Customers (indices) whose supply changed with an operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupplyChange {
    pub lost: Vec<u32>,
    pub restored: Vec<u32>,
}

/// Customers affected by something, as a slice of the index, with the Chinese user count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Affected<'a> {
    /// Low-voltage customer indices, in index (DFS) order, not sorted.
    pub customers: &'a [u32],
    /// Medium-voltage users: each public distribution transformer (台区) counts one, and
    /// each customer supplied directly at medium voltage counts one.
    pub users: u32,
}

impl Affected<'_> {
    pub const NOTHING: Affected<'static> = Affected {
        customers: &[],
        users: 0,
    };

    pub fn customer_count(&self) -> usize {
        self.customers.len()
    }
}

/// The way from a bus up to its source through the DFS tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamPath {
    /// Branches from the bus toward the source.
    pub branches: Vec<u32>,
    /// Buses from the bus itself up to the source bus.
    pub buses: Vec<u32>,
    /// The source the island was entered from.
    pub source: u32,
}

/// What a fault on an element takes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultOutcome {
    /// The protective device that clears it; `None` when there is none between the element
    /// and the source (the infeed's own protection trips and the whole island goes dark).
    pub protective_device: Option<u32>,
    pub customers_out: Vec<u32>,
    pub users_out: u32,
}

#[derive(Debug, Clone, Copy)]
struct Adjacent {
    bus: u32,
    branch: u32,
}

#[derive(Debug, Clone)]
struct Island {
    /// Buses in DFS preorder; position `pre - 1`.
    buses: Vec<u32>,
    /// Customers ordered by the preorder of their bus.
    customers: Vec<u32>,
    /// `customer_prefix[p]` = customers on buses at preorder positions `< p`.
    customer_prefix: Vec<u32>,
    user_prefix: Vec<u32>,
    /// Every source whose bus lies in the island.
    sources: Vec<u32>,
    /// The source the DFS entered by.
    entry_source: u32,
}

/// The live switching state of a grid and its incremental energization index.
#[derive(Debug, Clone)]
pub struct Topology {
    adjacency_start: Vec<u32>,
    adjacency: Vec<Adjacent>,
    ends: Vec<[u32; 2]>,
    kinds: Vec<BranchKind>,
    devices: Vec<Option<SwitchDevice>>,
    normal_open: Vec<bool>,
    rated_kva: Vec<Option<f64>>,
    source_bus: Vec<u32>,
    bus_sources_start: Vec<u32>,
    bus_sources: Vec<u32>,
    bus_customers_start: Vec<u32>,
    bus_customers: Vec<u32>,
    bus_users: Vec<u32>,
    bus_load_kw: Vec<f64>,
    bus_load_unknown: Vec<u32>,

    closed: Vec<bool>,
    in_service: Vec<bool>,
    active: Vec<bool>,

    island_of: Vec<u32>,
    pre: Vec<u32>,
    end: Vec<u32>,
    low: Vec<u32>,
    parent: Vec<u32>,
    islands: Vec<Option<Island>>,
    free_islands: Vec<u32>,
    mark: Vec<u32>,
    epoch: u32,
}

/// Compressed rows: `start[i]..start[i + 1]` indexes `items` of row `i`.
fn compressed_rows(
    rows: usize,
    pairs: impl Iterator<Item = (u32, u32)> + Clone,
) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; rows + 1];
    for (row, _) in pairs.clone() {
        start[row as usize + 1] += 1;
    }
    for i in 0..rows {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut items = vec![0u32; start[rows] as usize];
    for (row, item) in pairs {
        let slot = &mut fill[row as usize];
        items[*slot as usize] = item;
        *slot += 1;
    }
    (start, items)
}

impl Topology {
    /// Builds the index for the normal state of `grid` (switches as `normal_open` says).
    pub fn new(grid: &Grid) -> Self {
        let bus_count = grid.buses.len();
        let branch_count = grid.branches.len();
        let ends: Vec<[u32; 2]> = grid
            .branches
            .iter()
            .map(|b| [b.from_bus, b.to_bus])
            .collect();

        let mut adjacency_start = vec![0u32; bus_count + 1];
        for [a, b] in &ends {
            adjacency_start[*a as usize + 1] += 1;
            adjacency_start[*b as usize + 1] += 1;
        }
        for i in 0..bus_count {
            adjacency_start[i + 1] += adjacency_start[i];
        }
        let mut fill = adjacency_start.clone();
        let mut adjacency =
            vec![Adjacent { bus: 0, branch: 0 }; adjacency_start[bus_count] as usize];
        for (branch, &[a, b]) in ends.iter().enumerate() {
            let branch = index(branch);
            adjacency[fill[a as usize] as usize] = Adjacent { bus: b, branch };
            fill[a as usize] += 1;
            adjacency[fill[b as usize] as usize] = Adjacent { bus: a, branch };
            fill[b as usize] += 1;
        }

        let source_bus: Vec<u32> = grid.sources.iter().map(|s| s.bus).collect();
        let (bus_sources_start, bus_sources) = compressed_rows(
            bus_count,
            source_bus
                .iter()
                .enumerate()
                .map(|(i, &bus)| (bus, index(i))),
        );
        let (bus_customers_start, bus_customers) = compressed_rows(
            bus_count,
            grid.customers
                .iter()
                .enumerate()
                .map(|(i, c)| (c.bus, index(i))),
        );

        // Users: one per public transformer at its LV bus, one per customer outside every
        // public transformer's LV region.
        let mut in_lv_region = vec![false; bus_count];
        let mut bus_users = vec![0u32; bus_count];
        let mut stack = Vec::new();
        for (i, branch) in grid.branches.iter().enumerate() {
            if !grid.is_public_transformer(index(i)) {
                continue;
            }
            bus_users[branch.to_bus as usize] += 1;
            if !in_lv_region[branch.to_bus as usize] {
                in_lv_region[branch.to_bus as usize] = true;
                stack.push(branch.to_bus);
                while let Some(bus) = stack.pop() {
                    let range = adjacency_start[bus as usize]..adjacency_start[bus as usize + 1];
                    for adjacent in &adjacency[range.start as usize..range.end as usize] {
                        let next = adjacent.bus as usize;
                        if grid.branches[adjacent.branch as usize].kind != BranchKind::Transformer
                            && !in_lv_region[next]
                        {
                            in_lv_region[next] = true;
                            stack.push(adjacent.bus);
                        }
                    }
                }
            }
        }
        let mut bus_load_kw = vec![0.0; bus_count];
        let mut bus_load_unknown = vec![0u32; bus_count];
        for customer in &grid.customers {
            let bus = customer.bus as usize;
            if !in_lv_region[bus] {
                bus_users[bus] += 1;
            }
            match customer.peak_kw {
                Some(kw) => bus_load_kw[bus] += kw,
                None => bus_load_unknown[bus] += 1,
            }
        }

        let closed: Vec<bool> = grid.branches.iter().map(|b| !b.normal_open).collect();
        let in_service: Vec<bool> = grid.branches.iter().map(|b| b.in_service).collect();
        let active = closed
            .iter()
            .zip(&in_service)
            .map(|(c, s)| *c && *s)
            .collect();
        let mut topology = Self {
            adjacency_start,
            adjacency,
            ends,
            kinds: grid.branches.iter().map(|b| b.kind).collect(),
            devices: grid.branches.iter().map(|b| b.device).collect(),
            normal_open: grid.branches.iter().map(|b| b.normal_open).collect(),
            rated_kva: grid.branches.iter().map(|b| b.rated_kva).collect(),
            source_bus,
            bus_sources_start,
            bus_sources,
            bus_customers_start,
            bus_customers,
            bus_users,
            bus_load_kw,
            bus_load_unknown,
            closed,
            in_service,
            active,
            island_of: vec![NONE; bus_count],
            pre: vec![0; bus_count],
            end: vec![0; bus_count],
            low: vec![0; bus_count],
            parent: vec![NONE; bus_count],
            islands: Vec::new(),
            free_islands: Vec::new(),
            mark: vec![0; bus_count],
            epoch: 0,
        };
        debug_assert_eq!(topology.ends.len(), branch_count);
        topology.rebuild_all();
        topology
    }

    /// Re-numbers every island from scratch (the non-incremental baseline).
    pub fn rebuild_all(&mut self) {
        self.islands.clear();
        self.free_islands.clear();
        self.island_of.fill(NONE);
        self.parent.fill(NONE);
        for source in 0..self.source_bus.len() {
            if self.island_of[self.source_bus[source] as usize] == NONE {
                let id = self.allocate_island();
                self.number_island(id, index(source));
            }
        }
    }

    pub fn bus_count(&self) -> usize {
        self.island_of.len()
    }

    pub fn branch_count(&self) -> usize {
        self.ends.len()
    }

    pub fn island_count(&self) -> usize {
        self.islands.iter().filter(|i| i.is_some()).count()
    }

    /// The bus ends `[from, to]` of a branch.
    pub fn branch_ends(&self, branch: u32) -> [u32; 2] {
        self.ends[branch as usize]
    }

    pub fn is_energized(&self, bus: u32) -> bool {
        self.island_of.get(bus as usize).is_some_and(|&i| i != NONE)
    }

    /// Whether the branch conducts: in service and, for a switch, closed.
    pub fn is_conducting(&self, branch: u32) -> bool {
        self.active.get(branch as usize).copied().unwrap_or(false)
    }

    pub fn is_closed(&self, branch: u32) -> bool {
        self.closed.get(branch as usize).copied().unwrap_or(false)
    }

    pub fn is_in_service(&self, branch: u32) -> bool {
        self.in_service
            .get(branch as usize)
            .copied()
            .unwrap_or(false)
    }

    /// The conducting flag of every branch, for what-if copies and naive baselines.
    pub fn conducting(&self) -> &[bool] {
        &self.active
    }

    /// Customers on a bus.
    pub fn customers_at(&self, bus: u32) -> &[u32] {
        let bus = bus as usize;
        &self.bus_customers
            [self.bus_customers_start[bus] as usize..self.bus_customers_start[bus + 1] as usize]
    }

    /// Number of customers currently supplied.
    pub fn energized_customer_count(&self) -> usize {
        self.islands
            .iter()
            .flatten()
            .map(|i| i.customers.len())
            .sum()
    }

    /// Customers currently without supply, in bus order.
    pub fn unsupplied_customers(&self) -> Vec<u32> {
        (0..self.bus_count())
            .filter(|&bus| self.island_of[bus] == NONE)
            .flat_map(|bus| self.customers_at(index(bus)).iter().copied())
            .collect()
    }

    fn allocate_island(&mut self) -> u32 {
        match self.free_islands.pop() {
            Some(id) => id,
            None => {
                self.islands.push(None);
                index(self.islands.len() - 1)
            }
        }
    }

    fn sources_at(&self, bus: u32) -> &[u32] {
        let bus = bus as usize;
        &self.bus_sources
            [self.bus_sources_start[bus] as usize..self.bus_sources_start[bus + 1] as usize]
    }

    /// Numbers `bus` as the next in preorder, reached by branch `via`, and pushes it.
    fn visit(
        &mut self,
        bus: u32,
        via: u32,
        id: u32,
        counter: &mut u32,
        buses: &mut Vec<u32>,
        stack: &mut Vec<(u32, u32)>,
    ) {
        let b = bus as usize;
        self.pre[b] = *counter;
        // A source bus has a virtual edge to the root; any such edge other than the one
        // the DFS entered by is a back edge to the root (preorder 0).
        let sources_here = self.sources_at(bus).len();
        let back_to_root = if via == NONE {
            sources_here >= 2
        } else {
            sources_here >= 1
        };
        self.low[b] = if back_to_root { 0 } else { *counter };
        self.parent[b] = via;
        self.island_of[b] = id;
        buses.push(bus);
        stack.push((bus, self.adjacency_start[b]));
        *counter += 1;
    }

    /// Iterative DFS from the bus of `entry_source`, numbering the island `id`.
    fn number_island(&mut self, id: u32, entry_source: u32) {
        let root = self.source_bus[entry_source as usize];
        let mut buses = Vec::new();
        let mut counter = 1u32;
        let mut stack: Vec<(u32, u32)> = Vec::new();

        self.visit(root, NONE, id, &mut counter, &mut buses, &mut stack);

        while let Some(top) = stack.last_mut() {
            let (bus, cursor) = *top;
            let b = bus as usize;
            if cursor < self.adjacency_start[b + 1] {
                top.1 += 1;
                let Adjacent { bus: next, branch } = self.adjacency[cursor as usize];
                if !self.active[branch as usize] || branch == self.parent[b] {
                    continue;
                }
                let n = next as usize;
                if self.island_of[n] == NONE {
                    self.visit(next, branch, id, &mut counter, &mut buses, &mut stack);
                } else {
                    self.low[b] = self.low[b].min(self.pre[n]);
                }
            } else {
                self.end[b] = counter;
                stack.pop();
                if let Some(&(up, _)) = stack.last() {
                    let low = self.low[b];
                    let up_low = &mut self.low[up as usize];
                    *up_low = (*up_low).min(low);
                }
            }
        }

        let mut customers = Vec::new();
        let mut customer_prefix = Vec::with_capacity(buses.len() + 1);
        let mut user_prefix = Vec::with_capacity(buses.len() + 1);
        let mut sources = Vec::new();
        let mut users = 0u32;
        for &bus in &buses {
            customer_prefix.push(index(customers.len()));
            user_prefix.push(users);
            customers.extend_from_slice(self.customers_at(bus));
            users += self.bus_users[bus as usize];
            sources.extend_from_slice(self.sources_at(bus));
        }
        customer_prefix.push(index(customers.len()));
        user_prefix.push(users);
        sources.sort_unstable();
        let island = Island {
            buses,
            customers,
            customer_prefix,
            user_prefix,
            sources,
            entry_source,
        };
        self.islands[id as usize] = Some(island);
    }

    /// Re-numbers the given islands (and whatever they now reach) and reports the change.
    fn renumber(&mut self, touched: &[u32]) -> SupplyChange {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.mark.fill(0);
            self.epoch = 1;
        }
        let mut old = Vec::with_capacity(touched.len());
        let mut seeds = Vec::new();
        for &id in touched {
            if let Some(island) = self.islands[id as usize].take() {
                self.free_islands.push(id);
                for &bus in &island.buses {
                    self.mark[bus as usize] = self.epoch;
                    self.island_of[bus as usize] = NONE;
                    self.parent[bus as usize] = NONE;
                }
                seeds.extend_from_slice(&island.sources);
                old.push(island);
            }
        }
        seeds.sort_unstable();
        let mut created = Vec::new();
        for source in seeds {
            if self.island_of[self.source_bus[source as usize] as usize] == NONE {
                let id = self.allocate_island();
                self.number_island(id, source);
                created.push(id);
            }
        }
        let mut change = SupplyChange::default();
        for island in &old {
            for &bus in &island.buses {
                if self.island_of[bus as usize] == NONE {
                    change.lost.extend_from_slice(self.customers_at(bus));
                }
            }
        }
        for &id in &created {
            if let Some(island) = &self.islands[id as usize] {
                for &bus in &island.buses {
                    if self.mark[bus as usize] != self.epoch {
                        change.restored.extend_from_slice(self.customers_at(bus));
                    }
                }
            }
        }
        change
    }

    /// Applies an operation, re-indexing only the islands it touches.
    pub fn apply(&mut self, operation: Operation) -> SupplyChange {
        let (branch, closed, in_service) = match operation {
            Operation::Open(b) => (b, Some(false), None),
            Operation::Close(b) => (b, Some(true), None),
            Operation::OutOfService(b) => (b, None, Some(false)),
            Operation::IntoService(b) => (b, None, Some(true)),
        };
        let b = branch as usize;
        if b >= self.ends.len() {
            return SupplyChange::default();
        }
        if let Some(closed) = closed {
            self.closed[b] = closed;
        }
        if let Some(in_service) = in_service {
            self.in_service[b] = in_service;
        }
        let was = self.active[b];
        let now = self.closed[b] && self.in_service[b];
        if was == now {
            return SupplyChange::default();
        }
        self.active[b] = now;
        let [from, to] = self.ends[b];
        let (a, z) = (self.island_of[from as usize], self.island_of[to as usize]);
        let mut touched = Vec::with_capacity(2);
        if now {
            touched.extend([a, z].into_iter().filter(|&i| i != NONE));
            touched.dedup();
        } else if a != NONE {
            // Even an opened branch on a cycle changes the numbering, so its island is
            // re-numbered; islands elsewhere keep theirs.
            touched.push(a);
        }
        if touched.is_empty() {
            return SupplyChange::default();
        }
        self.renumber(&touched)
    }

    /// For a conducting tree branch, its child-side bus; `None` off the tree.
    fn tree_child(&self, branch: u32) -> Option<u32> {
        let b = branch as usize;
        if !self.active.get(b).copied().unwrap_or(false) {
            return None;
        }
        let [from, to] = self.ends[b];
        if self.island_of[to as usize] != NONE && self.parent[to as usize] == branch {
            Some(to)
        } else if self.island_of[from as usize] != NONE && self.parent[from as usize] == branch {
            Some(from)
        } else {
            None
        }
    }

    /// For a conducting bridge of the index, its child-side bus.
    fn bridge_child(&self, branch: u32) -> Option<u32> {
        let child = self.tree_child(branch)?;
        let [from, to] = self.ends[branch as usize];
        let up = if child == to { from } else { to };
        (self.low[child as usize] > self.pre[up as usize]).then_some(child)
    }

    fn subtree(&self, bus: u32) -> Affected<'_> {
        let b = bus as usize;
        let Some(Some(island)) = self.islands.get(self.island_of[b] as usize) else {
            return Affected::NOTHING;
        };
        let (first, past) = ((self.pre[b] - 1) as usize, (self.end[b] - 1) as usize);
        let range = island.customer_prefix[first] as usize..island.customer_prefix[past] as usize;
        Affected {
            customers: &island.customers[range],
            users: island.user_prefix[past] - island.user_prefix[first],
        }
    }

    /// The customers that lose supply if `branch` is opened or taken out of service:
    /// O(1) to count, O(k) to list.
    pub fn outage_if_opened(&self, branch: u32) -> Affected<'_> {
        match self.bridge_child(branch) {
            Some(child) => self.subtree(child),
            None => Affected::NOTHING,
        }
    }

    /// Customers below a conducting branch in the index's tree (also when a loop would
    /// keep them supplied); nothing for a branch that does not conduct.
    pub fn customers_below_branch(&self, branch: u32) -> Affected<'_> {
        match self.tree_child(branch) {
            Some(child) => self.subtree(child),
            None => Affected::NOTHING,
        }
    }

    /// Customers on and below an energized bus in the index's tree.
    pub fn customers_below_bus(&self, bus: u32) -> Affected<'_> {
        if self.is_energized(bus) {
            self.subtree(bus)
        } else {
            Affected::NOTHING
        }
    }

    /// The path from an energized bus up to its source; `None` when it is dark.
    pub fn upstream_path(&self, bus: u32) -> Option<UpstreamPath> {
        let island = self
            .islands
            .get(*self.island_of.get(bus as usize)? as usize)?
            .as_ref()?;
        let mut branches = Vec::new();
        let mut buses = vec![bus];
        let mut at = bus;
        while self.parent[at as usize] != NONE {
            let branch = self.parent[at as usize];
            branches.push(branch);
            at = self.other_end(branch, at);
            buses.push(at);
        }
        Some(UpstreamPath {
            branches,
            buses,
            source: island.entry_source,
        })
    }

    fn other_end(&self, branch: u32, bus: u32) -> u32 {
        let [from, to] = self.ends[branch as usize];
        if from == bus { to } else { from }
    }

    /// The feeder of a bus: the breaker closest to the source on its upstream path.
    pub fn feeder_of(&self, bus: u32) -> Option<u32> {
        let path = self.upstream_path(bus)?;
        path.branches
            .into_iter()
            .rev()
            .find(|&b| self.devices[b as usize] == Some(SwitchDevice::Breaker))
    }

    /// The energized end of `branch` to walk upstream from: the parent side of a tree
    /// branch, otherwise the energized end numbered first (an ancestor for a DFS back
    /// edge).
    fn upstream_end(&self, branch: u32) -> Option<u32> {
        let [from, to] = *self.ends.get(branch as usize)?;
        if let Some(child) = self.tree_child(branch) {
            return Some(if child == to { from } else { to });
        }
        match (self.is_energized(from), self.is_energized(to)) {
            (true, true) => Some(if self.pre[from as usize] <= self.pre[to as usize] {
                from
            } else {
                to
            }),
            (true, false) => Some(from),
            (false, true) => Some(to),
            (false, false) => None,
        }
    }

    /// The protective device that clears a fault on `branch`: the first closed breaker,
    /// recloser or fuse met walking from the branch toward its source. The branch itself is
    /// not a candidate: a fault on a protective device is cleared by the one above it.
    pub fn protective_device_for(&self, branch: u32) -> Option<u32> {
        let mut at = self.upstream_end(branch)?;
        loop {
            let up = self.parent[at as usize];
            if up == NONE {
                return None;
            }
            if self.devices[up as usize].is_some_and(SwitchDevice::is_protective) {
                return Some(up);
            }
            at = self.other_end(up, at);
        }
    }

    /// What a fault on `branch` takes out: everything that loses supply when its protective
    /// device opens (the whole island when there is none).
    pub fn fault_on(&self, branch: u32) -> FaultOutcome {
        match self.protective_device_for(branch) {
            Some(device) => {
                let out = self.outage_if_opened(device);
                FaultOutcome {
                    protective_device: Some(device),
                    customers_out: out.customers.to_vec(),
                    users_out: out.users,
                }
            }
            None => {
                let island = self
                    .upstream_end(branch)
                    .and_then(|bus| self.islands.get(self.island_of[bus as usize] as usize))
                    .and_then(Option::as_ref);
                FaultOutcome {
                    protective_device: None,
                    customers_out: island.map(|i| i.customers.clone()).unwrap_or_default(),
                    users_out: island
                        .and_then(|i| i.user_prefix.last().copied())
                        .unwrap_or(0),
                }
            }
        }
    }

    /// Energized buses by a plain BFS from every source over conducting branches: the
    /// naive baseline the index is tested and benchmarked against.
    pub fn naive_energized(&self, conducting: &[bool]) -> Vec<bool> {
        let mut energized = vec![false; self.bus_count()];
        let mut queue: Vec<u32> = Vec::new();
        for &bus in &self.source_bus {
            if !energized[bus as usize] {
                energized[bus as usize] = true;
                queue.push(bus);
            }
        }
        while let Some(bus) = queue.pop() {
            let b = bus as usize;
            for adjacent in &self.adjacency
                [self.adjacency_start[b] as usize..self.adjacency_start[b + 1] as usize]
            {
                if conducting[adjacent.branch as usize] && !energized[adjacent.bus as usize] {
                    energized[adjacent.bus as usize] = true;
                    queue.push(adjacent.bus);
                }
            }
        }
        energized
    }

    /// Naive answer to "open `branch`": customers energized now and not after, by two BFS.
    pub fn naive_outage_if_opened(&self, branch: u32) -> Vec<u32> {
        let before = self.naive_energized(&self.active);
        let mut conducting = self.active.clone();
        if let Some(flag) = conducting.get_mut(branch as usize) {
            *flag = false;
        }
        let after = self.naive_energized(&conducting);
        (0..self.bus_count())
            .filter(|&bus| before[bus] && !after[bus])
            .flat_map(|bus| self.customers_at(index(bus)).iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests;
