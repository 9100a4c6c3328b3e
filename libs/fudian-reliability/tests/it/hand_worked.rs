//! Every index on the data set of `dataset.rs`, with the arithmetic done by hand.

use chrono::{FixedOffset, NaiveDate};
use fudian_reliability::{
    AlertLevel, AreaClass, Caliber, CountScope, CustomerId, DailySaidi, Interruption, MedThreshold,
    Options, RepeatPolicy, RepeatRule, Subject, TransformerId, daily_saidi, dlt836, ieee1366,
    ieee1366_with_major_events, repeat_outages,
};

use crate::dataset::{at, close, population, records, year_2026};

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[test]
fn low_voltage_dlt836_indices_match_the_hand_worked_sums() {
    // DL/T 836, 短时停电 bound 3 min: E2 (2 min) is left out.
    //   E1 4 customers × 2 h   =  8 h,  4 interruptions
    //   E3 3 × 3 h (external)  =  9 h,  3
    //   E4 3 × 4 h (planned)   = 12 h,  3
    //   E5 7 × 6 h             = 42 h,  7
    //   E6 1 × 1.5 h           = 1.5 h, 1
    //   E7 3 × 4 h (clipped, 限电) = 12 h, 3
    //   -1: 84.5 h, 21;  -2 (no E3): 75.5 h, 18;  -3 (no E7): 72.5 h, 18
    // N = 10, period 8760 h → N × T = 87 600 customer-hours.
    //   RS-1 = (1 − 84.5/87600) × 100 = 99.90353881278538 %
    //   AIHC-1 = 84.5 / 10 = 8.45 h, AITC-1 = 21 / 10 = 2.1
    let report = dlt836(
        &records(),
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
    )
    .unwrap();
    close(report.period_hours, 8760.0);
    let total = &report.total;
    assert_eq!(total.users, 10);
    close(total.all.user_hours, 84.5);
    assert_eq!(total.all.user_interruptions, 21);
    close(total.all.rs_percent, 99.903_538_812_785_38);
    close(total.all.aihc_hours, 8.45);
    close(total.all.aitc, 2.1);

    close(total.excluding_external.user_hours, 75.5);
    assert_eq!(total.excluding_external.user_interruptions, 18);
    close(total.excluding_external.rs_percent, 99.913_812_785_388_12);
    close(total.excluding_external.aihc_hours, 7.55);
    close(total.excluding_external.aitc, 1.8);

    close(total.excluding_supply_shortage.user_hours, 72.5);
    close(
        total.excluding_supply_shortage.rs_percent,
        99.917_237_442_922_39,
    );
    close(total.excluding_supply_shortage.aihc_hours, 7.25);
    close(total.excluding_supply_shortage.aitc, 1.8);

    // planned: E4 = 12 h; fault: 84.5 − 12 = 72.5 h
    close(total.planned_user_hours, 12.0);
    close(total.fault_user_hours, 72.5);

    // urban (c01-c07, N = 7): E1 8 + E4 12 + E5 4×6 = 24 + E6 1.5 + E7 12 = 57.5 h,
    //   4 + 3 + 4 + 1 + 3 = 15 interruptions; AIHC-1 = 57.5/7 = 8.214285714285714,
    //   RS-1 = (1 − 57.5/61320) × 100 = 99.90622961513373; -3 drops E7: 45.5/7 = 6.5
    // rural (c08-c10, N = 3): E3 9 + E5 3×6 = 18 → 27 h, 6; AIHC-1 = 9; -2 drops E3: 18/3 = 6
    let urban = &report.by_area[&AreaClass::Urban];
    assert_eq!(urban.users, 7);
    close(urban.all.user_hours, 57.5);
    assert_eq!(urban.all.user_interruptions, 15);
    close(urban.all.aihc_hours, 8.214_285_714_285_714);
    close(urban.all.rs_percent, 99.906_229_615_133_73);
    close(urban.excluding_external.aihc_hours, 8.214_285_714_285_714);
    close(urban.excluding_supply_shortage.aihc_hours, 6.5);
    close(urban.excluding_supply_shortage.aitc, 12.0 / 7.0);
    let rural = &report.by_area[&AreaClass::Rural];
    close(rural.all.aihc_hours, 9.0);
    close(rural.all.aitc, 2.0);
    close(rural.excluding_external.aihc_hours, 6.0);
    close(rural.excluding_external.aitc, 1.0);
    assert_eq!(report.by_area.len(), 2, "core and town have no users");
}

