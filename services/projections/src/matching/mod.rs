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
use outreach_events::supporter::{self, SupporterContact, SupporterEvent, SupporterProfile};
use outreach_events::{CaseEvent, CaseOpened, ReportEvent, ReportRef};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Projection, ProjectionError, Reads, StoredEvent};

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
        write(db, &loaded, &matching).await
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

/// The name an enum is stored under: its serde name, as in the event payload.
fn name<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, &'static str> {
    serde_json::to_value(value).map_err(|_| "cannot be stored as JSON")
}

impl Matching {
    /// Folds one event in. Fails, saying why, for an event whose payload is not of a kind
    /// matching reads.
    pub(crate) fn fold(&mut self, read: Read) -> Result<(), &'static str> {
        match read {
            Read::Case {
                case_id,
                sequence,
                event,
            } => self.follow_case(case_id, sequence, event),
            Read::Report {
                aggregate,
                sequence,
                event,
            } => self.follow_report(aggregate, sequence, event),
            Read::Member { member, event } => self.follow_member(member, event),
            Read::Purge { member, cases } => {
                self.preferences.insert(member, None);
                for case in cases {
                    self.cases.remove(&case);
                    self.case_reports.retain(|(of, _, _)| *of != case);
                    self.purged.insert(case);
                }
                Ok(())
            }
            Read::Supporter {
                supporter_id,
                sequence,
                event,
            } => self.follow_supporter(supporter_id, sequence, event),
        }
    }

    fn add_case_report(&mut self, case: Uuid, report: &ReportRef) {
        self.case_reports
            .insert((case, report.source.clone(), report.report_id.clone()));
    }

    fn follow_case(
        &mut self,
        case: Uuid,
        sequence: i64,
        event: CaseEvent,
    ) -> Result<(), &'static str> {
        let change: fn(&mut MatchingCase, &CaseEvent) = match &event {
            CaseEvent::CaseOpened(opened) => {
                // Rebuilt after the member's purge, the opening names no one: no one to match.
                let Some(row) = opened_case(opened, sequence) else {
                    return Ok(());
                };
                // A case opens once; its opening again leaves the row as later events made it.
                self.cases.entry(opened.facts.case_id).or_insert(row);
                self.add_case_report(opened.facts.case_id, &opened.facts.report);
                return Ok(());
            }
            CaseEvent::SupporterAssigned(_) => |case, event| {
                if let CaseEvent::SupporterAssigned(e) = event {
                    case.supporter_id = Some(e.supporter_id.clone());
                    case.assigned_at = Some(e.assigned_at);
                }
            },
            // Merging closes the case too (reason `merged`); its report joins the other case.
            CaseEvent::CaseClosed(_) => |case, event| {
                if let CaseEvent::CaseClosed(e) = event {
                    case.ended_at = Some(e.closed_at);
                }
            },
            CaseEvent::CaseCancelled(_) => |case, event| {
                if let CaseEvent::CaseCancelled(e) = event {
                    case.ended_at = Some(e.cancelled_at);
                }
            },
            // The supporter stays assigned: the case goes back to them.
            CaseEvent::CaseReopened(_) => |case, _| case.ended_at = None,
            CaseEvent::TriggerLinked(linked) => {
                self.add_case_report(case, &linked.report);
                // An urgent report made the case urgent: first contact is due sooner.
                |case, event| {
                    if let CaseEvent::TriggerLinked(e) = event {
                        if e.first_contact_due.is_some() {
                            case.first_contact_due = e.first_contact_due;
                        }
                    }
                }
            }
            _ => return Err("event type and payload disagree"),
        };
        if let Some(row) = self.cases.get_mut(&case).filter(|r| r.version < sequence) {
            change(row, &event);
            row.version = sequence;
        }
        Ok(())
    }

    fn follow_report(
        &mut self,
        aggregate: Uuid,
        sequence: i64,
        event: ReportEvent,
    ) -> Result<(), &'static str> {
        let (report, added, removed) = match event {
            ReportEvent::ReportRecorded {
                report, members, ..
            } => {
                if self.reports.contains_key(&aggregate) {
                    return Ok(()); // recorded already: later amendments may have changed the staff
                }
                // Amendments name only the aggregate: remember which report it is.
                self.reports.insert(
                    aggregate,
                    MatchingReport {
                        report_aggregate_id: aggregate,
                        report_source: report.source.clone(),
                        report_id: report.report_id.clone(),
                        version: sequence,
                    },
                );
                (report, members, Vec::new())
            }
            ReportEvent::StaffAdded { members, .. } => {
                let Some(report) = self.report_at(aggregate, sequence) else {
                    return Ok(());
                };
                (report, members, Vec::new())
            }
            ReportEvent::StaffRemoved { staff_ids, .. } => {
                let Some(report) = self.report_at(aggregate, sequence) else {
                    return Ok(());
                };
                (report, Vec::new(), staff_ids)
            }
            _ => return Err("event type and payload disagree"),
        };
        // Everyone named, eligible for outreach or not: they were all there.
        let key = |staff_id| (report.source.clone(), report.report_id.clone(), staff_id);
        // A member whose data was purged (a rebuild after the purge) is named no more.
        for member in added.into_iter().filter(|m| !m.staff_id.is_empty()) {
            self.report_staff_cases
                .insert(key(member.staff_id.clone()), member.case_id);
            self.report_staff.insert(key(member.staff_id), true);
        }
        for staff_id in removed.into_iter().filter(|s| !s.is_empty()) {
            self.report_staff.insert(key(staff_id), false);
        }
        Ok(())
    }

    /// The report a SafetyReport aggregate is, moving its version to `sequence`; `None` if the
    /// report is unknown or already holds this event (so applying an amendment twice is a no-op).
    fn report_at(&mut self, aggregate: Uuid, sequence: i64) -> Option<ReportRef> {
        let row = self
            .reports
            .get_mut(&aggregate)
            .filter(|r| r.version < sequence)?;
        row.version = sequence;
        Some(ReportRef {
            source: row.report_source.clone(),
            report_id: row.report_id.clone(),
        })
    }

    fn follow_member(&mut self, member: String, event: MemberEvent) -> Result<(), &'static str> {
        let (staff_id, personal) = match event {
            MemberEvent::PreferencesStated {
                staff_id, personal, ..
            } => (staff_id, personal),
            MemberEvent::PersonalDataPurged { .. } => (String::new(), None),
            _ => return Err("event type and payload disagree"),
        };
        // The whole set, as last stated: a preference left out is no longer held. Purged (or
        // stated before a purge and rebuilt after it: no staff id, no preferences): none held.
        let stated = match personal {
            Some(preferences) if !staff_id.is_empty() => Some((staff_id, json(&preferences)?)),
            _ => None,
        };
        self.preferences.insert(member, stated);
        Ok(())
    }

    fn follow_supporter(
        &mut self,
        supporter: Uuid,
        sequence: i64,
        event: SupporterEvent,
    ) -> Result<(), &'static str> {
        let (taken, case, at) = match event {
            SupporterEvent::SupporterJoined {
                profile,
                personal,
                joined_at,
            } => {
                let entry = roster_entry(supporter, sequence, &profile, &personal, joined_at)?;
                self.write_profile(entry, Some(joined_at));
                return Ok(());
            }
            SupporterEvent::SupporterProfileChanged {
                profile,
                personal,
                changed_at,
            } => {
                let entry = roster_entry(supporter, sequence, &profile, &personal, changed_at)?;
                self.write_profile(entry, None);
                return Ok(());
            }
            SupporterEvent::SupporterPaused { .. } => {
                self.set_paused(supporter, sequence, true);
                return Ok(());
            }
            SupporterEvent::SupporterResumed { .. } => {
                self.set_paused(supporter, sequence, false);
                return Ok(());
            }
            SupporterEvent::CaseTaken { case_id, taken_at } => (true, case_id, taken_at),
            SupporterEvent::CaseReleased {
                case_id,
                released_at,
            } => (false, case_id, released_at),
        };
        // A supporter the roster does not know, or an event already applied, changes nothing.
        let Some(row) = self
            .supporters
            .get_mut(&supporter)
            .filter(|r| r.version < sequence)
        else {
            return Ok(());
        };
        row.version = sequence;
        let caseload = self.caseloads.entry(supporter).or_default();
        if taken {
            // Taking a case held already keeps the first taking (and counts it once).
            caseload.entry(case).or_insert(at);
        } else {
            caseload.remove(&case);
        }
        // Counted, not incremented: the count can never drift from the rows.
        row.open_cases = i32::try_from(caseload.len()).unwrap_or(i32::MAX);
        Ok(())
    }

    /// The roster entry as a whole: on joining (`joined_at`) or on a change, which keeps the
    /// joining date, the pause and the caseload. A change of a supporter the roster does not
    /// know yet (no joining seen) enters them as joined at that change, so the roster never
    /// lacks someone whose events it has.
    fn write_profile(&mut self, entry: RosterSupporter, joined_at: Option<DateTime<Utc>>) {
        match self.supporters.get_mut(&entry.supporter_id) {
            None => {
                self.supporters.insert(entry.supporter_id, entry);
            }
            Some(row) if row.version < entry.version => {
                *row = RosterSupporter {
                    joined_at: joined_at.unwrap_or(row.joined_at),
                    paused: row.paused,
                    open_cases: row.open_cases,
                    ..entry
                };
            }
            Some(_) => {}
        }
    }

    fn set_paused(&mut self, supporter: Uuid, sequence: i64, paused: bool) {
        if let Some(row) = self
            .supporters
            .get_mut(&supporter)
            .filter(|r| r.version < sequence)
        {
            row.paused = paused;
            row.version = sequence;
        }
    }
}

