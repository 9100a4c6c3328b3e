//! The provider clients (`send`) against the local stubs (`stub`): success, batching,
//! the WeChat token refresh single-flight, every injected fault class, the rate limiter,
//! SMS failover, and the stubs refusing wrongly signed requests.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fudian_notify::ErrorClass;
use fudian_notify::providers::{HttpRequest, tencent_sms, wechat};
use fudian_notify::send::{
    self, AliyunSmsSender, AppPushSender, FailoverSender, Outgoing, ProvidersConfig, RateLimit,
    Rendered, SendOutcome, Sender, TencentSmsSender, WechatSender,
};
use fudian_notify::stub::{AliyunStub, AppStub, Stubs, TencentStub, WechatStub};
use fudian_notify::templates::{AppNotice, Channel, NoticeKind, SmsNotice, WechatNotice};
use secrecy::SecretString;

const OUTAGE_TEXT: &str = "尊敬的客户您好，东营市东城区西四路因线路故障于14点停电，我们正在全力抢修，预计16点30分恢复供电。";

fn wechat_out(n: usize) -> Outgoing {
    Outgoing {
        delivery_id: format!("dlv_w{n}"),
        customer_id: format!("c{n}"),
        channel: Channel::Wechat,
        address: format!("oia2TjuEGTNoeX76QEjQNr{n:06}"),
        kind: NoticeKind::OutageDetected,
        content: Rendered::Wechat(WechatNotice {
            fields: BTreeMap::from([
                ("thing1".to_owned(), "东营市东城区西四路".to_owned()),
                ("time2".to_owned(), "2026年11月26日 14:00".to_owned()),
                ("thing4".to_owned(), "预计11月26日 16:30恢复".to_owned()),
            ]),
            url: Some(format!("https://fudian.example.cn/n/{n}")),
        }),
    }
}

fn phone(n: usize) -> String {
    format!("+86137{n:08}")
}

fn sms_out(n: usize, text: &str) -> Outgoing {
    Outgoing {
        delivery_id: format!("dlv_s{n}"),
        customer_id: format!("c{n}"),
        channel: Channel::Sms,
        address: phone(n),
        kind: NoticeKind::OutageDetected,
        content: Rendered::Sms(SmsNotice { text: text.into() }),
    }
}

fn app_out(n: usize) -> Outgoing {
    Outgoing {
        delivery_id: format!("dlv_a{n}"),
        customer_id: format!("c{n}"),
        channel: Channel::App,
        address: format!("user-{n}"),
        kind: NoticeKind::Restored,
        content: Rendered::App(AppNotice {
            payload: serde_json::json!({"title": "恢复供电通知", "area": "东营市东城区西四路"}),
        }),
    }
}

fn failure(outcome: &SendOutcome) -> (String, ErrorClass) {
    match outcome {
        SendOutcome::Failed(failure) => (failure.code.clone(), failure.class),
        SendOutcome::Accepted { .. } => panic!("expected a failure, got {outcome:?}"),
    }
}

fn message_id(outcome: &SendOutcome) -> String {
    match outcome {
        SendOutcome::Accepted {
            provider_message_id,
            ..
        } => provider_message_id.clone().unwrap_or_default(),
        SendOutcome::Failed(failure) => panic!("expected acceptance, got {failure:?}"),
    }
}

const GENEROUS: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- WeChat

#[tokio::test]
async fn wechat_sends_template_messages_with_our_delivery_id() {
    let stub = WechatStub::start(Default::default()).await.unwrap();
    let sender = WechatSender::new(&stub.sender_config()).unwrap();
    let batch: Vec<Outgoing> = (0..5).map(wechat_out).collect();
    let outcomes = sender.send_batch(&batch).await;
    assert_eq!(outcomes.len(), 5);
    let ids: HashSet<String> = outcomes.iter().map(message_id).collect();
    assert_eq!(ids.len(), 5, "one msgid per message");
    assert_eq!(stub.accepted_count(), 5);
    let got = stub.accepted_for(&batch[3].address);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].client_id, "dlv_w3");
    assert_eq!(got[0].template_id, "tpl_outage_detected");
    assert_eq!(got[0].content["thing1"]["value"], "东营市东城区西四路");
    assert_eq!(stub.token_requests(), 1, "the token is cached");
    assert_eq!(sender.token_fetches(), 1);
    // client_msg_id: a repeat within 10 minutes is not sent again.
    let again = sender.send_batch(&batch[..1]).await;
    assert_eq!(message_id(&again[0]), message_id(&outcomes[0]));
    assert_eq!(stub.accepted_count(), 5);
}

