//! `fudian up --demo`: the field simulator fed into the running suite at a lively pace,
//! so a newcomer sees incidents appear, crews switch and power come back within minutes.
//!
//! Runs round after round (a new seed each time) until shutdown.

use std::time::{Duration, Instant};

use fudian_bus::Bus;
use fudian_grid::model::Grid;
use fudian_sim::SimOptions;
use tokio_util::sync::CancellationToken;

/// Publishes simulated field events until `shutdown`.
pub async fn feed(bus: Bus, grid: std::sync::Arc<Grid>, shutdown: CancellationToken) {
    let mut seed = 1_u64;
    while !shutdown.is_cancelled() {
        let options = SimOptions::demo(seed);
        let simulation = match fudian_sim::generate(&grid, &options, fudian_events::now_shanghai())
        {
            Ok(simulation) => simulation,
            Err(error) => {
                tracing::error!(%error, "demo simulator cannot run on this grid");
                return;
            }
        };
        tracing::info!(
            demo.round = seed,
            demo.faults = simulation.truth.faults.len(),
            demo.events = simulation.events.len(),
            "demo: simulating field traffic"
        );
        let mut player = simulation.player(1.0);
        let started = Instant::now();
        while !player.is_finished() {
            let wait = player
                .next_due()
                .map(|due| due.saturating_sub(started.elapsed()))
                .unwrap_or(Duration::ZERO);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let due: Vec<_> = player
                .due(started.elapsed())
                .iter()
                .map(|event| event.wire.clone())
                .collect();
            if due.is_empty() {
                continue;
            }
            if let Err(error) = bus.publish_batch(due).await {
                tracing::warn!(%error, "demo: publishing field events failed");
            }
        }
        seed += 1;
    }
}