/// The row of an opening; `None` for one whose member was purged.
fn opened_case(opened: &CaseOpened, version: i64) -> Option<MatchingCase> {
    let facts = &opened.facts;
    let member = facts.member.as_ref()?;
    Some(MatchingCase {
        case_id: facts.case_id,
        member_staff_id: member.staff_id.clone(),
        campus: facts.campus.clone(),
        department: member.department.clone(),
        discipline: member.discipline.as_str().into(),
        seniority: member.seniority.map(|s| s.as_str().into()),
        role: member.role.clone(),
        involvement: member.involvement.as_str().into(),
        first_contact_due: facts.first_contact_due,
        opened_at: facts.opened_at,
        supporter_id: None,
        assigned_at: None,
        ended_at: None,
        version,
    })
}

/// A new roster entry from a joining or a change at `at`: not paused, no cases held.
fn roster_entry(
    supporter: Uuid,
    version: i64,
    profile: &SupporterProfile,
    personal: &SupporterContact,
    at: DateTime<Utc>,
) -> Result<RosterSupporter, &'static str> {
    Ok(RosterSupporter {
        supporter_id: supporter,
        staff_id: profile.staff_id.clone(),
        campus: profile.campus.clone(),
        department: profile.department.clone(),
        discipline: profile.discipline.as_str().into(),
        specialty: profile.specialty.clone(),
        seniority: profile.seniority.as_str().into(),
        languages: profile.languages.clone(),
        interests: profile.interests.clone(),
        training_status: profile.training.status.as_str().into(),
        trained_on: profile.training.completed_on,
        capacity: i32::try_from(profile.capacity).unwrap_or(i32::MAX),
        availability: json(&profile.availability)?,
        paused: false,
        open_cases: 0,
        given_name: Some(personal.given_name.clone()),
        family_name: Some(personal.family_name.clone()),
        email: Some(personal.email.clone()),
        phone: personal.phone.clone(),
        gender: personal.gender.as_ref().and_then(name),
        joined_at: at,
        changed_at: at,
        version,
    })
}

