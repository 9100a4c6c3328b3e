//! The customer-facing answers: `GET /v1/lookup?account=...` (is there an outage at my
//! address, why, since when, the crew's progress, the estimated restoration time) and the
//! detail page `/n/{delivery id}` every notice links to. They show only the outage facts of
//! that account's own outages: no other customer's data, no names or numbers. Both are
//! rate limited per client address.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::response::Html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Api, client_ip, local_time};
use crate::runtime::Runtime;
use crate::service_error::ApiError;
use crate::store::{self, SubjectRow};

#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    account: Option<String>,
}

fn crew_text(status: Option<&str>) -> Option<&'static str> {
    Some(match status? {
        "assigned" => "已派单，抢修人员即将出发",
        "en_route" => "抢修人员正在赶往现场",
        "on_site" => "抢修人员已到达现场",
        "repaired" => "故障已修复，正在恢复送电",
        "closed" => "抢修已完成",
        _ => return None,
    })
}

fn outage_json(runtime: &Runtime, subject: &SubjectRow, since: i64) -> Value {
    json!({
        "reference": subject.id,
        "kind": subject.kind,
        "state": subject.state,
        "area": subject.area,
        "cause": subject.cause,
        "since": local_time(runtime, since),
        "started_at": local_time(runtime, subject.started_at),
        "estimated_restoration": subject.etr.map(|ms| local_time(runtime, ms)),
        "crew": {
            "status": subject.crew_status,
            "progress": crew_text(subject.crew_status.as_deref()),
            "note": subject.crew_note,
        },
    })
}

pub async fn lookup(
    State(api): State<Arc<Api>>,
    Query(query): Query<LookupQuery>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    api.limiter.check(client_ip(&request))?;
    let account = query
        .account
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("query parameter `account` is required".into()))?;
    let runtime = &api.runtime;
    if runtime.grid.customer_index(&account).is_none() {
        return Err(ApiError::NotFound(format!("unknown account `{account}`")));
    }
    let mut tx = runtime.store.begin().await?;
    let outages = store::outages_of_customer(&mut tx, &account).await?;
    tx.commit().await?;
    let items: Vec<Value> = outages
        .iter()
        .map(|(subject, since)| outage_json(runtime, subject, *since))
        .collect();
    Ok(Json(json!({
        "account": account,
        "out": !items.is_empty(),
        "outages": items,
    })))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn cn_time(runtime: &Runtime, ms: i64) -> String {
    crate::plan::from_millis(ms)
        .with_timezone(&runtime.config.rules.tz())
        .format("%Y年%-m月%-d日 %H:%M")
        .to_string()
}

/// The page a notice links to: the notice and the current facts of its outage.
pub async fn detail_page(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Html<String>, ApiError> {
    api.limiter.check(client_ip(&request))?;
    let runtime = &api.runtime;
    let mut tx = runtime.store.begin().await?;
    let notice = store::notice(&mut tx, &id).await?;
    let Some(notice) = notice else {
        return Err(ApiError::NotFound(format!("unknown notice `{id}`")));
    };
    let subject = store::subject(&mut tx, &notice.subject_id).await?;
    tx.commit().await?;
    let mut rows = Vec::new();
    let mut row = |label: &str, value: String| {
        rows.push(format!(
            "<tr><th>{label}</th><td>{}</td></tr>",
            escape(&value)
        ));
    };
    let title = match subject.as_ref().map(|s| s.kind.as_str()) {
        Some("planned") => "计划停电通知",
        _ => "停电信息",
    };
    if let Some(subject) = &subject {
        row("区域", subject.area.clone());
        let state = match subject.state.as_str() {
            "restored" | "completed" => "已恢复供电",
            "cancelled" => "已取消",
            "approved" => "计划停电",
            _ => "停电中",
        };
        row("状态", state.to_owned());
        if let Some(cause) = &subject.cause {
            row("原因", cause.clone());
        }
        row("开始时间", cn_time(runtime, subject.started_at));
        if let Some(etr) = subject.etr {
            let label = if subject.kind == "planned" {
                "计划结束时间"
            } else {
                "预计恢复时间"
            };
            row(label, cn_time(runtime, etr));
        }
        if let Some(progress) = crew_text(subject.crew_status.as_deref()) {
            row("抢修进展", progress.to_owned());
        }
        if let Some(ended) = subject.ended_at {
            row("结束时间", cn_time(runtime, ended));
        }
        row("编号", subject.id.clone());
    }
    if let Some(text) = &notice.content {
        row("通知内容", text.clone());
    }
    let html = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:sans-serif;margin:1.5em;max-width:40em}}\
         th{{text-align:left;padding-right:1em;color:#555;vertical-align:top}}td{{padding:.3em 0}}</style>\
         </head><body><h1>{title}</h1><table>{}</table>\
         <p>停电给您带来不便，敬请谅解。如有疑问请拨打95598。</p></body></html>",
        rows.concat()
    );
    Ok(Html(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
