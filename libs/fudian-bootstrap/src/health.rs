//! `GET /healthz` (the process answers), `GET /readyz` (every dependency answers) and
//! `GET /metrics` (Prometheus text), the same on every service.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::BootstrapError;

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type Check = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// Named readiness checks, e.g. `store` (a `SELECT 1`) and `bus` (the connection is up).
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(String, Check)>,
}

impl Readiness {
    /// Adds a check; it should answer quickly (it runs on every `/readyz`).
    pub fn with_check<F, Fut>(mut self, name: &str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name.to_owned(), Arc::new(move || Box::pin(check()))));
        self
    }

    /// Runs every check; returns the failures as `name: reason`.
    pub async fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for (name, check) in &self.checks {
            if let Err(reason) = check().await {
                failures.push(format!("{name}: {reason}"));
            }
        }
        failures
    }
}

/// The process's Prometheus recorder: installed on the first call, the same handle after
/// (a process has one global recorder, and both `fudian up` and a service served alone
/// want it).
pub fn install_metrics() -> Result<PrometheusHandle, BootstrapError> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    // Two first calls at once: one installs, the other fails to and reports it; a caller
    // that lost the race can call again.
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| BootstrapError::Metrics(e.to_string()))?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

#[derive(Clone)]
struct HealthState {
    readiness: Readiness,
    metrics: Option<PrometheusHandle>,
}

/// The three routes; merge the result into a service's router.
pub fn router(readiness: Readiness, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(HealthState { readiness, metrics })
}

/// Serves one service on its own (the `run` of a service crate): `api` with `/healthz`,
/// `/readyz` (`readiness`) and `/metrics` (the process's recorder), with the callers' addresses available to
/// handlers (per-IP limits), until `shutdown`.
pub async fn serve(
    api: Router,
    readiness: Readiness,
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    // A process whose recorder someone else installed (not through here) serves no
    // metrics rather than failing.
    let metrics = install_metrics()
        .inspect_err(|error| tracing::warn!(%error, "no /metrics: the recorder is not ours"))
        .ok();
    let app = api.merge(router(readiness, metrics));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}

async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    let failures = state.readiness.failures().await;
    if failures.is_empty() {
        (StatusCode::OK, "ready".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, failures.join("\n"))
    }
}

async fn metrics_text(State(state): State<HealthState>) -> impl IntoResponse {
    match state.metrics {
        Some(handle) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            handle.render(),
        ),
        None => (
            StatusCode::NOT_FOUND,
            [("content-type", "text/plain; version=0.0.4")],
            "metrics recorder not installed".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_status(router: Router, path: &str) -> (StatusCode, String) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn readyz_names_the_dependency_that_is_down() {
        let readiness = Readiness::default()
            .with_check("store", || async { Ok(()) })
            .with_check("bus", || async { Err("connection refused".to_owned()) });
        let (status, body) = get_status(router(readiness, None), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "bus: connection refused");
    }

    #[tokio::test]
    async fn healthz_and_readyz_answer_ok_when_everything_is_up() {
        let readiness = Readiness::default().with_check("store", || async { Ok(()) });
        let app = router(readiness, None);
        assert_eq!(get_status(app.clone(), "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get_status(app, "/readyz").await,
            (StatusCode::OK, "ready".to_owned())
        );
    }

    #[tokio::test]
    async fn the_metrics_recorder_is_installed_once_and_shared() {
        let first = install_metrics().unwrap();
        let second = install_metrics().unwrap();
        metrics::counter!("fudian_health_test_total").increment(3);
        for handle in [first, second] {
            let (status, body) =
                get_status(router(Readiness::default(), Some(handle)), "/metrics").await;
            assert_eq!(status, StatusCode::OK);
            assert!(body.contains("fudian_health_test_total 3"), "{body}");
        }
    }
}
