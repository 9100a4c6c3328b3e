//! The notify service's HTTP API: notices and preferences (`notices`), provider delivery
//! receipts (`receipts`), the customer-facing lookup and detail pages (`lookup`), and the
//! hand-written OpenAPI document (`openapi.json`).

mod lookup;
mod notices;
mod receipts;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use axum::routing::get;

use crate::runtime::Runtime;
use crate::service_error::ApiError;

/// What the handlers share.
pub struct Api {
    pub runtime: Arc<Runtime>,
    limiter: Limiter,
}

/// Every route of the service; health routes are merged in by `run`.
pub fn router(runtime: Arc<Runtime>) -> Router {
    let per_minute = runtime.config.lookup_per_minute;
    let api = Arc::new(Api {
        runtime,
        limiter: Limiter::new(per_minute, Duration::from_secs(60)),
    });
    Router::new()
        .route("/v1/notices", get(notices::list))
        .route(
            "/v1/customers/{id}/preferences",
            get(notices::get_preferences).put(notices::put_preferences),
        )
        .route(
            "/v1/receipts/wechat",
            get(receipts::wechat_verify).post(receipts::wechat_event),
        )
        .route(
            "/v1/receipts/tencent",
            axum::routing::post(receipts::tencent),
        )
        .route("/v1/receipts/aliyun", axum::routing::post(receipts::aliyun))
        .route("/v1/lookup", get(lookup::lookup))
        .route("/n/{id}", get(lookup::detail_page))
        .route("/v1/notify/openapi.json", get(openapi))
        .with_state(api)
}

async fn openapi() -> ([(&'static str, &'static str); 1], &'static str) {
    (
        [("content-type", "application/json")],
        include_str!("openapi.json"),
    )
}

/// A fixed-window counter per client address: at most `limit` requests per window.
struct Limiter {
    limit: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn check(&self, client: IpAddr) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget idle clients now and then, so the map stays small.
        if clients.len() > 100_000 {
            let window = self.window;
            clients.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = clients.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(ApiError::TooManyRequests);
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The client's address: the connection's peer when the server records it, else the first
/// `X-Forwarded-For` hop (set by the reverse proxy in front), else unspecified (one shared
/// bucket).
fn client_ip<B>(request: &Request<B>) -> IpAddr {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        return peer.ip();
    }
    forwarded_for(request.headers()).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get("x-forwarded-for")?
        .to_str()
        .ok()?
        .split(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// RFC 3339 in the local zone, for the API.
fn local_time(runtime: &Runtime, ms: i64) -> String {
    crate::plan::from_millis(ms)
        .with_timezone(&runtime.config.rules.tz())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_refuses_the_request_over_the_limit_per_client() {
        let limiter = Limiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        assert!(matches!(limiter.check(a), Err(ApiError::TooManyRequests)));
        assert!(limiter.check(b).is_ok());
    }
}
