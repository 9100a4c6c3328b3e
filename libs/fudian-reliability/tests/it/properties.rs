//! Invariants over random outage histories on the data set's 10 customers and 3 transformers.

use chrono::{NaiveDate, TimeDelta};
use fudian_reliability::{
    AreaClass, Caliber, CauseClass, DailySaidi, Dlt836Indices, Ieee1366Indices, Interruption,
    MedThreshold, Options, dlt836, ieee1366_with_major_events,
};
use proptest::prelude::*;

use crate::dataset::{population, transformer_event, year_2026};

const EPS: f64 = 1e-9;

/// (gap before it in minutes, length in minutes, planned, cause)
type Event = (i64, i64, bool, u8);

fn events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((0_i64..40_000, 0_i64..3_000, any::<bool>(), 0_u8..3), 0..8)
}

/// Events follow one another on each transformer, starting 3 days before the period so
/// that clipping is exercised at both ends.
fn build(per_transformer: [Vec<Event>; 3]) -> Vec<Interruption> {
    let mut records = Vec::new();
    for (transformer, events) in ["T1", "T2", "T3"].into_iter().zip(per_transformer) {
        let mut cursor = year_2026().start() - TimeDelta::days(3);
        for (gap, length, planned, cause) in events {
            let start = cursor + TimeDelta::minutes(gap);
            let cause = match cause {
                0 => CauseClass::Internal,
                1 => CauseClass::External,
                _ => CauseClass::SupplyShortage,
            };
            records.extend(transformer_event(
                transformer,
                start,
                TimeDelta::minutes(length),
                planned,
                cause,
            ));
            cursor = start + TimeDelta::minutes(length);
        }
    }
    records
}

fn check_dlt836(indices: &Dlt836Indices) -> Result<(), TestCaseError> {
    for variant in [
        &indices.all,
        &indices.excluding_external,
        &indices.excluding_supply_shortage,
    ] {
        prop_assert!(
            (0.0..=100.0).contains(&variant.rs_percent),
            "RS {}",
            variant.rs_percent
        );
    }
    for excluded in [
        &indices.excluding_external,
        &indices.excluding_supply_shortage,
    ] {
        prop_assert!(excluded.aihc_hours <= indices.all.aihc_hours + EPS);
        prop_assert!(excluded.aitc <= indices.all.aitc + EPS);
        prop_assert!(excluded.rs_percent >= indices.all.rs_percent - EPS);
    }
    prop_assert!(
        (indices.planned_user_hours + indices.fault_user_hours - indices.all.user_hours).abs()
            < EPS
    );
    Ok(())
}

fn check_ieee(indices: &Ieee1366Indices) -> Result<(), TestCaseError> {
    if indices.saifi > 0.0 {
        let caidi = indices.caidi_minutes.unwrap();
        prop_assert!(
            (indices.saidi_minutes - indices.saifi * caidi).abs()
                <= EPS * indices.saidi_minutes.max(1.0)
        );
    }
    prop_assert!((0.0..=1.0).contains(&indices.asai));
    prop_assert!(indices.maifi_e <= indices.maifi + EPS);
    for (n, cemi) in &indices.cemi {
        prop_assert!(indices.cemsmi[n] >= *cemi - EPS);
    }
    let cemi: Vec<f64> = indices.cemi.values().copied().collect();
    prop_assert!(
        cemi.windows(2).all(|pair| pair[1] <= pair[0]),
        "CEMIn must not grow with n: {cemi:?}"
    );
    Ok(())
}

proptest! {
    #[test]
    fn dlt836_stays_in_range_and_exclusions_never_worsen_it(
        t1 in events(), t2 in events(), t3 in events(),
    ) {
        let records = build([t1, t2, t3]);
        for caliber in [Caliber::LowVoltage, Caliber::MediumVoltage] {
            let report = dlt836(&records, &population(), &year_2026(), caliber, &Options::default()).unwrap();
            check_dlt836(&report.total)?;
            let mut area_hours = 0.0;
            for indices in report.by_area.values() {
                check_dlt836(indices)?;
                area_hours += indices.all.user_hours;
            }
            prop_assert!((area_hours - report.total.all.user_hours).abs() < 1e-6);
        }
    }

    #[test]
    fn ieee1366_identities_hold_and_removing_major_event_days_never_raises_saidi(
        t1 in events(), t2 in events(), t3 in events(), t_med in 0.0_f64..2_000.0,
    ) {
        let records = build([t1, t2, t3]);
        let threshold = MedThreshold { alpha: 0.0, beta: 0.0, t_med_minutes: t_med, days_used: 0 };
        let report = ieee1366_with_major_events(
            &records, &population(), &year_2026(), Caliber::LowVoltage, &Options::default(), &threshold, &chrono::Utc,
        ).unwrap();
        let major = report.major_events.unwrap();
        let all = &report.all_days;
        let normal = &major.excluding_major_event_days;
        check_ieee(&all.total)?;
        check_ieee(&normal.total)?;
        prop_assert!(normal.total.saidi_minutes <= all.total.saidi_minutes + EPS);
        prop_assert!(normal.total.saifi <= all.total.saifi + EPS);
        for area in [AreaClass::Urban, AreaClass::Rural] {
            check_ieee(&all.by_area[&area])?;
            prop_assert!(normal.by_area[&area].saidi_minutes <= all.by_area[&area].saidi_minutes + EPS);
        }
        prop_assert!(major.days.iter().all(|day| day.saidi_minutes > t_med));
    }

    #[test]
    fn scaling_the_history_scales_the_threshold(
        saidi in prop::collection::vec(0.0_f64..500.0, 2..60), factor in 0.01_f64..100.0,
    ) {
        let day = |i: usize| NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + TimeDelta::days(i as i64);
        let history: Vec<DailySaidi> = saidi.iter().enumerate()
            .map(|(i, &saidi_minutes)| DailySaidi { date: day(i), saidi_minutes })
            .collect();
        let scaled: Vec<DailySaidi> = history.iter()
            .map(|d| DailySaidi { saidi_minutes: d.saidi_minutes * factor, ..*d })
            .collect();
        match (MedThreshold::from_history(&history), MedThreshold::from_history(&scaled)) {
            (Ok(base), Ok(scaled)) => {
                prop_assert!((scaled.t_med_minutes - base.t_med_minutes * factor).abs() <= 1e-6 * scaled.t_med_minutes);
                prop_assert!(base.beta >= 0.0);
                prop_assert!(base.t_med_minutes >= base.alpha.exp() * (1.0 - 1e-12));
            }
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "scaling changed whether a threshold exists: {a:?} vs {b:?}"),
        }
    }
}
