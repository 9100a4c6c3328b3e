//! DL/T 836 (供电系统供电可靠性评价规程) indices: 停电时户数, RS, AIHC and AITC with their
//! -1, -2 and -3 variants, in the low-voltage and medium-voltage calibers.
//!
//! The names RS-n, AIHC-n and AITC-n are those of DL/T 836-2012;
//! DL/T 836.1-2016 §4 (评价指标与计算公式) keeps the same formulas (its Appendix C maps the names) and extends
//! them to low-voltage users. Sums are kept in integer milliseconds, so they are exact.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::model::{
    AreaClass, Caliber, CauseClass, Interruption, Options, Period, Population, millis_to_hours,
};
use crate::units::{UnitInterruption, checked_population, reported_areas, unit_interruptions};

/// One variant (-1, -2 or -3) of the DL/T 836 indices over one set of users.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dlt836Variant {
    /// 停电时户数: Σ(每户每次停电时间), hours. Customer-hours in the low-voltage caliber,
    /// transformer-hours in the medium-voltage one.
    pub user_hours: f64,
    /// Σ(每户停电次数): interruptions that start in the period.
    pub user_interruptions: u64,
    /// RS (供电可靠率) = (1 − Σ(每户每次停电时间) / (统计期间时间 × 总用户数)) × 100 %.
    pub rs_percent: f64,
    /// AIHC (用户平均停电时间) = Σ(每户每次停电时间) / 总用户数, hours per user.
    pub aihc_hours: f64,
    /// AITC (用户平均停电次数) = Σ(每户停电次数) / 总用户数, interruptions per user.
    pub aitc: f64,
}

/// The three DL/T 836 variants for one set of users.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dlt836Indices {
    /// 总用户数.
    pub users: u64,
    /// RS-1, AIHC-1, AITC-1: every sustained interruption.
    pub all: Dlt836Variant,
    /// RS-2, AIHC-2, AITC-2: 不计外部影响, without [`CauseClass::External`].
    pub excluding_external: Dlt836Variant,
    /// RS-3, AIHC-3, AITC-3: 不计系统电源不足限电, without [`CauseClass::SupplyShortage`].
    pub excluding_supply_shortage: Dlt836Variant,
    /// The 预安排停电 part of `all.user_hours` (planned), for budgets.
    pub planned_user_hours: f64,
    /// The 故障停电 part of `all.user_hours` (not planned), for budgets.
    pub fault_user_hours: f64,
}

/// DL/T 836 indices of one caliber, per area class and in total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dlt836Report {
    pub caliber: Caliber,
    /// 统计期间时间, hours.
    pub period_hours: f64,
    pub total: Dlt836Indices,
    /// Every area class that has users in the population.
    pub by_area: BTreeMap<AreaClass, Dlt836Indices>,
}

/// Computes the DL/T 836 indices of `caliber` over `period`.
///
/// Interruptions of at most `options.dlt_short_at_most_secs` (短时停电) are left out;
/// durations are clipped to the period and an interruption counts once, in the period
/// where it starts. Errors on zero users, records ending before they start, overlapping
/// records of one customer, and areas with more interrupted users than users.
pub fn dlt836(
    records: &[Interruption],
    population: &Population,
    period: &Period,
    caliber: Caliber,
    options: &Options,
) -> Result<Dlt836Report> {
    let units = unit_interruptions(records, period, caliber)?;
    let total_users = checked_population(&units, population, caliber)?;
    let sustained: Vec<&UnitInterruption> = units
        .iter()
        .filter(|unit| unit.longer_than(options.dlt_short_at_most_millis()))
        .collect();
    let period_millis = period.millis();
    let total = indices(sustained.iter().copied(), total_users, period_millis);
    let by_area = reported_areas(population, caliber)
        .into_iter()
        .map(|(area, users)| {
            let in_area = sustained.iter().copied().filter(|unit| unit.area == area);
            (area, indices(in_area, users, period_millis))
        })
        .collect();
    Ok(Dlt836Report {
        caliber,
        period_hours: period.hours(),
        total,
        by_area,
    })
}

#[derive(Default)]
struct Sums {
    millis: i64,
    count: u64,
}

impl Sums {
    fn add(&mut self, unit: &UnitInterruption) {
        self.millis += unit.clipped_millis;
        self.count += u64::from(unit.starts_in_period);
    }

    fn variant(&self, users: u64, period_millis: i64) -> Dlt836Variant {
        let users_f = users as f64;
        Dlt836Variant {
            user_hours: millis_to_hours(self.millis),
            user_interruptions: self.count,
            rs_percent: (1.0 - self.millis as f64 / (period_millis as f64 * users_f)) * 100.0,
            aihc_hours: millis_to_hours(self.millis) / users_f,
            aitc: self.count as f64 / users_f,
        }
    }
}

fn indices<'a>(
    sustained: impl Iterator<Item = &'a UnitInterruption>,
    users: u64,
    period_millis: i64,
) -> Dlt836Indices {
    let (mut all, mut no_external, mut no_shortage) =
        (Sums::default(), Sums::default(), Sums::default());
    let (mut planned_millis, mut fault_millis) = (0_i64, 0_i64);
    for unit in sustained {
        all.add(unit);
        if unit.cause != CauseClass::External {
            no_external.add(unit);
        }
        if unit.cause != CauseClass::SupplyShortage {
            no_shortage.add(unit);
        }
        if unit.planned {
            planned_millis += unit.clipped_millis;
        } else {
            fault_millis += unit.clipped_millis;
        }
    }
    Dlt836Indices {
        users,
        all: all.variant(users, period_millis),
        excluding_external: no_external.variant(users, period_millis),
        excluding_supply_shortage: no_shortage.variant(users, period_millis),
        planned_user_hours: millis_to_hours(planned_millis),
        fault_user_hours: millis_to_hours(fault_millis),
    }
}
