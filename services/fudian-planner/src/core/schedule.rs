//! Scheduling pending jobs over a year: dates inside each job's window that minimise the
//! total customer-hours, bundling jobs whose customers overlap on the same day (such a
//! group costs its union of customers × its longest duration), within each crew's jobs per
//! day and a per-customer limit on days with a planned outage per year.
//!
//! The optimiser is a heuristic: a greedy pass (biggest outages first; each job goes to the
//! feasible day that adds least, preferring days that later overlapping jobs can share)
//! followed by local search (take a job out, put it back where it adds least). Its result
//! is reported with a lower bound: every customer is out at least once for the longest job
//! that takes them out, so Σ over customers of that longest duration bounds any schedule.
//! First-come scheduling (each job on its earliest feasible day, in request order) is
//! computed on the same jobs with the same cost, for comparison.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::core::assess::Assessment;
use crate::core::job::JobRequest;
use crate::error::{PlannerError, Result};

/// A job as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleJob {
    pub id: String,
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    pub duration_hours: f64,
    pub crew: String,
    /// Customer indices out (sorted); empty for live-line work.
    pub customers: Vec<u32>,
}

impl ScheduleJob {
    pub fn from_assessed(job: &JobRequest, assessment: &Assessment) -> Self {
        Self {
            id: job.id.to_string(),
            earliest: job.earliest,
            latest: job.latest,
            duration_hours: job.duration_hours,
            crew: job.crew.clone(),
            customers: assessment.customers.clone(),
        }
    }
}

/// The limits a schedule respects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleOptions {
    /// Jobs one crew can do on one day.
    pub crew_jobs_per_day: u32,
    /// Days with a planned outage a customer may have in the year (including prior ones).
    pub max_outages_per_customer: u32,
    /// Planned outages each customer (by grid index) already had this year; shorter means 0.
    pub prior_outages: Vec<u32>,
    /// Local-search passes after the greedy pass (it stops earlier when nothing improves).
    pub local_search_passes: u32,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        Self {
            crew_jobs_per_day: 1,
            max_outages_per_customer: 3,
            prior_outages: Vec::new(),
            local_search_passes: 4,
        }
    }
}

/// Dates for jobs (in the order given) and what they cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub dates: Vec<Option<NaiveDate>>,
    /// Jobs no feasible day was found for.
    pub unscheduled: Vec<String>,
    /// Σ over days and overlap groups of union of customers × longest duration.
    pub total_customer_hours: f64,
    /// Σ customers × hours of the scheduled jobs done apart.
    pub separate_customer_hours: f64,
    /// A bound no schedule of the same jobs can beat.
    pub lower_bound: f64,
    /// Groups of two or more jobs sharing an outage.
    pub bundles: usize,
}

/// The optimised schedule beside first-come on the same jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleComparison {
    pub optimised: Schedule,
    pub first_come: Schedule,
}

pub fn compare_schedules(
    jobs: &[ScheduleJob],
    options: &ScheduleOptions,
) -> Result<ScheduleComparison> {
    Ok(ScheduleComparison {
        optimised: schedule_optimised(jobs, options)?,
        first_come: schedule_first_come(jobs, options)?,
    })
}

/// Each job on its earliest feasible day, in the order given.
pub fn schedule_first_come(jobs: &[ScheduleJob], options: &ScheduleOptions) -> Result<Schedule> {
    Ok(first_come_state(jobs, options)?.into_schedule())
}

fn first_come_state<'a>(jobs: &'a [ScheduleJob], options: &ScheduleOptions) -> Result<State<'a>> {
    let mut state = State::new(jobs, options)?;
    for j in 0..jobs.len() {
        let (first, last) = state.windows[j];
        if let Some(day) = (first..=last).find(|&day| state.feasible(j, day)) {
            state.place(j, day);
        }
    }
    Ok(state)
}

/// Greedy placement and local search (see the module documentation). Local search also
/// starts from the first-come dates, and the better result (more jobs scheduled, then
/// fewer customer-hours) is returned, so it is never worse than first-come.
pub fn schedule_optimised(jobs: &[ScheduleJob], options: &ScheduleOptions) -> Result<Schedule> {
    let mut state = State::new(jobs, options)?;
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| {
        state
            .alone_cost(b)
            .total_cmp(&state.alone_cost(a))
            .then(state.window_days(a).cmp(&state.window_days(b)))
            .then(a.cmp(&b))
    });
    for &j in &order {
        if let Some((day, _)) = state.best_day(j) {
            state.place(j, day);
        }
    }
    improve(&mut state, &order, options.local_search_passes);
    let greedy = state.into_schedule();
    let mut from_first_come = first_come_state(jobs, options)?;
    improve(&mut from_first_come, &order, options.local_search_passes);
    let from_first_come = from_first_come.into_schedule();
    let key = |s: &Schedule| (s.unscheduled.len(), s.total_customer_hours);
    Ok(if key(&from_first_come) < key(&greedy) {
        from_first_come
    } else {
        greedy
    })
}

