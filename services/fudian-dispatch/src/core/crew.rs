//! Crews as dispatch sees them live: skills, shift (Asia/Shanghai local time), position
//! (WGS84; GCJ-02 reports converted on the way in) and what they are doing.

use chrono::{DateTime, FixedOffset, Timelike};
use chrono_tz::Asia::Shanghai;
use fudian_grid::{Crew, Grid, LonLat, Shift};

use crate::core::error::DispatchError;

/// What a crew can repair. The grid package spells them `line`, `cable`, `live_line`,
/// `transformer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skill {
    /// Overhead lines and the switchgear on them.
    Line,
    /// Underground cables and their joints and ring main units.
    Cable,
    /// Live-line work (带电作业): replacing gear without taking neighbours out.
    LiveLine,
    /// Distribution transformers.
    Transformer,
}

impl Skill {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "line" => Some(Self::Line),
            "cable" => Some(Self::Cable),
            "live_line" => Some(Self::LiveLine),
            "transformer" => Some(Self::Transformer),
            _ => None,
        }
    }

    /// Every skill, in a fixed order.
    pub const ALL: [Self; 4] = [Self::Line, Self::Cable, Self::LiveLine, Self::Transformer];

    /// The package's spelling of the skill.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::Cable => "cable",
            Self::LiveLine => "live_line",
            Self::Transformer => "transformer",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// What a crew is doing, as reported (shift aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrewActivity {
    /// Free to take an order.
    Available,
    /// Driving to an order.
    EnRoute,
    /// Working on site.
    OnSite,
}

/// A crew's state at a moment: its activity, or off shift whatever it reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrewState {
    Available,
    EnRoute,
    OnSite,
    OffShift,
}

impl CrewActivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::EnRoute => "en_route",
            Self::OnSite => "on_site",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Available, Self::EnRoute, Self::OnSite]
            .into_iter()
            .find(|activity| activity.as_str() == text)
    }
}

impl CrewState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::EnRoute => "en_route",
            Self::OnSite => "on_site",
            Self::OffShift => "off_shift",
        }
    }
}

/// A crew with its live state.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCrew {
    pub id: Box<str>,
    /// Index of the crew's home cell in the grid: the cell it is responsible for.
    pub home_cell: u32,
    skills: u8,
    pub shift: Shift,
    /// Last known position, WGS84.
    pub position: LonLat,
    pub activity: CrewActivity,
}

impl LiveCrew {
    /// A crew from the grid package, available at its base. Unknown skills are refused.
    pub fn from_grid_crew(crew: &Crew) -> Result<Self, DispatchError> {
        let mut skills = 0;
        for skill in &crew.skills {
            let known = Skill::parse(skill).ok_or_else(|| DispatchError::UnknownSkill {
                crew: crew.id.to_string(),
                skill: skill.to_string(),
            })?;
            skills |= known.bit();
        }
        Ok(Self {
            id: crew.id.clone(),
            home_cell: crew.home_cell,
            skills,
            shift: crew.shift,
            position: crew.position,
            activity: CrewActivity::Available,
        })
    }

    /// Every crew of a grid, in grid order (so crew indices match the grid's).
    pub fn all_from_grid(grid: &Grid) -> Result<Vec<Self>, DispatchError> {
        grid.crews.iter().map(Self::from_grid_crew).collect()
    }

    /// A crew made by hand (tests, simulations).
    pub fn new(id: &str, home_cell: u32, skills: &[Skill], shift: Shift, position: LonLat) -> Self {
        Self {
            id: id.into(),
            home_cell,
            skills: skills.iter().fold(0, |bits, s| bits | s.bit()),
            shift,
            position,
            activity: CrewActivity::Available,
        }
    }

    pub fn has_skill(&self, skill: Skill) -> bool {
        self.skills & skill.bit() != 0
    }

    /// The crew's skills, in [`Skill::ALL`] order.
    pub fn skills(&self) -> Vec<Skill> {
        Skill::ALL
            .into_iter()
            .filter(|&skill| self.has_skill(skill))
            .collect()
    }

    /// Records a position reported in GCJ-02 (the datum of Chinese map apps).
    pub fn report_gcj02_position(&mut self, gcj02: LonLat) {
        self.position = fudian_grid::gcj02::gcj02_to_wgs84(gcj02);
    }

