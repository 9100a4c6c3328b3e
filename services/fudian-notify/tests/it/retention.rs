//! Store housekeeping: finished deliveries and old receipts are purged past their age
//! (deliveries still to send or to settle never are), receipts kept unmatched are read
//! back page by page, and channel stops keep the later one. The SQL runs on both backends.

use std::sync::Arc;

use chrono::Utc;
use fudian_notify::NotifyConfig;
use fudian_notify::store::{self, ReceiptRow};

use crate::support::{Backend, Harness, at, detected, grid, ordinary, settled};

async fn store_housekeeping(backend: Backend) {
    let grid = grid(5_000);
    let h = Harness::new(backend, Arc::clone(&grid), NotifyConfig::default()).await;
    let service = h.start().await;
    let customers = ordinary(&grid, 5);
    h.publish_outage(detected("INC-OLD", &customers, at(120)))
        .await;
    h.wait_rows("the notices", |rows| settled(rows, "outage_detected", 5))
        .await;
    service.stop().await;
    let now = Utc::now().timestamp_millis();
    let mut tx = h.store.begin().await.unwrap();
    let receipt = ReceiptRow {
        dedup_key: "tencent_sms/old".into(),
        provider: "tencent_sms".into(),
        provider_message_id: Some("2433:1".into()),
        recipient_hash: None,
        delivered: Some(true),
        answer: Some("{}".into()),
        received_at: now - 1_000,
    };
    assert!(store::receipt_is_new(&mut tx, &receipt).await.unwrap());
    tx.commit().await.unwrap();

    // Nothing is old enough yet.
    let mut tx = h.store.begin().await.unwrap();
    let purged = store::purge(&mut tx, now - 60_000, now - 60_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(purged, (0, 0));
    assert_eq!(h.rows().await.len(), 5);

    // One delivery is still waiting for its receipt: it stays, the rest go.
    let rows = h.rows().await;
    let waiting = &rows[0].customer_id;
    let sql = "UPDATE notify.deliveries SET settle_by = $1 WHERE customer_id = $2";
    if let Some(pool) = h.store.as_postgres() {
        sqlx::query(sql)
            .bind(now)
            .bind(waiting)
            .execute(pool)
            .await
            .unwrap();
    } else {
        let pool = h.store.as_sqlite().unwrap();
        sqlx::query(sql)
            .bind(now)
            .bind(waiting)
            .execute(pool)
            .await
            .unwrap();
    }
    let mut tx = h.store.begin().await.unwrap();
    let purged = store::purge(&mut tx, now + 60_000, now + 60_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(purged, (4, 1));
    assert!(!store::purge_was_full(purged));
    let left = h.rows().await;
    assert_eq!(left.len(), 1);
    assert_eq!(&left[0].customer_id, waiting);
    // The receipt is gone, so the same key is new again.
    let mut tx = h.store.begin().await.unwrap();
    assert!(store::receipt_is_new(&mut tx, &receipt).await.unwrap());
    tx.commit().await.unwrap();

    // Unmatched receipts come back in pages: three at one instant, two per page.
    let mut tx = h.store.begin().await.unwrap();
    for key in ["a", "b", "c"] {
        let kept = ReceiptRow {
            dedup_key: format!("aliyun_sms/{key}"),
            received_at: now + 5,
            ..receipt.clone()
        };
        assert!(store::receipt_is_new(&mut tx, &kept).await.unwrap());
    }
    let first = store::unmatched_receipts(&mut tx, now + 1, None, 2)
        .await
        .unwrap();
    let keys: Vec<&str> = first.iter().map(|r| r.dedup_key.as_str()).collect();
    assert_eq!(keys, ["aliyun_sms/a", "aliyun_sms/b"]);
    let last = &first[1];
    let rest = store::unmatched_receipts(
        &mut tx,
        now + 1,
        Some((last.received_at, last.dedup_key.as_str())),
        2,
    )
    .await
    .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].dedup_key, "aliyun_sms/c");

    // Channel stops: the later one wins, an earlier one does not shorten it.
    store::stop_channel(&mut tx, "wechat", now + 1_000)
        .await
        .unwrap();
    store::stop_channel(&mut tx, "wechat", now + 5_000)
        .await
        .unwrap();
    store::stop_channel(&mut tx, "wechat", now + 2_000)
        .await
        .unwrap();
    store::stop_channel(&mut tx, "sms", now - 1).await.unwrap();
    let stops = store::channel_stops(&mut tx, now).await.unwrap();
    assert_eq!(stops, [("wechat".to_owned(), now + 5_000)]);
    tx.commit().await.unwrap();
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_receipt_paging_and_channel_stops_on_postgresql() {
    store_housekeeping(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_receipt_paging_and_channel_stops_embedded() {
    store_housekeeping(Backend::Embedded).await;
}
