//! The matching read model: what choosing a peer supporter for a case reads. The roster (each
//! supporter's profile, pause and the cases they hold), each case's member facts and supporter,
//! the staff each report names (a supporter named in the member's report is not a stranger to
//! what happened), and members' stated preferences.
//!
//! It follows four aggregates and reads only the events it uses. A batch loads the cases, reports
//! and supporters its events touch (one query per table), folds the events into them in memory
//! ([`Matching::fold`]: no I/O) and writes back what changed with one statement per table.
//! Changes of a case, a supporter or a report carry the aggregate's sequence and change nothing
//! if the row already holds that event or a later one, so applying an event twice is a no-op;
//! the sets (a case's reports, a report's staff, a supporter's caseload) end as their last
//! change in the batch left them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use outreach_events::care_team_member::{self, MemberEvent};
use outreach_events::case;
use outreach_events::report;
use outreach_events::supporter::{self, SupporterEvent};
use outreach_events::{CaseEvent, ReportEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Projection, ProjectionError, Reads, StoredEvent};

mod fold;
mod write;

const CASE: &str = case::AGGREGATE_TYPE;
const REPORT: &str = report::AGGREGATE_TYPE;
const MEMBER: &str = care_team_member::AGGREGATE_TYPE;
const SUPPORTER: &str = supporter::AGGREGATE_TYPE;

pub struct MatchingProjection;

const READS: &[&str] = &[
    CaseEvent::CASE_OPENED,
    CaseEvent::SUPPORTER_ASSIGNED,
    CaseEvent::CASE_CLOSED,
    CaseEvent::CASE_CANCELLED,
    CaseEvent::CASE_REOPENED,
    CaseEvent::TRIGGER_LINKED,
    ReportEvent::REPORT_RECORDED,
    ReportEvent::STAFF_ADDED,
    ReportEvent::STAFF_REMOVED,
    MemberEvent::PREFERENCES_STATED,
    MemberEvent::PERSONAL_DATA_PURGED,
    SupporterEvent::SUPPORTER_JOINED,
    SupporterEvent::SUPPORTER_PROFILE_CHANGED,
    SupporterEvent::SUPPORTER_PAUSED,
    SupporterEvent::SUPPORTER_RESUMED,
    SupporterEvent::CASE_TAKEN,
    SupporterEvent::CASE_RELEASED,
];

/// One row of `matching_cases`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct MatchingCase {
    pub case_id: Uuid,
    pub member_staff_id: String,
    pub campus: String,
    pub department: String,
    pub discipline: String,
    pub seniority: Option<String>,
    pub role: String,
    pub involvement: String,
    pub first_contact_due: Option<DateTime<Utc>>,
    pub opened_at: DateTime<Utc>,
    pub supporter_id: Option<String>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// One row of `matching_reports`: the report a SafetyReport aggregate is.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct MatchingReport {
    pub report_aggregate_id: Uuid,
    pub report_source: String,
    pub report_id: String,
    pub version: i64,
}

/// One row of `roster_supporters`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct RosterSupporter {
    pub supporter_id: Uuid,
    pub staff_id: String,
    pub campus: String,
    pub department: String,
    pub discipline: String,
    pub specialty: Option<String>,
    pub seniority: String,
    pub languages: Vec<String>,
    pub interests: Vec<String>,
    pub training_status: String,
    pub trained_on: Option<NaiveDate>,
    pub capacity: i32,
    pub availability: serde_json::Value,
    pub paused: bool,
    pub open_cases: i32,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub gender: Option<String>,
    pub joined_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    pub version: i64,
}

