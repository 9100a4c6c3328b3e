//! Pacing a simulation: hands out the events due by a given elapsed time, so a publisher
//! (the CLI, or `fudian up --demo` on the in-process bus) can feed them at real pace or
//! faster without knowing how they were made.

use std::time::Duration;

use crate::generate::TimedEvent;

/// Events in send order with a cursor; owned, so it can move into a task.
#[derive(Debug, Clone)]
pub struct Player {
    events: Vec<TimedEvent>,
    next: usize,
    speed: f64,
}

impl Player {
    /// A player over events sorted by `at_offset_ms`. `speed` 1 is real time, 10 is ten
    /// times faster; 0 (or anything not positive and finite) releases everything at once.
    pub fn new(mut events: Vec<TimedEvent>, speed: f64) -> Self {
        events.sort_by_key(|e| e.at_offset_ms);
        Self {
            events,
            next: 0,
            speed,
        }
    }

    fn as_fast_as_possible(&self) -> bool {
        !(self.speed.is_finite() && self.speed > 0.0)
    }

    /// The simulation offset (ms) reached after `elapsed` wall time.
    fn offset_at(&self, elapsed: Duration) -> u64 {
        if self.as_fast_as_possible() {
            u64::MAX
        } else {
            (elapsed.as_secs_f64() * 1000.0 * self.speed) as u64
        }
    }

    /// The events due by `elapsed` wall time that were not handed out yet.
    pub fn due(&mut self, elapsed: Duration) -> &[TimedEvent] {
        let reached = self.offset_at(elapsed);
        let first = self.next;
        let count = self.events[first..]
            .iter()
            .take_while(|e| e.at_offset_ms <= reached)
            .count();
        self.next += count;
        &self.events[first..self.next]
    }

    /// Wall time from the start until the next event is due; `None` when all are out.
    pub fn next_due(&self) -> Option<Duration> {
        let event = self.events.get(self.next)?;
        if self.as_fast_as_possible() {
            return Some(Duration::ZERO);
        }
        Some(Duration::from_secs_f64(
            event.at_offset_ms as f64 / 1000.0 / self.speed,
        ))
    }

    pub fn is_finished(&self) -> bool {
        self.next >= self.events.len()
    }

    /// Events handed out so far, and in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.next, self.events.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use fudian_events::WireMessage;

    use super::*;

    fn event(at: u64) -> TimedEvent {
        TimedEvent {
            at_offset_ms: at,
            occurred_offset_ms: at,
            wire: WireMessage {
                exchange: "fudian.field".to_owned(),
                routing_key: "ami.last_gasp".to_owned(),
                message_id: at.to_string(),
                headers: BTreeMap::new(),
                body: Vec::new(),
            },
        }
    }

    #[test]
    fn at_double_speed_events_come_due_at_half_their_offset() {
        let mut player = Player::new(vec![event(0), event(1_000), event(4_000)], 2.0);
        assert_eq!(player.due(Duration::ZERO).len(), 1);
        assert_eq!(player.next_due(), Some(Duration::from_millis(500)));
        assert_eq!(player.due(Duration::from_millis(499)).len(), 0);
        assert_eq!(player.due(Duration::from_millis(500)).len(), 1);
        assert_eq!(player.due(Duration::from_secs(60)).len(), 1);
        assert!(player.is_finished());
        assert_eq!(player.next_due(), None);
    }

    #[test]
    fn at_speed_zero_everything_is_due_at_once() {
        let mut player = Player::new(vec![event(9_000_000), event(0)], 0.0);
        let due: Vec<u64> = player
            .due(Duration::ZERO)
            .iter()
            .map(|e| e.at_offset_ms)
            .collect();
        assert_eq!(due, [0, 9_000_000]);
        assert_eq!(player.progress(), (2, 2));
    }
}
