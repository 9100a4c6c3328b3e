//! Throughput of the provider clients (`send`) against the local stubs (`stub`), all in
//! one process as in the service benchmark: N notices per scenario, sent as the service's
//! worker pool would (`max_batch`-sized batches, several batches in flight), timed until
//! every outcome is back and the stub has recorded every message.
//!
//! `cargo run --release -p fudian-notify --example clients_throughput [N] [BATCHES_IN_FLIGHT]`
//! (defaults 20000 and 4).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fudian_notify::send::{
    AppPushSender, Outgoing, Rendered, Sender, TencentSmsSender, WechatSender,
};
use fudian_notify::stub::{Stub, Stubs};
use fudian_notify::templates::{AppNotice, Channel, NoticeKind, SmsNotice, WechatNotice};
use futures::StreamExt as _;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let in_flight: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let stubs = Stubs::start().await?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "clients_throughput: {count} notices per scenario, {in_flight} batches in flight, {threads} cpus"
    );

    let wechat = Arc::new(WechatSender::new(&stubs.wechat.sender_config())?);
    let notices: Vec<Outgoing> = (0..count).map(wechat_notice).collect();
    run(
        "wechat template message",
        wechat,
        &notices,
        &stubs.wechat,
        in_flight,
    )
    .await?;

    let tencent = Arc::new(TencentSmsSender::new(&stubs.tencent.sender_config())?);
    let identical: Vec<Outgoing> = (0..count).map(|n| sms_notice(n, None)).collect();
    run(
        "tencent sms, identical text (200/request)",
        tencent.clone(),
        &identical,
        &stubs.tencent,
        in_flight,
    )
    .await?;
    let distinct: Vec<Outgoing> = (0..count).map(|n| sms_notice(n + count, Some(n))).collect();
    run(
        "tencent sms, distinct texts (1/request)",
        tencent,
        &distinct,
        &stubs.tencent,
        in_flight,
    )
    .await?;

    let aliyun = Arc::new(fudian_notify::send::AliyunSmsSender::new(
        &stubs.aliyun.sender_config(),
    )?);
    run(
        "aliyun sms, identical text (1000/request)",
        aliyun,
        &identical,
        &stubs.aliyun,
        in_flight,
    )
    .await?;

    let app = Arc::new(AppPushSender::new(&stubs.app.sender_config())?);
    let pushes: Vec<Outgoing> = (0..count).map(app_notice).collect();
    run("app webhook", app, &pushes, &stubs.app, in_flight).await?;
    Ok(())
}

async fn run(
    name: &str,
    sender: Arc<dyn Sender>,
    notices: &[Outgoing],
    stub: &Stub,
    in_flight: usize,
) -> Result<(), BoxError> {
    let before = stub.accepted_count();
    let started = Instant::now();
    let accepted: usize = futures::stream::iter(notices.chunks(sender.max_batch()))
        .map(|batch| {
            let sender = sender.clone();
            async move {
                sender
                    .send_batch(batch)
                    .await
                    .iter()
                    .filter(|o| o.is_accepted())
                    .count()
            }
        })
        .buffer_unordered(in_flight)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    let recorded = stub
        .wait_for_accepted(before + notices.len(), Duration::from_secs(60))
        .await
        - before;
    let elapsed = started.elapsed();
    if accepted != notices.len() || recorded != notices.len() {
        return Err(format!(
            "{name}: {accepted} accepted, {recorded} recorded of {}",
            notices.len()
        )
        .into());
    }
    println!(
        "{name:<45} {:>6} in {:>7.3} s = {:>8.0} notices/s ({} requests)",
        notices.len(),
        elapsed.as_secs_f64(),
        notices.len() as f64 / elapsed.as_secs_f64(),
        stub.requests(),
    );
    Ok(())
}

fn wechat_notice(n: usize) -> Outgoing {
    Outgoing {
        delivery_id: format!("dlv_w{n}"),
        customer_id: format!("c{n}"),
        channel: Channel::Wechat,
        address: format!("oia2TjuEGTNoeX76QEjQ{n:08}"),
        kind: NoticeKind::OutageDetected,
        content: Rendered::Wechat(WechatNotice {
            fields: [
                ("thing1", "东营市东城区西四路"),
                ("time2", "2026年11月26日 14:00"),
                ("thing3", "线路故障，正在排查"),
                ("thing4", "预计11月26日 16:30恢复"),
                ("thing5", "抢修人员正赶往现场，敬请谅解"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into(),
            url: Some(format!("https://fudian.example.cn/n/{n}")),
        }),
    }
}

fn sms_notice(n: usize, distinct: Option<usize>) -> Outgoing {
    let text = match distinct {
        Some(i) => format!(
            "尊敬的客户您好，东营市东城区西四路{i}号因线路故障于14点停电，我们正在全力抢修。"
        ),
        None => {
            "尊敬的客户您好，东营市东城区西四路因线路故障于14点停电，我们正在全力抢修。".to_owned()
        }
    };
    Outgoing {
        delivery_id: format!("dlv_s{n}"),
        customer_id: format!("c{n}"),
        channel: Channel::Sms,
        address: format!("+86137{n:08}"),
        kind: NoticeKind::OutageDetected,
        content: Rendered::Sms(SmsNotice { text }),
    }
}

fn app_notice(n: usize) -> Outgoing {
    Outgoing {
        delivery_id: format!("dlv_a{n}"),
        customer_id: format!("c{n}"),
        channel: Channel::App,
        address: format!("user-{n}"),
        kind: NoticeKind::OutageDetected,
        content: Rendered::App(AppNotice {
            payload: serde_json::json!({"kind": "outage_detected", "title": "故障停电通知",
                "body": "尊敬的客户您好，东营市东城区西四路于2026年11月26日 14:00因线路故障停电。"}),
        }),
    }
}
