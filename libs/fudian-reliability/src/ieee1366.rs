//! IEEE 1366-2022 (Guide for Electric Power Distribution Reliability Indices): SAIFI,
//! SAIDI, CAIDI, ASAI, MAIFI, MAIFI_E, CEMIn and CEMSMIn, with and without Major Event Days, and the daily
//! SAIDI that feeds the 2.5β threshold.
//!
//! Momentary means shorter than `Options::momentary_below_secs` (5 minutes by default);
//! everything else is sustained. Unlike DL/T 836 nothing is left out by cause.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, TimeZone};
use serde::Serialize;

use crate::error::Result;
use crate::med::{DailySaidi, MedThreshold};
use crate::model::{
    AreaClass, Caliber, Interruption, Options, Period, Population, millis_to_minutes,
};
use crate::units::{UnitInterruption, checked_population, reported_areas, unit_interruptions};

/// IEEE 1366 indices over one set of customers (transformers in the medium-voltage caliber).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ieee1366Indices {
    /// N_T: total customers served.
    pub customers: u64,
    /// Σ N_i: sustained customer interruptions that start in the period.
    pub customer_interruptions: u64,
    /// Σ r_i N_i: sustained customer interruption minutes inside the period.
    pub customer_minutes: f64,
    /// Σ ID_i N_mi: momentary customer interruptions that start in the period.
    pub momentary_interruptions: u64,
    /// SAIFI = Σ N_i / N_T.
    pub saifi: f64,
    /// SAIDI = Σ r_i N_i / N_T, minutes.
    pub saidi_minutes: f64,
    /// CAIDI = Σ r_i N_i / Σ N_i = SAIDI / SAIFI, minutes; `None` without interruptions.
    pub caidi_minutes: Option<f64>,
    /// ASAI = (N_T × T − Σ r_i N_i) / (N_T × T), T the period length; a ratio in [0, 1].
    pub asai: f64,
    /// Σ IM_E N_mi: momentary interruption events that start in the period.
    pub momentary_events: u64,
    /// MAIFI = Σ ID_i N_mi / N_T (momentary interruptions).
    pub maifi: f64,
    /// MAIFI_E = Σ IM_E N_mi / N_T (momentary interruption events; see
    /// `Options::momentary_event_window_secs`).
    pub maifi_e: f64,
    /// CEMIn = CN(k > n) / N_T: share of customers with more than n sustained
    /// interruptions, for each n of `Options::cemi_n`.
    pub cemi: BTreeMap<u32, f64>,
    /// CEMSMIn = CNT(k > n) / N_T: share of customers with more than n sustained
    /// interruptions plus momentary interruption events, for each n of `Options::cemi_n`.
    pub cemsmi: BTreeMap<u32, f64>,
}

/// IEEE 1366 indices in total and per area class (every area with customers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ieee1366Set {
    pub total: Ieee1366Indices,
    pub by_area: BTreeMap<AreaClass, Ieee1366Indices>,
}

/// The Major Event Days of a period and the indices without them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MajorEvents {
    pub threshold: MedThreshold,
    /// The days whose system SAIDI exceeds T_MED, with that SAIDI.
    pub days: Vec<DailySaidi>,
    /// The indices with every interruption that began on a Major Event Day removed.
    pub excluding_major_event_days: Ieee1366Set,
}

/// IEEE 1366 indices of one caliber over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ieee1366Report {
    pub caliber: Caliber,
    pub period_hours: f64,
    /// Every interruption, Major Event Days included.
    pub all_days: Ieee1366Set,
    /// Present when computed with a threshold ([`ieee1366_with_major_events`]).
    pub major_events: Option<MajorEvents>,
}

/// Computes the IEEE 1366 indices of `caliber` over `period`, Major Event Days included.
///
/// Durations are clipped to the period; frequencies count interruptions that start in it.
pub fn ieee1366(
    records: &[Interruption],
    population: &Population,
    period: &Period,
    caliber: Caliber,
    options: &Options,
) -> Result<Ieee1366Report> {
    let units = unit_interruptions(records, period, caliber)?;
    checked_population(&units, population, caliber)?;
    Ok(Ieee1366Report {
        caliber,
        period_hours: period.hours(),
        all_days: index_set(&units, population, period, caliber, options),
        major_events: None,
    })
}

