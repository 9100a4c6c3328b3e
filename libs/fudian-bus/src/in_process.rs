//! The in-process bus for the embedded mode and fast tests: topic exchanges with `*`/`#`
//! matching, queues kept in memory for the life of the process, prefetch, ack, redelivery with
//! the redelivered flag, delayed retries and dead letters, with the same semantics as the
//! RabbitMQ backend (the contract tests run against both).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fudian_events::wire::WireMessage;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::BusError;
use crate::envelope::{self, Settlement, count};
use crate::handler::{BatchHandler, Delivery, Handler, HandlerError};
use crate::topology::{ExchangeSpec, QueueSpec};

/// An in-memory broker. Clones share the same exchanges and queues.
#[derive(Debug, Clone, Default)]
pub struct InProcessBus {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    closed: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    /// Exchange name to its bindings `(pattern, queue)`.
    exchanges: HashMap<String, Vec<(String, String)>>,
    queues: HashMap<String, Arc<MemoryQueue>>,
}

#[derive(Debug)]
struct MemoryQueue {
    spec: QueueSpec,
    ready: Mutex<VecDeque<Ready>>,
    arrived: Notify,
    dead: Mutex<Vec<WireMessage>>,
}

#[derive(Debug)]
struct Ready {
    message: WireMessage,
    redelivered: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryQueue {
    fn push_back(&self, message: WireMessage, redelivered: bool) {
        lock(&self.ready).push_back(Ready {
            message,
            redelivered,
        });
        self.arrived.notify_one();
    }

    fn push_front(&self, message: WireMessage) {
        lock(&self.ready).push_front(Ready {
            message,
            redelivered: true,
        });
        self.arrived.notify_one();
    }

    fn try_pop(&self) -> Option<Ready> {
        lock(&self.ready).pop_front()
    }

    async fn pop(&self) -> Ready {
        loop {
            if let Some(ready) = self.try_pop() {
                return ready;
            }
            self.arrived.notified().await;
        }
    }
}

/// A delivery handed out and not yet settled. Dropped unsettled (handler panicked, consumer
/// future dropped), it goes back to the head of its queue marked redelivered, as RabbitMQ does
/// with unacknowledged messages of a closed channel.
struct Unacked {
    queue: Arc<MemoryQueue>,
    message: Option<WireMessage>,
}

impl Unacked {
    fn settle(mut self, attempt: u32, outcome: &Result<(), HandlerError>) {
        let Some(message) = self.message.take() else {
            return;
        };
        let (restored, _) = envelope::restore_origin(message.clone(), false);
        let queue = &self.queue;
        match envelope::settle(&queue.spec, &restored, attempt, outcome) {
            Settlement::Ack => {}
            Settlement::Retry { delay, message } => {
                count::retried(&queue.spec.name);
                let queue = queue.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    queue.push_back(message, false);
                });
            }
            Settlement::DeadLetter { message } => {
                count::dead_lettered(&queue.spec.name);
                lock(&queue.dead).push(message);
            }
        }
        count::acked(&queue.spec.name, 1);
    }
}

impl Drop for Unacked {
    fn drop(&mut self) {
        if let Some(message) = self.message.take() {
            self.queue.push_front(message);
        }
    }
}

fn take_delivery(queue: &Arc<MemoryQueue>, ready: Ready) -> (Delivery, Unacked) {
    let (message, attempt) = envelope::restore_origin(ready.message.clone(), false);
    let delivery = envelope::delivery(&queue.spec.name, message, ready.redelivered, attempt);
    count::delivered(&queue.spec.name, 1);
    let unacked = Unacked {
        queue: queue.clone(),
        message: Some(ready.message),
    };
    (delivery, unacked)
}