#[tokio::test]
async fn wechat_token_refresh_is_single_flight_under_concurrency() {
    let stub = WechatStub::start(Default::default()).await.unwrap();
    let sender = Arc::new(WechatSender::new(&stub.sender_config()).unwrap());
    // Cold cache: 64 concurrent senders, one token fetch.
    let first: Vec<Outgoing> = (0..64).map(wechat_out).collect();
    let outcomes =
        futures::future::join_all(first.chunks(1).map(|one| sender.send_batch(one))).await;
    assert!(outcomes.iter().flatten().all(SendOutcome::is_accepted));
    assert_eq!(stub.token_requests(), 1);
    // The token is reset behind our back: every in-flight send gets 40001, one refresh.
    stub.expire_token_once();
    let second: Vec<Outgoing> = (100..164).map(wechat_out).collect();
    let outcomes =
        futures::future::join_all(second.chunks(1).map(|one| sender.send_batch(one))).await;
    for outcome in outcomes.iter().flatten() {
        assert!(outcome.is_accepted(), "{outcome:?}");
    }
    assert_eq!(stub.token_requests(), 2, "exactly one refresh");
    assert_eq!(sender.token_fetches(), 2);
    assert_eq!(stub.tokens_issued(), 2);
    assert_eq!(stub.force_refreshes(), 0, "never force_refresh");
    assert_eq!(stub.accepted_count(), 128);
    let rejected_40001 = stub
        .rejections()
        .iter()
        .filter(|r| r.code == "40001")
        .count();
    assert!(rejected_40001 >= 1, "the stub refused the old token");
}

#[tokio::test]
async fn wechat_expired_token_42001_is_refreshed_once_and_the_send_retried() {
    let stub = WechatStub::start(Default::default()).await.unwrap();
    let sender = WechatSender::new(&stub.sender_config()).unwrap();
    assert!(sender.send_batch(&[wechat_out(0)]).await[0].is_accepted());
    stub.expire_tokens_now();
    let outcomes = sender.send_batch(&[wechat_out(1), wechat_out(2)]).await;
    assert!(
        outcomes.iter().all(SendOutcome::is_accepted),
        "{outcomes:?}"
    );
    assert!(stub.rejections().iter().any(|r| r.code == "42001"));
    assert_eq!(stub.token_requests(), 2);
    assert_eq!(stub.tokens_issued(), 2);
    // A token the stub refuses again right after the refresh is not refreshed a second
    // time: the send fails with the token class for the service to retry later.
    stub.fail_next(2, "40001");
    let outcome = &sender.send_batch(&[wechat_out(3)]).await[0];
    assert_eq!(
        failure(outcome),
        ("40001".into(), ErrorClass::RefreshTokenAndRetryOnce)
    );
    assert_eq!(stub.token_requests(), 3, "one refresh, not a loop");
}

#[tokio::test]
async fn wechat_faults_map_to_their_classes() {
    let stub = WechatStub::start(Default::default()).await.unwrap();
    let sender = WechatSender::new(&stub.sender_config()).unwrap();
    // Not following the account: permanent for this recipient (fall back to SMS).
    stub.fail_address(wechat_out(1).address, "43004");
    let outcomes = sender.send_batch(&[wechat_out(0), wechat_out(1)]).await;
    assert!(outcomes[0].is_accepted());
    assert_eq!(
        failure(&outcomes[1]),
        ("43004".into(), ErrorClass::PermanentForRecipient)
    );
    // System busy.
    stub.fail_next(1, "-1");
    let outcome = &sender.send_batch(&[wechat_out(2)]).await[0];
    assert_eq!(failure(outcome), ("-1".into(), ErrorClass::Retry));
    // Daily quota.
    stub.fail_next(1, "45009");
    let outcome = &sender.send_batch(&[wechat_out(3)]).await[0];
    assert_eq!(failure(outcome).1, ErrorClass::StopChannelUntilNextDay);
    // Minute quota from the stub's rate limit.
    stub.set_rate_limit(Some(0));
    let outcome = &sender.send_batch(&[wechat_out(4)]).await[0];
    assert_eq!(
        failure(outcome),
        ("45011".into(), ErrorClass::RetryAfterNextMinute)
    );
    stub.set_rate_limit(None);
    // A field over 20 characters never leaves: invalid content, nothing sent.
    let mut long = wechat_out(5);
    if let Rendered::Wechat(notice) = &mut long.content {
        notice.fields.insert("thing1".into(), "东".repeat(21));
    }
    let requests = stub.requests();
    let outcome = &sender.send_batch(&[long]).await[0];
    assert_eq!(
        failure(outcome),
        (send::CODE_BAD_CONTENT.into(), ErrorClass::InvalidContent)
    );
    assert_eq!(stub.requests(), requests);
    // A kind without template id: fatal configuration, nothing sent.
    let mut config = stub.sender_config();
    config.templates.remove("restored");
    let partial = WechatSender::new(&config).unwrap();
    let mut restored = wechat_out(6);
    restored.kind = NoticeKind::Restored;
    let outcome = &partial.send_batch(&[restored]).await[0];
    assert_eq!(
        failure(outcome),
        (
            send::CODE_NO_TEMPLATE.into(),
            ErrorClass::FatalConfiguration
        )
    );
}

