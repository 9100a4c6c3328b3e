//! The planner made durable: each operation on a job loads it, moves it through the core
//! state machine, and saves it with the planned event it causes in ONE store transaction
//! (the outbox relays the event after the commit). It also builds the budget ledger from
//! the store, records interruptions, and turns indices into reports.
//!
//! Assessments run against the grid package's normal switching state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc};
use fudian_events::common::{AffectedCounts, AreaClassCounts, TimeWindow};
use fudian_events::envelope::{Envelope, now_shanghai};
use fudian_events::ids::{CustomerId, ElementId, PlannedJobId};
use fudian_events::planned::{
    NoticeDeadlines, PlannedApproved, PlannedCancelled, PlannedCompleted, PlannedEvent,
    PlannedStarted,
};
use fudian_grid::{ElementRef, Grid, Topology};
use fudian_reliability::{
    AreaClass as RelArea, CauseClass, Consumption, Interruption, Population, TransformerId,
};
use fudian_store::{Store, Tx};
use serde::{Deserialize, Serialize};

use crate::config::PlannerConfig;
use crate::core::assess::{AssessContext, Assessment, Assessor, TransferChoice};
use crate::core::budget::{BudgetCheck, BudgetLedger};
use crate::core::job::{Job, JobRequest, JobState, WorkKind};
use crate::error::{ApiError, ServiceError};
use crate::store::{self, InterruptedCustomer, InterruptionSpan, JobRow};

type ApiResult<T> = std::result::Result<T, ApiError>;

/// A job as stored: the core job, what it is for, its assessment and what was announced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job: Job,
    /// The work in words (shown in notices).
    pub description: String,
    pub assessment: Option<Assessment>,
    /// The budget check at approval.
    pub budget: Option<BudgetCheck>,
    /// Revision of the last `planned.approved` (0: never announced).
    pub revision: u32,
    /// The window announced to customers.
    pub window: Option<TimeWindow>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<FixedOffset>>,
    pub completed_at: Option<DateTime<FixedOffset>>,
}

/// What a requester posts to create a job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    pub id: Option<String>,
    pub elements: Vec<String>,
    /// The work in words.
    pub work: String,
    #[serde(default)]
    pub kind: Option<WorkKind>,
    pub duration_hours: f64,
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    #[serde(default)]
    pub live_line_possible: bool,
    #[serde(default)]
    pub crew: Option<String>,
    #[serde(default)]
    pub requester: Option<String>,
    /// The budget area (`core`, `urban`, `town`, `rural`); by default the area class most
    /// of the job's customers are in.
    #[serde(default)]
    pub area: Option<String>,
    /// Declines the transfer (能转必转 overridden); needs the reason.
    #[serde(default)]
    pub decline_transfer_reason: Option<String>,
}

/// One area class's budget and what consumed it, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaBudgetView {
    pub area: String,
    pub users: u64,
    pub budget: fudian_reliability::Budget,
    pub consumption: Consumption,
    pub status: fudian_reliability::BudgetStatus,
}

/// The planner's state: the grid, its normal-state index and the store.
pub struct Planner {
    grid: Arc<Grid>,
    topology: Topology,
    store: Store,
    config: PlannerConfig,
    /// The public transformer (台区) above each customer, as a grid branch id.
    transformer_of: Vec<Option<Box<str>>>,
    population: Population,
}

const SHANGHAI: i32 = 8 * 3600;

fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(SHANGHAI).expect("+08:00 is a valid offset")
}

/// Epoch milliseconds of local (Asia/Shanghai) midnight starting `date`.
pub fn day_start_ms(date: NaiveDate) -> i64 {
    shanghai()
        .from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .single()
        .map_or(0, |at| at.timestamp_millis())
}

pub fn year_bounds_ms(year: i32) -> (i64, i64) {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(NaiveDate::MIN);
    let next = NaiveDate::from_ymd_opt(year + 1, 1, 1).unwrap_or(NaiveDate::MAX);
    (day_start_ms(first), day_start_ms(next))
}

/// The window of a job done on `date`: from `start_hour` (Asia/Shanghai) for its duration.
pub fn work_window(date: NaiveDate, start_hour: u32, duration_hours: f64) -> TimeWindow {
    let start = shanghai()
        .from_local_datetime(&date.and_time(
            chrono::NaiveTime::from_hms_opt(start_hour, 0, 0).unwrap_or(chrono::NaiveTime::MIN),
        ))
        .single()
        .unwrap_or_else(now_shanghai);
    // Durations are validated positive and finite; whole milliseconds are plenty.
    let millis = (duration_hours * 3_600_000.0).round() as i64;
    TimeWindow {
        start,
        end: start + TimeDelta::milliseconds(millis),
    }
}

