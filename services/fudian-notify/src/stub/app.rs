//! The app gateway stub: receives the signed webhook (`webhook-id`, `webhook-timestamp`
//! within 5 minutes, `webhook-signature` verified with the shared secret), checks the
//! JSON body, ignores a redelivered `webhook-id`, answers 204.

use std::collections::HashSet;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

use super::{AcceptedMessage, Recorder, Stub, delay, secret, stub_http_settings};
use crate::providers::app_push::{WebhookSecret, verify};
use crate::send::AppSenderConfig;

/// The gateway the stub plays.
#[derive(Debug, Clone)]
pub struct AppStubConfig {
    /// The shared `whsec_` secret.
    pub secret: String,
}

impl Default for AppStubConfig {
    fn default() -> Self {
        Self {
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        }
    }
}

struct AppState {
    config: AppStubConfig,
    key: WebhookSecret,
    recorder: Recorder,
    seen: Mutex<HashSet<String>>,
}

impl AppState {
    fn refuse(&self, status: StatusCode, reason: &str) -> (StatusCode, String) {
        self.recorder.reject(status.as_u16().to_string(), reason);
        (status, reason.to_owned())
    }
}

/// The running app gateway stub. Its endpoint is `<base_url>/push`.
pub struct AppStub {
    stub: Stub,
    state: Arc<AppState>,
}

impl Deref for AppStub {
    type Target = Stub;
    fn deref(&self) -> &Stub {
        &self.stub
    }
}

impl AppStub {
    /// Starts it on a free port.
    pub async fn start(config: AppStubConfig) -> std::io::Result<Self> {
        let key = WebhookSecret::parse(&config.secret)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        let recorder = Recorder::default();
        let state = Arc::new(AppState {
            config,
            key,
            recorder: recorder.clone(),
            seen: Mutex::new(HashSet::new()),
        });
        let router = Router::new()
            .route("/push", post(receive))
            .with_state(state.clone());
        Ok(Self {
            stub: Stub::serve(router, &recorder).await?,
            state,
        })
    }

    /// A sender configuration for this stub.
    pub fn sender_config(&self) -> AppSenderConfig {
        AppSenderConfig {
            endpoint: format!("{}/push", self.base_url()),
            secret: secret(&self.state.config.secret),
            rate_limit: None,
            http: stub_http_settings(),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

fn status_of(code: &str) -> StatusCode {
    code.parse::<u16>()
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let admission = state.recorder.admit();
    delay(&admission).await;
    if !header(&headers, "content-type").starts_with("application/json") {
        return state.refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type must be application/json",
        );
    }
    let id = header(&headers, "webhook-id");
    let Ok(timestamp) = header(&headers, "webhook-timestamp").parse::<i64>() else {
        return state.refuse(StatusCode::BAD_REQUEST, "webhook-timestamp missing");
    };
    if id.is_empty() {
        return state.refuse(StatusCode::BAD_REQUEST, "webhook-id missing");
    }
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
        return state.refuse(
            StatusCode::UNAUTHORIZED,
            "webhook-timestamp too far from now",
        );
    }
    if !verify(
        &state.key,
        id,
        timestamp,
        &body,
        header(&headers, "webhook-signature"),
    ) {
        return state.refuse(
            StatusCode::UNAUTHORIZED,
            "webhook-signature does not verify",
        );
    }
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return state.refuse(StatusCode::BAD_REQUEST, "body is not json");
    };
    let kind = message["type"].as_str().unwrap_or_default();
    let Some(user_id) = message["user_id"].as_str().filter(|u| !u.is_empty()) else {
        return state.refuse(StatusCode::BAD_REQUEST, "user_id missing");
    };
    if !kind.starts_with("notice.") || !message["data"].is_object() {
        return state.refuse(StatusCode::UNPROCESSABLE_ENTITY, "type or data invalid");
    }
    if let Some(code) = admission.fail_with {
        return state.refuse(status_of(&code), "injected failure");
    }
    if admission.rate_limited {
        return state.refuse(StatusCode::TOO_MANY_REQUESTS, "rate limited");
    }
    if let Some(code) = state.recorder.address_fault(user_id) {
        return state.refuse(status_of(&code), "injected failure for this user");
    }
    let fresh = state
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id.to_owned());
    if fresh {
        state.recorder.record(AcceptedMessage {
            provider: "app",
            address: user_id.to_owned(),
            message_id: id.to_owned(),
            client_id: id.to_owned(),
            template_id: kind.to_owned(),
            content: message,
        });
    }
    (StatusCode::NO_CONTENT, String::new())
}
