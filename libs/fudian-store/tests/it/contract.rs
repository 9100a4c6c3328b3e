//! The store contract: every case here runs against PostgreSQL and the embedded store
//! (see the `on_both_backends!` list in `main.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use fudian_store::{RelayConfig, StoreError};
use tokio_util::sync::CancellationToken;

use crate::support::{Kind, RecordingSink, TestStore, eventually, message, sequence_of};

const WAIT: Duration = Duration::from_secs(30);

pub async fn migrations_can_run_again_without_effect(t: &TestStore) -> anyhow::Result<()> {
    t.store.migrate().await?;
    t.store.migrate().await?;
    t.store.ping().await?;
    assert_eq!(t.store.outbox_pending().await?, 0);
    let mut tx = t.store.begin().await?;
    assert!(tx.mark_processed("outage", "e-1").await?);
    tx.commit().await?;
    Ok(())
}

pub async fn inbox_deduplicates_within_and_across_transactions(
    t: &TestStore,
) -> anyhow::Result<()> {
    let mut tx = t.store.begin().await?;
    assert!(
        tx.mark_processed("outage", "event-1").await?,
        "first time is new"
    );
    assert!(
        !tx.mark_processed("outage", "event-1").await?,
        "same tx repeats"
    );
    assert!(
        tx.mark_processed("notify", "event-1").await?,
        "another consumer has its own record"
    );
    tx.commit().await?;

    let mut tx = t.store.begin().await?;
    assert!(
        !tx.mark_processed("outage", "event-1").await?,
        "committed earlier"
    );
    assert!(tx.mark_processed("outage", "event-2").await?);
    tx.commit().await?;
    Ok(())
}

pub async fn inbox_marks_many_at_once_like_one_by_one(t: &TestStore) -> anyhow::Result<()> {
    let mut tx = t.store.begin().await?;
    assert!(tx.mark_processed("outage", "b").await?);
    assert_eq!(
        tx.mark_processed_all("outage", &["a", "b", "c", "a"])
            .await?,
        vec![true, false, true, false],
        "b was marked before, a repeats within the call"
    );
    tx.commit().await?;
    let mut tx = t.store.begin().await?;
    assert_eq!(
        tx.mark_processed_all("outage", &["c", "d"]).await?,
        vec![false, true]
    );
    assert_eq!(
        tx.mark_processed_all("outage", &[]).await?,
        Vec::<bool>::new()
    );
    tx.commit().await?;
    Ok(())
}

pub async fn rolled_back_transaction_leaves_neither_inbox_nor_outbox_row(
    t: &TestStore,
) -> anyhow::Result<()> {
    let mut tx = t.store.begin().await?;
    assert!(tx.mark_processed("outage", "event-1").await?);
    tx.enqueue(&message(1)).await?;
    tx.rollback().await?;

    // Dropping without commit rolls back too.
    let mut tx = t.store.begin().await?;
    assert!(tx.mark_processed("outage", "event-2").await?);
    tx.enqueue_all(&[message(2), message(3)]).await?;
    drop(tx);

    assert_eq!(t.store.outbox_pending().await?, 0);
    let mut tx = t.store.begin().await?;
    assert!(
        tx.mark_processed("outage", "event-1").await?,
        "mark was rolled back"
    );
    assert!(
        tx.mark_processed("outage", "event-2").await?,
        "mark was dropped"
    );
    tx.commit().await?;
    Ok(())
}

pub async fn relay_delivers_every_message_exactly_once_in_id_order_per_batch(
    t: &TestStore,
) -> anyhow::Result<()> {
    const TOTAL: usize = 2_000;
    const BATCH: u32 = 100;
    // Several transactions, both enqueue paths.
    for chunk_start in (0..TOTAL).step_by(250) {
        let mut tx = t.store.begin().await?;
        let batch: Vec<_> = (chunk_start..chunk_start + 200).map(message).collect();
        tx.enqueue_all(&batch).await?;
        for sequence in chunk_start + 200..chunk_start + 250 {
            tx.enqueue(&message(sequence)).await?;
        }
        tx.commit().await?;
    }
    assert_eq!(t.store.outbox_pending().await?, TOTAL as u64);

    // A slow sink makes the PostgreSQL workers overlap.
    let sink = RecordingSink::with_delay(Duration::from_millis(20));
    let relay = t.store.outbox_relay(
        sink.clone(),
        RelayConfig {
            workers: 4,
            batch_size: BATCH,
            poll_interval: Duration::from_millis(50),
            ..RelayConfig::default()
        },
    );
    let expected_workers = if t.kind == Kind::Postgres { 4 } else { 1 };
    assert_eq!(relay.worker_count(), expected_workers);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let relay = relay.clone();
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await }
    });
    eventually(WAIT, "every message is delivered", async || {
        Ok(sink.delivered().len() >= TOTAL)
    })
    .await?;
    shutdown.cancel();
    running.await??;

    let delivered = sink.delivered();
    let mut sequences: Vec<usize> = delivered.iter().map(sequence_of).collect();
    sequences.sort_unstable();
    assert_eq!(
        sequences,
        (0..TOTAL).collect::<Vec<_>>(),
        "each exactly once"
    );
    for batch in sink.batches() {
        assert!(!batch.is_empty() && batch.len() <= BATCH as usize);
        let in_batch: Vec<usize> = batch.iter().map(sequence_of).collect();
        assert!(in_batch.is_sorted(), "batch out of id order: {in_batch:?}");
    }
    for delivered in &delivered {
        assert_eq!(
            delivered,
            &message(sequence_of(delivered)),
            "stored unchanged"
        );
    }
    if t.kind == Kind::Postgres {
        assert!(
            sink.max_in_flight() > 1,
            "workers should publish concurrently"
        );
    } else {
        assert_eq!(sink.max_in_flight(), 1, "the embedded store relays alone");
    }
    assert_eq!(t.store.outbox_pending().await?, 0);
    Ok(())
}