pub fn rel_area(class: fudian_grid::AreaClass) -> RelArea {
    match class {
        fudian_grid::AreaClass::Core => RelArea::Core,
        fudian_grid::AreaClass::Urban => RelArea::Urban,
        fudian_grid::AreaClass::Town => RelArea::Town,
        fudian_grid::AreaClass::Rural => RelArea::Rural,
    }
}

pub fn parse_rel_area(text: &str) -> Option<RelArea> {
    fudian_grid::AreaClass::parse(text).map(rel_area)
}

fn millis_to_utc(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

fn corrupt(row: &JobRow, error: &serde_json::Error) -> ApiError {
    ApiError::Internal(ServiceError::BadRecord {
        job: row.id.clone(),
        reason: error.to_string(),
    })
}

fn state_name(state: JobState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Planner {
    pub fn new(grid: Arc<Grid>, store: Store, config: PlannerConfig) -> Self {
        let topology = Topology::new(&grid);
        let (transformer_of, population) = {
            let assessor = Assessor::new(&grid, &topology);
            let mut transformer_of = Vec::with_capacity(grid.customers.len());
            let mut population = Population::default();
            let mut transformer_area: HashMap<u32, RelArea> = HashMap::new();
            for (index, customer) in grid.customers.iter().enumerate() {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                let area = rel_area(customer.area_class);
                *population.low_voltage.entry(area).or_insert(0) += 1;
                let transformer = assessor.transformer_of(index);
                if let Some(t) = transformer {
                    transformer_area.entry(t).or_insert(area);
                }
                transformer_of.push(transformer.map(|t| grid.branch(t).id.clone()));
            }
            for area in transformer_area.into_values() {
                *population.transformers.entry(area).or_insert(0) += 1;
            }
            (transformer_of, population)
        };
        Self {
            grid,
            topology,
            store,
            config,
            transformer_of,
            population,
        }
    }

    pub fn config(&self) -> &PlannerConfig {
        &self.config
    }

    pub fn grid(&self) -> &Arc<Grid> {
        &self.grid
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn population(&self) -> &Population {
        &self.population
    }

    /// A customer as an interruption record sees it.
    pub fn interrupted(&self, customer: u32) -> InterruptedCustomer {
        let record = self.grid.customer(customer);
        InterruptedCustomer {
            customer_id: record.id.to_string(),
            transformer_id: self
                .transformer_of
                .get(customer as usize)
                .cloned()
                .flatten()
                .map(|t| t.to_string()),
            area_class: record.area_class.as_str().to_owned(),
        }
    }

    // ---- budgets ------------------------------------------------------------------------

    /// The budget of every area class for `year`, with its live consumption: actual
    /// interruptions recorded this year plus jobs approved and not yet carried out.
    async fn ledger(
        &self,
        tx: &mut Tx,
        year: i32,
    ) -> ApiResult<(BudgetLedger, Vec<AreaBudgetView>)> {
        let (from, to) = year_bounds_ms(year);
        let mut actual: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (area, planned, millis) in store::interruption_millis(tx, from, to).await? {
            let hours = millis as f64 / 3_600_000.0;
            let slot = actual.entry(area).or_default();
            if planned {
                slot.0 += hours;
            } else {
                slot.1 += hours;
            }
        }
        let scheduled: BTreeMap<String, f64> = store::charged_by_area(tx, year)
            .await?
            .into_iter()
            .collect();
        let mut ledger = BudgetLedger::new();
        let mut views = Vec::new();
        for class in fudian_grid::AreaClass::ALL {
            let name = class.as_str();
            let area = rel_area(class);
            let users = self.population.low_voltage.get(&area).copied().unwrap_or(0);
            let last_year = self.config.last_year_customer_hours.get(name).copied();
            let budget =
                fudian_reliability::annual_budget(area, users, last_year, &self.config.budget)
                    .map_err(|error| ApiError::BadRequest(format!("budget of {name}: {error}")))?;
            let (actual_planned, actual_fault) = actual.get(name).copied().unwrap_or_default();
            let consumption = Consumption {
                actual_planned,
                actual_fault,
                scheduled_planned: scheduled.get(name).copied().unwrap_or(0.0),
            };
            let status = budget
                .status(&consumption)
                .map_err(|error| ApiError::BadRequest(format!("budget of {name}: {error}")))?;
            ledger.insert(name, budget, consumption);
            views.push(AreaBudgetView {
                area: name.to_owned(),
                users,
                budget,
                consumption,
                status,
            });
        }
        Ok((ledger, views))
    }

    pub async fn budgets(&self, year: i32) -> ApiResult<Vec<AreaBudgetView>> {
        let mut tx = self.store.begin().await?;
        let (_, views) = self.ledger(&mut tx, year).await?;
        tx.rollback().await?;
        Ok(views)
    }

    // ---- assessment ---------------------------------------------------------------------

    /// Unknown element ids of a request, all of them.
    fn unknown_elements(&self, elements: &[String]) -> Vec<String> {
        elements
            .iter()
            .filter(|e| {
                !matches!(
                    self.grid.element(e),
                    Some(ElementRef::Branch(_) | ElementRef::Bus(_))
                )
            })
            .cloned()
            .collect()
    }

    /// Assesses `request`: interruptions this year per customer for the frequent-outage
    /// check, the area (given or the majority class of the customers), and the budget
    /// left after it.
    async fn assess(
        &self,
        tx: &mut Tx,
        request: &mut JobRequest,
        area_given: bool,
        transfer: &TransferChoice,
    ) -> ApiResult<Assessment> {
        let year = request.earliest.year();
        let (from, to) = year_bounds_ms(year);
        let mut counts = vec![0u32; self.grid.customers.len()];
        for (customer, all, _) in store::interruption_counts(tx, from, to).await? {
            if let Some(index) = self.grid.customer_index(&customer) {
                counts[index as usize] = u32::try_from(all).unwrap_or(u32::MAX);
            }
        }
        let assessor = Assessor::new(&self.grid, &self.topology);
        let context = AssessContext {
            interruptions_this_year: &counts,
            frequent_threshold: self.config.frequent_outage_threshold,
            budget_remaining: None,
        };
        let mut assessment = assessor.assess(request, &context, transfer)?;
        if !area_given {
            let mut by_class: BTreeMap<&'static str, usize> = BTreeMap::new();
            for &c in &assessment.customers_without_transfer {
                *by_class
                    .entry(self.grid.customer(c).area_class.as_str())
                    .or_insert(0) += 1;
            }
            request.area = by_class
                .into_iter()
                .max_by_key(|&(name, n)| (n, std::cmp::Reverse(name)))
                .map_or_else(|| "urban".to_owned(), |(name, _)| name.to_owned());
        }
        let (ledger, _) = self.ledger(tx, year).await?;
        let remaining = ledger.remaining(&request.area)?;
        assessment.budget_remaining_after = Some(remaining - assessment.charged_customer_hours);
        Ok(assessment)
    }

    pub async fn create(&self, new: NewJob) -> ApiResult<JobRecord> {
        let unknown = self.unknown_elements(&new.elements);
        if !unknown.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "unknown elements: {} (not a line, transformer, switch or bus of the grid)",
                unknown.join(", ")
            )));
        }
        let area_given = match new.area.as_deref() {
            Some(area) if parse_rel_area(area).is_none() => {
                return Err(ApiError::BadRequest(format!(
                    "area `{area}` is not one of core, urban, town, rural"
                )));
            }
            Some(_) => true,
            None => false,
        };
        let id = match new.id {
            Some(id) if id.trim().is_empty() => {
                return Err(ApiError::BadRequest("id: empty".into()));
            }
            Some(id) => id,
            None => format!("PJ{}", uuid::Uuid::now_v7().simple()),
        };
        let mut request = JobRequest {
            id: PlannedJobId::new(id),
            elements: new.elements,
            work: new.kind.unwrap_or(WorkKind::Maintenance),
            duration_hours: new.duration_hours,
            earliest: new.earliest,
            latest: new.latest,
            crew: new.crew.unwrap_or_else(|| "unassigned".to_owned()),
            live_line_possible: new.live_line_possible,
            requester: new.requester.unwrap_or_else(|| "api".to_owned()),
            area: new.area.unwrap_or_default(),
        };
        if !area_given {
            // Valid until the assessment picks the area.
            request.area = "urban".to_owned();
        }
        let transfer = match new.decline_transfer_reason {
            Some(reason) => TransferChoice::Decline { reason },
            None => TransferChoice::UseTransfer,
        };
        let mut tx = self.store.begin().await?;
        let mut job = Job::new(request)?;
        let assessment = self
            .assess(&mut tx, &mut job.request, area_given, &transfer)
            .await?;
        job.mark_assessed()?;
        let record = JobRecord {
            job,
            description: new.work,
            assessment: Some(assessment),
            budget: None,
            revision: 0,
            window: None,
            created_at: Utc::now(),
            started_at: None,
            completed_at: None,
        };
        let row = self.row(&record)?;
        if !store::insert_job(&mut tx, &row).await? {
            return Err(ApiError::Conflict(format!("job {} exists already", row.id)));
        }
        tx.commit().await?;
        metrics::counter!("fudian_planner_jobs_created_total").increment(1);
        Ok(record)
    }

    fn row(&self, record: &JobRecord) -> ApiResult<JobRow> {
        let now = Utc::now().timestamp_millis();
        Ok(JobRow {
            id: record.job.id().to_string(),
            state: state_name(record.job.state),
            area: record.job.request.area.clone(),
            year: record
                .job
                .scheduled_on
                .unwrap_or(record.job.request.earliest)
                .year(),
            charged_customer_hours: record.job.approved_customer_hours.unwrap_or(0.0),
            record: serde_json::to_string(record).map_err(ServiceError::Json)?,
            created_at_ms: record.created_at.timestamp_millis(),
            updated_at_ms: now,
        })
    }

    async fn load(&self, tx: &mut Tx, id: &str) -> ApiResult<JobRecord> {
        let row = store::job(tx, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("unknown job `{id}`")))?;
        serde_json::from_str(&row.record).map_err(|error| corrupt(&row, &error))
    }

    async fn save(&self, tx: &mut Tx, record: &JobRecord) -> ApiResult<()> {
        let row = self.row(record)?;
        store::update_job(tx, &row).await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> ApiResult<JobRecord> {
        let mut tx = self.store.begin().await?;
        let record = self.load(&mut tx, id).await?;
        tx.rollback().await?;
        Ok(record)
    }

    /// Every job (optionally in one state), in request order.
    pub async fn list(&self, state: Option<JobState>) -> ApiResult<Vec<JobRecord>> {
        let mut tx = self.store.begin().await?;
        let rows = store::jobs(&mut tx).await?;
        tx.rollback().await?;
        let wanted = state.map(state_name);
        rows.iter()
            .filter(|row| wanted.as_ref().is_none_or(|w| *w == row.state))
            .map(|row| serde_json::from_str(&row.record).map_err(|error| corrupt(row, &error)))
            .collect()
    }

    /// Assesses a draft or assessed job again (the grid or the transfer choice changed).
    pub async fn reassess(&self, id: &str, decline_reason: Option<String>) -> ApiResult<JobRecord> {
        let mut tx = self.store.begin().await?;
        let mut record = self.load(&mut tx, id).await?;
        if !matches!(record.job.state, JobState::Draft | JobState::Assessed) {
            return Err(ApiError::Conflict(format!(
                "job {id}: cannot assess a job that is {}",
                state_name(record.job.state)
            )));
        }
        let transfer = match decline_reason {
            Some(reason) => TransferChoice::Decline { reason },
            None => TransferChoice::UseTransfer,
        };
        let assessment = self
            .assess(&mut tx, &mut record.job.request, true, &transfer)
            .await?;
        record.job.mark_assessed()?;
        record.assessment = Some(assessment);
        self.save(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(record)
    }

    // ---- the state machine with its events ----------------------------------------------

    fn window_on(&self, record: &JobRecord, date: NaiveDate) -> TimeWindow {
        work_window(
            date,
            self.config.work_start_hour,
            record.job.request.duration_hours,
        )
    }

    /// The first day customers can still be told in time.
    fn first_notifiable_day(&self) -> NaiveDate {
        now_shanghai().date_naive() + Days::new(u64::from(self.config.notice_lead_days))
    }

    fn customers_of(&self, record: &JobRecord) -> Vec<u32> {
        record
            .assessment
            .as_ref()
            .map(|a| a.customers.clone())
            .unwrap_or_default()
    }

    fn ids(&self, customers: &[u32]) -> Vec<CustomerId> {
        customers
            .iter()
            .map(|&c| CustomerId::new(self.grid.customer(c).id.to_string()))
            .collect()
    }

    fn approved_event(&self, record: &JobRecord, window: TimeWindow) -> Envelope<PlannedEvent> {
        let customers = self.customers_of(record);
        let mut by_class = AreaClassCounts::default();
        let mut low_voltage = 0u32;
        let mut transformers: Vec<&str> = Vec::new();
        let mut critical = Vec::new();
        for &c in &customers {
            let customer = self.grid.customer(c);
            by_class.add(rel_area(customer.area_class), 1);
            if let Some(Some(t)) = self.transformer_of.get(c as usize) {
                low_voltage += 1;
                transformers.push(t);
            }
            if customer.critical {
                critical.push(c);
            }
        }
        transformers.sort_unstable();
        transformers.dedup();
        let lead = |days: u32| window.start - TimeDelta::days(i64::from(days));
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let event = PlannedEvent::Approved(PlannedApproved {
            job: record.job.id().clone(),
            revision: record.revision,
            elements: record
                .job
                .request
                .elements
                .iter()
                .map(|e| ElementId::new(e.clone()))
                .collect(),
            work: record.description.clone(),
            window,
            area: self.area_words(&customers, &record.job.request.area),
            counts: AffectedCounts {
                customers: count(customers.len()),
                customers_by_area_class: by_class,
                low_voltage_customers: low_voltage,
                public_transformers: count(transformers.len()),
                critical_customers: count(critical.len()),
            },
            customers: self.ids(&customers),
            critical_customers: self.ids(&critical),
            notice: NoticeDeadlines {
                notify_by: lead(self.config.notice_lead_days),
                critical_notify_by: lead(self.config.critical_notice_lead_days),
                remind_at: window.start
                    - TimeDelta::hours(i64::from(self.config.reminder_hours_before)),
            },
        });
        Envelope::new(self.config.producer.clone(), event)
    }

    /// The area in words for notices: the grid cells most of the customers are in (a
    /// sample of them, up to three cells), else the budget area.
    fn area_words(&self, customers: &[u32], fallback: &str) -> String {
        let step = (customers.len() / 64).max(1);
        let mut cells: BTreeMap<u32, usize> = BTreeMap::new();
        for &c in customers.iter().step_by(step) {
            if let Some(hit) = self.grid.spatial().cell_at(self.grid.customer(c).position) {
                *cells.entry(hit.cell).or_insert(0) += 1;
            }
        }
        let mut ranked: Vec<(u32, usize)> = cells.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let names: Vec<String> = ranked
            .iter()
            .take(3)
            .map(|&(cell, _)| {
                let cell = &self.grid.cells[cell as usize];
                cell.name.as_deref().unwrap_or(&cell.id).to_owned()
            })
            .collect();
        if names.is_empty() {
            fallback.to_owned()
        } else {
            names.join("、")
        }
    }

    async fn enqueue(&self, tx: &mut Tx, envelope: &Envelope<PlannedEvent>) -> ApiResult<()> {
        let mut wire = envelope.to_wire();
        wire.exchange.clone_from(&self.config.exchanges.planned);
        tx.enqueue(&wire).await?;
        metrics::counter!("fudian_planner_events_total", "type" => envelope.event_type())
            .increment(1);
        Ok(())
    }

    /// Approves an assessed job if its budget allows (or with an override reason), and
    /// announces it (`planned.approved`) in the same transaction.
    pub async fn approve(&self, id: &str, override_reason: Option<&str>) -> ApiResult<JobRecord> {
        let mut tx = self.store.begin().await?;
        store::lock_budgets(&mut tx).await?;
        let mut record = self.load(&mut tx, id).await?;
        let assessment = record.assessment.clone().ok_or_else(|| {
            ApiError::Conflict(format!(
                "job {id}: cannot approve a job that is not assessed"
            ))
        })?;
        let date = record
            .job
            .scheduled_on
            .unwrap_or(record.job.request.earliest)
            .max(self.first_notifiable_day());
        if record.job.state == JobState::Assessed && date > record.job.request.latest {
            return Err(ApiError::Conflict(format!(
                "job {id}: its window ends {} but customers must be told {} days ahead (first possible day {date})",
                record.job.request.latest, self.config.notice_lead_days
            )));
        }
        let year = record
            .job
            .scheduled_on
            .unwrap_or(record.job.request.earliest)
            .year();
        let (mut ledger, _) = self.ledger(&mut tx, year).await?;
        let check = ledger.approve(&mut record.job, &assessment, override_reason)?;
        record.budget = Some(check);
        record.revision += 1;
        let window = self.window_on(&record, date);
        record.window = Some(window);
        let event = self.approved_event(&record, window);
        self.enqueue(&mut tx, &event).await?;
        self.save(&mut tx, &record).await?;
        tx.commit().await?;
        tracing::info!(job.id = %id, customer.count = assessment.customers.len(), "planned job approved");
        Ok(record)
    }

    pub async fn reject(&self, id: &str, reason: &str) -> ApiResult<JobRecord> {
        let mut tx = self.store.begin().await?;
        let mut record = self.load(&mut tx, id).await?;
        record.job.reject(reason)?;
        self.save(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Fixes the job's day and announces it again (a higher revision of `planned.approved`).
    pub async fn schedule(&self, id: &str, date: NaiveDate) -> ApiResult<JobRecord> {
        let first = self.first_notifiable_day();
        if date < first {
            return Err(ApiError::Conflict(format!(
                "job {id}: {date} is less than {} days ahead; the first day customers can still be told in time is {first}",
                self.config.notice_lead_days
            )));
        }
        let mut tx = self.store.begin().await?;
        let mut record = self.load(&mut tx, id).await?;
        record.job.schedule(date)?;
        record.revision += 1;
        let window = self.window_on(&record, date);
        record.window = Some(window);
        let event = self.approved_event(&record, window);
        self.enqueue(&mut tx, &event).await?;
        self.save(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn start(&self, id: &str) -> ApiResult<JobRecord> {
        let mut tx = self.store.begin().await?;
        let mut record = self.load(&mut tx, id).await?;
        record.job.start()?;
        let now = now_shanghai();
        record.started_at = Some(now);
        let window = record.window.unwrap_or(TimeWindow {
            start: now,
            end: now,
        });
        let event = PlannedEvent::Started(PlannedStarted {
            job: record.job.id().clone(),
            window,
            started_at: now,
            customers: self.ids(&self.customers_of(&record)),
        });
        self.enqueue(&mut tx, &Envelope::new(self.config.producer.clone(), event))
            .await?;
        self.save(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Completes a started job: announces it and records its planned interruptions
    /// (start to completion), which then count as actual planned consumption.
    pub async fn complete(&self, id: &str) -> ApiResult<JobRecord> {
        let mut tx = self.store.begin().await?;
        let mut record = self.load(&mut tx, id).await?;
        record.job.complete()?;
        let now = now_shanghai();
        record.completed_at = Some(now);
        let started = record.started_at.unwrap_or(now);
        let customers = self.customers_of(&record);
        let window = record.window.unwrap_or(TimeWindow {
            start: started,
            end: now,
        });
        let source = format!("job:{id}");
        let interrupted: Vec<InterruptedCustomer> =
            customers.iter().map(|&c| self.interrupted(c)).collect();
        store::insert_interruptions(
            &mut tx,
            InterruptionSpan {
                source: &source,
                start_ms: started.timestamp_millis(),
                end_ms: now.timestamp_millis(),
                planned: true,
                cause_class: "internal",
            },
            &interrupted,
        )
        .await?;
        let event = PlannedEvent::Completed(PlannedCompleted {
            job: record.job.id().clone(),
            window,
            completed_at: now,
            customers: self.ids(&customers),
        });
        self.enqueue(&mut tx, &Envelope::new(self.config.producer.clone(), event))
            .await?;
        self.save(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Cancels a job that has not started; customers already told hear it is off.
    pub async fn cancel(&self, id: &str, reason: &str) -> ApiResult<JobRecord> {
        let mut tx = self.store.begin().await?;
        let mut record = self.load(&mut tx, id).await?;
        let announced = matches!(record.job.state, JobState::Approved | JobState::Scheduled);
        record.job.cancel(reason)?;
        if announced && let Some(window) = record.window {
            let event = PlannedEvent::Cancelled(PlannedCancelled {
                job: record.job.id().clone(),
                window,
                reason: reason.trim().to_owned(),
                customers: self.ids(&self.customers_of(&record)),
            });
            self.enqueue(&mut tx, &Envelope::new(self.config.producer.clone(), event))
                .await?;
        }
        self.save(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(record)
    }

    // ---- interruptions and reports ------------------------------------------------------

    /// Interruption records overlapping `[from, to)`, merged where one customer's overlap
    /// (two incidents reporting the same hours count once).
    pub async fn interruptions(&self, from_ms: i64, to_ms: i64) -> ApiResult<Vec<Interruption>> {
        let mut tx = self.store.begin().await?;
        let rows = store::interruptions(&mut tx, from_ms, to_ms).await?;
        tx.rollback().await?;
        let mut records: Vec<Interruption> = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(area_class) = parse_rel_area(&row.area_class) else {
                continue;
            };
            let (start, end) = (millis_to_utc(row.start_ms), millis_to_utc(row.end_ms));
            if let Some(last) = records.last_mut()
                && last.customer_id.0 == row.customer_id
                && start < last.end
            {
                last.end = last.end.max(end);
                continue;
            }
            records.push(Interruption {
                customer_id: fudian_reliability::CustomerId(row.customer_id),
                transformer_id: row.transformer_id.map(TransformerId),
                area_class,
                start,
                end,
                planned: row.planned,
                cause_class: match row.cause_class.as_str() {
                    "external" => CauseClass::External,
                    "supply_shortage" => CauseClass::SupplyShortage,
                    _ => CauseClass::Internal,
                },
            });
        }
        Ok(records)
    }

    /// Proposes dates for every assessed or approved job (not yet scheduled): optimised
    /// beside first-come, within crews per day and planned outages per customer.
    pub async fn propose_schedule(&self) -> ApiResult<serde_json::Value> {
        let jobs: Vec<JobRecord> = self
            .list(None)
            .await?
            .into_iter()
            .filter(|r| matches!(r.job.state, JobState::Assessed | JobState::Approved))
            .filter(|r| r.assessment.is_some())
            .collect();
        let year = now_shanghai().year();
        let (from, to) = year_bounds_ms(year);
        let mut prior = vec![0u32; self.grid.customers.len()];
        let mut tx = self.store.begin().await?;
        for (customer, _, planned) in store::interruption_counts(&mut tx, from, to).await? {
            if let Some(index) = self.grid.customer_index(&customer) {
                prior[index as usize] = u32::try_from(planned).unwrap_or(u32::MAX);
            }
        }
        let schedule_jobs: Vec<crate::ScheduleJob> = jobs
            .iter()
            .filter_map(|r| {
                r.assessment
                    .as_ref()
                    .map(|a| crate::ScheduleJob::from_assessed(&r.job.request, a))
            })
            .collect();
        let options = crate::ScheduleOptions {
            crew_jobs_per_day: self.config.crew_jobs_per_day,
            max_outages_per_customer: self.config.max_planned_outages_per_customer,
            prior_outages: prior,
            local_search_passes: self.config.schedule_passes,
        };
        // Scheduling a year of jobs takes seconds: off the async workers.
        let (schedule_jobs, comparison) = tokio::task::spawn_blocking(move || {
            let comparison = crate::compare_schedules(&schedule_jobs, &options);
            (schedule_jobs, comparison)
        })
        .await
        .map_err(|error| ApiError::BadRequest(format!("scheduling failed: {error}")))?;
        let comparison = comparison?;
        let per_job: Vec<serde_json::Value> = schedule_jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                serde_json::json!({
                    "id": job.id,
                    "earliest": job.earliest,
                    "latest": job.latest,
                    "crew": job.crew,
                    "customers": job.customers.len(),
                    "optimised": comparison.optimised.dates.get(i).copied().flatten(),
                    "first_come": comparison.first_come.dates.get(i).copied().flatten(),
                })
            })
            .collect();
        let summary = |s: &crate::Schedule| {
            serde_json::json!({
                "total_customer_hours": s.total_customer_hours,
                "separate_customer_hours": s.separate_customer_hours,
                "lower_bound": s.lower_bound,
                "bundles": s.bundles,
                "unscheduled": s.unscheduled,
            })
        };
        let created = Utc::now();
        let body = serde_json::json!({
            "created_at": created,
            "jobs": per_job,
            "optimised": summary(&comparison.optimised),
            "first_come": summary(&comparison.first_come),
            "saving_customer_hours": comparison.first_come.total_customer_hours
                - comparison.optimised.total_customer_hours,
        });
        store::insert_proposal(&mut tx, created.timestamp_millis(), &body.to_string()).await?;
        tx.commit().await?;
        Ok(body)
    }

    pub async fn latest_schedule(&self) -> ApiResult<Option<serde_json::Value>> {
        let mut tx = self.store.begin().await?;
        let body = store::latest_proposal(&mut tx).await?;
        tx.rollback().await?;
        body.map(|b| {
            serde_json::from_str(&b).map_err(|e| ApiError::Internal(ServiceError::Json(e)))
        })
        .transpose()
    }

    /// 一停多用 proposals among assessed and approved jobs.
    pub async fn bundles(&self) -> ApiResult<Vec<crate::Bundle>> {
        let (jobs, assessments): (Vec<JobRequest>, Vec<Assessment>) = self
            .list(None)
            .await?
            .into_iter()
            .filter(|r| {
                matches!(
                    r.job.state,
                    JobState::Assessed | JobState::Approved | JobState::Scheduled
                )
            })
            .filter_map(|r| r.assessment.map(|a| (r.job.request, a)))
            .unzip();
        Ok(crate::propose_bundles(&jobs, &assessments))
    }

    /// Customer ids of grid indices (for API views).
    pub fn customer_ids(&self, customers: &[u32]) -> Vec<String> {
        self.grid.customer_ids(customers)
    }
}

/// A delivery-level verdict for the outage consumer.
#[derive(Debug)]
pub enum Verdict {
    Done,
    Permanent(String),
    Transient(String),
}

impl Planner {
    /// Applies one `fudian.outage` event: remembers which incidents are planned switching,
    /// and records the unplanned interruptions a restoration ends. Idempotent on the event
    /// id (the inbox mark commits with the records).
    pub async fn apply_outage_event(&self, body: &[u8]) -> Verdict {
        let envelope = match fudian_events::outage::decode(body) {
            Ok(envelope) => envelope,
            Err(error) => return Verdict::Permanent(format!("undecodable outage event: {error}")),
        };
        if let fudian_events::outage::OutageEvent::Restored(restored) = &envelope.event
            && restored.restored_at < restored.started_at
        {
            return Verdict::Permanent(format!(
                "incident {}: restored at {} before it started at {}",
                restored.incident, restored.restored_at, restored.started_at
            ));
        }
        match self
            .apply_outage(&envelope.id.to_string(), &envelope.event)
            .await
        {
            Ok(()) => Verdict::Done,
            Err(error) if error.is_transient() => Verdict::Transient(error.to_string()),
            Err(error) => Verdict::Permanent(error.to_string()),
        }
    }

    async fn apply_outage(
        &self,
        event_id: &str,
        event: &fudian_events::outage::OutageEvent,
    ) -> Result<(), ServiceError> {
        use fudian_events::outage::{OutageCause, OutageEvent};
        let mut tx = self.store.begin().await?;
        if !tx.mark_processed(&self.config.consumer, event_id).await? {
            tx.rollback().await?;
            return Ok(());
        }
        match event {
            OutageEvent::Detected(snapshot) | OutageEvent::Updated(snapshot) => {
                let planned = snapshot.cause == Some(OutageCause::Planned);
                store::upsert_incident(
                    &mut tx,
                    snapshot.incident.as_str(),
                    planned,
                    i64::from(snapshot.revision),
                )
                .await?;
                // The restoration may have arrived first and been taken for a fault.
                if planned {
                    store::delete_interruptions(
                        &mut tx,
                        &format!("incident:{}", snapshot.incident),
                    )
                    .await?;
                }
            }
            OutageEvent::Restored(restored) => {
                let planned = store::lock_incident(&mut tx, restored.incident.as_str()).await?;
                // Planned switching is recorded by the planner's own jobs.
                if !planned {
                    let mut unknown = 0usize;
                    let customers: Vec<InterruptedCustomer> = restored
                        .customers_restored
                        .iter()
                        .filter_map(|id| {
                            let index = self.grid.customer_index(id.as_str());
                            unknown += usize::from(index.is_none());
                            index
                        })
                        .map(|c| self.interrupted(c))
                        .collect();
                    if unknown > 0 {
                        tracing::warn!(incident.id = %restored.incident, customer.count = unknown, "restored customers not in the grid skipped");
                    }
                    let source = format!("incident:{}", restored.incident);
                    store::insert_interruptions(
                        &mut tx,
                        InterruptionSpan {
                            source: &source,
                            start_ms: restored.started_at.timestamp_millis(),
                            end_ms: restored.restored_at.timestamp_millis(),
                            planned: false,
                            cause_class: "internal",
                        },
                        &customers,
                    )
                    .await?;
                }
            }
            OutageEvent::Cancelled(_) => {}
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_day_starts_at_midnight_in_shanghai() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let utc: DateTime<Utc> = "2025-12-31T16:00:00Z".parse().unwrap();
        assert_eq!(day_start_ms(day), utc.timestamp_millis());
        let (from, to) = year_bounds_ms(2026);
        assert_eq!(from, utc.timestamp_millis());
        assert_eq!(to - from, 365 * 24 * 3_600_000);
    }

    #[test]
    fn a_work_window_starts_at_the_work_hour_and_lasts_the_duration() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap();
        let window = work_window(day, 8, 4.5);
        assert_eq!(window.start.to_rfc3339(), "2026-12-10T08:00:00+08:00");
        assert_eq!(window.end.to_rfc3339(), "2026-12-10T12:30:00+08:00");
    }

    #[test]
    fn area_names_parse_to_reliability_classes() {
        assert_eq!(parse_rel_area("core"), Some(RelArea::Core));
        assert_eq!(parse_rel_area("rural"), Some(RelArea::Rural));
        assert_eq!(parse_rel_area("suburb"), None);
    }
}
