//! The raw broker ceiling of `shared/limits.md`, measurable from any benchmark: a minimal
//! lapin client publishing and consuming persistent 300-byte JSON messages through a quorum
//! queue at the same time (publisher confirms with up to 1,000 in flight; manual acks,
//! prefetch 1,000, `ack(multiple)` every 100). Benchmarks report their own rate beside this
//! one measured in the same run, because the machines are shared and noisy.
//!
//! It bypasses [`crate::Bus`] on purpose: it is the yardstick the bus is compared with.

use std::collections::VecDeque;
use std::time::Instant;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};

use crate::BusError;

const IN_FLIGHT: usize = 1_000;
const PREFETCH: u16 = 1_000;
const ACK_EVERY: usize = 100;

/// Which broker topology the raw client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawTopology {
    /// limits.md exactly: the default exchange, a plain quorum queue.
    Plain,
    /// The bus's topology (a topic exchange with `mandatory`, the quorum queue arguments of
    /// `topology.rs`), to tell the broker's cost of that topology from the bus client's.
    LikeTheBus,
}

/// A JSON body of exactly 300 bytes.
pub fn body(i: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"event_id":"{i:012}","type":"scada.switch.opened","switch":"SW-0042","feeder":"F-17","at":"2026-11-26T22:00:00Z","pad":""#
    );
    let mut json = head.into_bytes();
    json.resize(298, b'x');
    json.extend_from_slice(br#""}"#);
    json
}

fn broker(error: lapin::Error) -> BusError {
    BusError::Broker(error.to_string())
}

/// Publishes and consumes `total` messages together through a fresh quorum queue and
/// returns messages per second (queue declaration and deletion not counted).
pub async fn raw_publish_consume(
    url: &str,
    total: usize,
    topology: RawTopology,
) -> Result<f64, BusError> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let queue = format!("ceiling-{}", &id[20..]);
    let connect = || async {
        Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(|e| BusError::Connection(e.to_string()))
    };
    let publisher_connection = connect().await?;
    let consumer_connection = connect().await?;
    let publisher = publisher_connection
        .create_channel()
        .await
        .map_err(broker)?;
    let consumer_channel = consumer_connection.create_channel().await.map_err(broker)?;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    let like_the_bus = topology == RawTopology::LikeTheBus;
    if like_the_bus {
        arguments.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(20));
        for (key, value) in [
            ("x-dead-letter-strategy", "at-least-once"),
            ("x-overflow", "reject-publish"),
            ("x-dead-letter-exchange", "amq.fanout"),
        ] {
            arguments.insert(key.into(), AMQPValue::LongString(LongString::from(value)));
        }
    }
    let exchange = if like_the_bus { "amq.topic" } else { "" };
    publisher
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            arguments,
        )
        .await
        .map_err(broker)?;
    if like_the_bus {
        publisher
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                queue.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(broker)?;
    }
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(broker)?;
    consumer_channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await
        .map_err(broker)?;
    let mut consumer = consumer_channel
        .basic_consume(
            queue.as_str().into(),
            "ceiling".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(broker)?;

    let started = Instant::now();
    let consuming = tokio::spawn(async move {
        let mut received = 0;
        while received < total {
            let delivery = consumer
                .next()
                .await
                .ok_or_else(|| BusError::Broker("the ceiling consumer ended".into()))?
                .map_err(broker)?;
            received += 1;
            if received % ACK_EVERY == 0 || received == total {
                delivery
                    .ack(BasicAckOptions { multiple: true })
                    .await
                    .map_err(broker)?;
            }
        }
        Ok::<(), BusError>(())
    });
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
    let nacked = |i: usize| BusError::Nacked {
        message_id: format!("m-{i}"),
    };
    let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
    for i in 0..total {
        if in_flight.len() == IN_FLIGHT
            && let Some((n, confirm)) = in_flight.pop_front()
        {
            let confirm: lapin::PublisherConfirm = confirm;
            if !confirm.await.map_err(broker)?.is_ack() {
                return Err(nacked(n));
            }
        }
        let confirm = publisher
            .basic_publish(
                exchange.into(),
                queue.as_str().into(),
                BasicPublishOptions {
                    mandatory: like_the_bus,
                    ..BasicPublishOptions::default()
                },
                &body(i),
                properties.clone().with_message_id(format!("m-{i}").into()),
            )
            .await
            .map_err(broker)?;
        in_flight.push_back((i, confirm));
    }
    for (n, confirm) in in_flight {
        if !confirm.await.map_err(broker)?.is_ack() {
            return Err(nacked(n));
        }
    }
    consuming
        .await
        .map_err(|e| BusError::Broker(format!("the ceiling consumer panicked: {e}")))??;
    let rate = total as f64 / started.elapsed().as_secs_f64();
    // Teardown is not measured; the consumer goes first so the delete does not cancel it.
    let _ = consumer_connection.close(200, "done".into()).await;
    publisher
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .map_err(broker)?;
    let _ = publisher_connection.close(200, "done".into()).await;
    Ok(rate)
}