#[test]
fn medium_voltage_dlt836_counts_each_transformer_once_per_event() {
    // Transformers are the users (N = 3); E6 has no transformer, E2 is 短时停电.
    //   T1: E1 2 h, E5 6 h           T2: E4 4 h (planned), E7 4 h (限电, clipped)
    //   T3: E3 3 h (external), E5 6 h
    //   -1: 25 h, 6;  -2: 22 h, 5;  -3: 21 h, 5;  N × T = 3 × 8760 = 26 280
    //   RS-1 = (1 − 25/26280) × 100 = 99.9048706240487
    //   RS-2 = (1 − 22/26280) × 100 = 99.91628614916286
    //   RS-3 = (1 − 21/26280) × 100 = 99.92009132420091
    let report = dlt836(
        &records(),
        &population(),
        &year_2026(),
        Caliber::MediumVoltage,
        &Options::default(),
    )
    .unwrap();
    let total = &report.total;
    assert_eq!(total.users, 3);
    close(total.all.user_hours, 25.0);
    assert_eq!(total.all.user_interruptions, 6);
    close(total.all.rs_percent, 99.904_870_624_048_7);
    close(total.all.aihc_hours, 25.0 / 3.0);
    close(total.all.aitc, 2.0);
    close(total.excluding_external.user_hours, 22.0);
    close(total.excluding_external.rs_percent, 99.916_286_149_162_86);
    close(total.excluding_external.aitc, 5.0 / 3.0);
    close(total.excluding_supply_shortage.user_hours, 21.0);
    close(
        total.excluding_supply_shortage.rs_percent,
        99.920_091_324_200_91,
    );
    close(total.excluding_supply_shortage.aihc_hours, 7.0);
    // urban transformers T1 + T2: 2 + 6 + 4 + 4 = 16 h over 2 → 8 h; rural T3: 9 h over 1
    close(report.by_area[&AreaClass::Urban].all.aihc_hours, 8.0);
    close(report.by_area[&AreaClass::Rural].all.aihc_hours, 9.0);
    close(
        report.by_area[&AreaClass::Rural]
            .excluding_external
            .aihc_hours,
        6.0,
    );
}

#[test]
fn ieee1366_indices_match_the_hand_worked_sums() {
    // IEEE 1366, momentary below 5 min: E2 is momentary (3 customers), the rest sustained.
    //   Σ r_i N_i = 84.5 h = 5070 min, Σ N_i = 21, N_T = 10
    //   SAIDI = 507 min, SAIFI = 2.1, CAIDI = 507 / 2.1 = 241.42857142857142 min
    //   ASAI = 1 − 84.5 / 87600 = 0.9990353881278539, MAIFI = 3 / 10 = 0.3
    // Sustained per customer: c02 has E1, E5, E6 = 3; every other customer has 2
    //   (c05-c07: E4, E7; E2 is momentary). CEMI1 = 10/10, CEMI2 = 1/10, CEMI3 = 0.
    let report = ieee1366(
        &records(),
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
    )
    .unwrap();
    assert!(report.major_events.is_none());
    let total = &report.all_days.total;
    assert_eq!(total.customers, 10);
    close(total.customer_minutes, 5070.0);
    assert_eq!(total.customer_interruptions, 21);
    assert_eq!(total.momentary_interruptions, 3);
    close(total.saidi_minutes, 507.0);
    close(total.saifi, 2.1);
    close(total.caidi_minutes.unwrap(), 241.428_571_428_571_42);
    close(total.asai, 0.999_035_388_127_853_9);
    close(total.maifi, 0.3);
    assert_eq!(total.cemi[&1], 1.0);
    assert_eq!(total.cemi[&2], 0.1);
    assert_eq!(total.cemi[&3], 0.0);
    // E2 is one momentary event per customer, no lockout follows: MAIFI_E = 3/10.
    // Sustained + events: c02 3 + 0, c05-c07 2 + 1 = 3, others 2
    //   → CEMSMI1 = 10/10, CEMSMI2 = 4/10, CEMSMI3 = 0.
    assert_eq!(total.momentary_events, 3);
    close(total.maifi_e, 0.3);
    assert_eq!(total.cemsmi[&1], 1.0);
    assert_eq!(total.cemsmi[&2], 0.4);
    assert_eq!(total.cemsmi[&3], 0.0);
    // urban: 57.5 h = 3450 min over 7 customers = 492.85714285714283 min
    close(
        report.all_days.by_area[&AreaClass::Urban].saidi_minutes,
        492.857_142_857_142_83,
    );
    close(report.all_days.by_area[&AreaClass::Rural].maifi, 0.0);
}