/// The queues a message goes to: each bound queue once, however many of its bindings match.
fn route(state: &State, message: &WireMessage) -> Result<Vec<Arc<MemoryQueue>>, BusError> {
    let bindings = state
        .exchanges
        .get(&message.exchange)
        .ok_or_else(|| BusError::UnknownExchange(message.exchange.clone()))?;
    let mut targets: Vec<Arc<MemoryQueue>> = Vec::new();
    for (pattern, queue) in bindings {
        if topic_matches(pattern, &message.routing_key)
            && !targets.iter().any(|target| &target.spec.name == queue)
            && let Some(queue) = state.queues.get(queue)
        {
            targets.push(queue.clone());
        }
    }
    if targets.is_empty() {
        return Err(BusError::Unroutable {
            exchange: message.exchange.clone(),
            routing_key: message.routing_key.clone(),
            message_id: message.message_id.clone(),
        });
    }
    Ok(targets)
}

/// `*` matches exactly one word, `#` zero or more, as in RabbitMQ topic exchanges.
pub(crate) fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    fn words_match(pattern: &[&str], key: &[&str]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&"#", rest)) => (0..=key.len()).any(|skip| words_match(rest, &key[skip..])),
            Some((&word, rest)) => match key.split_first() {
                Some((&first, key_rest)) => {
                    (word == "*" || word == first) && words_match(rest, key_rest)
                }
                None => false,
            },
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    words_match(&pattern, &key)
}

impl InProcessBus {
    /// An empty in-memory broker.
    pub fn new() -> Self {
        Self::default()
    }

    fn ensure_open(&self) -> Result<(), BusError> {
        if self.shared.closed.is_cancelled() {
            Err(BusError::Closed)
        } else {
            Ok(())
        }
    }

    /// Declares exchanges and queues; declaring again is a no-op, new bindings are added.
    pub fn declare(
        &self,
        exchanges: &[ExchangeSpec],
        queues: &[QueueSpec],
    ) -> Result<(), BusError> {
        self.ensure_open()?;
        for queue in queues {
            queue.validate()?;
        }
        let mut state = lock(&self.shared.state);
        for exchange in exchanges {
            state.exchanges.entry(exchange.name.clone()).or_default();
        }
        for queue in queues {
            if let Some((exchange, _)) = queue
                .bindings
                .iter()
                .find(|(exchange, _)| !state.exchanges.contains_key(exchange))
            {
                return Err(BusError::UnknownExchange(exchange.clone()));
            }
        }
        for queue in queues {
            state.queues.entry(queue.name.clone()).or_insert_with(|| {
                Arc::new(MemoryQueue {
                    spec: queue.clone(),
                    ready: Mutex::default(),
                    arrived: Notify::new(),
                    dead: Mutex::default(),
                })
            });
            for (exchange, pattern) in &queue.bindings {
                let bindings = state.exchanges.entry(exchange.clone()).or_default();
                let binding = (pattern.clone(), queue.name.clone());
                if !bindings.contains(&binding) {
                    bindings.push(binding);
                }
            }
        }
        Ok(())
    }

    /// Publishes one message; an unknown exchange or a message no queue binds is an error.
    pub async fn publish(&self, message: WireMessage) -> Result<(), BusError> {
        self.publish_batch(vec![message]).await
    }