/// As [`ieee1366`], and also finds the Major Event Days of the period and the indices
/// without them.
///
/// IEEE 1366-2022 (major event day): an interruption belongs to the calendar day, in
/// `tz`, on which it began, even when it lasts past midnight; a day whose system SAIDI
/// (all areas, sustained interruptions, minutes inside the period) exceeds
/// `threshold.t_med_minutes` is a Major Event Day.
pub fn ieee1366_with_major_events<Tz: TimeZone>(
    records: &[Interruption],
    population: &Population,
    period: &Period,
    caliber: Caliber,
    options: &Options,
    threshold: &MedThreshold,
    tz: &Tz,
) -> Result<Ieee1366Report> {
    let units = unit_interruptions(records, period, caliber)?;
    let customers = checked_population(&units, population, caliber)?;
    let days: Vec<DailySaidi> = daily_sums(&units, customers, options, tz)
        .into_iter()
        .filter(|day| threshold.is_major_event_day(day.saidi_minutes))
        .collect();
    let med_dates: BTreeSet<NaiveDate> = days.iter().map(|day| day.date).collect();
    let normal_days: Vec<UnitInterruption> = units
        .iter()
        .filter(|unit| !med_dates.contains(&start_date(unit, tz)))
        .cloned()
        .collect();
    Ok(Ieee1366Report {
        caliber,
        period_hours: period.hours(),
        all_days: index_set(&units, population, period, caliber, options),
        major_events: Some(MajorEvents {
            threshold: *threshold,
            days,
            excluding_major_event_days: index_set(
                &normal_days,
                population,
                period,
                caliber,
                options,
            ),
        }),
    })
}

/// The system SAIDI of every day (in `tz`) on which a sustained interruption began, in
/// date order; days without one are omitted (their SAIDI is zero, which the 2.5β method
/// leaves out anyway). Feed a year of these to [`crate::write_daily_saidi_csv`] to build
/// the history for the next years' thresholds.
pub fn daily_saidi<Tz: TimeZone>(
    records: &[Interruption],
    population: &Population,
    period: &Period,
    caliber: Caliber,
    options: &Options,
    tz: &Tz,
) -> Result<Vec<DailySaidi>> {
    let units = unit_interruptions(records, period, caliber)?;
    let customers = checked_population(&units, population, caliber)?;
    Ok(daily_sums(&units, customers, options, tz))
}

fn start_date<Tz: TimeZone>(unit: &UnitInterruption, tz: &Tz) -> NaiveDate {
    unit.start.with_timezone(tz).date_naive()
}

fn is_momentary(unit: &UnitInterruption, options: &Options) -> bool {
    unit.full_millis < options.momentary_below_millis()
}

fn daily_sums<Tz: TimeZone>(
    units: &[UnitInterruption],
    customers: u64,
    options: &Options,
    tz: &Tz,
) -> Vec<DailySaidi> {
    let mut millis_by_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for unit in units.iter().filter(|unit| !is_momentary(unit, options)) {
        *millis_by_day.entry(start_date(unit, tz)).or_default() += unit.clipped_millis;
    }
    millis_by_day
        .into_iter()
        .filter(|(_, millis)| *millis > 0)
        .map(|(date, millis)| DailySaidi {
            date,
            saidi_minutes: millis_to_minutes(millis) / customers as f64,
        })
        .collect()
}

fn index_set(
    units: &[UnitInterruption],
    population: &Population,
    period: &Period,
    caliber: Caliber,
    options: &Options,
) -> Ieee1366Set {
    let customers = population.total(caliber);
    Ieee1366Set {
        total: indices(units.iter(), customers, period, options),
        by_area: reported_areas(population, caliber)
            .into_iter()
            .map(|(area, customers)| {
                let in_area = units.iter().filter(|unit| unit.area == area);
                (area, indices(in_area, customers, period, options))
            })
            .collect(),
    }
}

