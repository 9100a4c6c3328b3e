//! `fudian sim`: generates realistic field traffic for a grid package (`fudian-sim`),
//! writes its ground truth, and publishes it to RabbitMQ at the chosen pace, or prints it
//! as JSON lines (a dry run, without `--amqp`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use fudian_bus::{Bus, ExchangeSpec, FIELD_EXCHANGE, RabbitConfig, WireMessage};
use fudian_sim::{SimOptions, Simulation, TimedEvent, count_by_type, generate};

/// The sample grid, relative to the working directory (the repository root).
const DEFAULT_GRID: &str = "examples/grids/mv-oberrhein";
/// Largest batch handed to the broker at once (confirms are awaited per batch).
const PUBLISH_CHUNK: usize = 1_000;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// The grid package folder.
    #[arg(long, default_value = DEFAULT_GRID)]
    pub grid: PathBuf,
    /// Sustained faults to simulate.
    #[arg(long, default_value_t = 10)]
    pub faults: usize,
    /// Storm mode: this many faults per minute.
    #[arg(long, value_name = "N_PER_MIN")]
    pub storm: Option<f64>,
    /// Seed: the same seed and grid give the same events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the ground truth (faults, devices, customers out, times) to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// RabbitMQ URL, e.g. amqp://guest:guest@127.0.0.1:5672/%2f; without it the events are
    /// printed as JSON lines.
    #[arg(long, value_name = "URL")]
    pub amqp: Option<String>,
    /// Print the events as JSON lines instead of publishing (the default without --amqp).
    #[arg(long, conflicts_with = "amqp")]
    pub dry_run: bool,
    /// Pace: 1 = real time, 10 = ten times faster, 0 = as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Prefix of the exchange names (tests publish to their own exchanges).
    #[arg(long, default_value = "")]
    pub exchange_prefix: String,
    /// Mean minutes between faults outside storm mode.
    #[arg(long, default_value_t = 2.0)]
    pub gap_minutes: f64,
    /// Minutes from the trip to the crew's arrival.
    #[arg(long, default_value_t = 20.0)]
    pub crew_minutes: f64,
    /// Minutes from the trip to the repair.
    #[arg(long, default_value_t = 90.0)]
    pub repair_minutes: f64,
    /// No isolation and transfer through tie switches before the repair.
    #[arg(long)]
    pub no_switching: bool,
    /// Momentary interruptions, as a share of --faults.
    #[arg(long, default_value_t = 0.2)]
    pub momentary_share: f64,
    /// Share of last gasps that never arrive.
    #[arg(long, default_value_t = 0.1)]
    pub lost_share: f64,
    /// Share of last gasps that arrive late.
    #[arg(long, default_value_t = 0.1)]
    pub late_share: f64,
    /// Share of affected customers who call.
    #[arg(long, default_value_t = 0.2)]
    pub callers_share: f64,
    /// Share of messages sent twice with the same id.
    #[arg(long, default_value_t = 0.03)]
    pub duplicate_share: f64,
    /// Messages are sent up to this many ms after they happened (reordering).
    #[arg(long, default_value_t = 2_000)]
    pub reorder_ms: u64,
}

impl SimArgs {
    fn options(&self) -> anyhow::Result<SimOptions> {
        let minutes = |name: &str, value: f64| -> anyhow::Result<Duration> {
            Duration::try_from_secs_f64(value * 60.0).map_err(|_| {
                anyhow::anyhow!("--{name} must be a non-negative number of minutes, found {value}")
            })
        };
        let options = SimOptions {
            seed: self.seed,
            faults: self.faults,
            storm_per_minute: self.storm,
            mean_fault_gap: minutes("gap-minutes", self.gap_minutes)?,
            crew_after: minutes("crew-minutes", self.crew_minutes)?,
            repair_after: minutes("repair-minutes", self.repair_minutes)?,
            switching: !self.no_switching,
            share_momentary: self.momentary_share,
            share_last_gasp_lost: self.lost_share,
            share_late: self.late_share,
            share_callers: self.callers_share,
            duplicate_share: self.duplicate_share,
            reorder_ms: self.reorder_ms,
            ..SimOptions::default()
        };
        options.validate()?;
        Ok(options)
    }
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    if !(args.speed.is_finite() && args.speed >= 0.0) {
        bail!(
            "--speed must be 0 (as fast as possible) or a positive factor, found {}",
            args.speed
        );
    }
    let options = args.options()?;
    let grid = fudian_grid::load_package(&args.grid)
        .with_context(|| format!("loading the grid package {}", args.grid.display()))?;
    let started = Instant::now();
    let simulation = generate(&grid, &options, fudian_events::now_shanghai())?;
    eprintln!(
        "fudian sim: {} faults, {} momentary trips, {} messages over {} (generated in {:.0?}){}",
        simulation.truth.faults.len(),
        simulation.truth.momentaries.len(),
        simulation.events.len(),
        clock(simulation.events.last().map_or(0, |e| e.at_offset_ms)),
        started.elapsed(),
        match simulation.truth.deferred_faults {
            0 => String::new(),
            n => format!("; {n} faults deferred until a feeder was free"),
        }
    );
    if let Some(path) = &args.truth {
        std::fs::write(path, simulation.truth.to_json())
            .with_context(|| format!("writing the ground truth to {}", path.display()))?;
        eprintln!("fudian sim: ground truth written to {}", path.display());
    }
    match &args.amqp {
        Some(url) if !args.dry_run => publish(&args, url, simulation).await,
        _ => print_json_lines(&simulation),
    }
}