    /// Publishes several messages. An undeclared exchange fails the whole batch up front; a
    /// message with no route does not stop the others: the first such error is returned after
    /// the rest was enqueued.
    pub async fn publish_batch(&self, mut messages: Vec<WireMessage>) -> Result<(), BusError> {
        self.ensure_open()?;
        for message in &mut messages {
            envelope::inject_trace_context(&mut message.headers);
        }
        let mut first_error = None;
        let routed: Vec<(WireMessage, Vec<Arc<MemoryQueue>>)> = {
            let state = lock(&self.shared.state);
            if let Some(unknown) = messages
                .iter()
                .find(|message| !state.exchanges.contains_key(&message.exchange))
            {
                return Err(BusError::UnknownExchange(unknown.exchange.clone()));
            }
            messages
                .into_iter()
                .filter_map(|message| match route(&state, &message) {
                    Ok(targets) => Some((message, targets)),
                    Err(error) => {
                        first_error.get_or_insert(error);
                        None
                    }
                })
                .collect()
        };
        envelope::count_published(routed.iter().map(|(message, _)| message.exchange.as_str()));
        for (message, targets) in routed {
            for target in targets {
                target.push_back(message.clone(), false);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn queue(&self, name: &str) -> Result<Arc<MemoryQueue>, BusError> {
        lock(&self.shared.state)
            .queues
            .get(name)
            .cloned()
            .ok_or_else(|| BusError::UnknownQueue(name.to_owned()))
    }

    /// Consumes `spec`'s queue until `shutdown`, up to `prefetch` deliveries in flight.
    pub async fn consume<H: Handler>(
        &self,
        spec: &QueueSpec,
        handler: H,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        self.declare(&[], std::slice::from_ref(spec))?;
        let queue = self.queue(&spec.name)?;
        let handler = Arc::new(handler);
        let in_flight = Arc::new(Semaphore::new(usize::from(spec.prefetch)));
        let tracker = TaskTracker::new();
        loop {
            let permit = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                permit = in_flight.clone().acquire_owned() => permit
                    .map_err(|_| BusError::Closed)?,
            };
            let ready = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                ready = queue.pop() => ready,
            };
            let (delivery, unacked) = take_delivery(&queue, ready);
            let handler = handler.clone();
            tracker.spawn(async move {
                let attempt = delivery.attempt;
                let span = delivery.span.clone();
                let outcome = handler.handle(delivery).instrument(span).await;
                unacked.settle(attempt, &outcome);
                drop(permit);
            });
        }
        tracker.close();
        tracker.wait().await;
        Ok(())
    }

    /// Consumes in batches of up to `max_batch` (and at most `prefetch`) deliveries, waiting at
    /// most `max_wait` after the first one to fill a batch.
    pub async fn consume_batch<H: BatchHandler>(
        &self,
        spec: &QueueSpec,
        max_batch: usize,
        max_wait: Duration,
        handler: H,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        self.declare(&[], std::slice::from_ref(spec))?;
        let queue = self.queue(&spec.name)?;
        let max_batch = max_batch.clamp(1, usize::from(spec.prefetch));
        loop {
            let first = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                ready = queue.pop() => ready,
            };
            let mut batch = vec![take_delivery(&queue, first)];
            let deadline = tokio::time::Instant::now() + max_wait;
            while batch.len() < max_batch {
                if let Some(ready) = queue.try_pop() {
                    batch.push(take_delivery(&queue, ready));
                    continue;
                }
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep_until(deadline) => break,
                    () = queue.arrived.notified() => {}
                }
            }
            let attempts: Vec<u32> = batch.iter().map(|(delivery, _)| delivery.attempt).collect();
            let (deliveries, unacked): (Vec<Delivery>, Vec<Unacked>) = batch.into_iter().unzip();
            let batch_span = tracing::info_span!(
                "bus.deliver_batch",
                messaging.destination = %spec.name,
                messaging.batch.size = unacked.len(),
            );
            let outcomes = handler
                .handle_batch(deliveries)
                .instrument(batch_span)
                .await;
            let outcomes = crate::check_batch_outcomes(outcomes, unacked.len());
            for ((unacked, attempt), outcome) in unacked.into_iter().zip(attempts).zip(&outcomes) {
                unacked.settle(attempt, outcome);
            }
        }
        Ok(())
    }

    /// The dead letters of `queue` (its `<queue>.dlq`), oldest first, at most `max`; they stay
    /// in the DLQ.
    pub async fn dead_letters(
        &self,
        queue: &str,
        max: usize,
    ) -> Result<Vec<WireMessage>, BusError> {
        let queue = self.queue(queue)?;
        let dead = lock(&queue.dead);
        Ok(dead
            .iter()
            .take(max)
            .map(|message| envelope::restore_origin(message.clone(), true).0)
            .collect())
    }

    /// Deletes a queue with its dead letters and bindings.
    pub async fn delete_queue(&self, spec: &QueueSpec) -> Result<(), BusError> {
        let mut state = lock(&self.shared.state);
        state.queues.remove(&spec.name);
        for bindings in state.exchanges.values_mut() {
            bindings.retain(|(_, queue)| queue != &spec.name);
        }
        Ok(())
    }

    /// Deletes an exchange and its bindings.
    pub async fn delete_exchange(&self, name: &str) -> Result<(), BusError> {
        lock(&self.shared.state).exchanges.remove(name);
        Ok(())
    }

    /// Refuses further publishes and declarations.
    pub async fn close(&self) {
        self.shared.closed.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_one_word_and_hash_any_number() {
        assert!(topic_matches("scada.switch.*", "scada.switch.opened"));
        assert!(!topic_matches("scada.*", "scada.switch.opened"));
        assert!(topic_matches("scada.#", "scada.switch.opened"));
        assert!(topic_matches("scada.#", "scada"));
        assert!(topic_matches("#", "ami.last_gasp"));
        assert!(topic_matches("#.opened", "scada.switch.opened"));
        assert!(topic_matches("*.switch.#", "scada.switch.opened"));
        assert!(!topic_matches("ami.*", "scada.switch"));
        assert!(!topic_matches("ami.last_gasp", "ami.power_restored"));
    }

    #[tokio::test]
    async fn a_dropped_unsettled_delivery_comes_back_marked_redelivered() {
        let bus = InProcessBus::new();
        let spec = QueueSpec::new("q").bind("x", "#");
        bus.declare(&[ExchangeSpec::topic("x")], std::slice::from_ref(&spec))
            .unwrap();
        let message = WireMessage {
            exchange: "x".into(),
            routing_key: "a".into(),
            message_id: "m1".into(),
            headers: Default::default(),
            body: vec![],
        };
        bus.publish(message).await.unwrap();
        let queue = bus.queue("q").unwrap();
        let ready = queue.try_pop().unwrap();
        let (first, unacked) = take_delivery(&queue, ready);
        assert!(!first.redelivered);
        drop(unacked);
        let again = queue.try_pop().unwrap();
        assert!(again.redelivered);
    }

    /// Counts counter increments by `name{labels}`.
    #[derive(Default)]
    struct CountingRecorder {
        counts: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    }

    struct CountingSlot {
        key: String,
        counts: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    }

    impl metrics::CounterFn for CountingSlot {
        fn increment(&self, value: u64) {
            *lock(&self.counts).entry(self.key.clone()).or_default() += value;
        }

        fn absolute(&self, _value: u64) {}
    }

    impl metrics::Recorder for CountingRecorder {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }

        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            metrics::Counter::from_arc(Arc::new(CountingSlot {
                key: format!("{}{{{}}}", key.name(), labels.join(",")),
                counts: self.counts.clone(),
            }))
        }

        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }

        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[tokio::test]
    async fn counters_follow_publish_delivery_ack_and_dead_letter_labelled_by_queue_and_exchange() {
        let recorder = CountingRecorder::default();
        // Current-thread runtime: the consumer's tasks see this thread's recorder too.
        let _guard = metrics::set_default_local_recorder(&recorder);
        let bus = InProcessBus::new();
        let spec = QueueSpec::new("q").bind("x", "#").max_attempts(1);
        bus.declare(&[ExchangeSpec::topic("x")], std::slice::from_ref(&spec))
            .unwrap();
        let message = |id: &str| WireMessage {
            exchange: "x".into(),
            routing_key: "a.b".into(),
            message_id: id.into(),
            headers: Default::default(),
            body: vec![],
        };
        bus.publish_batch(vec![message("ok"), message("bad")])
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let consumer = bus.consume(
            &spec,
            move |delivery: Delivery| {
                let stop = stop.clone();
                async move {
                    if delivery.message.message_id == "bad" {
                        stop.cancel();
                        return Err(HandlerError::Permanent("undecodable".into()));
                    }
                    Ok(())
                }
            },
            shutdown,
        );
        tokio::time::timeout(Duration::from_secs(5), consumer)
            .await
            .unwrap()
            .unwrap();
        let counts = lock(&recorder.counts).clone();
        assert_eq!(counts["fudian_bus_published_total{exchange=x}"], 2);
        assert_eq!(counts["fudian_bus_delivered_total{queue=q}"], 2);
        assert_eq!(counts["fudian_bus_acked_total{queue=q}"], 2);
        assert_eq!(counts["fudian_bus_dead_lettered_total{queue=q}"], 1);
        assert!(!counts.contains_key("fudian_bus_retried_total{queue=q}"));
    }
}
