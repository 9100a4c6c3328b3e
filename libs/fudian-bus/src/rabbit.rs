//! The RabbitMQ backend through lapin: a shared publishing connection with publisher confirms
//! (pipelined, `mandatory`, republished after a reconnect), one connection per consumer with
//! manual acks, delayed retries through the TTL delay queues of `topology`, dead letters, and
//! reconnection with backoff that redeclares the topology. No lapin type leaves this module.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use fudian_events::wire::WireMessage;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    Acker, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer,
    ExchangeKind, PublisherConfirm,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::envelope::{self, ERROR_HEADER, Settlement, count};
use crate::handler::{BatchHandler, Handler, HandlerError};
use crate::topology::{self, ExchangeSpec, QueueSpec};
use crate::{BusError, check_batch_outcomes};

/// Connection settings of the RabbitMQ backend.
#[derive(Debug, Clone)]
pub struct RabbitConfig {
    /// Shown in the RabbitMQ management UI, e.g. the service name.
    pub connection_name: String,
    /// Tries of the first connect before [`RabbitBus::connect`] fails.
    pub connect_attempts: usize,
    /// First delay between reconnect attempts; it doubles up to `reconnect_max_delay`.
    pub reconnect_min_delay: Duration,
    /// Longest delay between reconnect attempts.
    pub reconnect_max_delay: Duration,
    /// How long a publish keeps reconnecting and republishing before it fails.
    pub publish_patience: Duration,
}

impl Default for RabbitConfig {
    fn default() -> Self {
        Self {
            connection_name: "fudian".into(),
            connect_attempts: 5,
            reconnect_min_delay: Duration::from_millis(100),
            reconnect_max_delay: Duration::from_secs(5),
            publish_patience: Duration::from_secs(60),
        }
    }
}

/// The RabbitMQ bus. Clones share the publishing connection and the declared topology.
#[derive(Clone)]
pub struct RabbitBus {
    shared: Arc<Shared>,
}

impl fmt::Debug for RabbitBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL carries the password: leave it out.
        f.debug_struct("RabbitBus")
            .field("connection_name", &self.shared.config.connection_name)
            .finish_non_exhaustive()
    }
}

struct Shared {
    url: String,
    config: RabbitConfig,
    /// Everything declared so far, declared again on every new connection.
    topology: Mutex<Topology>,
    /// Exchanges known to exist (declared here or checked passively).
    known_exchanges: Mutex<HashSet<String>>,
    link: Mutex<Option<Arc<Link>>>,
    /// Serialises reconnecting so that one broken link yields one new connection.
    relinking: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    closed: CancellationToken,
}

#[derive(Debug, Default, Clone)]
struct Topology {
    exchanges: Vec<ExchangeSpec>,
    queues: Vec<QueueSpec>,
}

/// The publishing connection and its confirm-mode channels.
struct Link {
    generation: u64,
    connection: Connection,
    /// Confirm-mode channels no publish round is using. A round has its channel to itself,
    /// so every `basic.return` on it is about one of the round's own messages: lapin hands
    /// a return to whichever confirm of a multiple-ack it resolves first, and the round
    /// puts it right by message id (see [`attribute_returns`]). Concurrent publishers on
    /// one channel could not tell whose a return was.
    idle: Mutex<Vec<Channel>>,
}

impl Link {
    fn is_up(&self) -> bool {
        self.connection.status().connected()
    }

