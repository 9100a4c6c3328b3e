//! The done-when test: the broker connection dies in the middle of a stream of 10,000 messages
//! and every message still takes effect exactly once in an idempotent sink. A small TCP proxy
//! between lapin and RabbitMQ drops all its sockets on demand (no management plugin needed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fudian_bus::{CancellationToken, Delivery, ExchangeSpec, HandlerError};
use tokio::net::{TcpListener, TcpStream};

use crate::{Fixture, amqp_url, eventually, message, rabbit_bus};

/// Forwards TCP connections to the broker until `kill` drops every open one.
struct KillingProxy {
    port: u16,
    current: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl KillingProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let current = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tokens, stopped, counter) = (current.clone(), stop.clone(), accepted.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stopped.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let killed = tokens.lock().unwrap().clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        () = killed.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                    // Both sockets drop here: lapin sees the connection reset.
                });
            }
        });
        Self {
            port,
            current,
            stop,
            accepted,
        }
    }

    fn connections_accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn kill_all_connections(&self) {
        let mut current = self.current.lock().unwrap();
        current.cancel();
        *current = CancellationToken::new();
    }
}

impl Drop for KillingProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.current.lock().unwrap().cancel();
    }
}

/// `amqp://user:pass@host:port/vhost` → (`host:port`, the same URL pointing at `proxy_port`).
fn through_proxy(url: &str, proxy_port: u16) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority_start = url[after_scheme..]
        .find('@')
        .map_or(after_scheme, |i| after_scheme + i + 1);
    let authority_end = url[authority_start..]
        .find('/')
        .map_or(url.len(), |i| authority_start + i);
    let upstream = url[authority_start..authority_end].to_owned();
    let proxied = format!(
        "{}127.0.0.1:{proxy_port}{}",
        &url[..authority_start],
        &url[authority_end..]
    );
    (upstream, proxied)
}

const TOTAL: usize = 10_000;

async fn every_message_takes_effect_once_across_connection_kills(batch_consumer: bool) {
    let placeholder = through_proxy(&amqp_url(), 0).0;
    let proxy = KillingProxy::start(placeholder).await;
    let (_, proxied_url) = through_proxy(&amqp_url(), proxy.port);
    let fixture = Fixture::with_bus(rabbit_bus(&proxied_url).await);
    let exchange = fixture.name("fudian.field");
    fixture
        .bus
        .declare(&[ExchangeSpec::topic(&exchange)], &[])
        .await
        .unwrap();
    let spec = fixture
        .queue("outage.field")
        .bind(&exchange, "#")
        .prefetch(300);
    fixture.declare(&spec).await;

    // The idempotent sink: effects keyed on the message id, with a delivery count per id.
    let sink: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let shutdown = CancellationToken::new();
    let consumer = {
        let (bus, spec, sink, token) = (
            fixture.bus.clone(),
            spec.clone(),
            sink.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            if batch_consumer {
                bus.consume_batch(
                    &spec,
                    100,
                    Duration::from_millis(20),
                    move |batch: Vec<Delivery>| {
                        let sink = sink.clone();
                        async move {
                            let mut sink = sink.lock().unwrap();
                            batch
                                .into_iter()
                                .map(|delivery| {
                                    *sink.entry(delivery.message.message_id).or_default() += 1;
                                    Ok::<(), HandlerError>(())
                                })
                                .collect()
                        }
                    },
                    token,
                )
                .await
            } else {
                bus.consume(
                    &spec,
                    move |delivery: Delivery| {
                        let sink = sink.clone();
                        async move {
                            *sink
                                .lock()
                                .unwrap()
                                .entry(delivery.message.message_id)
                                .or_default() += 1;
                            Ok(())
                        }
                    },
                    token,
                )
                .await
            }
        })
    };

    let publisher = {
        let (bus, exchange) = (fixture.bus.clone(), exchange.clone());
        tokio::spawn(async move {
            for chunk in 0..(TOTAL / 100) {
                let messages = (chunk * 100..(chunk + 1) * 100)
                    .map(|i| message(&exchange, "scada.switch.opened", &format!("m-{i:05}")))
                    .collect();
                bus.publish_batch(messages).await.unwrap();
            }
        })
    };

    let effects = || sink.lock().unwrap().len();
    assert!(eventually(Duration::from_secs(60), || effects() >= 2_500).await);
    let connections_before_kill = proxy.connections_accepted();
    // A publisher that already sent everything has no connection to lose; count only the
    // kills that hit it mid-stream.
    let mut publisher_kills = usize::from(!publisher.is_finished());
    proxy.kill_all_connections();
    let killed_at = effects();
    assert!(eventually(Duration::from_secs(60), || effects() >= killed_at + 3_000).await);
    publisher_kills += usize::from(!publisher.is_finished());
    proxy.kill_all_connections();
    tokio::time::timeout(Duration::from_secs(120), publisher)
        .await
        .expect("the publisher finishes after reconnecting")
        .unwrap();
    assert!(
        eventually(Duration::from_secs(120), || effects() >= TOTAL).await,
        "only {} of {TOTAL} effects",
        effects()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), consumer)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // The consumer reconnected after each kill, and so did the publisher after each kill
    // that found it still publishing.
    assert!(
        proxy.connections_accepted() >= connections_before_kill + 2 + publisher_kills,
        "{} connections before the kills, {} after, {publisher_kills} kills mid-publish",
        connections_before_kill,
        proxy.connections_accepted()
    );
    let sink = sink.lock().unwrap().clone();
    let duplicates: u32 = sink.values().map(|count| count - 1).sum();
    eprintln!(
        "{} effects from {} deliveries ({duplicates} redelivered duplicates absorbed)",
        sink.len(),
        sink.values().sum::<u32>()
    );
    assert_eq!(sink.len(), TOTAL, "every message took effect once");
    for i in 0..TOTAL {
        assert!(sink.contains_key(&format!("m-{i:05}")), "gap at m-{i:05}");
    }
    fixture.bus.delete_exchange(&exchange).await.unwrap();
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_consumer_and_publisher_survive_connection_kills_with_every_message_taking_effect_once()
 {
    every_message_takes_effect_once_across_connection_kills(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_and_publisher_survive_connection_kills_with_every_message_taking_effect_once() {
    every_message_takes_effect_once_across_connection_kills(false).await;
}