#[tokio::test]
async fn wechat_timeout_and_wrong_secret() {
    let stub = WechatStub::start(Default::default()).await.unwrap();
    let mut config = stub.sender_config();
    config.http.timeout_ms = 300;
    let sender = WechatSender::new(&config).unwrap();
    assert!(sender.send_batch(&[wechat_out(0)]).await[0].is_accepted());
    stub.set_delay(Duration::from_secs(3));
    let outcome = &sender.send_batch(&[wechat_out(1)]).await[0];
    assert_eq!(
        failure(outcome),
        (send::CODE_TIMEOUT.into(), ErrorClass::Retry)
    );
    stub.set_delay(Duration::ZERO);

    let mut wrong = stub.sender_config();
    wrong.app_secret = SecretString::from("not-the-secret".to_owned());
    let sender = WechatSender::new(&wrong).unwrap();
    let outcomes = sender.send_batch(&[wechat_out(2), wechat_out(3)]).await;
    for outcome in &outcomes {
        assert_eq!(
            failure(outcome),
            ("40125".into(), ErrorClass::FatalConfiguration)
        );
    }
    // Both sends waited for one token fetch and shared its failure.
    assert_eq!(sender.token_fetches(), 1);
    assert_eq!(stub.token_requests(), 2, "one for each sender");
}

#[tokio::test]
async fn wechat_stub_refuses_what_wechat_refuses() {
    install_crypto();
    let stub = WechatStub::start(Default::default()).await.unwrap();
    let client = reqwest::Client::new();
    let config = wechat::WechatConfig {
        endpoint: stub.base_url(),
        app_id: "wx6f3c2a1b0e9d8c7f".into(),
        app_secret: SecretString::from("stub-app-secret".to_owned()),
    };
    let token_answer = post(
        &client,
        &wechat::build_stable_token_request(&config).unwrap(),
    )
    .await;
    let wechat::StableTokenResponse::Token(token) =
        wechat::parse_stable_token_response(&token_answer).unwrap()
    else {
        panic!("no token: {token_answer}");
    };
    // A field with a line break or over 20 characters, sent around the client's checks.
    let body = serde_json::json!({"touser": "oia2", "template_id": "tpl_restored",
        "client_msg_id": "x", "data": {"thing1": {"value": "东城区\n西四路"}}});
    let url = format!(
        "{}/cgi-bin/message/template/send?access_token={}",
        stub.base_url(),
        secrecy::ExposeSecret::expose_secret(&token.access_token)
    );
    let answer = raw_post(&client, &url, "application/json", &body.to_string()).await;
    assert!(answer.contains("47003"), "{answer}");
    let body = serde_json::json!({"touser": "oia2", "template_id": "tpl_restored",
        "data": {"thing1": {"value": "东".repeat(21)}}});
    let answer = raw_post(&client, &url, "application/json", &body.to_string()).await;
    assert!(answer.contains("47003"), "{answer}");
    // Unknown template, bad token, missing token.
    let body = serde_json::json!({"touser": "oia2", "template_id": "nope",
        "data": {"thing1": {"value": "ok"}}});
    let answer = raw_post(&client, &url, "application/json", &body.to_string()).await;
    assert!(answer.contains("40037"), "{answer}");
    let bad_token = format!(
        "{}/cgi-bin/message/template/send?access_token=forged",
        stub.base_url()
    );
    let answer = raw_post(&client, &bad_token, "application/json", "{}").await;
    assert!(answer.contains("40001"), "{answer}");
    let no_token = format!("{}/cgi-bin/message/template/send", stub.base_url());
    let answer = raw_post(&client, &no_token, "application/json", "{}").await;
    assert!(answer.contains("41001"), "{answer}");
    assert_eq!(stub.accepted_count(), 0);
}