/// What matching reads of one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Read {
    Case {
        case_id: Uuid,
        sequence: i64,
        event: CaseEvent,
    },
    Report {
        aggregate: Uuid,
        sequence: i64,
        event: ReportEvent,
    },
    /// An event of the member's own record, whose aggregate id is `member`.
    Member { member: String, event: MemberEvent },
    /// A member's purge: their preferences go, and so do the rows of `cases`, the cases their
    /// record started before it (issue 27: nothing of a purged member's case is matched again).
    Purge {
        member: String,
        cases: HashSet<Uuid>,
    },
    Supporter {
        supporter_id: Uuid,
        sequence: i64,
        event: SupporterEvent,
    },
}

/// The rows a batch touches: loaded, then as its events leave them.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Matching {
    pub cases: HashMap<Uuid, MatchingCase>,
    /// (case, report source, report id): every report behind a case; only ever added to.
    pub case_reports: BTreeSet<(Uuid, String, String)>,
    pub reports: HashMap<Uuid, MatchingReport>,
    /// (report source, report id, staff id) -> whether the report names them now.
    pub report_staff: BTreeMap<(String, String, String), bool>,
    /// The case of each member a report names, for the rows the batch writes: a purge drops
    /// the rows of its cases (the staff id is gone with the key by then).
    pub report_staff_cases: BTreeMap<(String, String, String), Uuid>,
    /// By member (their record's aggregate id), their staff id and preferences as last
    /// stated; `None`: none held (purged). Purges find them by member: their staff id is
    /// sealed in the member's events, and gone with the key (issue 27).
    pub preferences: BTreeMap<String, Option<(String, serde_json::Value)>>,
    pub supporters: HashMap<Uuid, RosterSupporter>,
    /// Each supporter's whole caseload (case -> taken at), for the supporters whose caseload the
    /// batch changes.
    pub caseloads: HashMap<Uuid, BTreeMap<Uuid, DateTime<Utc>>>,
    /// Cases whose member the batch purged: their rows are deleted.
    pub purged: BTreeSet<Uuid>,
}

#[async_trait]
impl Projection for MatchingProjection {
    fn name(&self) -> &'static str {
        "matching"
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: READS,
            // Members' preferences, a case's member profile and the staff a report names
            // (never a name).
            personal_data_of: &[
                "PreferencesStated",
                "CaseOpened",
                "ReportRecorded",
                "StaffAdded",
                "StaffRemoved",
            ],
        }
    }

    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        crate::empty(
            db,
            &[
                "roster_supporters",
                "roster_caseload",
                "matching_cases",
                "matching_case_reports",
                "matching_report_staff",
                "matching_reports",
                "matching_preferences",
            ],
        )
        .await
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut purges: HashMap<usize, HashSet<Uuid>> = crate::purge::cases_purged_by(db, events)
            .await?
            .into_iter()
            .collect();
        let read = (events.iter().enumerate())
            .map(|(at, event)| match (read(event)?, purges.remove(&at)) {
                (
                    Some(Read::Member {
                        member,
                        event: MemberEvent::PersonalDataPurged { .. },
                    }),
                    cases,
                ) => Ok(Some(Read::Purge {
                    member,
                    cases: cases.unwrap_or_default(),
                })),
                (read, _) => Ok(read),
            })
            .collect::<Result<Vec<_>, ProjectionError>>()?;
        let loaded = load(db, &read).await?;
        let mut matching = loaded.clone();
        for (event, read) in events.iter().zip(read) {
            let _applying = crate::applying(self.name(), event).entered();
            if let Some(read) = read {
                matching
                    .fold(read)
                    .map_err(|reason| event.unreadable(reason.into()))?;
            }
        }
        write::changes(db, &loaded, &matching).await
    }
}

/// The event as matching reads it; `None` for one of a type it does not read (skipped on the
/// stored type, never decoded).
fn read(event: &StoredEvent) -> Result<Option<Read>, ProjectionError> {
    if !READS.contains(&event.event_type.as_str()) {
        return Ok(None);
    }
    let sequence = event.sequence;
    Ok(Some(match event.aggregate_type.as_str() {
        CASE => Read::Case {
            case_id: event.aggregate_uuid()?,
            sequence,
            event: event.decode()?,
        },
        REPORT => Read::Report {
            aggregate: event.aggregate_uuid()?,
            sequence,
            event: event.decode()?,
        },
        MEMBER => Read::Member {
            member: event.aggregate_id.clone(),
            event: event.decode()?,
        },
        SUPPORTER => Read::Supporter {
            supporter_id: event.aggregate_uuid()?,
            sequence,
            event: event.decode()?,
        },
        _ => return Ok(None),
    }))
}

