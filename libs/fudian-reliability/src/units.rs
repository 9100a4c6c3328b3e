//! Turns interruption records into the interruptions of the users of one caliber:
//! validation, clipping to the period, and (medium voltage) merging customer records into
//! transformer interruptions. Every index module starts here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::error::{ReliabilityError, Result};
use crate::model::{AreaClass, Caliber, CauseClass, Interruption, Period, Population};

/// One interruption of one user (a customer, or a transformer in the medium-voltage caliber).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UnitInterruption {
    pub unit: String,
    pub area: AreaClass,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Unclipped length, used to tell momentary from sustained.
    pub full_millis: i64,
    /// Length inside the period, used for every time sum.
    pub clipped_millis: i64,
    /// Frequencies count an interruption only in the period where it starts.
    pub starts_in_period: bool,
    pub planned: bool,
    pub cause: CauseClass,
}

impl UnitInterruption {
    /// Whether a short-interruption bound (inclusive) makes this one count.
    pub fn longer_than(&self, bound_millis: i64) -> bool {
        self.full_millis > bound_millis
    }
}

/// The interruptions of the users of `caliber` that touch `period`.
///
/// Records that neither start in the period nor overlap it are outside the statistics and
/// are skipped; all others are clipped to the period.
pub(crate) fn unit_interruptions(
    records: &[Interruption],
    period: &Period,
    caliber: Caliber,
) -> Result<Vec<UnitInterruption>> {
    for (index, record) in records.iter().enumerate() {
        if record.end < record.start {
            return Err(ReliabilityError::InterruptionEndsBeforeStart {
                index,
                customer: record.customer_id.to_string(),
                start: record.start,
                end: record.end,
            });
        }
    }
    let touching = records.iter().enumerate().filter(|(_, record)| {
        period.contains(record.start) || period.clipped_millis(record.start, record.end) > 0
    });
    let merged = match caliber {
        Caliber::LowVoltage => customer_level(touching)?,
        Caliber::MediumVoltage => transformer_level(touching)?,
    };
    Ok(merged
        .into_iter()
        .filter(|unit| {
            period.contains(unit.start) || period.clipped_millis(unit.start, unit.end) > 0
        })
        .map(|mut unit| {
            unit.clipped_millis = period.clipped_millis(unit.start, unit.end);
            unit.starts_in_period = period.contains(unit.start);
            unit
        })
        .collect())
}

fn unclipped(unit: String, record: &Interruption) -> UnitInterruption {
    UnitInterruption {
        unit,
        area: record.area_class,
        start: record.start,
        end: record.end,
        full_millis: record.duration().num_milliseconds(),
        clipped_millis: 0,
        starts_in_period: false,
        planned: record.planned,
        cause: record.cause_class,
    }
}