// ---------------------------------------------------------------- Tencent SMS

#[tokio::test]
async fn tencent_batches_identical_content_up_to_200_numbers() {
    let stub = TencentStub::start(Default::default()).await.unwrap();
    let sender = TencentSmsSender::new(&stub.sender_config()).unwrap();
    let mut batch: Vec<Outgoing> = (0..450).map(|n| sms_out(n, OUTAGE_TEXT)).collect();
    batch.push(sms_out(
        1000,
        "尊敬的客户您好，东营市东城区西四路已于11月26日16点恢复供电，感谢您的耐心等待。",
    ));
    let outcomes = sender.send_batch(&batch).await;
    assert_eq!(outcomes.len(), 451);
    let serials: HashSet<String> = outcomes.iter().map(message_id).collect();
    assert_eq!(serials.len(), 451, "one SerialNo per number");
    // 200 + 200 + 50 of the outage text, 1 of the other text.
    assert_eq!(stub.requests(), 4);
    assert_eq!(stub.accepted_count(), 451);
    let got = stub.accepted_for(&phone(7));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].content, serde_json::json!([OUTAGE_TEXT]));
    assert_eq!(got[0].template_id, "100000");
    assert_eq!(
        message_id(&outcomes[7]),
        got[0].message_id,
        "mapped back by number"
    );
    let single = stub.accepted_for(&phone(1000));
    assert_eq!(
        single[0].client_id, "dlv_s1000",
        "alone in its request: our delivery id"
    );
}

#[tokio::test]
async fn tencent_same_number_twice_goes_in_two_requests() {
    let stub = TencentStub::start(Default::default()).await.unwrap();
    let sender = TencentSmsSender::new(&stub.sender_config()).unwrap();
    let mut twin = sms_out(1, OUTAGE_TEXT);
    twin.delivery_id = "dlv_twin".into();
    let outcomes = sender.send_batch(&[sms_out(1, OUTAGE_TEXT), twin]).await;
    assert!(outcomes.iter().all(SendOutcome::is_accepted));
    assert_ne!(message_id(&outcomes[0]), message_id(&outcomes[1]));
    assert_eq!(stub.requests(), 2);
}

#[tokio::test]
async fn tencent_faults_map_to_their_classes() {
    let stub = TencentStub::start(Default::default()).await.unwrap();
    let sender = TencentSmsSender::new(&stub.sender_config()).unwrap();
    stub.fail_address(phone(1), "LimitExceeded.PhoneNumberDailyLimit");
    stub.fail_address(phone(2), "FailedOperation.PhoneNumberInBlacklist");
    let batch: Vec<Outgoing> = (0..4).map(|n| sms_out(n, OUTAGE_TEXT)).collect();
    let outcomes = sender.send_batch(&batch).await;
    assert!(outcomes[0].is_accepted() && outcomes[3].is_accepted());
    assert_eq!(
        failure(&outcomes[1]),
        (
            "LimitExceeded.PhoneNumberDailyLimit".into(),
            ErrorClass::Defer
        )
    );
    assert_eq!(failure(&outcomes[2]).1, ErrorClass::PermanentForRecipient);
    assert_eq!(stub.requests(), 1, "per-number failures come in one answer");
    stub.clear_address_faults();

    stub.fail_next(1, "InternalError");
    let outcomes = sender.send_batch(&batch).await;
    for outcome in &outcomes {
        assert_eq!(
            failure(outcome),
            ("InternalError".into(), ErrorClass::Retry)
        );
    }
    stub.set_rate_limit(Some(0));
    let outcome = &sender.send_batch(&batch[..1]).await[0];
    assert_eq!(
        failure(outcome),
        ("RequestLimitExceeded".into(), ErrorClass::Retry)
    );
    stub.set_rate_limit(None);

    // Not E.164: refused locally, nothing sent for it, the rest goes.
    let mut local = sms_out(9, OUTAGE_TEXT);
    local.address = "13711112222".into();
    let requests = stub.requests();
    let outcomes = sender.send_batch(&[local, sms_out(10, OUTAGE_TEXT)]).await;
    assert_eq!(
        failure(&outcomes[0]),
        (
            send::CODE_BAD_ADDRESS.into(),
            ErrorClass::PermanentForRecipient
        )
    );
    assert!(outcomes[1].is_accepted());
    assert_eq!(stub.requests(), requests + 1);

    let mut config = stub.sender_config();
    config.http.timeout_ms = 300;
    let slow = TencentSmsSender::new(&config).unwrap();
    stub.set_delay(Duration::from_secs(3));
    let outcome = &slow.send_batch(&batch[..1]).await[0];
    assert_eq!(
        failure(outcome),
        (send::CODE_TIMEOUT.into(), ErrorClass::Retry)
    );
}

