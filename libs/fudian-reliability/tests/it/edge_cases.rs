//! Bad input gets a clear error; records outside the period are clipped away.

use chrono::TimeDelta;
use fudian_reliability::{
    AreaClass, Caliber, CauseClass, CustomerId, Interruption, Options, Period, Population,
    ReliabilityError, TransformerId, dlt836, ieee1366,
};

use crate::dataset::{at, close, population, records, transformer_event, year_2026};

fn lone(customer: &str, start: &str, hours: i64) -> Interruption {
    Interruption {
        customer_id: CustomerId(customer.to_owned()),
        transformer_id: None,
        area_class: AreaClass::Urban,
        start: at(start),
        end: at(start) + TimeDelta::hours(hours),
        planned: false,
        cause_class: CauseClass::Internal,
    }
}

#[test]
fn a_period_that_ends_before_it_starts_is_refused() {
    let error = Period::new(at("2026-02-01T00:00:00Z"), at("2026-01-01T00:00:00Z")).unwrap_err();
    assert!(matches!(error, ReliabilityError::EmptyPeriod { .. }));
    assert!(
        error.to_string().starts_with("period end 2026-01-01"),
        "{error}"
    );
    let json = r#"{"start":"2026-02-01T00:00:00Z","end":"2026-02-01T00:00:00Z"}"#;
    assert!(serde_json::from_str::<Period>(json).is_err());
}

#[test]
fn zero_customers_is_an_error_not_a_division_by_zero() {
    let error = dlt836(
        &[],
        &Population::default(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        error,
        ReliabilityError::ZeroUsers {
            caliber: Caliber::LowVoltage
        }
    );
    assert_eq!(error.to_string(), "no low-voltage users in the population");
    let only_customers = Population {
        low_voltage: [(AreaClass::Urban, 5)].into(),
        ..Population::default()
    };
    assert!(matches!(
        ieee1366(
            &[],
            &only_customers,
            &year_2026(),
            Caliber::MediumVoltage,
            &Options::default()
        ),
        Err(ReliabilityError::ZeroUsers {
            caliber: Caliber::MediumVoltage
        })
    ));
}

#[test]
fn an_interruption_ending_before_it_starts_is_named_by_position() {
    let mut records = records();
    let mut bad = lone("c03", "2026-05-05T10:00:00Z", 1);
    std::mem::swap(&mut bad.start, &mut bad.end);
    records.push(bad);
    let index = records.len() - 1;
    match dlt836(
        &records,
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
    ) {
        Err(ReliabilityError::InterruptionEndsBeforeStart {
            index: got,
            customer,
            ..
        }) => {
            assert_eq!(got, index);
            assert_eq!(customer, "c03");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn records_wholly_outside_the_period_change_nothing() {
    let mut records = records();
    records.push(lone("c01", "2025-06-01T00:00:00Z", 5));
    records.push(lone("c01", "2027-03-01T00:00:00Z", 5));
    // ends exactly at the period start: nothing inside [start, end)
    records.push(lone("c03", "2025-12-31T23:00:00Z", 1));
    let report = dlt836(
        &records,
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
    )
    .unwrap();
    close(report.total.all.user_hours, 84.5);
    assert_eq!(report.total.all.user_interruptions, 21);
}

#[test]
fn more_interrupted_customers_than_the_population_is_an_error() {
    let small = Population {
        low_voltage: [(AreaClass::Urban, 7), (AreaClass::Rural, 2)].into(),
        transformers: [(AreaClass::Urban, 2), (AreaClass::Rural, 1)].into(),
    };
    let error = dlt836(
        &records(),
        &small,
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        error,
        ReliabilityError::PopulationTooSmall {
            caliber: Caliber::LowVoltage,
            area: AreaClass::Rural,
            population: 2,
            seen: 3
        }
    );
}

#[test]
fn overlapping_records_of_one_customer_are_refused() {
    let records = vec![
        lone("c01", "2026-05-01T00:00:00Z", 3),
        lone("c01", "2026-05-01T02:00:00Z", 3),
    ];
    assert_eq!(
        dlt836(
            &records,
            &population(),
            &year_2026(),
            Caliber::LowVoltage,
            &Options::default()
        ),
        Err(ReliabilityError::OverlappingInterruptions {
            customer: "c01".to_owned(),
            first: 0,
            second: 1
        })
    );
    // back to back is fine
    let records = vec![
        lone("c01", "2026-05-01T00:00:00Z", 3),
        lone("c01", "2026-05-01T03:00:00Z", 3),
    ];
    let report = dlt836(
        &records,
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(report.total.all.user_interruptions, 2);
}

#[test]
fn staggered_restoration_on_one_transformer_is_one_transformer_interruption() {
    // c01 back after 1 h, c02 after 3 h: T1 is one interruption of 3 h (the union).
    let mut records = transformer_event(
        "T1",
        at("2026-05-01T00:00:00Z"),
        TimeDelta::hours(1),
        false,
        CauseClass::Internal,
    );
    records[1].end = at("2026-05-01T03:00:00Z");
    let report = dlt836(
        &records,
        &population(),
        &year_2026(),
        Caliber::MediumVoltage,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(report.total.all.user_interruptions, 1);
    close(report.total.all.user_hours, 3.0);
}

#[test]
fn overlapping_transformer_records_that_disagree_on_cause_are_refused() {
    let mut records = transformer_event(
        "T1",
        at("2026-05-01T00:00:00Z"),
        TimeDelta::hours(1),
        false,
        CauseClass::Internal,
    );
    records[2].cause_class = CauseClass::External;
    match dlt836(
        &records,
        &population(),
        &year_2026(),
        Caliber::MediumVoltage,
        &Options::default(),
    ) {
        Err(ReliabilityError::ConflictingTransformerRecords { transformer, .. }) => {
            assert_eq!(transformer, "T1")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn one_transformer_under_two_area_classes_is_refused() {
    let mut records = transformer_event(
        "T1",
        at("2026-05-01T00:00:00Z"),
        TimeDelta::hours(1),
        false,
        CauseClass::Internal,
    );
    let mut other = records[0].clone();
    other.customer_id = CustomerId("c99".to_owned());
    other.area_class = AreaClass::Rural;
    other.transformer_id = Some(TransformerId("T1".to_owned()));
    other.start = at("2026-06-01T00:00:00Z");
    other.end = at("2026-06-01T01:00:00Z");
    records.push(other);
    let error = dlt836(
        &records,
        &population(),
        &year_2026(),
        Caliber::MediumVoltage,
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "transformer T1 appears under area classes urban and rural"
    );
}

#[test]
fn reports_serialize_to_json_with_area_keys() {
    let report = dlt836(
        &records(),
        &population(),
        &year_2026(),
        Caliber::LowVoltage,
        &Options::default(),
    )
    .unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["caliber"], "low_voltage");
    assert_eq!(json["by_area"]["rural"]["users"], 3);
    assert_eq!(json["total"]["all"]["user_interruptions"], 21);
}