/// The stored rows the batch's events touch: four queries.
async fn load(db: &mut PgConnection, read: &[Option<Read>]) -> Result<Matching, ProjectionError> {
    let (mut cases, mut reports, mut supporters, mut caseloads) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for read in read.iter().flatten() {
        match read {
            Read::Case { case_id, .. } => {
                cases.insert(*case_id);
            }
            Read::Report { aggregate, .. } => {
                reports.insert(*aggregate);
            }
            Read::Member { .. } | Read::Purge { .. } => {}
            Read::Supporter {
                supporter_id,
                event,
                ..
            } => {
                supporters.insert(*supporter_id);
                if let SupporterEvent::CaseTaken { .. } | SupporterEvent::CaseReleased { .. } =
                    event
                {
                    caseloads.insert(*supporter_id);
                }
            }
        }
    }
    let ids = |set: BTreeSet<Uuid>| set.into_iter().collect::<Vec<_>>();
    let mut matching = Matching::default();
    // Each load looks each of the batch's keys up in the primary key, one lookup per key (the
    // `OFFSET 0` keeps PostgreSQL from flattening the lookup into a join). Given the keys as
    // `= ANY($1)`, or joined, it planned a scan of the whole table for a batch's thousands of
    // keys: it cannot know the width of a table a rebuild is filling, and a hash of the table
    // spilled to disk; 33-42 ms a batch at 300,000 cases and growing, where the lookups take 7.
    if !cases.is_empty() {
        let rows: Vec<MatchingCase> = sqlx::query_as(
            "SELECT c.* FROM UNNEST($1::uuid[]) AS k(id),
                    LATERAL (SELECT * FROM matching_cases WHERE case_id = k.id OFFSET 0) c",
        )
        .bind(ids(cases))
        .fetch_all(&mut *db)
        .await?;
        matching.cases = rows.into_iter().map(|r| (r.case_id, r)).collect();
    }
    if !reports.is_empty() {
        let rows: Vec<MatchingReport> = sqlx::query_as(
            "SELECT r.* FROM UNNEST($1::uuid[]) AS k(id),
                    LATERAL (SELECT * FROM matching_reports
                              WHERE report_aggregate_id = k.id OFFSET 0) r",
        )
        .bind(ids(reports))
        .fetch_all(&mut *db)
        .await?;
        matching.reports = rows
            .into_iter()
            .map(|r| (r.report_aggregate_id, r))
            .collect();
    }
    if !supporters.is_empty() {
        let rows: Vec<RosterSupporter> =
            sqlx::query_as("SELECT * FROM roster_supporters WHERE supporter_id = ANY($1)")
                .bind(ids(supporters))
                .fetch_all(&mut *db)
                .await?;
        matching.supporters = rows.into_iter().map(|r| (r.supporter_id, r)).collect();
    }
    if !caseloads.is_empty() {
        let holding = ids(caseloads);
        let rows: Vec<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
            "SELECT supporter_id, case_id, taken_at FROM roster_caseload
              WHERE supporter_id = ANY($1)",
        )
        .bind(&holding)
        .fetch_all(&mut *db)
        .await?;
        for supporter in holding {
            matching.caseloads.entry(supporter).or_default();
        }
        for (supporter, case, taken_at) in rows {
            matching
                .caseloads
                .entry(supporter)
                .or_default()
                .insert(case, taken_at);
        }
    }
    Ok(matching)
}

#[cfg(test)]
mod tests;