#[tokio::test]
async fn tencent_stub_refuses_a_wrong_signature() {
    let stub = TencentStub::start(Default::default()).await.unwrap();
    let mut config = stub.sender_config();
    config.secret_key = SecretString::from("wrong-key".to_owned());
    let sender = TencentSmsSender::new(&config).unwrap();
    let outcome = &sender.send_batch(&[sms_out(1, OUTAGE_TEXT)]).await[0];
    assert_eq!(
        failure(outcome),
        (
            "AuthFailure.SignatureFailure".into(),
            ErrorClass::FatalConfiguration
        )
    );
    // A correctly signed request whose body was changed afterwards.
    install_crypto();
    let core = tencent_sms::TencentSmsConfig {
        endpoint: format!("{}/", stub.base_url()),
        region: "ap-guangzhou".into(),
        secret_id: stub.sender_config().secret_id,
        secret_key: stub.sender_config().secret_key,
        sms_sdk_app_id: "1400006666".into(),
        sign_name: "东营供电".into(),
    };
    let message = tencent_sms::SmsMessage {
        phone_numbers: vec![phone(1)],
        template_id: "100000".into(),
        template_params: vec!["x".into()],
        session_context: "s".into(),
    };
    let mut request =
        tencent_sms::build_send_sms(&core, &message, chrono::Utc::now().timestamp()).unwrap();
    let client = reqwest::Client::new();
    assert!(
        post(&client, &request).await.contains("\"Ok\""),
        "the untouched request passes"
    );
    request.body = request.body.replace(&phone(1), &phone(2));
    let answer = post(&client, &request).await;
    assert!(answer.contains("AuthFailure.SignatureFailure"), "{answer}");
    // More than 200 numbers, signed correctly.
    let mut big = message.clone();
    big.phone_numbers = (0..201).map(phone).collect();
    let body = serde_json::json!({"PhoneNumberSet": big.phone_numbers, "SmsSdkAppId": "1400006666",
        "SignName": "东营供电", "TemplateId": "100000", "TemplateParamSet": ["x"]})
    .to_string();
    let answer = post(&client, &signed_tencent(&core, body)).await;
    assert!(
        answer.contains("LimitExceeded.PhoneNumberCountLimit"),
        "{answer}"
    );
    assert_eq!(stub.accepted_count(), 1);
}

fn signed_tencent(core: &tencent_sms::TencentSmsConfig, body: String) -> HttpRequest {
    let host = core
        .endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = tencent_sms::sign_tc3(
        &tencent_sms::Tc3Request {
            service: "sms",
            host: &host,
            content_type: tencent_sms::CONTENT_TYPE,
            timestamp,
            body: body.as_bytes(),
        },
        &core.secret_id,
        &core.secret_key,
    )
    .unwrap();
    HttpRequest {
        method: fudian_notify::providers::HttpMethod::Post,
        url: core.endpoint.clone(),
        headers: vec![
            ("Authorization".into(), signature.authorization),
            ("Content-Type".into(), tencent_sms::CONTENT_TYPE.into()),
            ("X-TC-Action".into(), "SendSms".into()),
            ("X-TC-Version".into(), "2021-01-11".into()),
            ("X-TC-Timestamp".into(), timestamp.to_string()),
            ("X-TC-Region".into(), "ap-guangzhou".into()),
        ],
        body,
    }
}