/// Local search: each job in turn is taken out and put back where it adds least; jobs
/// without a day get one if any is feasible.
fn improve(state: &mut State<'_>, order: &[usize], passes: u32) {
    for _ in 0..passes {
        let mut improved = false;
        for &j in order {
            let Some(current) = state.day_of[j] else {
                if let Some((day, _)) = state.best_day(j) {
                    state.place(j, day);
                    improved = true;
                }
                continue;
            };
            let now = state.removal_gain(j);
            state.remove(j);
            match state.best_day(j) {
                Some((day, added)) if added < now - 1e-9 => {
                    state.place(j, day);
                    improved = true;
                }
                _ => state.place(j, current),
            }
        }
        improved |= merge_groups(state, order);
        if !improved {
            break;
        }
    }
}

/// Moves a whole overlap group onto the day of an overlapping group when every member's
/// window allows it and the total drops: single-job moves cannot find this when moving any
/// one member alone costs more.
fn merge_groups(state: &mut State<'_>, order: &[usize]) -> bool {
    let mut improved = false;
    for &j in order {
        let Some(day) = state.day_of[j] else { continue };
        let group = state
            .groups_on(day, &[j], None)
            .into_iter()
            .next()
            .unwrap_or_default();
        // Each group is tried once per pass, from its lowest-numbered job.
        if group.iter().copied().min() != Some(j) {
            continue;
        }
        let first = group.iter().map(|&m| state.windows[m].0).max().unwrap_or(0);
        let last = group.iter().map(|&m| state.windows[m].1).min().unwrap_or(0);
        let mut targets: Vec<u32> = group
            .iter()
            .flat_map(|&m| state.neighbors[m].iter())
            .filter_map(|&n| state.day_of[n as usize])
            .filter(|&d| d != day && d >= first && d <= last)
            .collect();
        targets.sort_unstable();
        targets.dedup();
        let before = state.group_cost(&group, None);
        for target in targets {
            for &member in &group {
                state.remove(member);
            }
            let mut added = 0.0;
            let mut placed = Vec::with_capacity(group.len());
            for &member in &group {
                if !state.feasible(member, target) {
                    break;
                }
                added += state.marginal_cost(member, target);
                state.place(member, target);
                placed.push(member);
            }
            if placed.len() == group.len() && added < before - 1e-9 {
                improved = true;
                break;
            }
            for &member in &placed {
                state.remove(member);
            }
            for &member in &group {
                state.place(member, day);
            }
        }
    }
    improved
}

/// The scheduling state: jobs with compact customer ids, day offsets and the loads.
struct State<'a> {
    jobs: &'a [ScheduleJob],
    base: NaiveDate,
    customers: Vec<Vec<u32>>,
    windows: Vec<(u32, u32)>,
    crew: Vec<u32>,
    neighbors: Vec<Vec<u32>>,
    prior: Vec<u32>,
    crew_jobs_per_day: u32,
    max_outages: u32,
    day_of: Vec<Option<u32>>,
    crew_load: HashMap<(u32, u32), u32>,
    /// Per compact customer: (day, jobs taking them out that day).
    customer_days: Vec<Vec<(u32, u32)>>,
    stamp: Vec<u32>,
    epoch: u32,
}

fn offset(base: NaiveDate, date: NaiveDate) -> u32 {
    u32::try_from((date - base).num_days()).unwrap_or(0)
}

