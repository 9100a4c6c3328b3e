//! The hand-worked data set: 10 customers on 3 transformers, one year, 7 events.
//!
//! Period 2026-01-01T00:00Z .. 2027-01-01T00:00Z = 365 d = 8760 h.
//!
//! | transformer | area  | customers        |
//! |-------------|-------|------------------|
//! | T1          | urban | c01 c02 c03 c04  |
//! | T2          | urban | c05 c06 c07      |
//! | T3          | rural | c08 c09 c10      |
//!
//! Low-voltage population: urban 7, rural 3 (10). Transformers: urban 2, rural 1 (3).
//!
//! | event | who                       | start (UTC)      | length | kind                        |
//! |-------|---------------------------|------------------|--------|-----------------------------|
//! | E1    | T1 (c01-c04)              | 2026-03-10 08:00 | 2 h    | fault, internal             |
//! | E2    | T2 (c05-c07)              | 2026-04-05 12:00 | 2 min  | momentary, internal         |
//! | E3    | T3 (c08-c10)              | 2026-06-01 00:00 | 3 h    | fault, external (外部影响)   |
//! | E4    | T2 (c05-c07)              | 2026-07-15 09:00 | 4 h    | planned, internal           |
//! | E5    | T1 + T3 (c01-c04,c08-c10) | 2026-08-20 22:00 | 6 h    | storm, internal, past 00:00 |
//! | E6    | c02 only (service drop)   | 2026-09-01 10:00 | 1.5 h  | fault, internal, no 台区     |
//! | E7    | T2 (c05-c07)              | 2026-12-31 20:00 | 6 h    | 限电 (supply shortage); only 4 h inside the period |

use chrono::{DateTime, TimeDelta, Utc};
use fudian_reliability::{
    AreaClass, CauseClass, CustomerId, Interruption, Period, Population, TransformerId,
};

pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

pub fn year_2026() -> Period {
    Period::new(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")).unwrap()
}

pub fn population() -> Population {
    Population {
        low_voltage: [(AreaClass::Urban, 7), (AreaClass::Rural, 3)].into(),
        transformers: [(AreaClass::Urban, 2), (AreaClass::Rural, 1)].into(),
    }
}

pub fn customers_of(transformer: &str) -> &'static [&'static str] {
    match transformer {
        "T1" => &["c01", "c02", "c03", "c04"],
        "T2" => &["c05", "c06", "c07"],
        "T3" => &["c08", "c09", "c10"],
        _ => &[],
    }
}

pub fn area_of(transformer: &str) -> AreaClass {
    if transformer == "T3" {
        AreaClass::Rural
    } else {
        AreaClass::Urban
    }
}

/// One record per customer of `transformer`.
pub fn transformer_event(
    transformer: &str,
    start: DateTime<Utc>,
    length: TimeDelta,
    planned: bool,
    cause_class: CauseClass,
) -> Vec<Interruption> {
    customers_of(transformer)
        .iter()
        .map(|customer| Interruption {
            customer_id: CustomerId((*customer).to_owned()),
            transformer_id: Some(TransformerId(transformer.to_owned())),
            area_class: area_of(transformer),
            start,
            end: start + length,
            planned,
            cause_class,
        })
        .collect()
}

pub fn records() -> Vec<Interruption> {
    let internal = CauseClass::Internal;
    let mut records = Vec::new();
    records.extend(transformer_event(
        "T1",
        at("2026-03-10T08:00:00Z"),
        TimeDelta::hours(2),
        false,
        internal,
    ));
    records.extend(transformer_event(
        "T2",
        at("2026-04-05T12:00:00Z"),
        TimeDelta::minutes(2),
        false,
        internal,
    ));
    records.extend(transformer_event(
        "T3",
        at("2026-06-01T00:00:00Z"),
        TimeDelta::hours(3),
        false,
        CauseClass::External,
    ));
    records.extend(transformer_event(
        "T2",
        at("2026-07-15T09:00:00Z"),
        TimeDelta::hours(4),
        true,
        internal,
    ));
    records.extend(transformer_event(
        "T1",
        at("2026-08-20T22:00:00Z"),
        TimeDelta::hours(6),
        false,
        internal,
    ));
    records.extend(transformer_event(
        "T3",
        at("2026-08-20T22:00:00Z"),
        TimeDelta::hours(6),
        false,
        internal,
    ));
    records.push(Interruption {
        customer_id: CustomerId("c02".to_owned()),
        transformer_id: None,
        area_class: AreaClass::Urban,
        start: at("2026-09-01T10:00:00Z"),
        end: at("2026-09-01T11:30:00Z"),
        planned: false,
        cause_class: internal,
    });
    records.extend(transformer_event(
        "T2",
        at("2026-12-31T20:00:00Z"),
        TimeDelta::hours(6),
        false,
        CauseClass::SupplyShortage,
    ));
    records
}

/// Asserts two floats agree to 1e-9 relative (the hand-worked values are exact fractions).
#[track_caller]
pub fn close(actual: f64, expected: f64) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "expected {expected}, got {actual}"
    );
}
