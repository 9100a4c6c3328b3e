//! Integration tests of fudian-store, one binary: the contract suite (`contract.rs`) run
//! against PostgreSQL and the embedded SQLite store, then cases only one backend has.
//! PostgreSQL tests each create and drop their own database, so they run in parallel; they
//! fail (never skip) when PostgreSQL is unreachable (`FUDIAN_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`).

mod contract;
mod support;

use std::time::Duration;

use fudian_store::RelayConfig;
use tokio_util::sync::CancellationToken;

use support::{Kind, RecordingSink, TestStore, eventually, message, run};

/// Instantiates every contract case once per backend: `postgres::<case>` and `sqlite::<case>`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::support::run(crate::support::Kind::Postgres, crate::contract::$case).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::support::run(crate::support::Kind::Sqlite, crate::contract::$case).await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_can_run_again_without_effect,
    inbox_deduplicates_within_and_across_transactions,
    inbox_marks_many_at_once_like_one_by_one,
    rolled_back_transaction_leaves_neither_inbox_nor_outbox_row,
    relay_delivers_every_message_exactly_once_in_id_order_per_batch,
    failing_sink_leaves_rows_pending_and_next_attempt_delivers_them,
    shutdown_finishes_the_batch_in_flight_and_flushes_the_rest,
    relay_wakes_right_after_a_commit_without_waiting_for_the_poll,
    service_sql_runs_in_the_transaction_and_constraint_errors_are_permanent,
    headers_of_every_kind_pass_through_unchanged,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_wakes_on_notify_from_another_process() {
    run(Kind::Postgres, async |t: &TestStore| {
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
        // A second pool stands for another process: its commit can only reach the relay
        // through PostgreSQL's NOTIFY.
        let other_process = t.open_again().await?;
        let mut tx = other_process.begin().await?;
        tx.enqueue(&message(42)).await?;
        tx.commit().await?;
        other_process.close().await;
        eventually(
            Duration::from_secs(5),
            "the NOTIFY wakes the relay",
            async || Ok(sink.delivered().len() == 1),
        )
        .await?;
        shutdown.cancel();
        running.await??;
        assert_eq!(sink.delivered(), vec![message(42)]);
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_data_survives_closing_and_reopening_the_store() {
    run(Kind::Sqlite, async |t: &TestStore| {
        let mut tx = t.store.begin().await?;
        assert!(tx.mark_processed("outage", "event-1").await?);
        tx.enqueue(&message(1)).await?;
        tx.commit().await?;
        t.store.close().await;

        let reopened = t.open_again().await?;
        assert_eq!(reopened.outbox_pending().await?, 1);
        let mut tx = reopened.begin().await?;
        assert!(
            !tx.mark_processed("outage", "event-1").await?,
            "inbox survived"
        );
        tx.commit().await?;
        let sink = RecordingSink::default();
        let relay = reopened.outbox_relay(sink.clone(), RelayConfig::default());
        assert_eq!(relay.flush().await?, 1);
        assert_eq!(sink.delivered(), vec![message(1)]);
        reopened.close().await;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_each_schema_in_its_own_file_with_a_rollback_journal() {
    run(Kind::Sqlite, async |t: &TestStore| {
        let dir = std::path::PathBuf::from(t.url.trim_start_matches("sqlite://"));
        for schema in fudian_store::SQLITE_SCHEMAS {
            assert!(
                dir.join(format!("{schema}.db")).is_file(),
                "{schema}.db missing"
            );
        }
        let pool = t.store.as_sqlite().expect("embedded store");
        let mode: String = sqlx::query_scalar("PRAGMA platform.journal_mode")
            .fetch_one(pool)
            .await?;
        assert_eq!(mode, "truncate");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn unreachable_postgres_fails_with_a_transient_error() {
    let config = fudian_store::StoreConfig {
        acquire_timeout: Duration::from_millis(500),
        ..fudian_store::StoreConfig::new("postgres://postgres@127.0.0.1:1/nowhere")
    };
    let error = fudian_store::Store::connect(config)
        .await
        .expect_err("nothing listens on port 1");
    assert!(error.is_transient(), "{error}");
}