// ---------------------------------------------------------------- Alibaba SMS

#[tokio::test]
async fn aliyun_batches_up_to_1000_numbers_and_splits_a_request_refused_for_one_number() {
    let stub = AliyunStub::start(Default::default()).await.unwrap();
    let sender = AliyunSmsSender::new(&stub.sender_config()).unwrap();
    let batch: Vec<Outgoing> = (0..1500).map(|n| sms_out(n, OUTAGE_TEXT)).collect();
    let outcomes = sender.send_batch(&batch).await;
    assert!(outcomes.iter().all(SendOutcome::is_accepted));
    assert_eq!(stub.requests(), 2, "1000 + 500");
    assert_eq!(stub.accepted_count(), 1500);
    let got = stub.accepted_for(&phone(42));
    assert_eq!(got[0].content, serde_json::json!({"content": OUTAGE_TEXT}));
    assert_eq!(
        got[0].message_id,
        message_id(&outcomes[42]),
        "BizId per request"
    );

    // One illegal number fails Alibaba's whole request: the sender finds which.
    stub.fail_address(phone(2001), "isv.MOBILE_NUMBER_ILLEGAL");
    let batch: Vec<Outgoing> = (2000..2004).map(|n| sms_out(n, OUTAGE_TEXT)).collect();
    let requests = stub.requests();
    let outcomes = sender.send_batch(&batch).await;
    assert!(outcomes[0].is_accepted() && outcomes[2].is_accepted() && outcomes[3].is_accepted());
    assert_eq!(
        failure(&outcomes[1]),
        (
            "isv.MOBILE_NUMBER_ILLEGAL".into(),
            ErrorClass::PermanentForRecipient
        )
    );
    assert_eq!(stub.requests(), requests + 1 + 4);
    assert_eq!(stub.accepted_count(), 1503);

    stub.fail_next(1, "isp.SYSTEM_ERROR");
    let outcome = &sender.send_batch(&batch[..1]).await[0];
    assert_eq!(
        failure(outcome),
        ("isp.SYSTEM_ERROR".into(), ErrorClass::Retry)
    );
    stub.set_rate_limit(Some(0));
    let outcome = &sender.send_batch(&batch[..1]).await[0];
    assert_eq!(failure(outcome).1, ErrorClass::Defer);
}

#[tokio::test]
async fn aliyun_stub_refuses_a_wrong_signature_and_a_reused_nonce() {
    let stub = AliyunStub::start(Default::default()).await.unwrap();
    let mut config = stub.sender_config();
    config.access_key_secret = SecretString::from("wrong".to_owned());
    let sender = AliyunSmsSender::new(&config).unwrap();
    let outcome = &sender.send_batch(&[sms_out(1, OUTAGE_TEXT)]).await[0];
    assert_eq!(
        failure(outcome),
        (
            "SignatureDoesNotMatch".into(),
            ErrorClass::FatalConfiguration
        )
    );
    let mut config = stub.sender_config();
    config.access_key_id = "LTAIsomeoneelse".into();
    let sender = AliyunSmsSender::new(&config).unwrap();
    let outcome = &sender.send_batch(&[sms_out(1, OUTAGE_TEXT)]).await[0];
    assert_eq!(failure(outcome).1, ErrorClass::FatalConfiguration);

    install_crypto();
    let core = fudian_notify::providers::aliyun_sms::AliyunSmsConfig {
        endpoint: stub.base_url(),
        access_key_id: stub.sender_config().access_key_id,
        access_key_secret: stub.sender_config().access_key_secret,
        sign_name: "东营供电".into(),
    };
    let message = fudian_notify::providers::aliyun_sms::AliyunSmsMessage {
        phone_numbers: vec!["13700000001".into()],
        template_code: "SMS_10000".into(),
        template_params: BTreeMap::from([("content".to_owned(), "x".to_owned())]),
        out_id: "o".into(),
    };
    let request = fudian_notify::providers::aliyun_sms::build_send_sms(
        &core,
        &message,
        chrono::Utc::now(),
        "nonce-1",
    )
    .unwrap();
    let client = reqwest::Client::new();
    assert!(post(&client, &request).await.contains("\"OK\""));
    let replay = post(&client, &request).await;
    assert!(replay.contains("SignatureNonceUsed"), "{replay}");
    let mut tampered = fudian_notify::providers::aliyun_sms::build_send_sms(
        &core,
        &message,
        chrono::Utc::now(),
        "nonce-2",
    )
    .unwrap();
    tampered.url = tampered.url.replace("13700000001", "13700000002");
    let answer = post(&client, &tampered).await;
    assert!(answer.contains("SignatureDoesNotMatch"), "{answer}");
    assert_eq!(stub.accepted_count(), 1);
}

