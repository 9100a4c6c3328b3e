//! Contract tests for fudian-bus: every test body in `contract` runs once against the
//! in-process bus and once against the real RabbitMQ (`FUDIAN_TEST_AMQP_URL`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`); RabbitMQ being unreachable fails the tests.
//! `reconnect` kills the broker connection mid-stream through a TCP proxy.

mod contract;
mod reconnect;

use std::time::Duration;

use fudian_bus::{Bus, ExchangeSpec, QueueSpec, RabbitConfig, WireMessage};

pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub fn amqp_url() -> String {
    std::env::var("FUDIAN_TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.to_owned())
}

/// A bus plus a random name prefix, so RabbitMQ runs never collide; remembers what it declared
/// so that `cleanup` deletes it.
pub struct Fixture {
    pub bus: Bus,
    pub prefix: String,
    declared: std::sync::Mutex<(Vec<String>, Vec<QueueSpec>)>,
}

impl Fixture {
    pub fn in_process() -> Self {
        Self::with_bus(Bus::in_process())
    }

    pub async fn rabbit() -> Self {
        Self::with_bus(rabbit_bus(&amqp_url()).await)
    }

    pub fn with_bus(bus: Bus) -> Self {
        // The tail of a v7 uuid is random.
        let id = uuid::Uuid::now_v7().simple().to_string();
        Self {
            bus,
            prefix: format!("test-{}.", &id[20..]),
            declared: Default::default(),
        }
    }

    pub fn name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Declares the exchange `name` (prefixed) and returns its full name.
    pub async fn exchange(&self, name: &str) -> String {
        let full = self.name(name);
        self.bus
            .declare(&[ExchangeSpec::topic(&full)], &[])
            .await
            .unwrap();
        self.declared.lock().unwrap().0.push(full.clone());
        full
    }

    /// A queue spec named `name` (prefixed), to be deleted at cleanup.
    pub fn queue(&self, name: &str) -> QueueSpec {
        let spec = QueueSpec::new(self.name(name));
        self.declared.lock().unwrap().1.push(spec.clone());
        spec
    }

    /// Declares a queue spec (remembering its final shape for cleanup).
    pub async fn declare(&self, spec: &QueueSpec) {
        self.bus
            .declare(&[], std::slice::from_ref(spec))
            .await
            .unwrap();
        let mut declared = self.declared.lock().unwrap();
        declared.1.retain(|known| known.name != spec.name);
        declared.1.push(spec.clone());
    }

    pub async fn cleanup(self) {
        let (exchanges, queues) = self.declared.lock().unwrap().clone();
        for queue in &queues {
            self.bus.delete_queue(queue).await.unwrap();
        }
        for exchange in &exchanges {
            self.bus.delete_exchange(exchange).await.unwrap();
        }
        self.bus.close().await;
    }
}

pub async fn rabbit_bus(url: &str) -> Bus {
    let config = RabbitConfig {
        connection_name: "fudian-bus-tests".into(),
        connect_attempts: 3,
        ..RabbitConfig::default()
    };
    Bus::connect_rabbit(url, config)
        .await
        .unwrap_or_else(|error| panic!("RabbitMQ must be reachable for these tests: {error}"))
}

pub fn message(exchange: &str, routing_key: &str, id: &str) -> WireMessage {
    WireMessage {
        exchange: exchange.to_owned(),
        routing_key: routing_key.to_owned(),
        message_id: id.to_owned(),
        headers: Default::default(),
        body: format!(r#"{{"id":"{id}"}}"#).into_bytes(),
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// Generates one `#[tokio::test]` per backend for each contract test body.
macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = crate::Fixture::in_process();
                    crate::contract::$name(&fixture).await;
                    fixture.cleanup().await;
                }
            )*
        }
        mod rabbit {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = crate::Fixture::rabbit().await;
                    crate::contract::$name(&fixture).await;
                    fixture.cleanup().await;
                }
            )*
        }
    };
}

contract_tests!(
    a_published_message_is_delivered_once_and_acked,
    an_unroutable_publish_is_an_error,
    concurrent_publishers_are_told_only_of_their_own_unroutable_message,
    a_transient_failure_is_retried_after_growing_delays_with_the_attempt_header,
    a_message_failing_max_attempts_times_lands_in_the_dlq_with_its_error,
    a_permanent_failure_goes_to_the_dlq_at_once,
    prefetch_bounds_the_deliveries_in_flight,
    shutdown_finishes_in_flight_deliveries_and_acks_nothing_undone,
    topic_wildcards_route_like_rabbitmq,
    a_batch_consumer_acks_successes_and_dead_letters_permanent_failures,
    the_delivery_span_continues_the_publishers_trace,
);
