//! Integration tests of fudian-notify. Here: the core's public API (a notice rendered from
//! the shipped templates goes through a provider's request builder, and answers and
//! receipts come back as provider-neutral outcomes; no network). In `service`: the whole
//! service on the real RabbitMQ and PostgreSQL with the provider stubs (`support` holds
//! the harness); in `kill`: the service in its own process, killed with SIGKILL
//! mid-fan-out and started again.

mod kill;
mod retention;
mod service;
mod support;

use chrono::NaiveDate;
use fudian_notify::providers::{app_push, wechat};
use fudian_notify::templates::{NoticeContext, NoticeKind, Templates};
use fudian_notify::{DeliveryOutcome, ReceiptStatus};
use secrecy::SecretString;

fn templates() -> Templates {
    Templates::load(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")).unwrap()
}

fn context() -> NoticeContext {
    let at = |hour, minute| {
        NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(hour, minute, 0)
            .unwrap()
    };
    NoticeContext {
        area: "东营市东城区西四路".into(),
        occurred_at: at(14, 0),
        estimated_restoration: Some(at(17, 30)),
        planned_start: None,
        planned_end: None,
        cause: None,
        progress: None,
        detail_url: "https://fudian.example.cn/n/0192f3a1".into(),
        reference: "INC-20261126-0007".into(),
    }
}

#[test]
fn rendered_wechat_notice_is_sent_and_its_receipt_matches_the_msgid() {
    let notice = templates()
        .render_wechat(NoticeKind::OutageDetected, &context())
        .unwrap();
    let message = wechat::TemplateMessage {
        touser: "oia2TjuEGTNoeX76QEjQNrcURxG8".into(),
        template_id: "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY".into(),
        url: notice.url.clone(),
        client_msg_id: "dlv_0192f3a1".into(),
        data: notice.fields,
    };
    let config = wechat::WechatConfig {
        endpoint: "http://127.0.0.1:18080".into(),
        app_id: "wx6f3c2a1b0e9d8c7f".into(),
        app_secret: SecretString::from("app-secret".to_owned()),
    };
    let request =
        wechat::build_template_send(&config, &SecretString::from("TOKEN".to_owned()), &message)
            .unwrap();
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["data"]["thing1"]["value"], "东营市东城区西四路");
    assert_eq!(body["data"]["time2"]["value"], "2026年11月26日 14:00");
    assert_eq!(body["url"], "https://fudian.example.cn/n/0192f3a1");

    let sent =
        wechat::parse_template_send_response(r#"{"errcode":0,"errmsg":"ok","msgid":200163836}"#)
            .unwrap();
    let DeliveryOutcome::Accepted {
        provider_message_id,
    } = sent
    else {
        panic!("expected acceptance");
    };
    let receipt = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\
        <FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>\
        <CreateTime>1795672900</CreateTime><MsgType><![CDATA[event]]></MsgType>\
        <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>\
        <Status><![CDATA[failed:user block]]></Status></xml>";
    let wechat::WechatCallback::TemplateSendJobFinish(finish) =
        wechat::parse_callback(receipt).unwrap()
    else {
        panic!("expected a job-finish receipt");
    };
    assert_eq!(finish.msg_id.to_string(), provider_message_id);
    assert!(matches!(
        finish.receipt_status(),
        ReceiptStatus::NotDelivered { .. }
    ));
}

#[test]
fn rendered_app_notice_is_posted_with_a_verifiable_signature() {
    let notice = templates()
        .render_app(NoticeKind::OutageDetected, &context())
        .unwrap();
    let secret = app_push::WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let request = app_push::build_webhook_request(
        "http://127.0.0.1:18081/push",
        &secret,
        "dlv_0192f3a1",
        1_795_672_800,
        &notice.payload,
    )
    .unwrap();
    let signature = request.header("webhook-signature").unwrap();
    assert!(app_push::verify(
        &secret,
        "dlv_0192f3a1",
        1_795_672_800,
        &request.body,
        signature
    ));
    let posted: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(posted["kind"], "outage_detected");
    assert_eq!(posted["title"], "故障停电通知");
}
