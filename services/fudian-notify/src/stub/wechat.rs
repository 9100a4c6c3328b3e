//! The WeChat stub: `POST /cgi-bin/stable_token` and `POST /cgi-bin/message/template/send`
//! as documented: stable tokens (the current one is returned until it expires or is
//! invalidated), 40001/42001/41001 for bad tokens, the 2023 field rules (47003), template
//! ids (40037), `client_msg_id` de-duplication per openid for 10 minutes.

use std::collections::{BTreeSet, HashMap};
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{AcceptedMessage, Recorder, Stub, delay, secret, stub_http_settings, template_ids};
use crate::providers::wechat::{STABLE_TOKEN_PATH, TEMPLATE_SEND_PATH, check_field_value};
use crate::send::WechatSenderConfig;

const DEDUP_WINDOW: Duration = Duration::from_secs(600);

/// The account the stub plays.
#[derive(Debug, Clone)]
pub struct WechatStubConfig {
    /// AppID.
    pub app_id: String,
    /// AppSecret.
    pub app_secret: String,
    /// Template ids the account has.
    pub templates: BTreeSet<String>,
    /// `expires_in` of issued tokens.
    pub token_ttl_secs: u32,
}

impl Default for WechatStubConfig {
    fn default() -> Self {
        Self {
            app_id: "wx6f3c2a1b0e9d8c7f".into(),
            app_secret: "stub-app-secret".into(),
            templates: template_ids("wechat").into_values().collect(),
            token_ttl_secs: 7200,
        }
    }
}

#[derive(Default)]
struct Tokens {
    current: Option<(String, Instant)>,
    /// Every token ever issued, with its expiry; invalidated ones are removed.
    valid: HashMap<String, Instant>,
    issued: u64,
    fetches: u64,
    force_refreshes: u64,
    expire_current_on_next_send: bool,
    next_msgid: i64,
    dedup: HashMap<(String, String), (i64, Instant)>,
}

struct WechatState {
    config: WechatStubConfig,
    recorder: Recorder,
    tokens: Mutex<Tokens>,
}

impl WechatState {
    fn tokens(&self) -> std::sync::MutexGuard<'_, Tokens> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, errcode: i64, errmsg: &str) -> Json<Value> {
        self.recorder.reject(errcode.to_string(), errmsg);
        Json(json!({"errcode": errcode, "errmsg": errmsg}))
    }
}

/// The running WeChat stub.
pub struct WechatStub {
    stub: Stub,
    state: Arc<WechatState>,
}

impl Deref for WechatStub {
    type Target = Stub;
    fn deref(&self) -> &Stub {
        &self.stub
    }
}

impl WechatStub {
    /// Starts it on a free port.
    pub async fn start(config: WechatStubConfig) -> std::io::Result<Self> {
        let recorder = Recorder::default();
        let state = Arc::new(WechatState {
            config,
            recorder: recorder.clone(),
            tokens: Mutex::new(Tokens {
                next_msgid: 200_228_332,
                ..Tokens::default()
            }),
        });
        let router = Router::new()
            .route(STABLE_TOKEN_PATH, post(stable_token))
            .route(TEMPLATE_SEND_PATH, post(template_send))
            .with_state(state.clone());
        Ok(Self {
            stub: Stub::serve(router, &recorder).await?,
            state,
        })
    }

    /// A sender configuration for this stub.
    pub fn sender_config(&self) -> WechatSenderConfig {
        WechatSenderConfig {
            endpoint: self.base_url(),
            app_id: self.state.config.app_id.clone(),
            app_secret: secret(&self.state.config.app_secret),
            templates: template_ids("wechat"),
            rate_limit: None,
            http: stub_http_settings(),
        }
    }

    /// Calls of `stable_token` that returned a token or an error.
    pub fn token_requests(&self) -> u64 {
        self.state.tokens().fetches
    }

    /// Tokens issued (a fetch while the current token is valid returns it again).
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens().issued
    }

    /// Calls with `force_refresh: true` (fudian must never make one).
    pub fn force_refreshes(&self) -> u64 {
        self.state.tokens().force_refreshes
    }

    /// Every token issued so far expires now: sends with one get 42001 and the next
    /// `stable_token` call issues a new token.
    pub fn expire_tokens_now(&self) {
        let mut tokens = self.state.tokens();
        let now = Instant::now();
        for expiry in tokens.valid.values_mut() {
            *expiry = now;
        }
        if let Some((_, expiry)) = &mut tokens.current {
            *expiry = now;
        }
    }

    /// The next send invalidates the current token and gets 40001, as when another
    /// party reset the token; later sends with it get 40001 too.
    pub fn expire_token_once(&self) {
        self.state.tokens().expire_current_on_next_send = true;
    }
}