fn print_json_lines(simulation: &Simulation) -> anyhow::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for event in &simulation.events {
        let body: serde_json::Value =
            serde_json::from_slice(&event.wire.body).context("a generated body is not JSON")?;
        let line = serde_json::json!({
            "at_offset_ms": event.at_offset_ms,
            "exchange": event.wire.exchange,
            "routing_key": event.wire.routing_key,
            "message_id": event.wire.message_id,
            "body": body,
        });
        if let Err(error) = writeln!(out, "{line}") {
            return quiet_on_closed_pipe(error);
        }
    }
    out.flush().or_else(quiet_on_closed_pipe)
}

/// A reader that stopped reading (`fudian sim | head`) ends the output, not the run.
fn quiet_on_closed_pipe(error: std::io::Error) -> anyhow::Result<()> {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(error.into())
    }
}

async fn publish(args: &SimArgs, url: &str, simulation: Simulation) -> anyhow::Result<()> {
    let config = RabbitConfig {
        connection_name: "fudian-sim".into(),
        ..RabbitConfig::default()
    };
    let bus = Bus::connect_rabbit(url, config)
        .await
        .context("connecting to RabbitMQ")?;
    let exchange = ExchangeSpec::topic(format!("{}{FIELD_EXCHANGE}", args.exchange_prefix));
    bus.declare(&[exchange], &[])
        .await
        .context("declaring the field exchange")?;
    let mut player = simulation.player(args.speed);
    let begin = Instant::now();
    loop {
        let due: Vec<TimedEvent> = player.due(begin.elapsed()).to_vec();
        if !due.is_empty() {
            let counts = count_by_type(&due);
            let reached = due.last().map_or(0, |e| e.at_offset_ms);
            let messages: Vec<WireMessage> = due
                .into_iter()
                .map(|event| prefixed(event.wire, &args.exchange_prefix))
                .collect();
            for chunk in messages.chunks(PUBLISH_CHUNK) {
                bus.publish_batch(chunk.to_vec()).await.context(
                    "publishing to RabbitMQ (an unroutable message means no queue is bound \
                         to the field exchange yet: start the outage service first)",
                )?;
            }
            let (sent, total) = player.progress();
            let kinds: BTreeMap<String, usize> = counts.into_iter().collect();
            let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            eprintln!(
                "[sim {} | wall {}] {sent}/{total} sent: {}",
                clock(reached),
                clock(u64::try_from(begin.elapsed().as_millis()).unwrap_or(u64::MAX)),
                kinds.join(", ")
            );
        }
        match player.next_due() {
            None => break,
            Some(at) => tokio::time::sleep_until((begin + at).into()).await,
        }
    }
    bus.close().await;
    eprintln!("fudian sim: done in {:.1?}", begin.elapsed());
    Ok(())
}

fn prefixed(mut message: WireMessage, prefix: &str) -> WireMessage {
    if !prefix.is_empty() {
        message.exchange = format!("{prefix}{}", message.exchange);
    }
    message
}

/// `h:mm:ss` of a millisecond offset.
fn clock(offset_ms: u64) -> String {
    let seconds = offset_ms / 1000;
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_print_as_hours_minutes_seconds() {
        assert_eq!(clock(0), "0:00:00");
        assert_eq!(clock(3_723_999), "1:02:03");
    }

    #[test]
    fn a_prefix_is_put_before_the_exchange_only_when_given() {
        let message = WireMessage {
            exchange: "fudian.field".to_owned(),
            routing_key: "fpi.fault".to_owned(),
            message_id: "1".to_owned(),
            headers: BTreeMap::new(),
            body: Vec::new(),
        };
        assert_eq!(prefixed(message.clone(), "").exchange, "fudian.field");
        assert_eq!(prefixed(message, "t1.").exchange, "t1.fudian.field");
    }
}
