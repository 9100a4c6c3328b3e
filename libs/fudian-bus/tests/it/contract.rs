//! The contract both backends must keep. Each body takes a [`Fixture`] and is run once per
//! backend by `contract_tests!` in `main.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fudian_bus::{
    ATTEMPT_HEADER, BusError, CancellationToken, Delivery, ERROR_HEADER, HandlerError,
    TRACEPARENT_HEADER, WireMessage,
};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::{Fixture, eventually, message};

const PATIENCE: Duration = Duration::from_secs(15);

type Seen = Arc<Mutex<Vec<Delivery>>>;

/// Consumes `spec` in the background, recording deliveries and answering with `outcome`.
fn spawn_consumer(
    fixture: &Fixture,
    spec: &fudian_bus::QueueSpec,
    outcome: impl Fn(&Delivery) -> Result<(), HandlerError> + Send + Sync + 'static,
) -> (Seen, CancellationToken, JoinHandle<Result<(), BusError>>) {
    let seen: Seen = Arc::default();
    let shutdown = CancellationToken::new();
    let bus = fixture.bus.clone();
    let spec = spec.clone();
    let recorded = seen.clone();
    let outcome = Arc::new(outcome);
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        bus.consume(
            &spec,
            move |delivery: Delivery| {
                let recorded = recorded.clone();
                let outcome = outcome.clone();
                async move {
                    let result = outcome(&delivery);
                    recorded.lock().unwrap().push(delivery);
                    result
                }
            },
            token,
        )
        .await
    });
    (seen, shutdown, task)
}

async fn stop(shutdown: CancellationToken, task: JoinHandle<Result<(), BusError>>) {
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("consume returns after shutdown")
        .unwrap()
        .unwrap();
}