    /// An idle channel of this connection, or a new one in confirm mode.
    async fn take_channel(&self) -> Result<Channel, BusError> {
        loop {
            let Some(channel) = lock(&self.idle).pop() else {
                break;
            };
            if channel.status().connected() {
                return Ok(channel);
            }
        }
        let channel = within(
            BROKER_PATIENCE,
            "channel.open",
            self.connection.create_channel(),
        )
        .await?;
        within(
            BROKER_PATIENCE,
            "confirm.select",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        Ok(channel)
    }

    /// Returns a channel after its round; a closed one is dropped.
    fn give_back(&self, channel: Channel) {
        if channel.status().connected() {
            lock(&self.idle).push(channel);
        }
    }
}

/// How long one broker round trip (ack, cancel, close) may take before the connection is
/// taken for dead; a half-open TCP connection would otherwise hang shutdown forever.
const BROKER_PATIENCE: Duration = Duration::from_secs(10);
/// Confirms of a deep pipeline under load take longer than single round trips.
const CONFIRM_PATIENCE: Duration = Duration::from_secs(30);

async fn within<T>(
    patience: Duration,
    what: &str,
    operation: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, BusError> {
    match tokio::time::timeout(patience, operation).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(BusError::Connection(format!(
            "no answer to {what} within {} s",
            patience.as_secs()
        ))),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data behind these locks stays consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn short(value: &str) -> Result<ShortString, BusError> {
    ShortString::try_new(value).map_err(|_| BusError::invalid(value, "longer than 255 bytes"))
}

/// AMQP properties of a message: persistent JSON with its id and string headers.
fn properties(message: &WireMessage) -> Result<BasicProperties, BusError> {
    let mut headers = FieldTable::default();
    for (key, value) in &message.headers {
        headers.insert(
            short(key)?,
            AMQPValue::LongString(LongString::from(value.as_str())),
        );
    }
    Ok(BasicProperties::default()
        .with_message_id(short(&message.message_id)?)
        .with_content_type("application/json".into())
        // 2 = persistent: written to disk, survives a broker restart.
        .with_delivery_mode(2)
        .with_headers(headers))
}

fn header_text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(text) => Some(String::from_utf8_lossy(text.as_bytes()).into_owned()),
        AMQPValue::ShortString(text) => Some(text.as_str().to_owned()),
        AMQPValue::Boolean(flag) => Some(flag.to_string()),
        AMQPValue::ShortShortInt(n) => Some(n.to_string()),
        AMQPValue::ShortShortUInt(n) => Some(n.to_string()),
        AMQPValue::ShortInt(n) => Some(n.to_string()),
        AMQPValue::ShortUInt(n) => Some(n.to_string()),
        AMQPValue::LongInt(n) => Some(n.to_string()),
        AMQPValue::LongUInt(n) => Some(n.to_string()),
        AMQPValue::LongLongInt(n) => Some(n.to_string()),
        // `x-death` and other structured broker headers are not part of the wire message.
        _ => None,
    }
}

/// Splits a lapin delivery into the wire message (as on the wire, before restoring the
/// origin), the redelivered flag and the acker.
fn split_delivery(delivery: lapin::message::Delivery) -> (WireMessage, bool, Acker) {
    let lapin::message::Delivery {
        exchange,
        routing_key,
        redelivered,
        properties,
        data,
        acker,
        ..
    } = delivery;
    let headers: BTreeMap<String, String> = properties
        .headers()
        .as_ref()
        .map(|table| {
            table
                .inner()
                .iter()
                .filter_map(|(key, value)| header_text(value).map(|text| (key.to_string(), text)))
                .collect()
        })
        .unwrap_or_default();
    let message = WireMessage {
        exchange: exchange.to_string(),
        routing_key: routing_key.to_string(),
        message_id: properties
            .message_id()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers,
        body: data,
    };
    (message, redelivered, acker)
}

/// Sends one message with `mandatory` set on a confirm-mode channel; the confirm is awaited
/// by the caller.
async fn send(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    message: &WireMessage,
) -> Result<PublisherConfirm, BusError> {
    let (exchange, routing_key, properties) =
        (short(exchange)?, short(routing_key)?, properties(message)?);
    within(
        BROKER_PATIENCE,
        "basic.publish",
        channel.basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions {
                // Unroutable messages come back to us instead of vanishing.
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &message.body,
            properties,
        ),
    )
    .await
}

/// What the broker said about one publish of a round, with the id of the message any
/// `basic.return` lapin attached to it (`Some("")` for a return without an id).
#[derive(Debug)]
enum Confirmed {
    Ack { returned: Option<String> },
    Nack { returned: Option<String> },
    Failed(BusError),
}

impl Confirmed {
    fn of(confirmation: Result<Confirmation, BusError>) -> Self {
        let id = |message: &lapin::message::Delivery| {
            message
                .properties
                .message_id()
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        };
        match confirmation {
            Ok(Confirmation::Ack(returned)) => Self::Ack {
                returned: returned.as_deref().map(id),
            },
            Ok(Confirmation::Nack(returned)) => Self::Nack {
                returned: returned.as_deref().map(id),
            },
            Ok(Confirmation::NotRequested) => Self::Failed(BusError::Broker(
                "publisher confirms are not enabled on the channel".into(),
            )),
            Err(error) => Self::Failed(error),
        }
    }
}

/// What the broker said about one publish awaited on its own.
fn confirmed(
    message: &WireMessage,
    confirmation: Result<Confirmation, BusError>,
) -> Result<(), BusError> {
    attribute_returns(
        std::slice::from_ref(message),
        vec![(0, Confirmed::of(confirmation))],
    )
    .pop()
    .map_or(Ok(()), |(_, outcome)| outcome)
}

/// The outcome of each publish of one round (`(index into messages, what the broker said)`,
/// on a channel no one else used meanwhile). A returned message is unroutable whichever
/// confirm lapin attached its return to: returns are matched to the round's messages by
/// message id. A return whose id matches none of them (or is empty) counts against the
/// confirm it came with, as the broker's order suggests.
fn attribute_returns(
    messages: &[WireMessage],
    confirmations: Vec<(usize, Confirmed)>,
) -> Vec<(usize, Result<(), BusError>)> {
    let in_round: HashSet<&str> = confirmations
        .iter()
        .map(|(index, _)| messages[*index].message_id.as_str())
        .filter(|id| !id.is_empty())
        .collect();
    let mut returned: HashSet<String> = HashSet::new();
    let mut returned_here: HashSet<usize> = HashSet::new();
    for (index, confirmed) in &confirmations {
        if let Confirmed::Ack { returned: Some(id) } | Confirmed::Nack { returned: Some(id) } =
            confirmed
        {
            if in_round.contains(id.as_str()) {
                returned.insert(id.clone());
            } else {
                returned_here.insert(*index);
            }
        }
    }
    let unroutable = |message: &WireMessage| BusError::Unroutable {
        exchange: message.exchange.clone(),
        routing_key: message.routing_key.clone(),
        message_id: message.message_id.clone(),
    };
    confirmations
        .into_iter()
        .map(|(index, confirmed)| {
            let message = &messages[index];
            let outcome = if returned.contains(message.message_id.as_str())
                || returned_here.contains(&index)
            {
                Err(unroutable(message))
            } else {
                match confirmed {
                    Confirmed::Ack { .. } => Ok(()),
                    Confirmed::Nack { .. } => Err(BusError::Nacked {
                        message_id: message.message_id.clone(),
                    }),
                    Confirmed::Failed(error) => Err(error),
                }
            };
            (index, outcome)
        })
        .collect()
}

impl RabbitBus {
    /// Connects (retrying up to `config.connect_attempts` times) and opens the publishing
    /// channel.
    pub async fn connect(url: &str, config: RabbitConfig) -> Result<Self, BusError> {
        let bus = Self {
            shared: Arc::new(Shared {
                url: url.to_owned(),
                config,
                topology: Mutex::default(),
                known_exchanges: Mutex::default(),
                link: Mutex::default(),
                relinking: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                closed: CancellationToken::new(),
            }),
        };
        let backoff = bus
            .backoff()
            .with_max_times(bus.shared.config.connect_attempts.saturating_sub(1));
        bus.relink(None, backoff).await?;
        Ok(bus)
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.shared.config.reconnect_min_delay)
            .with_max_delay(self.shared.config.reconnect_max_delay)
            .with_jitter()
    }