/// Writes what the batch changed, one statement per table and kind of change.
async fn write(
    db: &mut PgConnection,
    loaded: &Matching,
    now: &Matching,
) -> Result<(), ProjectionError> {
    // A case or report this batch stores first has no rows in the set tables yet: they are
    // written only after its opening or recording, which comes first in its aggregate's order.
    // Its rows go in as they are; only the others are looked for first.
    let (new, changed) = crate::new_and_changed(&loaded.cases, &now.cases);
    let opened: HashSet<Uuid> = new.iter().map(|c| c.case_id).collect();
    write_cases(db, &new, false).await?;
    write_cases(db, &changed, true).await?;
    let (fresh, others): (Vec<_>, Vec<_>) =
        now.case_reports.iter().partition(|r| opened.contains(&r.0));
    write_case_reports(db, &fresh, SetRows::New).await?;
    write_case_reports(db, &others, SetRows::MaybeHeld).await?;
    let (new, changed) = crate::new_and_changed(&loaded.reports, &now.reports);
    let recorded: HashSet<(&str, &str)> = new
        .iter()
        .map(|r| (r.report_source.as_str(), r.report_id.as_str()))
        .collect();
    write_reports(db, &new, false).await?;
    write_reports(db, &changed, true).await?;
    write_report_staff(db, &now.report_staff, &now.report_staff_cases, &recorded).await?;
    write_preferences(db, &now.preferences).await?;
    let (new, changed) = crate::new_and_changed(&loaded.supporters, &now.supporters);
    write_supporters(db, &new, false).await?;
    write_supporters(db, &changed, true).await?;
    write_caseloads(db, &loaded.caseloads, &now.caseloads).await?;
    forget_cases(db, &now.purged).await
}