/// Groups records by unit, in start order, after checking that each unit keeps one area.
fn group_by_unit<'a>(
    records: impl Iterator<Item = (usize, &'a Interruption, String)>,
    describe: &str,
) -> Result<BTreeMap<String, Vec<(usize, &'a Interruption)>>> {
    let mut groups: BTreeMap<String, Vec<(usize, &'a Interruption)>> = BTreeMap::new();
    for (index, record, unit) in records {
        let group = groups.entry(unit.clone()).or_default();
        if let Some((_, first)) = group.first()
            && first.area_class != record.area_class
        {
            return Err(ReliabilityError::InconsistentAreaClass {
                unit: format!("{describe} {unit}"),
                first: first.area_class,
                second: record.area_class,
            });
        }
        group.push((index, record));
    }
    for group in groups.values_mut() {
        group.sort_by_key(|(index, record)| (record.start, record.end, *index));
    }
    Ok(groups)
}

fn customer_level<'a>(
    records: impl Iterator<Item = (usize, &'a Interruption)>,
) -> Result<Vec<UnitInterruption>> {
    let groups = group_by_unit(
        records.map(|(index, record)| (index, record, record.customer_id.0.clone())),
        "customer",
    )?;
    let mut units = Vec::new();
    for (customer, group) in groups {
        let mut latest: Option<(usize, DateTime<Utc>)> = None;
        for (index, record) in group {
            if let Some((previous, previous_end)) = latest
                && record.start < previous_end
            {
                return Err(ReliabilityError::OverlappingInterruptions {
                    customer,
                    first: previous.min(index),
                    second: previous.max(index),
                });
            }
            if latest.is_none_or(|(_, end)| record.end > end) {
                latest = Some((index, record.end));
            }
            units.push(unclipped(customer.clone(), record));
        }
    }
    Ok(units)
}

/// A transformer is interrupted once for every cluster of its customers' records that
/// overlap (or start at the same instant): the customers of one 台区 lose supply together.
fn transformer_level<'a>(
    records: impl Iterator<Item = (usize, &'a Interruption)>,
) -> Result<Vec<UnitInterruption>> {
    let groups = group_by_unit(
        records.filter_map(|(index, record)| {
            record
                .transformer_id
                .as_ref()
                .map(|transformer| (index, record, transformer.0.clone()))
        }),
        "transformer",
    )?;
    let mut units = Vec::new();
    for (transformer, group) in groups {
        let mut cluster: Option<(usize, UnitInterruption)> = None;
        for (index, record) in group {
            if let Some((first_index, current)) = cluster.as_mut() {
                let joins = record.start < current.end || record.start == current.start;
                if joins {
                    if record.planned != current.planned || record.cause_class != current.cause {
                        return Err(ReliabilityError::ConflictingTransformerRecords {
                            transformer,
                            first: (*first_index).min(index),
                            second: (*first_index).max(index),
                        });
                    }
                    if record.end > current.end {
                        current.end = record.end;
                        current.full_millis = (current.end - current.start).num_milliseconds();
                    }
                    continue;
                }
            }
            if let Some((_, done)) =
                cluster.replace((index, unclipped(transformer.clone(), record)))
            {
                units.push(done);
            }
        }
        if let Some((_, done)) = cluster {
            units.push(done);
        }
    }
    Ok(units)
}

/// Checks the population against the interrupted users and returns the total.
pub(crate) fn checked_population(
    units: &[UnitInterruption],
    population: &Population,
    caliber: Caliber,
) -> Result<u64> {
    let total = population.total(caliber);
    if total == 0 {
        return Err(ReliabilityError::ZeroUsers { caliber });
    }
    let mut seen: BTreeMap<AreaClass, BTreeSet<&str>> = BTreeMap::new();
    for unit in units {
        seen.entry(unit.area).or_default().insert(&unit.unit);
    }
    for (area, users) in seen {
        let available = population.of(caliber).get(&area).copied().unwrap_or(0);
        let seen = users.len() as u64;
        if seen > available {
            return Err(ReliabilityError::PopulationTooSmall {
                caliber,
                area,
                population: available,
                seen,
            });
        }
    }
    Ok(total)
}

/// The areas a report lists: every area with users.
pub(crate) fn reported_areas(population: &Population, caliber: Caliber) -> Vec<(AreaClass, u64)> {
    population
        .of(caliber)
        .iter()
        .filter(|(_, users)| **users > 0)
        .map(|(area, users)| (*area, *users))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CustomerId, TransformerId};
    use chrono::TimeDelta;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn record(customer: &str, transformer: Option<&str>, start: &str, hours: i64) -> Interruption {
        Interruption {
            customer_id: CustomerId(customer.to_owned()),
            transformer_id: transformer.map(|t| TransformerId(t.to_owned())),
            area_class: AreaClass::Core,
            start: at(start),
            end: at(start) + TimeDelta::hours(hours),
            planned: false,
            cause_class: CauseClass::Internal,
        }
    }

    fn january() -> Period {
        Period::new(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")).unwrap()
    }

    #[test]
    fn interruptions_across_both_period_edges_are_clipped_and_counted_where_they_start() {
        let records = [
            record("a", None, "2025-12-31T22:00:00Z", 4),
            record("b", None, "2026-01-31T23:00:00Z", 5),
        ];
        let units = unit_interruptions(&records, &january(), Caliber::LowVoltage).unwrap();
        let carried_in = units.iter().find(|u| u.unit == "a").unwrap();
        assert_eq!(carried_in.clipped_millis, 2 * 3_600_000);
        assert_eq!(carried_in.full_millis, 4 * 3_600_000);
        assert!(!carried_in.starts_in_period);
        let carried_out = units.iter().find(|u| u.unit == "b").unwrap();
        assert_eq!(carried_out.clipped_millis, 3_600_000);
        assert!(carried_out.starts_in_period);
    }

    #[test]
    fn a_zero_length_record_at_the_period_start_still_counts() {
        let records = [record("a", None, "2026-01-01T00:00:00Z", 0)];
        let units = unit_interruptions(&records, &january(), Caliber::LowVoltage).unwrap();
        assert_eq!(units.len(), 1);
        assert!(units[0].starts_in_period);
    }

    #[test]
    fn customers_of_one_transformer_merge_and_lv_only_records_stay_out() {
        let records = [
            record("a", Some("T"), "2026-01-05T00:00:00Z", 2),
            record("b", Some("T"), "2026-01-05T00:00:00Z", 2),
            record("c", None, "2026-01-06T00:00:00Z", 2),
            record("a", Some("T"), "2026-01-07T00:00:00Z", 1),
        ];
        let units = unit_interruptions(&records, &january(), Caliber::MediumVoltage).unwrap();
        let starts: Vec<_> = units.iter().map(|u| (u.unit.as_str(), u.start)).collect();
        assert_eq!(
            starts,
            [
                ("T", at("2026-01-05T00:00:00Z")),
                ("T", at("2026-01-07T00:00:00Z"))
            ]
        );
    }
}