    fn publish_backoff(&self) -> ExponentialBuilder {
        self.backoff()
            .without_max_times()
            .with_total_delay(Some(self.shared.config.publish_patience))
    }

    async fn open_connection(&self) -> Result<Connection, BusError> {
        let properties = ConnectionProperties::default().with_connection_name(LongString::from(
            self.shared.config.connection_name.as_str(),
        ));
        Ok(Connection::connect(&self.shared.url, properties).await?)
    }

    /// A new connection with one confirm-mode channel, the known topology declared on it.
    async fn open_session(&self) -> Result<(Connection, Channel), BusError> {
        let connection = self.open_connection().await?;
        let channel = connection.create_channel().await?;
        let topology = lock(&self.shared.topology).clone();
        topology::declare(&channel, &topology.exchanges, &topology.queues).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok((connection, channel))
    }

    async fn link(&self) -> Result<Arc<Link>, BusError> {
        if self.shared.closed.is_cancelled() {
            return Err(BusError::Closed);
        }
        let current = lock(&self.shared.link).clone();
        match current {
            Some(link) if link.is_up() => Ok(link),
            _ => self.relink(None, self.publish_backoff()).await,
        }
    }

    /// Replaces the publishing link, unless someone already replaced the `broken` one.
    async fn relink(
        &self,
        broken: Option<u64>,
        backoff: ExponentialBuilder,
    ) -> Result<Arc<Link>, BusError> {
        let _relinking = self.shared.relinking.lock().await;
        let current = lock(&self.shared.link).clone();
        if let Some(link) = current
            && Some(link.generation) != broken
            && link.is_up()
        {
            return Ok(link);
        }
        if let Some(old) = lock(&self.shared.link).take() {
            tokio::spawn(async move {
                // Best effort: the socket is usually gone already.
                let _ = within(
                    BROKER_PATIENCE,
                    "connection.close",
                    old.connection.close(200, "reconnecting".into()),
                )
                .await;
            });
        }
        let mut delays = backoff.build();
        let mut attempts = 0;
        loop {
            if self.shared.closed.is_cancelled() {
                return Err(BusError::Closed);
            }
            attempts += 1;
            match self.open_session().await {
                Ok((connection, channel)) => {
                    let link = Arc::new(Link {
                        generation: self.shared.generation.fetch_add(1, Ordering::Relaxed) + 1,
                        connection,
                        idle: Mutex::new(vec![channel]),
                    });
                    *lock(&self.shared.link) = Some(link.clone());
                    if attempts > 1 {
                        tracing::info!(attempts, "publisher reconnected to the broker");
                    }
                    return Ok(link);
                }
                Err(error) if !error.is_transient() => return Err(error),
                Err(error) => match delays.next() {
                    Some(delay) => {
                        tracing::warn!(error = %error, attempts, delay_ms = delay.as_millis() as u64, "broker unreachable, retrying");
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        return Err(BusError::Unavailable {
                            attempts,
                            last_error: error.to_string(),
                        });
                    }
                },
            }
        }
    }