/// Deletes the rows of the cases of purged members, and the rows naming them on reports.
async fn forget_cases(
    db: &mut PgConnection,
    cases: &BTreeSet<Uuid>,
) -> Result<(), ProjectionError> {
    if cases.is_empty() {
        return Ok(());
    }
    let cases: Vec<Uuid> = cases.iter().copied().collect();
    sqlx::query("DELETE FROM matching_report_staff WHERE case_id = ANY($1)")
        .bind(&cases)
        .execute(&mut *db)
        .await?;
    sqlx::query("DELETE FROM matching_case_reports WHERE case_id = ANY($1)")
        .bind(&cases)
        .execute(&mut *db)
        .await?;
    sqlx::query("DELETE FROM matching_cases WHERE case_id = ANY($1)")
        .bind(&cases)
        .execute(db)
        .await?;
    Ok(())
}

/// What a row replaces its stored self with.
const REPLACE_CASE: &str = "ON CONFLICT (case_id) DO UPDATE SET
     member_staff_id = excluded.member_staff_id, campus = excluded.campus,
     department = excluded.department, discipline = excluded.discipline,
     seniority = excluded.seniority, role = excluded.role,
     involvement = excluded.involvement, first_contact_due = excluded.first_contact_due,
     opened_at = excluded.opened_at, supporter_id = excluded.supporter_id,
     assigned_at = excluded.assigned_at, ended_at = excluded.ended_at,
     version = excluded.version";

