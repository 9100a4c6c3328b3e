//! `/v1/planned/jobs`: create (assessed at once), list, detail, the assessment, and the
//! state machine: assess again, approve (budget gate, override with a reason), reject,
//! schedule, start, complete, cancel.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::parse;
use crate::core::assess::Assessment;
use crate::core::job::JobState;
use crate::error::ApiError;
use crate::service::{JobRecord, NewJob, Planner};

/// The assessment as the API shows it: the numbers, the switches of the plan and the
/// customer ids (not the grid's internal indices).
pub fn assessment_view(planner: &Planner, assessment: &Assessment) -> Value {
    let mut view = serde_json::to_value(assessment).unwrap_or(Value::Null);
    if let Some(object) = view.as_object_mut() {
        object.remove("customers");
        object.remove("customers_without_transfer");
        object.insert(
            "customer_ids".into(),
            json!(planner.customer_ids(&assessment.customers)),
        );
        object.insert(
            "switches".into(),
            json!({
                "open": assessment.open_switches,
                "close": assessment.close_switches,
            }),
        );
    }
    view
}

fn job_view(planner: &Planner, record: &JobRecord) -> Value {
    let request = &record.job.request;
    json!({
        "id": request.id,
        "state": record.job.state,
        "area": request.area,
        "work": record.description,
        "kind": request.work,
        "elements": request.elements,
        "duration_hours": request.duration_hours,
        "earliest": request.earliest,
        "latest": request.latest,
        "crew": request.crew,
        "live_line_possible": request.live_line_possible,
        "requester": request.requester,
        "scheduled_on": record.job.scheduled_on,
        "approved_customer_hours": record.job.approved_customer_hours,
        "budget": record.budget,
        "revision": record.revision,
        "window": record.window,
        "history": record.job.history,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "completed_at": record.completed_at,
        "assessment": record.assessment.as_ref().map(|a| assessment_view(planner, a)),
    })
}

pub async fn create(
    State(planner): State<Arc<Planner>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let new: NewJob = parse(&body)?;
    let record = planner.create(new).await?;
    Ok((StatusCode::CREATED, Json(job_view(&planner, &record))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
}

pub async fn list(
    State(planner): State<Arc<Planner>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let state = match query.state {
        None => None,
        Some(text) => Some(
            serde_json::from_value::<JobState>(Value::String(text.clone())).map_err(|_| {
                ApiError::BadRequest(format!(
                    "state `{text}` is not one of draft, assessed, approved, rejected, scheduled, started, completed, cancelled"
                ))
            })?,
        ),
    };
    let records = planner.list(state).await?;
    let items: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut view = job_view(&planner, r);
            // Lists stay small: the assessment is one call away.
            if let Some(object) = view.as_object_mut() {
                let summary = r.assessment.as_ref().map(|a| {
                    json!({
                        "customers_out": a.customers_out,
                        "customers_out_with_transfer": a.customers_out_with_transfer,
                        "charged_customer_hours": a.charged_customer_hours,
                    })
                });
                object.insert("assessment".into(), json!(summary));
                object.remove("history");
            }
            view
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

pub async fn detail(
    State(planner): State<Arc<Planner>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = planner.get(&id).await?;
    Ok(Json(job_view(&planner, &record)))
}

pub async fn assessment(
    State(planner): State<Arc<Planner>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = planner.get(&id).await?;
    let assessment = record
        .assessment
        .as_ref()
        .ok_or_else(|| ApiError::NotFound(format!("job `{id}` has no assessment")))?;
    Ok(Json(assessment_view(&planner, assessment)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssessBody {
    decline_transfer_reason: Option<String>,
}

pub async fn assess(
    State(planner): State<Arc<Planner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: AssessBody = parse(&body)?;
    let record = planner.reassess(&id, body.decline_transfer_reason).await?;
    Ok(Json(job_view(&planner, &record)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    override_reason: Option<String>,
}

pub async fn approve(
    State(planner): State<Arc<Planner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ApproveBody = parse(&body)?;
    let record = planner
        .approve(&id, body.override_reason.as_deref())
        .await?;
    Ok(Json(job_view(&planner, &record)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: String,
}

pub async fn reject(
    State(planner): State<Arc<Planner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ReasonBody = parse(&body)?;
    let record = planner.reject(&id, &body.reason).await?;
    Ok(Json(job_view(&planner, &record)))
}

pub async fn cancel(
    State(planner): State<Arc<Planner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ReasonBody = parse(&body)?;
    let record = planner.cancel(&id, &body.reason).await?;
    Ok(Json(job_view(&planner, &record)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    date: NaiveDate,
}

pub async fn schedule(
    State(planner): State<Arc<Planner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ScheduleBody = parse(&body)?;
    let record = planner.schedule(&id, body.date).await?;
    Ok(Json(job_view(&planner, &record)))
}

pub async fn start(
    State(planner): State<Arc<Planner>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = planner.start(&id).await?;
    Ok(Json(job_view(&planner, &record)))
}

pub async fn complete(
    State(planner): State<Arc<Planner>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = planner.complete(&id).await?;
    Ok(Json(job_view(&planner, &record)))
}