fn history_with_threshold_e_to_five_and_a_half() -> Vec<DailySaidi> {
    // ln SAIDI = 2, 3, 4 → α = 3, β = 1 → T_MED = exp(5.5) = 244.69193226422038 min
    [
        ("2021-05-01", 2.0_f64),
        ("2022-05-01", 3.0),
        ("2023-05-01", 4.0),
    ]
    .into_iter()
    .map(|(day, ln)| DailySaidi {
        date: date(day),
        saidi_minutes: ln.exp(),
    })
    .collect()
}

#[test]
fn daily_saidi_puts_each_interruption_on_the_day_it_began() {
    // Daily system SAIDI (UTC days, N_T = 10), sustained only:
    //   03-10: 4 × 120 / 10 = 48    06-01: 3 × 180 / 10 = 54   07-15: 3 × 240 / 10 = 72
    //   08-20: 7 × 360 / 10 = 252 (E5 runs into 08-21 but belongs to 08-20)
    //   09-01: 90 / 10 = 9          12-31: 3 × 240 / 10 = 72 (clipped at the period end)
    let days = daily_saidi(
        &records(),
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
        &chrono::Utc,
    )
    .unwrap();
    let expected = [
        ("2026-03-10", 48.0),
        ("2026-06-01", 54.0),
        ("2026-07-15", 72.0),
        ("2026-08-20", 252.0),
        ("2026-09-01", 9.0),
        ("2026-12-31", 72.0),
    ];
    assert_eq!(days.len(), expected.len());
    for (day, (expected_date, expected_saidi)) in days.iter().zip(expected) {
        assert_eq!(day.date, date(expected_date));
        close(day.saidi_minutes, expected_saidi);
    }

    // In UTC+8 (Asia/Shanghai) E5 begins 2026-08-21 06:00 and E7 2027-01-01 04:00.
    let shanghai = FixedOffset::east_opt(8 * 3600).unwrap();
    let local = daily_saidi(
        &records(),
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
        &shanghai,
    )
    .unwrap();
    let dates: Vec<NaiveDate> = local.iter().map(|day| day.date).collect();
    assert!(dates.contains(&date("2026-08-21")));
    assert!(dates.contains(&date("2027-01-01")));
    assert!(!dates.contains(&date("2026-08-20")));
}

#[test]
fn the_storm_day_is_a_major_event_day_and_removing_it_lowers_saidi() {
    // T_MED = 244.69 min: only 2026-08-20 (252 min) exceeds it.
    // Without E5 (7 customers × 6 h = 42 h): 84.5 − 42 = 42.5 h = 2550 min
    //   SAIDI = 255 min, SAIFI = (21 − 7)/10 = 1.4, CAIDI = 255 / 1.4 = 182.14285714285717
    //   ASAI = 1 − 42.5/87600 = 0.9995148401826484, MAIFI = 0.3 (E2 is on a normal day)
    //   sustained per customer: c02 2 (E1, E6), c05-c07 2 (E4, E7), others 1
    //   → CEMI1 = 4/10 = 0.4, CEMI2 = 0
    let threshold =
        MedThreshold::from_history(&history_with_threshold_e_to_five_and_a_half()).unwrap();
    close(threshold.t_med_minutes, 244.691_932_264_220_38);
    let report = ieee1366_with_major_events(
        &records(),
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
        &threshold,
        &chrono::Utc,
    )
    .unwrap();
    close(report.all_days.total.saidi_minutes, 507.0);
    let major = report.major_events.unwrap();
    assert_eq!(major.days.len(), 1);
    assert_eq!(major.days[0].date, date("2026-08-20"));
    close(major.days[0].saidi_minutes, 252.0);
    let normal = &major.excluding_major_event_days.total;
    close(normal.saidi_minutes, 255.0);
    close(normal.saifi, 1.4);
    close(normal.caidi_minutes.unwrap(), 182.142_857_142_857_17);
    close(normal.asai, 0.999_514_840_182_648_4);
    close(normal.maifi, 0.3);
    assert_eq!(normal.cemi[&1], 0.4);
    assert_eq!(normal.cemi[&2], 0.0);
    // sustained + events: c02 2, c05-c07 2 + 1 = 3, others 1 → CEMSMI1 = 0.4, CEMSMI2 = 0.3
    assert_eq!(normal.cemsmi[&1], 0.4);
    assert_eq!(normal.cemsmi[&2], 0.3);
    // rural without E5: only E3, 3 × 180 min over 3 customers = 180 min
    close(
        major.excluding_major_event_days.by_area[&AreaClass::Rural].saidi_minutes,
        180.0,
    );
}