async fn write_cases(
    db: &mut PgConnection,
    rows: &[&MatchingCase],
    replacing: bool,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&MatchingCase) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let maybe =
        |f: fn(&MatchingCase) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let time = |f: fn(&MatchingCase) -> Option<DateTime<Utc>>| {
        rows.iter().map(|r| f(r)).collect::<Vec<_>>()
    };
    let on_conflict = if replacing { REPLACE_CASE } else { "" };
    sqlx::query(&format!(
        "INSERT INTO matching_cases (
             case_id, member_staff_id, campus, department, discipline, seniority, role,
             involvement, first_contact_due, opened_at, supporter_id, assigned_at, ended_at,
             version)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::timestamptz[],
                              $10::timestamptz[], $11::text[], $12::timestamptz[],
                              $13::timestamptz[], $14::bigint[])
         {on_conflict}"
    ))
    .bind(rows.iter().map(|r| r.case_id).collect::<Vec<_>>())
    .bind(text(|r| &r.member_staff_id))
    .bind(text(|r| &r.campus))
    .bind(text(|r| &r.department))
    .bind(text(|r| &r.discipline))
    .bind(maybe(|r| r.seniority.as_deref()))
    .bind(text(|r| &r.role))
    .bind(text(|r| &r.involvement))
    .bind(time(|r| r.first_contact_due))
    .bind(rows.iter().map(|r| r.opened_at).collect::<Vec<_>>())
    .bind(maybe(|r| r.supporter_id.as_deref()))
    .bind(time(|r| r.assigned_at))
    .bind(time(|r| r.ended_at))
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// How a batch's rows go into a set table (a case's reports, a report's staff).
///
/// Rows already there are skipped by a lookup, not by ON CONFLICT: its speculative insertion
/// costs every new row an extra WAL record and index pass (the batch holds the projection's
/// checkpoint lock, so nothing else inserts meanwhile). The lookup's `OFFSET 0` keeps it one
/// probe of the primary key per row: without it PostgreSQL made the `NOT EXISTS` an anti-join
/// against the whole table, so each batch cost more as the table grew. 125 batches of 3,600
/// rows into an empty table: 15 s, 3 s with `OFFSET 0`, 1.3 s as plain inserts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SetRows {
    /// Of a case or report this batch stores first: none can be there yet.
    New,
    /// Of one stored before: the rows already there are skipped.
    MaybeHeld,
}

async fn write_case_reports(
    db: &mut PgConnection,
    rows: &[&(Uuid, String, String)],
    kind: SetRows,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let skip_held = match kind {
        SetRows::New => "",
        SetRows::MaybeHeld => {
            "WHERE NOT EXISTS (
                   SELECT FROM matching_case_reports c
                    WHERE (c.case_id, c.report_source, c.report_id)
                        = (r.case_id, r.report_source, r.report_id)
                   OFFSET 0)"
        }
    };
    sqlx::query(&format!(
        "INSERT INTO matching_case_reports (case_id, report_source, report_id)
         SELECT r.case_id, r.report_source, r.report_id
           FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS r(case_id, report_source, report_id)
         {skip_held}"
    ))
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// What a row replaces its stored self with.
const REPLACE_REPORT: &str =
    "ON CONFLICT (report_aggregate_id) DO UPDATE SET version = excluded.version";

