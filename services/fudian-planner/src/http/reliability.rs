//! `GET /v1/planned/reliability` (DL/T 836 and IEEE 1366 indices by area class over a
//! period, from the interruptions the planner recorded; JSON or `?format=csv`),
//! `POST /v1/planned/reliability` (the same for records and a population given in the
//! body, with Major Event Days when a daily-SAIDI history is given), and
//! `GET /v1/planned/frequent-outages` (频繁停电 and long outages per customer and 台区).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate};
use fudian_events::envelope::now_shanghai;
use fudian_reliability::{
    Caliber, Dlt836Report, Ieee1366Indices, Ieee1366Report, Interruption, MedThreshold, Options,
    Period, Population, dlt836, ieee1366, ieee1366_with_major_events, repeat_outages,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::parse;
use crate::error::ApiError;
use crate::service::{Planner, day_start_ms};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// First day (default: January 1st of this year, Asia/Shanghai).
    from: Option<NaiveDate>,
    /// Day after the last (default: January 1st of next year).
    to: Option<NaiveDate>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format_of(format: Option<&str>) -> Result<Format, ApiError> {
    match format {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(ApiError::BadRequest(format!(
            "format `{other}` is not one of json, csv"
        ))),
    }
}

fn period_of(query: &PeriodQuery) -> Result<(i64, i64, Period), ApiError> {
    let year = now_shanghai().year();
    let from = query
        .from
        .or_else(|| NaiveDate::from_ymd_opt(year, 1, 1))
        .unwrap_or(NaiveDate::MIN);
    let to = query
        .to
        .or_else(|| NaiveDate::from_ymd_opt(year + 1, 1, 1))
        .unwrap_or(NaiveDate::MAX);
    let (from_ms, to_ms) = (day_start_ms(from), day_start_ms(to));
    let period = Period::new(
        DateTime::from_timestamp_millis(from_ms).unwrap_or_default(),
        DateTime::from_timestamp_millis(to_ms).unwrap_or_default(),
    )
    .map_err(|e| ApiError::BadRequest(format!("period: {e}")))?;
    Ok((from_ms, to_ms, period))
}

/// Both standards in both calibers; a caliber without users reports why instead.
#[derive(Debug, Serialize)]
struct Indices {
    period: Period,
    dlt836: Calibers<Dlt836Report>,
    ieee1366: Calibers<Ieee1366Report>,
}

#[derive(Debug, Serialize)]
struct Calibers<T> {
    low_voltage: Outcome<T>,
    medium_voltage: Outcome<T>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Outcome<T> {
    Report(T),
    Error { error: String },
}

fn outcome<T>(result: fudian_reliability::Result<T>) -> Outcome<T> {
    match result {
        Ok(report) => Outcome::Report(report),
        Err(error) => Outcome::Error {
            error: error.to_string(),
        },
    }
}

fn indices(
    records: &[Interruption],
    population: &Population,
    period: &Period,
    options: &Options,
    med: Option<&MedThreshold>,
) -> Indices {
    let ieee = |caliber| match med {
        Some(threshold) => ieee1366_with_major_events(
            records,
            population,
            period,
            caliber,
            options,
            threshold,
            &fudian_events::envelope::TIME_ZONE,
        ),
        None => ieee1366(records, population, period, caliber, options),
    };
    Indices {
        period: *period,
        dlt836: Calibers {
            low_voltage: outcome(dlt836(
                records,
                population,
                period,
                Caliber::LowVoltage,
                options,
            )),
            medium_voltage: outcome(dlt836(
                records,
                population,
                period,
                Caliber::MediumVoltage,
                options,
            )),
        },
        ieee1366: Calibers {
            low_voltage: outcome(ieee(Caliber::LowVoltage)),
            medium_voltage: outcome(ieee(Caliber::MediumVoltage)),
        },
    }
}

fn ieee_rows(
    rows: &mut Vec<[String; 6]>,
    caliber: &str,
    set: &str,
    area: &str,
    i: &Ieee1366Indices,
) {
    let mut push = |name: &str, value: Option<f64>| {
        rows.push([
            "ieee1366".into(),
            caliber.into(),
            area.into(),
            set.into(),
            name.into(),
            value.map(|v| v.to_string()).unwrap_or_default(),
        ]);
    };
    push("saifi", Some(i.saifi));
    push("saidi_minutes", Some(i.saidi_minutes));
    push("caidi_minutes", i.caidi_minutes);
    push("asai", Some(i.asai));
    push("maifi", Some(i.maifi));
    push("maifi_e", Some(i.maifi_e));
    for (n, value) in &i.cemi {
        push(&format!("cemi{n}"), Some(*value));
    }
}

/// One row per (standard, caliber, area, variant, index).
fn csv(indices: &Indices) -> Result<String, ApiError> {
    let mut rows: Vec<[String; 6]> = Vec::new();
    for (caliber, report) in [
        ("low_voltage", &indices.dlt836.low_voltage),
        ("medium_voltage", &indices.dlt836.medium_voltage),
    ] {
        let Outcome::Report(report) = report else {
            continue;
        };
        let areas = std::iter::once(("total".to_owned(), &report.total))
            .chain(report.by_area.iter().map(|(a, i)| (a.to_string(), i)));
        for (area, i) in areas {
            for (variant, v) in [
                ("1", &i.all),
                ("2", &i.excluding_external),
                ("3", &i.excluding_supply_shortage),
            ] {
                for (name, value) in [
                    ("user_hours", v.user_hours),
                    ("user_interruptions", v.user_interruptions as f64),
                    ("rs_percent", v.rs_percent),
                    ("aihc_hours", v.aihc_hours),
                    ("aitc", v.aitc),
                ] {
                    rows.push([
                        "dlt836".into(),
                        caliber.into(),
                        area.clone(),
                        variant.into(),
                        name.into(),
                        value.to_string(),
                    ]);
                }
            }
        }
    }
    for (caliber, report) in [
        ("low_voltage", &indices.ieee1366.low_voltage),
        ("medium_voltage", &indices.ieee1366.medium_voltage),
    ] {
        let Outcome::Report(report) = report else {
            continue;
        };
        ieee_rows(
            &mut rows,
            caliber,
            "all_days",
            "total",
            &report.all_days.total,
        );
        for (area, i) in &report.all_days.by_area {
            ieee_rows(&mut rows, caliber, "all_days", &area.to_string(), i);
        }
        if let Some(major) = &report.major_events {
            let set = &major.excluding_major_event_days;
            ieee_rows(&mut rows, caliber, "excluding_med", "total", &set.total);
            for (area, i) in &set.by_area {
                ieee_rows(&mut rows, caliber, "excluding_med", &area.to_string(), i);
            }
        }
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| ApiError::BadRequest(format!("csv: {e}"));
    writer
        .write_record(["standard", "caliber", "area", "variant", "index", "value"])
        .map_err(failed)?;
    for row in &rows {
        writer.write_record(row).map_err(failed)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ApiError::BadRequest(format!("csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| ApiError::BadRequest(format!("csv: {e}")))
}

fn respond(indices: &Indices, format: Format) -> Result<Response, ApiError> {
    Ok(match format {
        Format::Json => Json(json!(indices)).into_response(),
        Format::Csv => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            csv(indices)?,
        )
            .into_response(),
    })
}

pub async fn stored(
    State(planner): State<Arc<Planner>>,
    Query(query): Query<PeriodQuery>,
) -> Result<Response, ApiError> {
    let format = format_of(query.format.as_deref())?;
    let (from_ms, to_ms, period) = period_of(&query)?;
    let records = planner.interruptions(from_ms, to_ms).await?;
    let indices = indices(
        &records,
        planner.population(),
        &period,
        &Options::default(),
        None,
    );
    respond(&indices, format)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Posted {
    period: Period,
    population: Population,
    interruptions: Vec<Interruption>,
    #[serde(default)]
    options: Options,
    /// `date,saidi_minutes` lines of (at least) five years of daily SAIDI: the indices are
    /// then also given without Major Event Days (2.5β).
    #[serde(default)]
    daily_saidi_csv: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    format: Option<String>,
}

pub async fn posted(Query(query): Query<FormatQuery>, body: Bytes) -> Result<Response, ApiError> {
    let format = format_of(query.format.as_deref())?;
    let posted: Posted = parse(&body)?;
    let med = posted
        .daily_saidi_csv
        .as_deref()
        .map(MedThreshold::from_csv)
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("daily_saidi_csv: {e}")))?;
    let indices = indices(
        &posted.interruptions,
        &posted.population,
        &posted.period,
        &posted.options,
        med.as_ref(),
    );
    respond(&indices, format)
}

pub async fn frequent(
    State(planner): State<Arc<Planner>>,
    Query(query): Query<PeriodQuery>,
) -> Result<Json<Value>, ApiError> {
    let (from_ms, to_ms, period) = period_of(&query)?;
    let records = planner.interruptions(from_ms, to_ms).await?;
    let report = repeat_outages(
        &records,
        &period,
        &planner.config().repeat,
        &Options::default(),
    )
    .map_err(|e| ApiError::BadRequest(format!("repeat outages: {e}")))?;
    Ok(Json(json!({
        "period": period,
        "policy": planner.config().repeat,
        "findings": report.findings,
        "long_outages": report.long_outages,
    })))
}