pub async fn failing_sink_leaves_rows_pending_and_next_attempt_delivers_them(
    t: &TestStore,
) -> anyhow::Result<()> {
    let mut tx = t.store.begin().await?;
    tx.enqueue_all(&(0..10).map(message).collect::<Vec<_>>())
        .await?;
    tx.commit().await?;

    let sink = RecordingSink::default();
    sink.set_failing(true);
    let config = RelayConfig {
        workers: 2,
        batch_size: 4,
        poll_interval: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
        ..RelayConfig::default()
    };
    let relay = t.store.outbox_relay(sink.clone(), config);

    let error = relay.relay_batch().await.expect_err("sink is failing");
    assert!(matches!(error, StoreError::Sink(_)), "{error}");
    assert!(error.is_transient());
    assert_eq!(t.store.outbox_pending().await?, 10);

    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let relay = relay.clone();
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.store.outbox_pending().await?, 10, "failures keep rows");
    assert!(sink.delivered().is_empty());

    sink.set_failing(false);
    eventually(WAIT, "the outbox is empty", async || {
        Ok(t.store.outbox_pending().await? == 0)
    })
    .await?;
    shutdown.cancel();
    running.await??;
    let mut sequences: Vec<usize> = sink.delivered().iter().map(sequence_of).collect();
    sequences.sort_unstable();
    assert_eq!(sequences, (0..10).collect::<Vec<_>>());
    Ok(())
}

pub async fn shutdown_finishes_the_batch_in_flight_and_flushes_the_rest(
    t: &TestStore,
) -> anyhow::Result<()> {
    let mut tx = t.store.begin().await?;
    tx.enqueue_all(&(0..500).map(message).collect::<Vec<_>>())
        .await?;
    tx.commit().await?;

    let sink = RecordingSink::with_delay(Duration::from_millis(50));
    let relay = t.store.outbox_relay(
        sink.clone(),
        RelayConfig {
            workers: 2,
            batch_size: 50,
            ..RelayConfig::default()
        },
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let relay = relay.clone();
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await }
    });
    eventually(WAIT, "a first batch is out", async || {
        Ok(!sink.batches().is_empty())
    })
    .await?;
    shutdown.cancel();
    running.await??;
    assert_eq!(t.store.outbox_pending().await?, 0, "drained at shutdown");
    assert_eq!(sink.delivered().len(), 500, "no loss, no duplicate");

    // flush() on its own, without a running relay.
    let mut tx = t.store.begin().await?;
    tx.enqueue_all(&(500..620).map(message).collect::<Vec<_>>())
        .await?;
    tx.commit().await?;
    assert_eq!(relay.flush().await?, 120);
    assert_eq!(t.store.outbox_pending().await?, 0);
    assert_eq!(sink.delivered().len(), 620);
    Ok(())
}

pub async fn relay_wakes_right_after_a_commit_without_waiting_for_the_poll(
    t: &TestStore,
) -> anyhow::Result<()> {
    let sink = RecordingSink::default();
    let relay = t.store.outbox_relay(
        sink.clone(),
        RelayConfig {
            poll_interval: Duration::from_secs(600),
            ..RelayConfig::default()
        },
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let relay = relay.clone();
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tx = t.store.begin().await?;
    tx.enqueue(&message(7)).await?;
    tx.commit().await?;
    eventually(
        Duration::from_secs(5),
        "the message is relayed",
        async || Ok(sink.delivered().len() == 1),
    )
    .await?;
    shutdown.cancel();
    running.await??;
    assert_eq!(sink.delivered(), vec![message(7)]);
    Ok(())
}

pub async fn service_sql_runs_in_the_transaction_and_constraint_errors_are_permanent(
    t: &TestStore,
) -> anyhow::Result<()> {
    let mut tx = t.store.begin().await?;
    assert!(tx.mark_processed("outage", "event-1").await?);
    let duplicate = if let Some(connection) = tx.as_postgres() {
        sqlx::query("INSERT INTO platform.inbox (consumer, event_id) VALUES ('outage', 'event-1')")
            .execute(connection)
            .await
            .map(|_| ())
    } else {
        let connection = tx.as_sqlite().expect("one of the two backends");
        sqlx::query("INSERT INTO platform.inbox (consumer, event_id) VALUES ('outage', 'event-1')")
            .execute(connection)
            .await
            .map(|_| ())
    };
    let error = StoreError::from(duplicate.expect_err("primary key violated"));
    assert!(
        !error.is_transient(),
        "constraint violation is permanent: {error}"
    );
    drop(tx);
    Ok(())
}

pub async fn headers_of_every_kind_pass_through_unchanged(t: &TestStore) -> anyhow::Result<()> {
    let mut original = message(1);
    original.headers = BTreeMap::from([
        (
            "traceparent".into(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        ),
        (
            "tracestate".into(),
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7".into(),
        ),
        (
            "x-fudian-error".into(),
            "quote \" backslash \\ 停电 emoji 🔌".into(),
        ),
    ]);
    original.body = vec![0, 159, 146, 150, 255];
    let empty_headers = fudian_events::wire::WireMessage {
        headers: BTreeMap::new(),
        ..message(2)
    };
    let mut tx = t.store.begin().await?;
    tx.enqueue(&original).await?;
    tx.enqueue(&empty_headers).await?;
    tx.commit().await?;
    let sink = RecordingSink::default();
    let relay = t.store.outbox_relay(sink.clone(), RelayConfig::default());
    assert_eq!(relay.flush().await?, 2);
    assert_eq!(sink.delivered(), vec![original, empty_headers]);
    Ok(())
}