fn indices<'a>(
    units: impl Iterator<Item = &'a UnitInterruption>,
    customers: u64,
    period: &Period,
    options: &Options,
) -> Ieee1366Indices {
    let mut customer_millis = 0_i64;
    let mut customer_interruptions = 0_u64;
    let mut momentary_interruptions = 0_u64;
    let mut per_customer: BTreeMap<&str, Vec<&UnitInterruption>> = BTreeMap::new();
    for unit in units {
        per_customer.entry(&unit.unit).or_default().push(unit);
        if is_momentary(unit, options) {
            momentary_interruptions += u64::from(unit.starts_in_period);
            continue;
        }
        customer_millis += unit.clipped_millis;
        customer_interruptions += u64::from(unit.starts_in_period);
    }
    // (sustained interruptions, momentary events) of each customer
    let counts: Vec<(u32, u32)> = per_customer
        .into_values()
        .map(|mut own| {
            own.sort_by_key(|unit| unit.start);
            customer_counts(&own, options)
        })
        .collect();
    let momentary_events: u64 = counts.iter().map(|(_, events)| u64::from(*events)).sum();
    let n_t = customers as f64;
    let share_above = |n: u32, count: &dyn Fn(&(u32, u32)) -> u32| {
        counts.iter().filter(|c| count(c) > n).count() as f64 / n_t
    };
    let customer_minutes = millis_to_minutes(customer_millis);
    Ieee1366Indices {
        customers,
        customer_interruptions,
        customer_minutes,
        momentary_interruptions,
        momentary_events,
        saifi: customer_interruptions as f64 / n_t,
        saidi_minutes: customer_minutes / n_t,
        caidi_minutes: (customer_interruptions > 0)
            .then(|| customer_minutes / customer_interruptions as f64),
        asai: 1.0 - customer_millis as f64 / (n_t * period.millis() as f64),
        maifi: momentary_interruptions as f64 / n_t,
        maifi_e: momentary_events as f64 / n_t,
        cemi: options
            .cemi_n
            .iter()
            .map(|&n| (n, share_above(n, &|(sustained, _)| *sustained)))
            .collect(),
        cemsmi: options
            .cemi_n
            .iter()
            .map(|&n| (n, share_above(n, &|(sustained, events)| sustained + events)))
            .collect(),
    }
}