// ---------------------------------------------------------------- SMS failover

#[tokio::test]
async fn sms_fails_over_when_the_primary_cannot_process_but_not_after_a_timeout() {
    let tencent = TencentStub::start(Default::default()).await.unwrap();
    let aliyun = AliyunStub::start(Default::default()).await.unwrap();
    let mut tencent_config = tencent.sender_config();
    tencent_config.http.timeout_ms = 300;
    let sender = FailoverSender::new(
        Arc::new(TencentSmsSender::new(&tencent_config).unwrap()),
        Arc::new(AliyunSmsSender::new(&aliyun.sender_config()).unwrap()),
    );
    let batch: Vec<Outgoing> = (0..3).map(|n| sms_out(n, OUTAGE_TEXT)).collect();
    let outcomes = sender.send_batch(&batch).await;
    assert!(outcomes.iter().all(|o| matches!(
        o,
        SendOutcome::Accepted {
            provider: "tencent_sms",
            ..
        }
    )));

    tencent.fail_next(1, "InternalError");
    let outcomes = sender.send_batch(&batch).await;
    assert!(outcomes.iter().all(|o| matches!(
        o,
        SendOutcome::Accepted {
            provider: "aliyun_sms",
            ..
        }
    )));
    assert_eq!(aliyun.accepted_count(), 3);

    // A per-number limit is the recipient's, not the provider's: no failover.
    tencent.fail_address(phone(0), "LimitExceeded.PhoneNumberDailyLimit");
    let outcome = &sender.send_batch(&batch[..1]).await[0];
    assert_eq!(failure(outcome).1, ErrorClass::Defer);
    tencent.clear_address_faults();

    // A timeout may have sent: not repeated elsewhere.
    tencent.set_delay(Duration::from_secs(3));
    let outcome = &sender.send_batch(&batch[..1]).await[0];
    assert_eq!(failure(outcome).0, send::CODE_TIMEOUT);
    assert_eq!(aliyun.accepted_count(), 3);
    tencent.set_delay(Duration::ZERO);

    // Primary gone: connection refused, Alibaba takes it.
    drop(tencent);
    let outcome = &sender.send_batch(&batch[..1]).await[0];
    assert!(
        matches!(
            outcome,
            SendOutcome::Accepted {
                provider: "aliyun_sms",
                ..
            }
        ),
        "{outcome:?}"
    );
}

// ---------------------------------------------------------------- App push

#[tokio::test]
async fn app_push_is_signed_and_redelivery_is_dropped() {
    let stub = AppStub::start(Default::default()).await.unwrap();
    let sender = AppPushSender::new(&stub.sender_config()).unwrap();
    let batch: Vec<Outgoing> = (0..10).map(app_out).collect();
    let outcomes = sender.send_batch(&batch).await;
    assert!(outcomes.iter().all(SendOutcome::is_accepted));
    let got = stub.accepted_for("user-4");
    assert_eq!(got[0].message_id, "dlv_a4");
    assert_eq!(got[0].content["type"], "notice.restored");
    assert_eq!(got[0].content["data"]["title"], "恢复供电通知");
    // Same webhook-id again: accepted, not delivered twice.
    assert!(sender.send_batch(&batch[4..5]).await[0].is_accepted());
    assert_eq!(stub.accepted_count(), 10);

    stub.fail_address("user-20", "410");
    stub.fail_next(1, "503");
    let outcomes = sender.send_batch(&[app_out(21)]).await;
    assert_eq!(
        failure(&outcomes[0]),
        ("http.503".into(), ErrorClass::Retry)
    );
    let outcomes = sender.send_batch(&[app_out(20)]).await;
    assert_eq!(failure(&outcomes[0]).1, ErrorClass::PermanentForRecipient);
    stub.set_rate_limit(Some(0));
    let outcome = &sender.send_batch(&[app_out(22)]).await[0];
    assert_eq!(failure(outcome), ("http.429".into(), ErrorClass::Retry));
    stub.set_rate_limit(None);

    let mut wrong = stub.sender_config();
    wrong.secret = SecretString::from("whsec_b3RoZXItc2VjcmV0LWtleQ==".to_owned());
    let forged = AppPushSender::new(&wrong).unwrap();
    let outcome = &forged.send_batch(&[app_out(30)]).await[0];
    assert_eq!(
        failure(outcome),
        ("http.401".into(), ErrorClass::FatalConfiguration)
    );
    assert!(stub.accepted_for("user-30").is_empty());
}