    pub fn state_at(&self, now: DateTime<FixedOffset>) -> CrewState {
        if !self.shift.covers(local_minute(now)) {
            return CrewState::OffShift;
        }
        match self.activity {
            CrewActivity::Available => CrewState::Available,
            CrewActivity::EnRoute => CrewState::EnRoute,
            CrewActivity::OnSite => CrewState::OnSite,
        }
    }

    /// Seconds from `now` until the shift ends, or None when off shift.
    pub fn shift_seconds_left(&self, now: DateTime<FixedOffset>) -> Option<u32> {
        let local = now.with_timezone(&Shanghai);
        let minute = local_minute(now);
        if !self.shift.covers(minute) {
            return None;
        }
        let into_minute = local.second();
        // Covered means minute != end, so this is 1..=1439 minutes.
        let minutes_left =
            (u32::from(self.shift.end_minute) + 24 * 60 - u32::from(minute)) % (24 * 60);
        Some((minutes_left * 60).saturating_sub(into_minute))
    }

    /// Whether the crew, on shift at `now`, could drive `travel_seconds` and still work
    /// `min_working_minutes` before its shift ends.
    pub fn can_take(
        &self,
        now: DateTime<FixedOffset>,
        travel_seconds: u32,
        min_working_minutes: u32,
    ) -> bool {
        self.shift_seconds_left(now).is_some_and(|left| {
            u64::from(left) >= u64::from(travel_seconds) + u64::from(min_working_minutes) * 60
        })
    }
}

/// Minutes after local midnight in Asia/Shanghai, the clock shifts are written in.
pub fn local_minute(now: DateTime<FixedOffset>) -> u16 {
    let local = now.with_timezone(&Shanghai);
    // hour < 24 and minute < 60, so this fits in u16.
    (local.hour() * 60 + local.minute()) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    fn day_crew() -> LiveCrew {
        LiveCrew::new(
            "C1",
            0,
            &[Skill::Line],
            Shift::parse("08:00-20:00").unwrap(),
            [118.5, 37.4],
        )
    }

    #[test]
    fn shifts_are_read_in_shanghai_time_whatever_the_offset_of_now() {
        let crew = day_crew();
        // 01:00 UTC is 09:00 in Shanghai.
        assert_eq!(
            crew.state_at(at("2026-11-26T01:00:00Z")),
            CrewState::Available
        );
        // 13:00 UTC is 21:00 in Shanghai.
        assert_eq!(
            crew.state_at(at("2026-11-26T13:00:00Z")),
            CrewState::OffShift
        );
    }

    #[test]
    fn a_crew_whose_shift_ends_before_arrival_plus_working_time_cannot_take_the_order() {
        let crew = day_crew();
        let now = at("2026-11-26T19:00:00+08:00");
        assert_eq!(crew.shift_seconds_left(now), Some(3600));
        assert!(!crew.can_take(now, 30 * 60, 60));
        assert!(crew.can_take(now, 0, 60));
        assert!(crew.can_take(at("2026-11-26T17:00:00+08:00"), 30 * 60, 60));
    }

    #[test]
    fn a_night_shift_counts_its_time_left_across_midnight() {
        let crew = LiveCrew::new(
            "N",
            0,
            &[Skill::Cable],
            Shift::parse("20:00-08:00").unwrap(),
            [118.5, 37.4],
        );
        let now = at("2026-11-26T23:00:00+08:00");
        assert_eq!(crew.shift_seconds_left(now), Some(9 * 3600));
    }

    #[test]
    fn unknown_skills_in_the_package_are_refused_by_name() {
        let crew = Crew {
            id: "C9".into(),
            home_cell: 0,
            position: [118.5, 37.4],
            size: 3,
            skills: vec!["line".into(), "welding".into()].into_boxed_slice(),
            shift: Shift::parse("08:00-20:00").unwrap(),
        };
        let error = LiveCrew::from_grid_crew(&crew).unwrap_err();
        assert!(error.to_string().contains("welding"), "{error}");
    }

    #[test]
    fn a_gcj02_report_is_stored_as_wgs84() {
        let mut crew = day_crew();
        let wgs = [118.55, 37.45];
        crew.report_gcj02_position(fudian_grid::gcj02::wgs84_to_gcj02(wgs));
        assert!((crew.position[0] - wgs[0]).abs() < 1e-5);
        assert!((crew.position[1] - wgs[1]).abs() < 1e-5);
    }
}