    /// Declares exchanges and queues now and again after every reconnect.
    pub async fn declare(
        &self,
        exchanges: &[ExchangeSpec],
        queues: &[QueueSpec],
    ) -> Result<(), BusError> {
        for queue in queues {
            queue.validate()?;
        }
        let link = self.link().await?;
        // A throwaway channel: a refused declaration closes it, not the publishing channel.
        let channel = link.connection.create_channel().await?;
        let declared = topology::declare(&channel, exchanges, queues).await;
        let _ = channel.close(200, "declared".into()).await;
        declared?;
        let mut topology = lock(&self.shared.topology);
        for exchange in exchanges {
            if !topology.exchanges.contains(exchange) {
                topology.exchanges.push(exchange.clone());
            }
        }
        for queue in queues {
            topology.queues.retain(|known| known.name != queue.name);
            topology.queues.push(queue.clone());
        }
        lock(&self.shared.known_exchanges).extend(exchanges.iter().map(|e| e.name.clone()));
        Ok(())
    }

    /// Publishing to an exchange that does not exist closes the channel with every message in
    /// flight on it, so exchanges are checked (passively, once) before publishing.
    async fn check_exchanges(&self, messages: &[WireMessage]) -> Result<(), BusError> {
        let unknown: Vec<String> = {
            let known = lock(&self.shared.known_exchanges);
            let mut unknown: Vec<String> = messages
                .iter()
                .map(|message| &message.exchange)
                .filter(|exchange| !exchange.is_empty() && !known.contains(*exchange))
                .cloned()
                .collect();
            unknown.sort();
            unknown.dedup();
            unknown
        };
        if unknown.is_empty() {
            return Ok(());
        }
        let link = self.link().await?;
        for exchange in unknown {
            let channel = link.connection.create_channel().await?;
            let exists = channel
                .exchange_declare(
                    short(&exchange)?,
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        passive: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await;
            let _ = channel.close(200, "checked".into()).await;
            match exists.map_err(BusError::from) {
                Ok(()) => {
                    lock(&self.shared.known_exchanges).insert(exchange);
                }
                Err(BusError::Refused(_)) => return Err(BusError::UnknownExchange(exchange)),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Publishes one message and waits for its confirm.
    pub async fn publish(&self, message: WireMessage) -> Result<(), BusError> {
        self.publish_batch(vec![message]).await
    }

    /// Publishes all messages, then awaits all confirms; what was not confirmed when the
    /// connection broke is published again on a new connection.
    pub async fn publish_batch(&self, mut messages: Vec<WireMessage>) -> Result<(), BusError> {
        if self.shared.closed.is_cancelled() {
            return Err(BusError::Closed);
        }
        if messages.is_empty() {
            return Ok(());
        }
        for message in &mut messages {
            envelope::inject_trace_context(&mut message.headers);
        }
        self.check_exchanges(&messages).await?;
        let span = tracing::debug_span!("bus.publish", messaging.batch.size = messages.len());
        async {
            let mut pending: Vec<usize> = (0..messages.len()).collect();
            let mut delays = self.publish_backoff().build();
            let mut broken: Option<u64> = None;
            let mut refused: Option<BusError> = None;
            let mut rounds = 0;
            loop {
                rounds += 1;
                let link = match broken {
                    Some(generation) => self.relink(Some(generation), self.publish_backoff()).await?,
                    None => self.link().await?,
                };
                broken = None;
                let mut retry = Vec::new();
                let mut last_error = None;
                let outcomes = match link.take_channel().await {
                    Ok(channel) => {
                        let outcomes = publish_round(&channel, &messages, &pending).await;
                        link.give_back(channel);
                        outcomes
                    }
                    Err(error) => {
                        let reason = error.to_string();
                        pending
                            .iter()
                            .map(|&index| {
                                (index, Err(BusError::Connection(format!("not sent: {reason}"))))
                            })
                            .collect()
                    }
                };
                for (index, outcome) in outcomes {
                    match outcome {
                        Ok(()) => {}
                        Err(error) if error.is_transient() => {
                            if !matches!(error, BusError::Nacked { .. }) {
                                broken = Some(link.generation);
                            }
                            last_error = Some(error);
                            retry.push(index);
                        }
                        Err(error) => {
                            refused.get_or_insert(error);
                        }
                    }
                }
                envelope::count_published(
                    pending
                        .iter()
                        .filter(|index| !retry.contains(index))
                        .map(|&index| messages[index].exchange.as_str()),
                );
                let Some(last_error) = last_error else {
                    return refused.map_or(Ok(()), Err);
                };
                tracing::warn!(error = %last_error, unconfirmed = retry.len(), "publishing again after a failed confirm");
                pending = retry;
                match delays.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => {
                        return Err(BusError::Unavailable {
                            attempts: rounds,
                            last_error: last_error.to_string(),
                        });
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Opens a consumer's own connection and channel: topology declared, confirms on (for
    /// retry and dead-letter copies), prefetch set, consuming.
    async fn open_consumer(
        &self,
        spec: &QueueSpec,
    ) -> Result<(Connection, Channel, Consumer), BusError> {
        let (connection, channel) = self.open_session().await?;
        channel
            .basic_qos(spec.prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                short(&spec.name)?,
                short("")?,
                BasicConsumeOptions {
                    // Manual acks: a delivery counts only once its handler committed.
                    no_ack: false,
                    // Replicas compete on the same queue.
                    exclusive: false,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok((connection, channel, consumer))
    }

    /// Runs `session` for every (re)connection of a consumer until shutdown, reconnecting with
    /// backoff; `session` returns `None` on shutdown and the error that ended it otherwise.
    async fn consume_loop<S, F>(
        &self,
        spec: &QueueSpec,
        shutdown: &CancellationToken,
        mut session: S,
    ) -> Result<(), BusError>
    where
        S: FnMut(Channel, Consumer) -> F,
        F: Future<Output = Option<BusError>>,
    {
        let mut delays = self.backoff().without_max_times().build();
        loop {
            let opened = tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                opened = self.open_consumer(spec) => opened,
            };
            let (connection, channel, consumer) = match opened {
                Ok(opened) => opened,
                Err(error) if !error.is_transient() => return Err(error),
                Err(error) => {
                    let delay = delays
                        .next()
                        .unwrap_or(self.shared.config.reconnect_max_delay);
                    tracing::warn!(error = %error, queue = %spec.name, delay_ms = delay.as_millis() as u64, "consumer cannot connect, retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(delay) => continue,
                    }
                }
            };
            delays = self.backoff().without_max_times().build();
            let ended = session(channel.clone(), consumer).await;
            match ended {
                None => {
                    let _ = within(
                        BROKER_PATIENCE,
                        "channel.close",
                        channel.close(200, "shutdown".into()),
                    )
                    .await;
                    let _ = within(
                        BROKER_PATIENCE,
                        "connection.close",
                        connection.close(200, "shutdown".into()),
                    )
                    .await;
                    return Ok(());
                }
                Some(error) => {
                    tracing::warn!(error = %error, queue = %spec.name, "consumer lost the broker, reconnecting");
                    tokio::spawn(async move {
                        let _ = within(
                            BROKER_PATIENCE,
                            "connection.close",
                            connection.close(200, "reconnecting".into()),
                        )
                        .await;
                    });
                }
            }
        }
    }

    /// Consumes `spec`'s queue until `shutdown`, handlers running concurrently up to the
    /// prefetch; reconnects when the broker goes away.
    pub async fn consume<H: Handler>(
        &self,
        spec: &QueueSpec,
        handler: H,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        self.declare(&[], std::slice::from_ref(spec)).await?;
        let handler = Arc::new(handler);
        let shared_spec = Arc::new(spec.clone());
        let tracker = TaskTracker::new();
        let result = self
            .consume_loop(spec, &shutdown, |channel, mut consumer| {
                let handler = handler.clone();
                let spec = shared_spec.clone();
                let tracker = tracker.clone();
                let shutdown = shutdown.clone();
                async move {
                    let ended = loop {
                        let next = tokio::select! {
                            biased;
                            () = shutdown.cancelled() => break None,
                            next = consumer.next() => next,
                        };
                        match next {
                            Some(Ok(delivery)) => {
                                count::delivered(&spec.name, 1);
                                tracker.spawn(handle_one(
                                    channel.clone(),
                                    spec.clone(),
                                    handler.clone(),
                                    delivery,
                                ));
                            }
                            Some(Err(error)) => break Some(BusError::from(error)),
                            None => {
                                break Some(BusError::Connection("consumer stream ended".into()));
                            }
                        }
                    };
                    if ended.is_none() {
                        // Stop new deliveries, then let the in-flight ones finish and ack
                        // while the channel is still open; the rest is requeued on close.
                        let _ = within(
                            BROKER_PATIENCE,
                            "basic.cancel",
                            channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()),
                        )
                        .await;
                        tracker.close();
                        tracker.wait().await;
                    }
                    ended
                }
            })
            .await;
        tracker.close();
        tracker.wait().await;
        result
    }

    /// Consumes in batches of up to `max_batch` deliveries (at most the prefetch), waiting at
    /// most `max_wait` after the first; a fully successful batch is acked with one
    /// `ack(multiple)`.
    pub async fn consume_batch<H: BatchHandler>(
        &self,
        spec: &QueueSpec,
        max_batch: usize,
        max_wait: Duration,
        handler: H,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        self.declare(&[], std::slice::from_ref(spec)).await?;
        let max_batch = max_batch.clamp(1, usize::from(spec.prefetch));
        let handler = Arc::new(handler);
        self.consume_loop(spec, &shutdown, |channel, mut consumer| {
            let handler = handler.clone();
            let shutdown = shutdown.clone();
            async move {
                loop {
                    let first = tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return None,
                        next = consumer.next() => next,
                    };
                    let mut batch = match first {
                        Some(Ok(delivery)) => vec![delivery],
                        Some(Err(error)) => return Some(BusError::from(error)),
                        None => return Some(BusError::Connection("consumer stream ended".into())),
                    };
                    let deadline = tokio::time::Instant::now() + max_wait;
                    while batch.len() < max_batch {
                        tokio::select! {
                            biased;
                            next = consumer.next() => match next {
                                Some(Ok(delivery)) => batch.push(delivery),
                                // The unacked batch is redelivered after the reconnect.
                                Some(Err(error)) => return Some(BusError::from(error)),
                                None => return Some(BusError::Connection("consumer stream ended".into())),
                            },
                            () = tokio::time::sleep_until(deadline) => break,
                            () = shutdown.cancelled() => break,
                        }
                    }
                    handle_batch(&channel, spec, handler.as_ref(), batch).await;
                }
            }
        })
        .await
    }

    /// Up to `max` dead letters of `queue`, left in `<queue>.dlq` (read without ack, then
    /// returned to the queue when the reading channel closes).
    pub async fn dead_letters(
        &self,
        queue: &str,
        max: usize,
    ) -> Result<Vec<WireMessage>, BusError> {
        let link = self.link().await?;
        let channel = link.connection.create_channel().await?;
        let dead_letter_queue = short(&format!("{queue}.dlq"))?;
        let mut letters = Vec::new();
        let mut failure = None;
        while letters.len() < max {
            match channel
                .basic_get(dead_letter_queue.clone(), BasicGetOptions { no_ack: false })
                .await
            {
                Ok(Some(got)) => {
                    let (message, _, _) = split_delivery(got.delivery);
                    let (mut message, _) = envelope::restore_origin(message, true);
                    if !message.headers.contains_key(ERROR_HEADER) {
                        // Dead-lettered by the broker itself (delivery limit): say why.
                        let reason = message
                            .headers
                            .get("x-first-death-reason")
                            .cloned()
                            .unwrap_or_else(|| "unknown".into());
                        message.headers.insert(
                            ERROR_HEADER.into(),
                            format!("dead-lettered by the broker: {reason}"),
                        );
                    }
                    letters.push(message);
                }
                Ok(None) => break,
                Err(error) => {
                    failure = Some(BusError::from(error));
                    break;
                }
            }
        }
        let _ = channel.close(200, "peeked".into()).await;
        match failure {
            Some(BusError::Refused(_)) => Err(BusError::UnknownQueue(queue.to_owned())),
            Some(error) => Err(error),
            None => Ok(letters),
        }
    }

    /// Deletes a queue, its delay queues, dead-letter exchange and DLQ.
    pub async fn delete_queue(&self, spec: &QueueSpec) -> Result<(), BusError> {
        let link = self.link().await?;
        let channel = link.connection.create_channel().await?;
        let mut queues = vec![spec.name.clone(), spec.dead_letter_queue()];
        queues.extend(
            spec.distinct_delays()
                .into_iter()
                .map(|delay| spec.retry_queue(delay)),
        );
        for queue in queues {
            channel
                .queue_delete(short(&queue)?, QueueDeleteOptions::default())
                .await?;
        }
        channel
            .exchange_delete(
                short(&spec.dead_letter_exchange())?,
                ExchangeDeleteOptions::default(),
            )
            .await?;
        let _ = channel.close(200, "deleted".into()).await;
        lock(&self.shared.topology)
            .queues
            .retain(|queue| queue.name != spec.name);
        Ok(())
    }

    /// Deletes an exchange and forgets it, so it is not redeclared after a reconnect.
    pub async fn delete_exchange(&self, name: &str) -> Result<(), BusError> {
        let link = self.link().await?;
        let channel = link.connection.create_channel().await?;
        channel
            .exchange_delete(short(name)?, ExchangeDeleteOptions::default())
            .await?;
        let _ = channel.close(200, "deleted".into()).await;
        lock(&self.shared.topology)
            .exchanges
            .retain(|exchange| exchange.name != name);
        lock(&self.shared.known_exchanges).remove(name);
        Ok(())
    }

    /// Closes the publishing connection; later publishes fail with [`BusError::Closed`].
    pub async fn close(&self) {
        self.shared.closed.cancel();
        let link = lock(&self.shared.link).take();
        if let Some(link) = link {
            let _ = link.connection.close(200, "closing".into()).await;
        }
    }
}

/// Sends every pending message, then awaits every confirm, in order.
async fn publish_round(
    channel: &Channel,
    messages: &[WireMessage],
    pending: &[usize],
) -> Vec<(usize, Result<(), BusError>)> {
    let mut outcomes = Vec::with_capacity(pending.len());
    let mut in_flight = Vec::with_capacity(pending.len());
    let mut send_failed = None;
    for &index in pending {
        let message = &messages[index];
        if let Some(error) = &send_failed {
            outcomes.push((
                index,
                Err(BusError::Connection(format!("not sent: {error}"))),
            ));
            continue;
        }
        match send(channel, &message.exchange, &message.routing_key, message).await {
            Ok(confirm) => in_flight.push((index, confirm)),
            Err(error) if error.is_transient() => {
                send_failed = Some(error.to_string());
                outcomes.push((index, Err(error)));
            }
            Err(error) => outcomes.push((index, Err(error))),
        }
    }
    let mut confirmations = Vec::with_capacity(in_flight.len());
    for (index, confirm) in in_flight {
        let confirmation = within(CONFIRM_PATIENCE, "publisher confirm", confirm).await;
        confirmations.push((index, Confirmed::of(confirmation)));
    }
    outcomes.extend(attribute_returns(messages, confirmations));
    outcomes
}

/// Handles one delivery and settles it: ack, or copy to a delay queue / the DLQ then ack.
async fn handle_one<H: Handler>(
    channel: Channel,
    spec: Arc<QueueSpec>,
    handler: Arc<H>,
    delivery: lapin::message::Delivery,
) {
    let (message, redelivered, acker) = split_delivery(delivery);
    let (message, attempt) = envelope::restore_origin(message, false);
    let delivery = envelope::delivery(&spec.name, message.clone(), redelivered, attempt);
    let span = delivery.span.clone();
    let outcome = handler.handle(delivery).instrument(span.clone()).await;
    async {
        let settlement = envelope::settle(&spec, &message, attempt, &outcome);
        let forwarded = forward(&channel, &spec, &settlement).await;
        match forwarded {
            Ok(()) => {
                log_failure(&spec, &message, &outcome, &settlement);
                match within(BROKER_PATIENCE, "basic.ack", acker.ack(BasicAckOptions::default())).await {
                    Ok(_) => count::acked(&spec.name, 1),
                    Err(error) => {
                        tracing::debug!(error = %error, "ack failed, the broker will redeliver")
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, queue = %spec.name, "could not forward a failed delivery, requeueing it");
                let _ = within(BROKER_PATIENCE, "basic.nack", acker.nack(BasicNackOptions { requeue: true, multiple: false })).await;
            }
        }
    }
    .instrument(span)
    .await;
}

/// Publishes the retry or dead-letter copy a settlement calls for and awaits its confirm.
async fn forward(
    channel: &Channel,
    spec: &QueueSpec,
    settlement: &Settlement,
) -> Result<(), BusError> {
    let (exchange, routing_key, message) = match settlement {
        Settlement::Ack => return Ok(()),
        Settlement::Retry { delay, message } => (String::new(), spec.retry_queue(*delay), message),
        Settlement::DeadLetter { message } => (
            spec.dead_letter_exchange(),
            message.routing_key.clone(),
            message,
        ),
    };
    let confirm = send(channel, &exchange, &routing_key, message).await?;
    confirmed(
        message,
        within(CONFIRM_PATIENCE, "publisher confirm", confirm).await,
    )
}

fn log_failure(
    spec: &QueueSpec,
    message: &WireMessage,
    outcome: &Result<(), HandlerError>,
    settlement: &Settlement,
) {
    let Err(error) = outcome else {
        return;
    };
    match settlement {
        Settlement::Ack => {}
        Settlement::Retry { delay, .. } => {
            count::retried(&spec.name);
            tracing::warn!(error = %error, queue = %spec.name, message.id = %message.message_id, delay_ms = delay.as_millis() as u64, "delivery failed, retrying later");
        }
        Settlement::DeadLetter { .. } => {
            count::dead_lettered(&spec.name);
            tracing::error!(error = %error, queue = %spec.name, message.id = %message.message_id, "delivery dead-lettered");
        }
    }
}

/// Runs the batch handler, forwards retries and dead letters (pipelined), then acks the whole
/// batch with one `ack(multiple)`, or one by one if a forward failed.
async fn handle_batch<H: BatchHandler>(
    channel: &Channel,
    spec: &QueueSpec,
    handler: &H,
    batch: Vec<lapin::message::Delivery>,
) {
    count::delivered(&spec.name, batch.len() as u64);
    let mut originals = Vec::with_capacity(batch.len());
    let mut deliveries = Vec::with_capacity(batch.len());
    let mut ackers = Vec::with_capacity(batch.len());
    for delivery in batch {
        let (message, redelivered, acker) = split_delivery(delivery);
        let (message, attempt) = envelope::restore_origin(message, false);
        deliveries.push(envelope::delivery(
            &spec.name,
            message.clone(),
            redelivered,
            attempt,
        ));
        originals.push((message, attempt));
        ackers.push(acker);
    }
    let batch_span = tracing::info_span!(
        "bus.deliver_batch",
        messaging.destination = %spec.name,
        messaging.batch.size = ackers.len(),
    );
    let outcomes = check_batch_outcomes(
        handler
            .handle_batch(deliveries)
            .instrument(batch_span)
            .await,
        ackers.len(),
    );

    let mut in_flight = Vec::new();
    let mut failed = Vec::new();
    for (index, ((message, attempt), outcome)) in originals.iter().zip(&outcomes).enumerate() {
        let settlement = envelope::settle(spec, message, *attempt, outcome);
        let (exchange, routing_key, copy) = match &settlement {
            Settlement::Ack => continue,
            Settlement::Retry { delay, message } => {
                (String::new(), spec.retry_queue(*delay), message)
            }
            Settlement::DeadLetter { message } => (
                spec.dead_letter_exchange(),
                message.routing_key.clone(),
                message,
            ),
        };
        match send(channel, &exchange, &routing_key, copy).await {
            Ok(confirm) => in_flight.push((index, settlement.clone(), confirm)),
            Err(error) => failed.push((index, error)),
        }
    }
    for (index, settlement, confirm) in in_flight {
        let (message, _) = &originals[index];
        let copy = match &settlement {
            Settlement::Retry { message, .. } | Settlement::DeadLetter { message } => message,
            Settlement::Ack => message,
        };
        match confirmed(
            copy,
            within(CONFIRM_PATIENCE, "publisher confirm", confirm).await,
        ) {
            Ok(()) => log_failure(spec, message, &outcomes[index], &settlement),
            Err(error) => failed.push((index, error)),
        }
    }

    if failed.is_empty() {
        if let Some(last) = ackers.last() {
            match within(
                BROKER_PATIENCE,
                "basic.ack",
                last.ack(BasicAckOptions { multiple: true }),
            )
            .await
            {
                Ok(_) => count::acked(&spec.name, ackers.len() as u64),
                Err(error) => {
                    tracing::debug!(error = %error, "batch ack failed, the broker will redeliver")
                }
            }
        }
        return;
    }
    for (index, acker) in ackers.iter().enumerate() {
        if let Some((_, error)) = failed.iter().find(|(failed, _)| *failed == index) {
            tracing::warn!(error = %error, queue = %spec.name, "could not forward a failed delivery, requeueing it");
            let _ = within(
                BROKER_PATIENCE,
                "basic.nack",
                acker.nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                }),
            )
            .await;
        } else if within(
            BROKER_PATIENCE,
            "basic.ack",
            acker.ack(BasicAckOptions::default()),
        )
        .await
        .is_ok()
        {
            count::acked(&spec.name, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(ids: &[&str]) -> Vec<WireMessage> {
        ids.iter()
            .map(|id| WireMessage {
                exchange: "fudian.field".into(),
                routing_key: "scada.x".into(),
                message_id: (*id).to_owned(),
                headers: BTreeMap::new(),
                body: Vec::new(),
            })
            .collect()
    }

    fn ack(returned: Option<&str>) -> Confirmed {
        Confirmed::Ack {
            returned: returned.map(str::to_owned),
        }
    }

    fn unroutable_ids(outcomes: &[(usize, Result<(), BusError>)]) -> Vec<String> {
        outcomes
            .iter()
            .filter_map(|(_, outcome)| match outcome {
                Err(BusError::Unroutable { message_id, .. }) => Some(message_id.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_return_attached_to_another_confirm_is_put_on_its_own_message() {
        let round = messages(&["m1", "m2", "m3"]);
        // m3 came back, but lapin resolved m1's confirm with the return.
        let outcomes = attribute_returns(
            &round,
            vec![(0, ack(Some("m3"))), (1, ack(None)), (2, ack(None))],
        );
        assert_eq!(unroutable_ids(&outcomes), ["m3"]);
        assert!(outcomes[0].1.is_ok() && outcomes[1].1.is_ok());
    }

    #[test]
    fn a_return_of_an_unknown_message_counts_against_the_confirm_it_came_with() {
        let round = messages(&["m1", "m2"]);
        let outcomes = attribute_returns(&round, vec![(0, ack(None)), (1, ack(Some("")))]);
        assert_eq!(unroutable_ids(&outcomes), ["m2"]);
    }

    #[test]
    fn nacks_and_failures_keep_their_own_errors() {
        let round = messages(&["m1", "m2", "m3"]);
        let outcomes = attribute_returns(
            &round,
            vec![
                (0, Confirmed::Nack { returned: None }),
                (1, Confirmed::Failed(BusError::Connection("gone".into()))),
                (2, ack(None)),
            ],
        );
        assert!(
            matches!(&outcomes[0].1, Err(BusError::Nacked { message_id }) if message_id == "m1")
        );
        assert!(matches!(&outcomes[1].1, Err(BusError::Connection(_))));
        assert!(outcomes[2].1.is_ok());
    }
}