pub async fn a_published_message_is_delivered_once_and_acked(fixture: &Fixture) {
    let exchange = fixture.exchange("fudian.field").await;
    let spec = fixture
        .queue("outage.field")
        .bind(&exchange, "scada.switch.*");
    fixture.declare(&spec).await;
    let mut sent = message(&exchange, "scada.switch.opened", "m-1");
    sent.headers.insert("x-custom".into(), "kept".into());
    fixture.bus.publish(sent.clone()).await.unwrap();

    let (seen, shutdown, task) = spawn_consumer(fixture, &spec, |_| Ok(()));
    assert!(eventually(PATIENCE, || seen.lock().unwrap().len() == 1).await);
    stop(shutdown, task).await;
    let delivery = seen.lock().unwrap()[0].clone();
    assert_eq!(delivery.message.body, sent.body);
    assert_eq!(delivery.message.message_id, "m-1");
    assert_eq!(delivery.message.exchange, exchange);
    assert_eq!(delivery.message.routing_key, "scada.switch.opened");
    assert_eq!(delivery.message.headers["x-custom"], "kept");
    assert_eq!(delivery.attempt, 1);
    assert!(!delivery.redelivered);

    // Acked: a second consumer gets nothing.
    let (again, shutdown, task) = spawn_consumer(fixture, &spec, |_| Ok(()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(shutdown, task).await;
    assert!(again.lock().unwrap().is_empty());
    assert!(
        fixture
            .bus
            .dead_letters(&spec.name, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn an_unroutable_publish_is_an_error(fixture: &Fixture) {
    let exchange = fixture.exchange("fudian.field").await;
    let spec = fixture.queue("outage.field").bind(&exchange, "scada.#");
    fixture.declare(&spec).await;
    let error = fixture
        .bus
        .publish(message(&exchange, "ami.last_gasp", "m-1"))
        .await
        .unwrap_err();
    assert!(matches!(error, BusError::Unroutable { .. }), "{error:?}");
    assert!(!error.is_transient());
    let error = fixture
        .bus
        .publish(message(&fixture.name("nowhere"), "scada.x", "m-2"))
        .await
        .unwrap_err();
    assert!(matches!(error, BusError::UnknownExchange(_)), "{error:?}");
    // One unroutable message in a batch fails it, but the others are still delivered.
    let error = fixture
        .bus
        .publish_batch(vec![
            message(&exchange, "scada.switch.opened", "m-3"),
            message(&exchange, "ami.power_restored", "m-4"),
            message(&exchange, "scada.switch.closed", "m-5"),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, BusError::Unroutable { message_id, .. } if message_id == "m-4"),
        "{error:?}"
    );
    let (seen, shutdown, task) = spawn_consumer(fixture, &spec, |_| Ok(()));
    assert!(eventually(PATIENCE, || seen.lock().unwrap().len() >= 2).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(shutdown, task).await;
    let mut ids: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.message.message_id.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, ["m-3", "m-5"]);
}

/// Several publishers at once, one unroutable message among hundreds: the error names that
/// message and no other publisher is told its messages were unroutable. (RabbitMQ acks a
/// pipeline with multiple-acks, and lapin hands a `basic.return` to whichever confirm of
/// one it resolves first.)
pub async fn concurrent_publishers_are_told_only_of_their_own_unroutable_message(
    fixture: &Fixture,
) {
    let exchange = fixture.exchange("fudian.field").await;
    let spec = fixture.queue("outage.field").bind(&exchange, "scada.#");
    fixture.declare(&spec).await;
    for round in 0..5 {
        let publishers = (0..4).map(|publisher| {
            let bus = fixture.bus.clone();
            let exchange = exchange.clone();
            tokio::spawn(async move {
                let batch: Vec<WireMessage> = (0..200)
                    .map(|n| {
                        let id = format!("r{round}-p{publisher}-m{n}");
                        // Publisher 0 sends one message no queue is bound for.
                        let key = if publisher == 0 && n == 150 {
                            "ami.nowhere"
                        } else {
                            "scada.switch.opened"
                        };
                        message(&exchange, key, &id)
                    })
                    .collect();
                bus.publish_batch(batch).await
            })
        });
        let results = futures::future::join_all(publishers).await;
        for (publisher, result) in results.into_iter().enumerate() {
            let result = result.unwrap();
            if publisher == 0 {
                let expected = format!("r{round}-p0-m150");
                assert!(
                    matches!(&result, Err(BusError::Unroutable { message_id, .. }) if *message_id == expected),
                    "{result:?}"
                );
            } else {
                assert!(result.is_ok(), "publisher {publisher}: {result:?}");
            }
        }
    }
}

pub async fn a_transient_failure_is_retried_after_growing_delays_with_the_attempt_header(
    fixture: &Fixture,
) {
    let exchange = fixture.exchange("fudian.field").await;
    let spec = fixture
        .queue("outage.field")
        .bind(&exchange, "#")
        .max_attempts(4)
        .retry_delays(vec![Duration::from_millis(300), Duration::from_millis(800)]);
    fixture.declare(&spec).await;
    let times = Arc::new(Mutex::new(Vec::new()));
    let recorded = times.clone();
    let (seen, shutdown, task) = spawn_consumer(fixture, &spec, move |delivery| {
        recorded.lock().unwrap().push(Instant::now());
        if delivery.attempt < 3 {
            Err(HandlerError::Transient("database unavailable".into()))
        } else {
            Ok(())
        }
    });
    fixture
        .bus
        .publish(message(&exchange, "fpi.fault", "m-1"))
        .await
        .unwrap();
    assert!(eventually(PATIENCE, || seen.lock().unwrap().len() == 3).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(shutdown, task).await;

    let seen = seen.lock().unwrap().clone();
    let attempts: Vec<u32> = seen.iter().map(|d| d.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert!(!seen[0].message.headers.contains_key(ATTEMPT_HEADER));
    assert_eq!(seen[1].message.headers[ATTEMPT_HEADER], "2");
    assert_eq!(seen[2].message.headers[ATTEMPT_HEADER], "3");
    for delivery in &seen {
        assert_eq!(delivery.message.exchange, exchange);
        assert_eq!(delivery.message.routing_key, "fpi.fault");
        assert_eq!(delivery.message.message_id, "m-1");
    }
    let times = times.lock().unwrap().clone();
    let first_gap = times[1] - times[0];
    let second_gap = times[2] - times[1];
    assert!(first_gap >= Duration::from_millis(280), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(780), "{second_gap:?}");
    assert!(
        fixture
            .bus
            .dead_letters(&spec.name, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_message_failing_max_attempts_times_lands_in_the_dlq_with_its_error(
    fixture: &Fixture,
) {
    let exchange = fixture.exchange("fudian.field").await;
    let spec = fixture
        .queue("outage.field")
        .bind(&exchange, "#")
        .max_attempts(3)
        .retry_delays(vec![Duration::from_millis(100)]);
    fixture.declare(&spec).await;
    let (seen, shutdown, task) = spawn_consumer(fixture, &spec, |_| {
        Err(HandlerError::Transient("database unavailable".into()))
    });
    fixture
        .bus
        .publish(message(&exchange, "call.trouble", "m-1"))
        .await
        .unwrap();
    let mut letters = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while letters.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        letters = fixture.bus.dead_letters(&spec.name, 10).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(shutdown, task).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "tried exactly max_attempts times"
    );
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.message_id, "m-1");
    assert_eq!(letter.exchange, exchange);
    assert_eq!(letter.routing_key, "call.trouble");
    assert!(letter.headers[ERROR_HEADER].contains("database unavailable"));
    assert_eq!(letter.headers[ATTEMPT_HEADER], "3");
    assert_eq!(letter.headers[fudian_bus::EXCHANGE_HEADER], exchange);
    assert_eq!(
        letter.headers[fudian_bus::ROUTING_KEY_HEADER],
        "call.trouble"
    );
    assert_eq!(letter.body, message(&exchange, "call.trouble", "m-1").body);
}

pub async fn a_permanent_failure_goes_to_the_dlq_at_once(fixture: &Fixture) {
    let exchange = fixture.exchange("fudian.field").await;
    let spec = fixture
        .queue("outage.field")
        .bind(&exchange, "#")
        .max_attempts(5)
        .retry_delays(vec![Duration::from_millis(100)]);
    fixture.declare(&spec).await;
    let (seen, shutdown, task) = spawn_consumer(fixture, &spec, |_| {
        Err(HandlerError::Permanent("unknown schema version 9".into()))
    });
    fixture
        .bus
        .publish(message(&exchange, "crew.report", "m-1"))
        .await
        .unwrap();
    let mut letters = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while letters.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        letters = fixture.bus.dead_letters(&spec.name, 10).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop(shutdown, task).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "never retried");
    assert_eq!(letters.len(), 1);
    assert!(letters[0].headers[ERROR_HEADER].contains("unknown schema version 9"));
    assert_eq!(letters[0].headers[ATTEMPT_HEADER], "1");
    // Peeking leaves the letter in the DLQ.
    assert_eq!(
        fixture
            .bus
            .dead_letters(&spec.name, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn prefetch_bounds_the_deliveries_in_flight(fixture: &Fixture) {
    let exchange = fixture.exchange("fudian.field").await;
    let spec = fixture
        .queue("outage.field")
        .bind(&exchange, "#")
        .prefetch(3);
    fixture.declare(&spec).await;
    let messages = (0..15)
        .map(|i| message(&exchange, "ami.last_gasp", &format!("m-{i}")))
        .collect();
    fixture.bus.publish_batch(messages).await.unwrap();

    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let bus = fixture.bus.clone();
    let (in_flight2, most2, done2, token) = (
        in_flight.clone(),
        most.clone(),
        done.clone(),
        shutdown.clone(),
    );
    let spec2 = spec.clone();
    let task = tokio::spawn(async move {
        bus.consume(
            &spec2,
            move |_delivery: Delivery| {
                let (in_flight, most, done) = (in_flight2.clone(), most2.clone(), done2.clone());
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(60)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
            token,
        )
        .await
    });
    assert!(eventually(PATIENCE, || done.load(Ordering::SeqCst) == 15).await);
    stop(shutdown, task).await;
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 3, "at most the prefetch in flight, saw {most}");
    assert!(most >= 2, "deliveries are handled concurrently, saw {most}");
}

pub async fn shutdown_finishes_in_flight_deliveries_and_acks_nothing_undone(fixture: &Fixture) {
    let exchange = fixture.exchange("fudian.field").await;
    let spec = fixture
        .queue("outage.field")
        .bind(&exchange, "#")
        .prefetch(4);
    fixture.declare(&spec).await;
    let messages = (0..12)
        .map(|i| message(&exchange, "ami.last_gasp", &format!("m-{i}")))
        .collect();
    fixture.bus.publish_batch(messages).await.unwrap();

    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(Mutex::new(Vec::<String>::new()));
    let shutdown = CancellationToken::new();
    let bus = fixture.bus.clone();
    let (started2, finished2, token) = (started.clone(), finished.clone(), shutdown.clone());
    let spec2 = spec.clone();
    let task = tokio::spawn(async move {
        bus.consume(
            &spec2,
            move |delivery: Delivery| {
                let (started, finished) = (started2.clone(), finished2.clone());
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    finished.lock().unwrap().push(delivery.message.message_id);
                    Ok(())
                }
            },
            token,
        )
        .await
    });
    assert!(eventually(PATIENCE, || started.load(Ordering::SeqCst) >= 1).await);
    stop(shutdown, task).await;
    let first_run: Vec<String> = finished.lock().unwrap().clone();
    assert_eq!(
        first_run.len(),
        started.load(Ordering::SeqCst),
        "every started delivery finished before consume returned"
    );
    assert!(first_run.len() <= 4 && !first_run.is_empty());

    // Whatever was finished is acked and gone; everything else is still there.
    let (rest, shutdown, task) = spawn_consumer(fixture, &spec, |_| Ok(()));
    let expected = 12 - first_run.len();
    assert!(eventually(PATIENCE, || rest.lock().unwrap().len() >= expected).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop(shutdown, task).await;
    let rest: Vec<String> = rest
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.message.message_id.clone())
        .collect();
    assert_eq!(
        rest.len(),
        expected,
        "no finished delivery came back: {rest:?}"
    );
    assert!(rest.iter().all(|id| !first_run.contains(id)));
}

pub async fn topic_wildcards_route_like_rabbitmq(fixture: &Fixture) {
    let exchange = fixture.exchange("fudian.field").await;
    let one_word = fixture.queue("one-word").bind(&exchange, "scada.*.opened");
    let any_words = fixture.queue("any-words").bind(&exchange, "scada.#");
    let suffix = fixture
        .queue("suffix")
        .bind(&exchange, "*.last_gasp")
        .bind(&exchange, "#.power_restored");
    for spec in [&one_word, &any_words, &suffix] {
        fixture.declare(spec).await;
    }
    for (i, key) in [
        "scada.switch.opened",
        "scada.breaker.opened",
        "scada.switch.closed",
        "scada",
        "ami.last_gasp",
        "ami.meter.power_restored",
    ]
    .into_iter()
    .enumerate()
    {
        fixture
            .bus
            .publish(message(&exchange, key, &format!("m-{i}")))
            .await
            .unwrap();
    }
    let mut received = BTreeMap::new();
    for (spec, expected) in [(&one_word, 2), (&any_words, 4), (&suffix, 2)] {
        let (seen, shutdown, task) = spawn_consumer(fixture, spec, |_| Ok(()));
        assert!(eventually(PATIENCE, || seen.lock().unwrap().len() >= expected).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop(shutdown, task).await;
        let mut keys: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.message.routing_key.clone())
            .collect();
        keys.sort();
        received.insert(spec.name.clone(), keys);
    }
    assert_eq!(
        received[&one_word.name],
        ["scada.breaker.opened", "scada.switch.opened"]
    );
    assert_eq!(
        received[&any_words.name],
        [
            "scada",
            "scada.breaker.opened",
            "scada.switch.closed",
            "scada.switch.opened"
        ]
    );
    assert_eq!(
        received[&suffix.name],
        ["ami.last_gasp", "ami.meter.power_restored"]
    );
}

pub async fn a_batch_consumer_acks_successes_and_dead_letters_permanent_failures(
    fixture: &Fixture,
) {
    let exchange = fixture.exchange("fudian.field").await;
    let spec = fixture
        .queue("outage.field")
        .bind(&exchange, "#")
        .prefetch(50)
        .max_attempts(1);
    fixture.declare(&spec).await;
    let messages = (0..120)
        .map(|i| message(&exchange, "ami.last_gasp", &format!("m-{i}")))
        .collect();
    fixture.bus.publish_batch(messages).await.unwrap();

    let handled = Arc::new(Mutex::new(Vec::<usize>::new()));
    let ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let shutdown = CancellationToken::new();
    let bus = fixture.bus.clone();
    let (handled2, ids2, token, spec2) =
        (handled.clone(), ids.clone(), shutdown.clone(), spec.clone());
    let task = tokio::spawn(async move {
        bus.consume_batch(
            &spec2,
            32,
            Duration::from_millis(50),
            move |batch: Vec<Delivery>| {
                let (handled, ids) = (handled2.clone(), ids2.clone());
                async move {
                    handled.lock().unwrap().push(batch.len());
                    batch
                        .into_iter()
                        .map(|delivery| {
                            ids.lock()
                                .unwrap()
                                .push(delivery.message.message_id.clone());
                            if delivery.message.message_id == "m-7" {
                                Err(HandlerError::Permanent("undecodable body".into()))
                            } else {
                                Ok(())
                            }
                        })
                        .collect()
                }
            },
            token,
        )
        .await
    });
    assert!(eventually(PATIENCE, || ids.lock().unwrap().len() >= 120).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(shutdown, task).await;
    let sizes = handled.lock().unwrap().clone();
    assert!(sizes.iter().all(|&size| size <= 32), "{sizes:?}");
    assert!(
        sizes.iter().any(|&size| size > 1),
        "batches form: {sizes:?}"
    );
    assert_eq!(ids.lock().unwrap().len(), 120, "each delivered once");
    let letters = fixture.bus.dead_letters(&spec.name, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].message_id, "m-7");

    let (rest, shutdown, task) = spawn_consumer(fixture, &spec, |_| Ok(()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(shutdown, task).await;
    assert!(rest.lock().unwrap().is_empty(), "the whole batch was acked");
}

fn init_tracing() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = provider.tracer("fudian-bus-tests");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

pub async fn the_delivery_span_continues_the_publishers_trace(fixture: &Fixture) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    init_tracing();
    let exchange = fixture.exchange("fudian.outage").await;
    let spec = fixture.queue("notify.outage").bind(&exchange, "outage.*");
    fixture.declare(&spec).await;

    let publisher = tracing::info_span!("detect_outage");
    let published_trace = publisher.context().span().span_context().trace_id();
    assert_ne!(published_trace, opentelemetry::trace::TraceId::INVALID);
    fixture
        .bus
        .publish(message(&exchange, "outage.detected", "m-1"))
        .instrument(publisher)
        .await
        .unwrap();
    // A stored traceparent (outbox relay) is passed through untouched.
    let stored = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut relayed = message(&exchange, "outage.restored", "m-2");
    relayed
        .headers
        .insert(TRACEPARENT_HEADER.into(), stored.into());
    fixture.bus.publish(relayed).await.unwrap();

    let traces = Arc::new(Mutex::new(BTreeMap::new()));
    let recorded = traces.clone();
    let (seen, shutdown, task) = spawn_consumer(fixture, &spec, move |delivery| {
        let trace = tracing::Span::current()
            .context()
            .span()
            .span_context()
            .trace_id();
        recorded
            .lock()
            .unwrap()
            .insert(delivery.message.message_id.clone(), trace);
        Ok(())
    });
    assert!(eventually(PATIENCE, || seen.lock().unwrap().len() == 2).await);
    stop(shutdown, task).await;
    let traces = traces.lock().unwrap().clone();
    assert_eq!(traces["m-1"], published_trace);
    assert_eq!(
        traces["m-2"].to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    let seen = seen.lock().unwrap().clone();
    let relayed = seen.iter().find(|d| d.message.message_id == "m-2").unwrap();
    assert_eq!(relayed.message.headers[TRACEPARENT_HEADER], stored);
}