/// Sustained interruptions and momentary interruption events of one customer that start
/// in the period; `own` is sorted by start.
///
/// IEEE 1366-2022 (momentary interruption event): the momentary interruptions that start
/// within the event window of the first one form one event; an event that a sustained
/// interruption follows within that window belongs to the sustained interruption and is
/// not counted.
fn customer_counts(own: &[&UnitInterruption], options: &Options) -> (u32, u32) {
    let sustained = own
        .iter()
        .filter(|unit| unit.starts_in_period && !is_momentary(unit, options))
        .count();
    let momentary: Vec<&UnitInterruption> = own
        .iter()
        .filter(|unit| unit.starts_in_period && is_momentary(unit, options))
        .copied()
        .collect();
    let window = options.momentary_event_window();
    let mut events = 0_u32;
    let mut next = 0;
    while next < momentary.len() {
        let event_start = momentary[next].start;
        let event_end = event_start + window;
        // the first always belongs to its event, even with a zero window
        next += 1;
        while next < momentary.len() && momentary[next].start < event_end {
            next += 1;
        }
        let locked_out = own.iter().any(|unit| {
            !is_momentary(unit, options) && unit.start >= event_start && unit.start <= event_end
        });
        if !locked_out {
            events += 1;
        }
    }
    (u32::try_from(sustained).unwrap_or(u32::MAX), events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AreaClass, CauseClass, CustomerId};
    use chrono::{DateTime, Utc};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn off(start: &str, seconds: i64) -> Interruption {
        Interruption {
            customer_id: CustomerId("c1".to_owned()),
            transformer_id: None,
            area_class: AreaClass::Town,
            start: at(start),
            end: at(start) + chrono::TimeDelta::seconds(seconds),
            planned: false,
            cause_class: CauseClass::Internal,
        }
    }

    fn one_customer_report(records: &[Interruption]) -> Ieee1366Indices {
        let population = Population {
            low_voltage: [(AreaClass::Town, 2)].into(),
            ..Population::default()
        };
        let period = Period::new(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")).unwrap();
        ieee1366(
            records,
            &population,
            &period,
            Caliber::LowVoltage,
            &Options::default(),
        )
        .unwrap()
        .all_days
        .total
    }

    #[test]
    fn reclosing_blinks_within_five_minutes_are_one_momentary_event() {
        // three 10 s blinks at 10:00:00, 10:01:00, 10:04:59 → one event; a fourth at
        // 10:06:00 starts a second event. MAIFI = 4/2, MAIFI_E = 2/2.
        let records = [
            off("2026-01-05T10:00:00Z", 10),
            off("2026-01-05T10:01:00Z", 10),
            off("2026-01-05T10:04:59Z", 10),
            off("2026-01-05T10:06:00Z", 10),
        ];
        let indices = one_customer_report(&records);
        assert_eq!(indices.momentary_interruptions, 4);
        assert_eq!(indices.momentary_events, 2);
        assert_eq!(indices.maifi, 2.0);
        assert_eq!(indices.maifi_e, 1.0);
        // CEMSMI1: the customer has 0 sustained + 2 events = 2 > 1 → 1 of 2 customers
        assert_eq!(indices.cemsmi[&1], 0.5);
        assert_eq!(indices.cemsmi[&2], 0.0);
        assert_eq!(indices.cemi[&1], 0.0);
    }

    #[test]
    fn blinks_before_a_lockout_belong_to_the_sustained_interruption() {
        // two blinks then the recloser locks out at 10:02 for an hour: MAIFI counts the
        // blinks, MAIFI_E does not; SAIFI counts the lockout.
        let records = [
            off("2026-01-05T10:00:00Z", 5),
            off("2026-01-05T10:01:00Z", 5),
            off("2026-01-05T10:02:00Z", 3600),
        ];
        let indices = one_customer_report(&records);
        assert_eq!(indices.momentary_interruptions, 2);
        assert_eq!(indices.momentary_events, 0);
        assert_eq!(indices.customer_interruptions, 1);
        assert_eq!(indices.saidi_minutes, 30.0);
        // 1 sustained + 0 events: not above 1 (the blinks would have made it 2)
        assert_eq!(indices.cemsmi[&1], 0.0);
    }

    #[test]
    fn a_zero_event_window_makes_every_blink_its_own_event() {
        let records = [
            off("2026-01-05T10:00:00Z", 10),
            off("2026-01-05T10:00:30Z", 10),
        ];
        let population = Population {
            low_voltage: [(AreaClass::Town, 1)].into(),
            ..Population::default()
        };
        let period = Period::new(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")).unwrap();
        let options = Options {
            momentary_event_window_secs: 0,
            ..Options::default()
        };
        let report = ieee1366(
            &records,
            &population,
            &period,
            Caliber::LowVoltage,
            &options,
        )
        .unwrap();
        assert_eq!(report.all_days.total.momentary_events, 2);
    }

    #[test]
    fn an_interruption_of_exactly_five_minutes_is_sustained() {
        let indices = one_customer_report(&[off("2026-01-05T10:00:00Z", 300)]);
        assert_eq!(indices.customer_interruptions, 1);
        assert_eq!(indices.momentary_interruptions, 0);
        let indices = one_customer_report(&[off("2026-01-05T10:00:00Z", 299)]);
        assert_eq!(indices.customer_interruptions, 0);
        assert_eq!(indices.momentary_interruptions, 1);
        assert_eq!(indices.caidi_minutes, None);
    }
}
