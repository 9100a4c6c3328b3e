//! `GET /v1/planned/budgets` (each area class's budget, consumption and what is left) and
//! `GET /v1/planned/reports/weekly` (the provincial-style weekly consumption report:
//! target, consumed, this week, year on year, repeat outages).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use chrono::{Datelike, Days, NaiveDate};
use fudian_events::envelope::now_shanghai;
use fudian_reliability::{AlertLevel, Options, Period, repeat_outages};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::service::{Planner, day_start_ms, year_bounds_ms};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearQuery {
    year: Option<i32>,
}

pub async fn budgets(
    State(planner): State<Arc<Planner>>,
    Query(query): Query<YearQuery>,
) -> Result<Json<Value>, ApiError> {
    let year = query.year.unwrap_or_else(|| now_shanghai().year());
    let areas = planner.budgets(year).await?;
    let total: f64 = areas.iter().map(|a| a.budget.total).sum();
    let consumed: f64 = areas.iter().map(|a| a.status.consumed).sum();
    Ok(Json(json!({
        "year": year,
        "policy": planner.config().budget,
        "areas": areas,
        "total": { "budget": total, "consumed": consumed, "remaining": total - consumed },
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekQuery {
    /// Any day of the week to report (default: today, Asia/Shanghai).
    date: Option<NaiveDate>,
}

fn hours_by_area(
    records: &[fudian_reliability::Interruption],
    from_ms: i64,
    to_ms: i64,
) -> BTreeMap<String, f64> {
    let mut hours = BTreeMap::new();
    for record in records {
        let start = record.start.timestamp_millis();
        if start >= from_ms && start < to_ms {
            *hours.entry(record.area_class.to_string()).or_insert(0.0) +=
                (record.end - record.start).num_milliseconds() as f64 / 3_600_000.0;
        }
    }
    hours
}

pub async fn weekly(
    State(planner): State<Arc<Planner>>,
    Query(query): Query<WeekQuery>,
) -> Result<Json<Value>, ApiError> {
    let date = query.date.unwrap_or_else(|| now_shanghai().date_naive());
    let monday = date - Days::new(u64::from(date.weekday().num_days_from_monday()));
    let next_monday = monday + Days::new(7);
    let year = date.year();
    let (year_start, _) = year_bounds_ms(year);
    let (last_year_start, _) = year_bounds_ms(year - 1);
    let week = (day_start_ms(monday), day_start_ms(next_monday));
    let to_date = day_start_ms(next_monday);
    let last_year_to_date = date
        .with_year(year - 1)
        .map_or(last_year_start, |d| day_start_ms(d + Days::new(1)));
    let records = planner.interruptions(last_year_start, to_date).await?;
    let this_week = hours_by_area(&records, week.0, week.1);
    let year_to_date = hours_by_area(&records, year_start, to_date);
    let last_year = hours_by_area(&records, last_year_start, last_year_to_date);
    let budgets = planner.budgets(year).await?;
    let this_year: Vec<_> = records
        .iter()
        .filter(|r| r.start.timestamp_millis() >= year_start)
        .cloned()
        .collect();
    let period = Period::new(
        chrono::DateTime::from_timestamp_millis(year_start).unwrap_or_default(),
        chrono::DateTime::from_timestamp_millis(to_date).unwrap_or_default(),
    )
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let repeat = repeat_outages(
        &this_year,
        &period,
        &planner.config().repeat,
        &Options::default(),
    )
    .map_err(|e| ApiError::BadRequest(format!("repeat outages: {e}")))?;
    let areas: Vec<Value> = budgets
        .iter()
        .map(|b| {
            let ytd = year_to_date.get(&b.area).copied().unwrap_or(0.0);
            let last = last_year.get(&b.area).copied().unwrap_or(0.0);
            let findings = repeat
                .findings
                .iter()
                .filter(|f| f.area_class.to_string() == b.area);
            let (mut warnings, mut breaches) = (0, 0);
            for finding in findings {
                match finding.level {
                    AlertLevel::Warning => warnings += 1,
                    AlertLevel::Breach => breaches += 1,
                }
            }
            json!({
                "area": b.area,
                "users": b.users,
                "target_customer_hours": b.budget.total,
                "target_hours_per_customer": b.budget.total / (b.users.max(1) as f64),
                "planned_budget": b.budget.planned,
                "fault_budget": b.budget.fault,
                "consumed": b.status.consumed,
                "consumed_share": if b.budget.total > 0.0 { b.status.consumed / b.budget.total } else { 0.0 },
                "remaining": b.status.remaining,
                "scheduled_planned": b.consumption.scheduled_planned,
                "this_week_customer_hours": this_week.get(&b.area).copied().unwrap_or(0.0),
                "year_to_date_customer_hours": ytd,
                "last_year_same_period_customer_hours": last,
                "year_on_year_change": if last > 0.0 { Some((ytd - last) / last) } else { None },
                "repeat_outage_warnings": warnings,
                "repeat_outage_breaches": breaches,
            })
        })
        .collect();
    Ok(Json(json!({
        "week": { "from": monday, "to": next_monday - Days::new(1) },
        "year": year,
        "areas": areas,
        "long_outages": repeat.long_outages.len(),
    })))
}