async fn stable_token(
    State(state): State<Arc<WechatState>>,
    headers: HeaderMap,
    body: String,
) -> Json<Value> {
    let admission = state.recorder.admit();
    delay(&admission).await;
    state.tokens().fetches += 1;
    if !is_json(&headers) {
        return state.error(
            47001,
            "data format error, content-type must be application/json",
        );
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return state.error(47001, "data format error");
    };
    if request["grant_type"] != "client_credential" {
        return state.error(40002, "invalid grant_type");
    }
    if request["appid"] != state.config.app_id.as_str() {
        return state.error(40013, "invalid appid");
    }
    if request["secret"] != state.config.app_secret.as_str() {
        return state.error(40125, "invalid appsecret");
    }
    let force = match &request["force_refresh"] {
        Value::Null => false,
        Value::Bool(force) => *force,
        _ => return state.error(47001, "force_refresh must be a boolean"),
    };
    if let Some(code) = admission.fail_with {
        return state.error(code.parse().unwrap_or(-1), "injected failure");
    }
    let mut tokens = state.tokens();
    if force {
        tokens.force_refreshes += 1;
    }
    let now = Instant::now();
    let reusable = tokens
        .current
        .as_ref()
        .filter(|(token, expires)| *expires > now && !force && tokens.valid.contains_key(token))
        .cloned();
    let (token, expires) = match reusable {
        Some(current) => current,
        None => {
            tokens.issued += 1;
            let token = format!(
                "stub_token_{}_{}",
                tokens.issued,
                uuid::Uuid::now_v7().simple()
            );
            let expires = now + Duration::from_secs(u64::from(state.config.token_ttl_secs));
            tokens.valid.insert(token.clone(), expires);
            tokens.current = Some((token.clone(), expires));
            (token, expires)
        }
    };
    let expires_in = expires.saturating_duration_since(now).as_secs();
    Json(json!({"access_token": token, "expires_in": expires_in}))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().starts_with("application/json"))
}

async fn template_send(
    State(state): State<Arc<WechatState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Json<Value> {
    let admission = state.recorder.admit();
    delay(&admission).await;
    let Some(token) = query.get("access_token").filter(|t| !t.is_empty()) else {
        return state.error(41001, "access_token missing");
    };
    {
        let mut tokens = state.tokens();
        if tokens.expire_current_on_next_send {
            tokens.expire_current_on_next_send = false;
            if let Some((current, _)) = tokens.current.take() {
                tokens.valid.remove(&current);
            }
        }
        match tokens.valid.get(token) {
            None => {
                drop(tokens);
                return state.error(
                    40001,
                    "invalid credential, access_token is invalid or not latest",
                );
            }
            Some(expires) if *expires <= Instant::now() => {
                drop(tokens);
                return state.error(42001, "access_token expired");
            }
            Some(_) => {}
        }
    }
    if !is_json(&headers) {
        return state.error(
            47001,
            "data format error, content-type must be application/json",
        );
    }
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return state.error(47001, "data format error");
    };
    let Some(openid) = message["touser"].as_str().filter(|t| !t.is_empty()) else {
        return state.error(40003, "invalid openid");
    };
    let Some(template_id) = message["template_id"].as_str() else {
        return state.error(40037, "invalid template_id");
    };
    if !state.config.templates.contains(template_id) {
        return state.error(40037, "invalid template_id");
    }
    if !matches!(message["url"], Value::Null | Value::String(_)) {
        return state.error(47003, "argument invalid! url");
    }
    let Some(data) = message["data"].as_object().filter(|d| !d.is_empty()) else {
        return state.error(47003, "argument invalid! data is empty");
    };
    for (field, value) in data {
        let Some(text) = value["value"].as_str() else {
            return state.error(
                47003,
                &format!("argument invalid! data.{field}.value missing"),
            );
        };
        if let Err(problem) = check_field_value(text) {
            return state.error(
                47003,
                &format!("argument invalid! data.{field}.value {problem}"),
            );
        }
    }
    let client_msg_id = message["client_msg_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if let Some(code) = admission.fail_with {
        return state.error(code.parse().unwrap_or(-1), "injected failure");
    }
    if admission.rate_limited {
        return state.error(
            45011,
            "api minute-quota reach limit, mustslower retry next minute",
        );
    }
    if let Some(code) = state.recorder.address_fault(openid) {
        return state.error(
            code.parse().unwrap_or(-1),
            "injected failure for this openid",
        );
    }
    let now = Instant::now();
    let msgid = {
        let mut tokens = state.tokens();
        let key = (openid.to_owned(), client_msg_id.clone());
        if !client_msg_id.is_empty()
            && let Some((msgid, at)) = tokens.dedup.get(&key)
            && now.duration_since(*at) < DEDUP_WINDOW
        {
            // A repeat within 10 minutes is dropped: same answer, nothing new sent.
            return Json(json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}));
        }
        tokens.next_msgid += 1;
        let msgid = tokens.next_msgid;
        if !client_msg_id.is_empty() {
            tokens.dedup.insert(key, (msgid, now));
        }
        msgid
    };
    state.recorder.record(AcceptedMessage {
        provider: "wechat",
        address: openid.to_owned(),
        message_id: msgid.to_string(),
        client_id: client_msg_id,
        template_id: template_id.to_owned(),
        content: Value::Object(data.clone()),
    });
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
}