async fn write_reports(
    db: &mut PgConnection,
    rows: &[&MatchingReport],
    replacing: bool,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let on_conflict = if replacing { REPLACE_REPORT } else { "" };
    sqlx::query(&format!(
        "INSERT INTO matching_reports (report_aggregate_id, report_source, report_id, version)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[])
         {on_conflict}"
    ))
    .bind(
        rows.iter()
            .map(|r| r.report_aggregate_id)
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.report_source.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.report_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// The staff each report names now, and no longer; `recorded`: the reports this batch stores
/// first.
async fn write_report_staff(
    db: &mut PgConnection,
    staff: &BTreeMap<(String, String, String), bool>,
    cases: &BTreeMap<(String, String, String), Uuid>,
    recorded: &HashSet<(&str, &str)>,
) -> Result<(), ProjectionError> {
    let (mut fresh, mut others, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    for (row, named) in staff {
        match named {
            true if recorded.contains(&(row.0.as_str(), row.1.as_str())) => fresh.push(row),
            true => others.push(row),
            false => removed.push(row),
        }
    }
    for (rows, kind) in [(fresh, SetRows::New), (others, SetRows::MaybeHeld)] {
        if rows.is_empty() {
            continue;
        }
        let skip_held = match kind {
            SetRows::New => "",
            SetRows::MaybeHeld => {
                "WHERE NOT EXISTS (
                       SELECT FROM matching_report_staff s
                        WHERE (s.report_source, s.report_id, s.staff_id)
                            = (r.report_source, r.report_id, r.staff_id)
                       OFFSET 0)"
            }
        };
        sqlx::query(&format!(
            "INSERT INTO matching_report_staff (report_source, report_id, staff_id, case_id)
             SELECT r.report_source, r.report_id, r.staff_id, r.case_id
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::uuid[])
                    AS r(report_source, report_id, staff_id, case_id)
             {skip_held}"
        ))
        .bind(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| cases.get(*r).copied())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *db)
        .await?;
    }
    if !removed.is_empty() {
        sqlx::query(
            "DELETE FROM matching_report_staff s
              USING UNNEST($1::text[], $2::text[], $3::text[]) AS r(report_source, report_id, staff_id)
              WHERE (s.report_source, s.report_id, s.staff_id)
                  = (r.report_source, r.report_id, r.staff_id)",
        )
        .bind(removed.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
        .bind(removed.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind(removed.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

async fn write_preferences(
    db: &mut PgConnection,
    preferences: &BTreeMap<String, Option<(String, serde_json::Value)>>,
) -> Result<(), ProjectionError> {
    let mut held = (Vec::new(), Vec::new(), Vec::new());
    let mut dropped = Vec::new();
    for (member, stated) in preferences {
        match stated {
            Some((staff_id, preferences)) => {
                held.0.push(staff_id.as_str());
                held.1.push(member.as_str());
                held.2.push(preferences);
            }
            None => dropped.push(member.as_str()),
        }
    }
    if !dropped.is_empty() {
        sqlx::query("DELETE FROM matching_preferences WHERE member_id = ANY($1)")
            .bind(&dropped)
            .execute(&mut *db)
            .await?;
    }
    if !held.0.is_empty() {
        sqlx::query(
            "INSERT INTO matching_preferences (staff_id, member_id, preferences)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::jsonb[])
             ON CONFLICT (staff_id) DO UPDATE
                SET member_id = excluded.member_id, preferences = excluded.preferences",
        )
        .bind(&held.0)
        .bind(&held.1)
        .bind(&held.2)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// What a row replaces its stored self with.
const REPLACE_SUPPORTER: &str = "ON CONFLICT (supporter_id) DO UPDATE SET
     staff_id = excluded.staff_id, campus = excluded.campus,
     department = excluded.department, discipline = excluded.discipline,
     specialty = excluded.specialty, seniority = excluded.seniority,
     languages = excluded.languages, interests = excluded.interests,
     training_status = excluded.training_status, trained_on = excluded.trained_on,
     capacity = excluded.capacity, availability = excluded.availability,
     paused = excluded.paused, open_cases = excluded.open_cases,
     given_name = excluded.given_name, family_name = excluded.family_name,
     email = excluded.email, phone = excluded.phone, gender = excluded.gender,
     joined_at = excluded.joined_at, changed_at = excluded.changed_at,
     version = excluded.version";

async fn write_supporters(
    db: &mut PgConnection,
    rows: &[&RosterSupporter],
    replacing: bool,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&RosterSupporter) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let maybe =
        |f: fn(&RosterSupporter) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    // Arrays of arrays do not bind: the text arrays travel as JSON and are unpacked here.
    let lists = |f: fn(&RosterSupporter) -> &Vec<String>| {
        rows.iter()
            .map(|r| serde_json::json!(f(r)))
            .collect::<Vec<_>>()
    };
    let on_conflict = if replacing { REPLACE_SUPPORTER } else { "" };
    sqlx::query(&format!(
        "INSERT INTO roster_supporters (
             supporter_id, staff_id, campus, department, discipline, specialty, seniority,
             languages, interests, training_status, trained_on, capacity, availability, paused,
             open_cases, given_name, family_name, email, phone, gender, joined_at, changed_at,
             version)
         SELECT r.supporter_id, r.staff_id, r.campus, r.department, r.discipline, r.specialty,
                r.seniority,
                ARRAY(SELECT jsonb_array_elements_text(r.languages)),
                ARRAY(SELECT jsonb_array_elements_text(r.interests)),
                r.training_status, r.trained_on, r.capacity, r.availability, r.paused,
                r.open_cases, r.given_name, r.family_name, r.email, r.phone, r.gender,
                r.joined_at, r.changed_at, r.version
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::jsonb[], $9::jsonb[], $10::text[], $11::date[],
                       $12::int[], $13::jsonb[], $14::bool[], $15::int[], $16::text[],
                       $17::text[], $18::text[], $19::text[], $20::text[],
                       $21::timestamptz[], $22::timestamptz[], $23::bigint[])
             AS r(supporter_id, staff_id, campus, department, discipline, specialty, seniority,
                  languages, interests, training_status, trained_on, capacity, availability,
                  paused, open_cases, given_name, family_name, email, phone, gender, joined_at,
                  changed_at, version)
         {on_conflict}"
    ))
    .bind(rows.iter().map(|r| r.supporter_id).collect::<Vec<_>>())
    .bind(text(|r| &r.staff_id))
    .bind(text(|r| &r.campus))
    .bind(text(|r| &r.department))
    .bind(text(|r| &r.discipline))
    .bind(maybe(|r| r.specialty.as_deref()))
    .bind(text(|r| &r.seniority))
    .bind(lists(|r| &r.languages))
    .bind(lists(|r| &r.interests))
    .bind(text(|r| &r.training_status))
    .bind(rows.iter().map(|r| r.trained_on).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.capacity).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| &r.availability).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.paused).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.open_cases).collect::<Vec<_>>())
    .bind(maybe(|r| r.given_name.as_deref()))
    .bind(maybe(|r| r.family_name.as_deref()))
    .bind(maybe(|r| r.email.as_deref()))
    .bind(maybe(|r| r.phone.as_deref()))
    .bind(maybe(|r| r.gender.as_deref()))
    .bind(rows.iter().map(|r| r.joined_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.changed_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// The caseload rows the batch added and removed.
async fn write_caseloads(
    db: &mut PgConnection,
    loaded: &HashMap<Uuid, BTreeMap<Uuid, DateTime<Utc>>>,
    now: &HashMap<Uuid, BTreeMap<Uuid, DateTime<Utc>>>,
) -> Result<(), ProjectionError> {
    let empty = BTreeMap::new();
    let (mut taken, mut released) = (Vec::new(), Vec::new());
    for (supporter, cases) in now {
        let before = loaded.get(supporter).unwrap_or(&empty);
        for (case, at) in cases {
            if !before.contains_key(case) {
                taken.push((*supporter, *case, *at));
            }
        }
        for case in before.keys().filter(|case| !cases.contains_key(case)) {
            released.push((*supporter, *case));
        }
    }
    if !taken.is_empty() {
        sqlx::query(
            "INSERT INTO roster_caseload (supporter_id, case_id, taken_at)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[])
             ON CONFLICT DO NOTHING",
        )
        .bind(taken.iter().map(|t| t.0).collect::<Vec<_>>())
        .bind(taken.iter().map(|t| t.1).collect::<Vec<_>>())
        .bind(taken.iter().map(|t| t.2).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    if !released.is_empty() {
        sqlx::query(
            "DELETE FROM roster_caseload c
              USING UNNEST($1::uuid[], $2::uuid[]) AS r(supporter_id, case_id)
              WHERE (c.supporter_id, c.case_id) = (r.supporter_id, r.case_id)",
        )
        .bind(released.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(released.iter().map(|r| r.1).collect::<Vec<_>>())
        .execute(db)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
