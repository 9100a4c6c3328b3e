//! What a simulation run looks like: how many faults and how fast, and the shares of the
//! imperfections field systems show (lost and late meter messages, duplicates, reordering).

use std::time::Duration;

use crate::error::SimError;

/// The knobs of [`crate::generate`]. Shares are probabilities in `0..=1`, drawn per item.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Seed of the whole run: the same seed, grid and options give the same events.
    pub seed: u64,
    /// Sustained faults to simulate.
    pub faults: usize,
    /// Storm mode: this many faults per minute instead of `mean_fault_gap` apart.
    pub storm_per_minute: Option<f64>,
    /// Outside storms, the mean gap between fault starts (exponential gaps).
    pub mean_fault_gap: Duration,
    /// Meters whose last gasp never arrives.
    pub share_last_gasp_lost: f64,
    /// Last gasps that arrive late (sent up to `late_delay` after they happened).
    pub share_late: f64,
    /// The longest delay of a late last gasp.
    pub late_delay: Duration,
    /// Affected customers who call the 95598 line.
    pub share_callers: f64,
    /// Calls that carry only a GCJ-02 location (no customer id).
    pub share_gcj02_only: f64,
    /// Calls that report a wire down (located on the faulted line).
    pub share_wire_down: f64,
    /// Momentary interruptions, as a share of `faults` (added to them).
    pub share_momentary: f64,
    /// A momentary trip recloses within this.
    pub momentary_reclose_max: Duration,
    /// Every meter of a momentary interruption reports power back within this of the trip.
    pub momentary_threshold: Duration,
    /// Messages sent twice with the same event id.
    pub duplicate_share: f64,
    /// Each message is sent up to this many milliseconds after it happened, so messages
    /// close in time arrive out of order.
    pub reorder_ms: u64,
    /// Share of the closed non-protective switches that carry a fault passage indicator.
    pub fpi_share: f64,
    /// A crew arrives this long after the trip.
    pub crew_after: Duration,
    /// Whether the crew isolates the fault and restores healthy sections through tie
    /// switches before the repair.
    pub switching: bool,
    /// Time between two switching steps of a crew.
    pub switching_step: Duration,
    /// The repair is reported this long after the trip (at least after the switching).
    pub repair_after: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            faults: 10,
            storm_per_minute: None,
            mean_fault_gap: Duration::from_secs(120),
            share_last_gasp_lost: 0.1,
            share_late: 0.1,
            late_delay: Duration::from_secs(120),
            share_callers: 0.2,
            share_gcj02_only: 0.3,
            share_wire_down: 0.05,
            share_momentary: 0.2,
            momentary_reclose_max: Duration::from_secs(3),
            momentary_threshold: Duration::from_secs(60),
            duplicate_share: 0.03,
            reorder_ms: 2_000,
            fpi_share: 1.0,
            crew_after: Duration::from_secs(20 * 60),
            switching: true,
            switching_step: Duration::from_secs(60),
            repair_after: Duration::from_secs(90 * 60),
        }
    }
}

impl SimOptions {
    /// A short, lively run for `fudian up --demo`: a fault every half minute, crews on
    /// site after two minutes, repairs after six.
    pub fn demo(seed: u64) -> Self {
        Self {
            seed,
            faults: 6,
            mean_fault_gap: Duration::from_secs(30),
            crew_after: Duration::from_secs(120),
            switching_step: Duration::from_secs(20),
            repair_after: Duration::from_secs(360),
            ..Self::default()
        }
    }

    /// Checks every share and rate; the first bad option is named.
    pub fn validate(&self) -> Result<(), SimError> {
        let shares = [
            ("share_last_gasp_lost", self.share_last_gasp_lost),
            ("share_late", self.share_late),
            ("share_callers", self.share_callers),
            ("share_gcj02_only", self.share_gcj02_only),
            ("share_wire_down", self.share_wire_down),
            ("duplicate_share", self.duplicate_share),
            ("fpi_share", self.fpi_share),
        ];
        for (name, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                return Err(SimError::InvalidOption {
                    name,
                    reason: format!("a share must lie in 0..=1, found {share}"),
                });
            }
        }
        if !(0.0..=10.0).contains(&self.share_momentary) {
            return Err(SimError::InvalidOption {
                name: "share_momentary",
                reason: format!("must lie in 0..=10, found {}", self.share_momentary),
            });
        }
        if let Some(rate) = self.storm_per_minute
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(SimError::InvalidOption {
                name: "storm_per_minute",
                reason: format!("must be a positive number, found {rate}"),
            });
        }
        if self.momentary_reclose_max.is_zero() {
            return Err(SimError::InvalidOption {
                name: "momentary_reclose_max",
                reason: "must be longer than zero".to_owned(),
            });
        }
        // Meters report power back up to 5 s after the reclose.
        if self.momentary_threshold <= self.momentary_reclose_max + Duration::from_secs(5) {
            return Err(SimError::InvalidOption {
                name: "momentary_threshold",
                reason: format!(
                    "must exceed momentary_reclose_max + 5 s ({:?})",
                    self.momentary_reclose_max + Duration::from_secs(5)
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_and_the_demo_preset_are_valid() {
        SimOptions::default().validate().unwrap();
        let demo = SimOptions::demo(4);
        demo.validate().unwrap();
        assert!(demo.repair_after < SimOptions::default().repair_after);
    }

    #[test]
    fn a_share_above_one_is_refused_by_name() {
        let options = SimOptions {
            share_callers: 1.5,
            ..SimOptions::default()
        };
        let error = options.validate().unwrap_err();
        assert!(error.to_string().contains("share_callers"), "{error}");
    }

    #[test]
    fn a_storm_of_zero_faults_per_minute_is_refused() {
        let options = SimOptions {
            storm_per_minute: Some(0.0),
            ..SimOptions::default()
        };
        assert!(matches!(
            options.validate(),
            Err(SimError::InvalidOption {
                name: "storm_per_minute",
                ..
            })
        ));
    }
}