impl<'a> State<'a> {
    fn new(jobs: &'a [ScheduleJob], options: &ScheduleOptions) -> Result<Self> {
        for job in jobs {
            let invalid = |field: &'static str, reason: String| PlannerError::InvalidJob {
                job: job.id.clone(),
                field,
                reason,
            };
            if job.latest < job.earliest {
                return Err(invalid(
                    "latest",
                    format!("{} is before earliest", job.latest),
                ));
            }
            if !(job.duration_hours.is_finite() && job.duration_hours > 0.0) {
                return Err(invalid(
                    "duration_hours",
                    format!("{} is not a positive number of hours", job.duration_hours),
                ));
            }
        }
        let base = jobs
            .iter()
            .map(|j| j.earliest)
            .min()
            .unwrap_or(NaiveDate::MIN);
        let mut compact: HashMap<u32, u32> = HashMap::new();
        let mut prior = Vec::new();
        let mut customers = Vec::with_capacity(jobs.len());
        let mut jobs_of: Vec<Vec<u32>> = Vec::new();
        for (j, job) in jobs.iter().enumerate() {
            let mut local: Vec<u32> = job
                .customers
                .iter()
                .map(|&c| {
                    let next = u32::try_from(compact.len()).unwrap_or(u32::MAX);
                    *compact.entry(c).or_insert_with(|| {
                        prior.push(options.prior_outages.get(c as usize).copied().unwrap_or(0));
                        jobs_of.push(Vec::new());
                        next
                    })
                })
                .collect();
            local.sort_unstable();
            local.dedup();
            for &c in &local {
                jobs_of[c as usize].push(u32::try_from(j).unwrap_or(u32::MAX));
            }
            customers.push(local);
        }
        let mut neighbors = vec![Vec::new(); jobs.len()];
        let mut seen = vec![u32::MAX; jobs.len()];
        for (j, local) in customers.iter().enumerate() {
            let me = u32::try_from(j).unwrap_or(u32::MAX);
            for &c in local {
                for &other in &jobs_of[c as usize] {
                    if other != me && seen[other as usize] != me {
                        seen[other as usize] = me;
                        neighbors[j].push(other);
                    }
                }
            }
        }
        let mut crews: HashMap<&str, u32> = HashMap::new();
        let crew = jobs
            .iter()
            .map(|job| {
                let next = u32::try_from(crews.len()).unwrap_or(u32::MAX);
                *crews.entry(job.crew.as_str()).or_insert(next)
            })
            .collect();
        Ok(Self {
            jobs,
            base,
            windows: jobs
                .iter()
                .map(|job| (offset(base, job.earliest), offset(base, job.latest)))
                .collect(),
            crew,
            neighbors,
            crew_jobs_per_day: options.crew_jobs_per_day,
            max_outages: options.max_outages_per_customer,
            day_of: vec![None; jobs.len()],
            crew_load: HashMap::new(),
            customer_days: vec![Vec::new(); prior.len()],
            stamp: vec![0; prior.len()],
            prior,
            customers,
            epoch: 0,
        })
    }

    fn alone_cost(&self, j: usize) -> f64 {
        self.customers[j].len() as f64 * self.jobs[j].duration_hours
    }

    fn window_days(&self, j: usize) -> u32 {
        self.windows[j].1 - self.windows[j].0
    }

    fn feasible(&self, j: usize, day: u32) -> bool {
        let (first, last) = self.windows[j];
        if day < first || day > last {
            return false;
        }
        let load = self
            .crew_load
            .get(&(self.crew[j], day))
            .copied()
            .unwrap_or(0);
        if load >= self.crew_jobs_per_day {
            return false;
        }
        self.customers[j].iter().all(|&c| {
            let days = &self.customer_days[c as usize];
            days.iter().any(|&(d, _)| d == day)
                || (days.len() as u32).saturating_add(self.prior[c as usize]) < self.max_outages
        })
    }

    fn place(&mut self, j: usize, day: u32) {
        self.day_of[j] = Some(day);
        *self.crew_load.entry((self.crew[j], day)).or_insert(0) += 1;
        for &c in &self.customers[j] {
            let days = &mut self.customer_days[c as usize];
            match days.iter_mut().find(|(d, _)| *d == day) {
                Some((_, count)) => *count += 1,
                None => days.push((day, 1)),
            }
        }
    }

    fn remove(&mut self, j: usize) {
        let Some(day) = self.day_of[j].take() else {
            return;
        };
        if let Some(load) = self.crew_load.get_mut(&(self.crew[j], day)) {
            *load = load.saturating_sub(1);
        }
        for &c in &self.customers[j] {
            let days = &mut self.customer_days[c as usize];
            if let Some(at) = days.iter().position(|&(d, _)| d == day) {
                days[at].1 -= 1;
                if days[at].1 == 0 {
                    days.swap_remove(at);
                }
            }
        }
    }

    /// Union of customers × longest duration of `members` (and `extra`).
    fn group_cost(&mut self, members: &[usize], extra: Option<usize>) -> f64 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
        let mut union = 0usize;
        let mut longest = 0.0f64;
        for &j in members.iter().chain(extra.iter()) {
            longest = longest.max(self.jobs[j].duration_hours);
            for &c in &self.customers[j] {
                if self.stamp[c as usize] != self.epoch {
                    self.stamp[c as usize] = self.epoch;
                    union += 1;
                }
            }
        }
        union as f64 * longest
    }

    /// The overlap groups on `day` reached from `seeds`, never entering `exclude`.
    fn groups_on(&self, day: u32, seeds: &[usize], exclude: Option<usize>) -> Vec<Vec<usize>> {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut groups = Vec::new();
        for &seed in seeds {
            if Some(seed) == exclude || self.day_of[seed] != Some(day) || !seen.insert(seed) {
                continue;
            }
            let mut group = vec![seed];
            let mut next = 0;
            while next < group.len() {
                let at = group[next];
                next += 1;
                for &n in &self.neighbors[at] {
                    let n = n as usize;
                    if Some(n) != exclude && self.day_of[n] == Some(day) && seen.insert(n) {
                        group.push(n);
                    }
                }
            }
            groups.push(group);
        }
        groups
    }

    fn neighbors_on(&self, j: usize, day: u32) -> Vec<usize> {
        self.neighbors[j]
            .iter()
            .map(|&n| n as usize)
            .filter(|&n| self.day_of[n] == Some(day))
            .collect()
    }

    /// What placing unplaced `j` on `day` adds to the total.
    fn marginal_cost(&mut self, j: usize, day: u32) -> f64 {
        let seeds = self.neighbors_on(j, day);
        if seeds.is_empty() {
            return self.alone_cost(j);
        }
        let groups = self.groups_on(day, &seeds, Some(j));
        let before: f64 = groups.iter().map(|g| self.group_cost(g, None)).sum();
        let all: Vec<usize> = groups.into_iter().flatten().collect();
        self.group_cost(&all, Some(j)) - before
    }

    /// What taking placed `j` out would save.
    fn removal_gain(&mut self, j: usize) -> f64 {
        let Some(day) = self.day_of[j] else {
            return 0.0;
        };
        let seeds = self.neighbors_on(j, day);
        if seeds.is_empty() {
            return self.alone_cost(j);
        }
        let without = self.groups_on(day, &seeds, Some(j));
        let after: f64 = without.iter().map(|g| self.group_cost(g, None)).sum();
        let all: Vec<usize> = without.into_iter().flatten().collect();
        self.group_cost(&all, Some(j)) - after
    }

    /// The feasible day where unplaced `j` adds least, with what it adds: the days its
    /// overlapping jobs are on, and the free day most of its unplaced overlapping jobs
    /// could still share.
    fn best_day(&mut self, j: usize) -> Option<(u32, f64)> {
        let (first, last) = self.windows[j];
        let mut candidates: Vec<u32> = self.neighbors[j]
            .iter()
            .filter_map(|&n| self.day_of[n as usize])
            .filter(|&d| d >= first && d <= last)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let span = (last - first + 1) as usize;
        let mut potential = vec![0i64; span + 1];
        for &n in &self.neighbors[j] {
            let n = n as usize;
            if self.day_of[n].is_some() {
                continue;
            }
            let (a, b) = (self.windows[n].0.max(first), self.windows[n].1.min(last));
            if a <= b {
                potential[(a - first) as usize] += 1;
                potential[(b - first + 1) as usize] -= 1;
            }
        }
        let mut running = 0i64;
        let mut free_days: Vec<(i64, u32)> = (0..span)
            .map(|i| {
                running += potential[i];
                (-running, first + i as u32)
            })
            .collect();
        free_days.sort_unstable();
        if let Some(&(_, day)) = free_days.iter().find(|&&(_, day)| self.feasible(j, day)) {
            candidates.push(day);
        }
        let mut best: Option<(u32, f64)> = None;
        for day in candidates {
            if !self.feasible(j, day) {
                continue;
            }
            let added = self.marginal_cost(j, day);
            if best.is_none_or(|(_, cost)| added < cost - 1e-9) {
                best = Some((day, added));
            }
        }
        best
    }

    fn into_schedule(mut self) -> Schedule {
        let n = self.jobs.len();
        let mut seen = vec![false; n];
        let mut total = 0.0;
        let mut bundles = 0;
        for j in 0..n {
            let Some(day) = self.day_of[j] else { continue };
            if seen[j] {
                continue;
            }
            for group in self.groups_on(day, &[j], None) {
                for &member in &group {
                    seen[member] = true;
                }
                if group.len() > 1 {
                    bundles += 1;
                }
                total += self.group_cost(&group, None);
            }
        }
        let scheduled: Vec<usize> = (0..n).filter(|&j| self.day_of[j].is_some()).collect();
        let separate = scheduled.iter().map(|&j| self.alone_cost(j)).sum();
        let mut longest = vec![0.0f64; self.prior.len()];
        for &j in &scheduled {
            for &c in &self.customers[j] {
                longest[c as usize] = longest[c as usize].max(self.jobs[j].duration_hours);
            }
        }
        Schedule {
            dates: self
                .day_of
                .iter()
                .map(|day| day.map(|d| self.base + chrono::Days::new(u64::from(d))))
                .collect(),
            unscheduled: (0..n)
                .filter(|&j| self.day_of[j].is_none())
                .map(|j| self.jobs[j].id.clone())
                .collect(),
            total_customer_hours: total,
            separate_customer_hours: separate,
            lower_bound: longest.iter().sum(),
            bundles,
        }
    }
}

#[cfg(test)]
mod tests;