// ---------------------------------------------------------------- rate limit, config

#[tokio::test]
async fn the_provider_rate_limit_spaces_sends() {
    let stub = AppStub::start(Default::default()).await.unwrap();
    let mut config = stub.sender_config();
    config.rate_limit = Some(RateLimit {
        per_second: 50.0,
        burst: 10,
    });
    let sender = AppPushSender::new(&config).unwrap();
    let batch: Vec<Outgoing> = (0..60).map(app_out).collect();
    let started = Instant::now();
    let outcomes = sender.send_batch(&batch).await;
    let elapsed = started.elapsed();
    assert!(outcomes.iter().all(SendOutcome::is_accepted));
    // 10 at once, then 50 more at 50/s: at least a second. (No upper bound: a loaded
    // machine may be slower.)
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
}

#[tokio::test]
async fn build_senders_from_config() {
    assert!(
        send::build_senders(&ProvidersConfig::default())
            .unwrap()
            .is_empty()
    );
    let stubs = Stubs::start().await.unwrap();
    let config = stubs.providers_config();
    let senders = send::build_senders(&config).unwrap();
    assert_eq!(senders.wechat.as_ref().unwrap().provider(), "wechat");
    assert_eq!(senders.sms.as_ref().unwrap().provider(), "sms_failover");
    assert_eq!(senders.app.as_ref().unwrap().channel(), Channel::App);
    let debug = format!("{config:?}");
    for secret in [
        "stub-app-secret",
        "stub-tencent-secret-key",
        "stub-aliyun-access-key-secret",
        "whsec_",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    let sms = senders.for_channel(Channel::Sms).unwrap();
    let outcome = &sms.send_batch(&[sms_out(1, OUTAGE_TEXT)]).await[0];
    assert!(outcome.is_accepted());
    assert_eq!(stubs.accepted_count(), 1);

    let mut bad = config.clone();
    if let Some(wechat) = &mut bad.wechat {
        wechat.templates.insert("outage".into(), "x".into());
    }
    let error = send::build_senders(&bad).unwrap_err().to_string();
    assert!(
        error.contains("providers.wechat.templates.outage"),
        "{error}"
    );
    let mut bad = config.clone();
    if let Some(tencent) = &mut bad.tencent_sms {
        tencent.batch_size = 201;
    }
    let error = send::build_senders(&bad).unwrap_err().to_string();
    assert!(error.contains("tencent_sms.batch_size"), "{error}");
    let mut bad = config;
    if let Some(aliyun) = &mut bad.aliyun_sms {
        aliyun.endpoint = "http://127.0.0.1:1/sms".into();
    }
    let error = send::build_senders(&bad).unwrap_err().to_string();
    assert!(error.contains("aliyun_sms.endpoint"), "{error}");

    let parsed: ProvidersConfig = serde_json::from_value(serde_json::json!({
        "wechat": {"app_id": "wx1", "app_secret": "s", "templates": {"restored": "t"}},
        "sms_primary": "aliyun"
    }))
    .unwrap();
    assert_eq!(parsed.wechat.unwrap().endpoint, "https://api.weixin.qq.com");
}

// ---------------------------------------------------------------- helpers

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn post(client: &reqwest::Client, request: &HttpRequest) -> String {
    let mut builder = client.post(&request.url);
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("host") {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    let response = tokio::time::timeout(GENEROUS, builder.body(request.body.clone()).send())
        .await
        .unwrap()
        .unwrap();
    response.text().await.unwrap()
}

async fn raw_post(client: &reqwest::Client, url: &str, content_type: &str, body: &str) -> String {
    let request = HttpRequest {
        method: fudian_notify::providers::HttpMethod::Post,
        url: url.to_owned(),
        headers: vec![("Content-Type".into(), content_type.into())],
        body: body.to_owned(),
    };
    post(client, &request).await
}