#[test]
fn default_repeat_rules_warn_only_for_the_customer_hit_twice_in_twelve_days() {
    // c02: E1 03-10, E5 08-20 22:00, E6 09-01 10:00 → 3 in the year (< warning 4),
    //   2 within 60 days (08-20 .. 09-01, 11.5 d) → warning of 3_within_60_days.
    // Everyone else has at most 2 a year, never 2 within 60 days
    //   (c01: 163 d apart, c05: E4 07-15 and E7 12-31, c08 and T3: 06-01 and 08-20 = 80 d),
    //   and at most 1 planned (E4).
    let report = repeat_outages(
        &records(),
        &year_2026(),
        &RepeatPolicy::default(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    let finding = &report.findings[0];
    assert_eq!(
        finding.subject,
        Subject::Customer(CustomerId("c02".to_owned()))
    );
    assert_eq!(finding.rule_id, "3_within_60_days");
    assert_eq!(finding.level, AlertLevel::Warning);
    assert_eq!(finding.count, 2);
    assert_eq!(finding.first_start, at("2026-08-20T22:00:00Z"));
    assert_eq!(finding.last_start, at("2026-09-01T10:00:00Z"));
    assert!(report.long_outages.is_empty());
}

#[test]
fn a_stricter_rule_flags_every_customer_and_every_transformer() {
    // "3 or more in the year, warning at 2": c02 (3) breaches; the other nine customers
    // and the three transformers have 2 sustained each (E2 is 短时停电) → 12 warnings.
    let policy = RepeatPolicy {
        rules: vec![RepeatRule {
            id: "more_than_2".to_owned(),
            scope: CountScope::All,
            window_days: None,
            warn_at: Some(2),
            breach_at: 3,
        }],
        long_outage_over_hours: 24,
    };
    let report = repeat_outages(&records(), &year_2026(), &policy, &Options::default()).unwrap();
    assert_eq!(report.findings.len(), 13);
    let breaches: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.level == AlertLevel::Breach)
        .collect();
    assert_eq!(breaches.len(), 1);
    assert_eq!(
        breaches[0].subject,
        Subject::Customer(CustomerId("c02".to_owned()))
    );
    assert_eq!(breaches[0].count, 3);
    let transformers = report
        .findings
        .iter()
        .filter(|f| matches!(f.subject, Subject::Transformer(_)))
        .count();
    assert_eq!(transformers, 3);
    assert!(report.findings.iter().any(|f| f.subject
        == Subject::Transformer(TransformerId("T2".to_owned()))
        && f.count == 2
        && f.area_class == AreaClass::Urban));
}

#[test]
fn an_outage_carried_in_from_last_year_adds_hours_but_not_a_count_and_is_reported_long() {
    // c04 off from 2025-12-31 12:00 to 2026-01-01 18:00: 30 h, of which 18 h in 2026.
    // LV -1: 84.5 + 18 = 102.5 h; interruptions stay 21 (it began in 2025).
    let mut records = records();
    records.push(Interruption {
        customer_id: CustomerId("c04".to_owned()),
        transformer_id: None,
        area_class: AreaClass::Urban,
        start: at("2025-12-31T12:00:00Z"),
        end: at("2026-01-01T18:00:00Z"),
        planned: false,
        cause_class: fudian_reliability::CauseClass::Internal,
    });
    let report = dlt836(
        &records,
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
    )
    .unwrap();
    close(report.total.all.user_hours, 102.5);
    assert_eq!(report.total.all.user_interruptions, 21);

    let repeat = repeat_outages(
        &records,
        &year_2026(),
        &RepeatPolicy::default(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(repeat.long_outages.len(), 1);
    let long = &repeat.long_outages[0];
    assert_eq!(
        long.subject,
        Subject::Customer(CustomerId("c04".to_owned()))
    );
    close(long.hours, 30.0);
    assert_eq!(long.start, at("2025-12-31T12:00:00Z"));
}

#[test]
fn counting_every_interruption_brings_the_momentary_one_into_dlt836() {
    // dlt_short_at_most_secs = 0: E2 counts, 3 customers × 2 min = 0.1 h.
    // LV -1: 84.5 + 0.1 = 84.6 h, 24 interruptions.
    let options = Options {
        dlt_short_at_most_secs: 0,
        ..Options::default()
    };
    let report = dlt836(
        &records(),
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &options,
    )
    .unwrap();
    close(report.total.all.user_hours, 84.6);
    assert_eq!(report.total.all.user_interruptions, 24);
    // and with a 10-minute IEEE bound nothing changes here (no interruption of 5-10 min)
    let options = Options {
        momentary_below_secs: 600,
        ..Options::default()
    };
    let ieee = ieee1366(
        &records(),
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &options,
    )
    .unwrap();
    close(ieee.all_days.total.saidi_minutes, 507.0);
}
