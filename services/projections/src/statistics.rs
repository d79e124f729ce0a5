//! The statistics read model: cumulative counts for the safety office, by month, campus and
//! discipline ("the only outgoing information from Peer Support is quarterly usage stats").
//!
//! Its counts hold no identifier of a member, supporter or case: each event adds one to a count,
//! or one anonymous duration for a first contact. The member's discipline is personal data,
//! sealed in the case's opening under the member's key (issue 27), so it is counted when the case
//! opens and kept, with the campus and the opening's times, in `statistics_cases` while the case
//! lives; whether the case was contacted or reached before is read from the event store (codes,
//! committed, never changing): once per batch for all the cases the batch touches ([`Known`]).
//! A batch's counts are tallied in memory ([`Tally`]) and added with one statement; each event is
//! applied exactly once (the checkpoint moves in the same transaction), which is what makes
//! `+ count` safe.
//!
//! At a member's purge their cases are *retired*: what each counted (its events before the
//! purge, replayed with its row of `statistics_cases`) is added to a ledger that no rebuild
//! empties (`statistics_retired_counts`, `statistics_retired_first_contact`), the case is listed
//! as retired (`statistics_retired_cases`, its id alone) and its row goes. A rebuild starts the
//! counts from the ledger and skips retired cases' events, whose discipline died with the key:
//! the statistics are the same before and after the purge, and after any rebuild.
//!
//! A month is a month of the program's calendar (its time zone), and time to first contact is
//! counted in that calendar's working hours: the projection is built with the calendar, and a
//! rebuild after the calendar changed recounts everything under the new one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use outreach_domain::deadline::WorkingCalendar;
use outreach_events::care_team_member::{self, MemberEvent};
use outreach_events::case;
use outreach_events::lifecycle::{CloseReason, ContactOutcome};
use outreach_events::{CaseEvent, CaseOpenedFacts, ReportRef};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{code_name, Projection, ProjectionError, Reads, StoredEvent};

/// Where an event's count goes when the event does not say (an opted-out member's discipline).
pub const UNKNOWN: &str = "unknown";

const READS: &[&str] = &[
    CaseEvent::CASE_OPENED,
    CaseEvent::CONTACT_ATTEMPTED,
    CaseEvent::SUPPORT_ACCEPTED,
    CaseEvent::SUPPORT_DECLINED,
    CaseEvent::CASE_CLOSED,
    CaseEvent::ENCOUNTER_RECORDED,
    CaseEvent::REFERRED_TO_PROFESSIONAL_HELP,
    CaseEvent::ESCALATION_RECORDED,
    CaseEvent::TRIGGER_LINKED,
    MemberEvent::AUTOMATIC_OUTREACH_SKIPPED,
    MemberEvent::PERSONAL_DATA_PURGED,
];

pub struct StatisticsProjection {
    calendar: WorkingCalendar,
}

impl StatisticsProjection {
    /// Its name, and so its checkpoint's: the retention purge waits for that checkpoint.
    pub const NAME: &'static str = "statistics";

    pub fn new(calendar: WorkingCalendar) -> Self {
        Self { calendar }
    }

    /// The first day of the calendar month `at` falls in.
    fn month(&self, at: DateTime<Utc>) -> NaiveDate {
        let local = at.with_timezone(&self.calendar.time_zone).date_naive();
        local.with_day(1).expect("every month has a first day")
    }
}

/// The facts of a case that its statistics are broken down by.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CaseFacts {
    pub campus: String,
    pub discipline: String,
    pub opened_at: DateTime<Utc>,
    pub first_contact_due: Option<DateTime<Utc>>,
}

impl CaseFacts {
    /// The facts of an opening whose member is `discipline` (read from its profile, or known).
    fn of(facts: &CaseOpenedFacts, discipline: &str) -> Self {
        CaseFacts {
            campus: facts.campus.clone(),
            discipline: discipline.to_owned(),
            opened_at: facts.opened_at,
            first_contact_due: facts.first_contact_due,
        }
    }
}

/// What counting a batch needs to know of what came before it; the fold adds what the batch
/// itself tells.
#[derive(Debug, Default, Clone)]
pub(crate) struct Known {
    /// The facts of each case, from its opening.
    pub cases: HashMap<Uuid, CaseFacts>,
    /// Cases that had a contact attempt, and those whose member was reached.
    pub contacted: HashSet<Uuid>,
    pub reached: HashSet<Uuid>,
    /// The campus of each report whose skipped outreach is counted (`None`: not recorded).
    pub report_campus: HashMap<ReportRef, Option<String>>,
    /// Cases whose member was purged: what they counted is in the ledger, their events count
    /// no more.
    pub retired: HashSet<Uuid>,
}

/// What a batch adds: to each count, and one anonymous row per first contact.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Tally {
    /// (month, measure, campus, discipline) -> how many.
    pub counts: BTreeMap<(NaiveDate, String, String, String), i64>,
    /// (month, campus, discipline, working seconds, within the deadline).
    pub first_contacts: Vec<(NaiveDate, String, String, i64, bool)>,
    /// Cases opened, with their facts, for `statistics_cases`.
    pub opened: Vec<(Uuid, CaseFacts)>,
    /// First-contact deadlines an urgent report moved, for `statistics_cases`.
    pub moved: Vec<(Uuid, DateTime<Utc>)>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        for (key, n) in other.counts {
            *self.counts.entry(key).or_default() += n;
        }
        self.first_contacts.extend(other.first_contacts);
    }
}

/// What a batch's purges retire: the retired cases' counts, for the ledger, and their ids.
#[derive(Debug, Default)]
struct Retired {
    tally: Tally,
    cases: Vec<Uuid>,
}

impl Tally {
    fn count(&mut self, month: NaiveDate, measure: &str, campus: &str, discipline: &str) {
        *self
            .counts
            .entry((month, measure.into(), campus.into(), discipline.into()))
            .or_default() += 1;
    }
}

/// What statistics read of one event.
// A case event carries the whole opening; boxing it would only add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Counted {
    Case {
        case_id: Uuid,
        event: CaseEvent,
    },
    Skipped {
        report: ReportRef,
        at: DateTime<Utc>,
    },
}

#[async_trait]
impl Projection for StatisticsProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: READS,
            // The discipline, counted as the case opens; a name is never read.
            personal_data_of: &["CaseOpened"],
        }
    }

    /// Empties the counts and the live cases' facts, then starts the counts from the retired
    /// cases' ledger (their events are skipped from now on).
    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        crate::empty(
            db,
            &[
                "statistics_counts",
                "statistics_first_contact",
                "statistics_cases",
            ],
        )
        .await?;
        sqlx::query(
            "INSERT INTO statistics_counts (month, measure, campus, discipline, count)
             SELECT month, measure, campus, discipline, count FROM statistics_retired_counts",
        )
        .execute(&mut *db)
        .await?;
        sqlx::query(
            "INSERT INTO statistics_first_contact
                 (month, campus, discipline, working_seconds, within_deadline)
             SELECT month, campus, discipline, working_seconds, within_deadline
               FROM statistics_retired_first_contact",
        )
        .execute(db)
        .await?;
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let counted = events.iter().map(read).collect::<Result<Vec<_>, _>>()?;
        let purges: HashMap<usize, HashSet<Uuid>> = crate::purge::cases_purged_by(db, events)
            .await?
            .into_iter()
            .collect();
        let mut known = load(db, first, &counted, purges.values().flatten()).await?;
        let (mut tally, mut retired) = (Tally::default(), Retired::default());
        for (at, (event, counted)) in events.iter().zip(counted).enumerate() {
            if let Some(counted) = counted {
                let _applying = crate::applying(self.name(), event).entered();
                self.fold(&mut known, &mut tally, counted)
                    .map_err(|reason| event.unreadable(reason.into()))?;
            }
            for case_id in purges.get(&at).into_iter().flatten() {
                if let Some(facts) = known.cases.remove(case_id) {
                    let counted = self.replay(db, *case_id, facts, event).await?;
                    retired.tally.add(counted);
                    retired.cases.push(*case_id);
                    known.retired.insert(*case_id);
                }
            }
        }
        tally
            .opened
            .retain(|(case_id, _)| !known.retired.contains(case_id));
        tally
            .moved
            .retain(|(case_id, _)| !known.retired.contains(case_id));
        write(db, &tally, &retired).await
    }
}

/// The event as statistics read it; `None` for one they do not count (skipped on the stored
/// type, never decoded).
fn read(event: &StoredEvent) -> Result<Option<Counted>, ProjectionError> {
    if !READS.contains(&event.event_type.as_str()) {
        return Ok(None);
    }
    match (event.aggregate_type.as_str(), event.event_type.as_str()) {
        (case::AGGREGATE_TYPE, _) => Ok(Some(Counted::Case {
            case_id: event.aggregate_uuid()?,
            event: event.decode()?,
        })),
        (care_team_member::AGGREGATE_TYPE, MemberEvent::AUTOMATIC_OUTREACH_SKIPPED) => {
            match event.decode()? {
                MemberEvent::AutomaticOutreachSkipped {
                    report, skipped_at, ..
                } => Ok(Some(Counted::Skipped {
                    report,
                    at: skipped_at,
                })),
                _ => Err(event.unreadable("event type and payload disagree".into())),
            }
        }
        _ => Ok(None),
    }
}

impl StatisticsProjection {
    /// What `case_id` counted: its events committed before `purge`, folded again with the
    /// facts kept for it (its discipline no longer reads from its opening).
    async fn replay(
        &self,
        db: &mut PgConnection,
        case_id: Uuid,
        facts: CaseFacts,
        purge: &StoredEvent,
    ) -> Result<Tally, ProjectionError> {
        let mut events: Vec<StoredEvent> = sqlx::query_as(&format!(
            "SELECT {}
               FROM events
              WHERE aggregate_type = 'OutreachCase' AND aggregate_id = $1
                AND event_type = ANY($2)
                AND (transaction_id, global_position) < ($3::xid8, $4)
              ORDER BY sequence",
            crate::stored_event::EVENT_COLUMNS
        ))
        .bind(case_id.to_string())
        .bind(READS)
        .bind(&purge.transaction_id)
        .bind(purge.global_position)
        .fetch_all(&mut *db)
        .await?;
        // The facts are known: nothing sealed is opened.
        crate::stored_event::open_personal_of(db, &mut events, &[]).await?;
        let mut known = Known::default();
        known.cases.insert(case_id, facts);
        let mut tally = Tally::default();
        for event in &events {
            if let Some(counted) = read(event)? {
                self.fold(&mut known, &mut tally, counted)
                    .map_err(|reason| event.unreadable(reason.into()))?;
            }
        }
        tally.opened.clear();
        tally.moved.clear();
        Ok(tally)
    }

    /// Counts one event. Fails (naming what is missing) for an event of a case whose opening
    /// is unknown; an event of a retired case counts no more.
    pub(crate) fn fold(
        &self,
        known: &mut Known,
        tally: &mut Tally,
        counted: Counted,
    ) -> Result<(), &'static str> {
        if let Counted::Case { case_id, .. } = &counted {
            if known.retired.contains(case_id) {
                return Ok(());
            }
        }
        let (case_id, event) = match counted {
            Counted::Skipped { report, at } => {
                let campus = known.report_campus.get(&report).cloned().flatten();
                let campus = campus.as_deref().unwrap_or(UNKNOWN);
                tally.count(self.month(at), "opted_out", campus, UNKNOWN);
                return Ok(());
            }
            Counted::Case {
                case_id,
                event: CaseEvent::CaseOpened(opened),
            } => {
                let facts = &opened.facts;
                let measure = format!("opened:{}", facts.trigger.as_str());
                // Purged before it was counted (only a replay of a retired case, or a run
                // lagging the purge): the discipline kept for it, else unknown.
                let discipline = match &facts.member {
                    Some(member) => member.discipline.as_str().to_owned(),
                    None => known
                        .cases
                        .get(&case_id)
                        .map_or(UNKNOWN.to_owned(), |known| known.discipline.clone()),
                };
                tally.count(
                    self.month(facts.opened_at),
                    &measure,
                    &facts.campus,
                    &discipline,
                );
                let case = CaseFacts::of(facts, &discipline);
                tally.opened.push((case_id, case.clone()));
                known.cases.insert(case_id, case);
                return Ok(());
            }
            Counted::Case { case_id, event } => (case_id, event),
        };
        if let CaseEvent::TriggerLinked(linked) = &event {
            // An urgent report that joined before first contact moved the deadline (sooner,
            // never later): first contact is timed against the deadline the case then had.
            let case = known
                .cases
                .get_mut(&case_id)
                .ok_or("the case has no readable opening")?;
            if let Some(due) = linked.first_contact_due {
                case.first_contact_due = Some(due);
                tally.moved.push((case_id, due));
            }
            return Ok(());
        }
        let case = known
            .cases
            .get(&case_id)
            .ok_or("the case has no readable opening")?;
        let (campus, discipline) = (case.campus.as_str(), case.discipline.as_str());
        match event {
            CaseEvent::ContactAttempted(attempt) => {
                let at = attempt.attempted_at;
                if known.contacted.insert(case_id) {
                    let working = self.calendar.working_seconds_between(case.opened_at, at);
                    let within = case.first_contact_due.is_none_or(|due| at <= due);
                    tally.first_contacts.push((
                        self.month(at),
                        campus.into(),
                        discipline.into(),
                        working.max(0),
                        within,
                    ));
                }
                if attempt.outcome == ContactOutcome::Reached && known.reached.insert(case_id) {
                    tally.count(self.month(at), "reached", campus, discipline);
                }
            }
            CaseEvent::SupportAccepted(e) => {
                tally.count(self.month(e.accepted_at), "accepted", campus, discipline)
            }
            CaseEvent::SupportDeclined(e) => {
                tally.count(self.month(e.declined_at), "declined", campus, discipline)
            }
            CaseEvent::CaseClosed(e) if e.reason == CloseReason::Unreachable => {
                tally.count(self.month(e.closed_at), "unreachable", campus, discipline)
            }
            CaseEvent::CaseClosed(_) => {}
            CaseEvent::EncounterRecorded(e) => {
                let month = e.held_on.with_day(1).expect("every month has a first day");
                let measure = format!("encounters:{}", code_name(&e.format));
                tally.count(month, &measure, campus, discipline)
            }
            CaseEvent::ReferredToProfessionalHelp(e) => tally.count(
                self.month(e.referred_at),
                "tier3_referrals",
                campus,
                discipline,
            ),
            CaseEvent::EscalationRecorded(e) => {
                let measure = format!("escalations:{}", code_name(&e.category));
                tally.count(self.month(e.recorded_at), &measure, campus, discipline)
            }
            _ => return Err("event type and payload disagree"),
        }
        Ok(())
    }
}

/// What the batch's events need from before it, four queries at most: the facts of the cases
/// it touches or its purges retire (those it opens it tells itself) and which of them are
/// retired already, which of the cases it contacts had a contact attempt before it (`first` is
/// its first event), and the campus of each report whose skip it counts.
async fn load(
    db: &mut PgConnection,
    first: &StoredEvent,
    counted: &[Option<Counted>],
    purged: impl Iterator<Item = &Uuid>,
) -> Result<Known, ProjectionError> {
    let mut opened = HashSet::new();
    let mut earlier: BTreeSet<Uuid> = purged.copied().collect();
    let mut contacted = BTreeSet::new();
    let mut reports = BTreeSet::new();
    for counted in counted.iter().flatten() {
        match counted {
            Counted::Case {
                case_id,
                event: CaseEvent::CaseOpened(_),
            } => {
                opened.insert(*case_id);
            }
            Counted::Case { case_id, event } => {
                earlier.insert(*case_id);
                if let CaseEvent::ContactAttempted(_) = event {
                    contacted.insert(case_id.to_string());
                }
            }
            Counted::Skipped { report, .. } => {
                reports.insert(outreach_domain::ids::report_id(report).to_string());
            }
        }
    }
    let mut known = Known::default();
    let touched: Vec<Uuid> = earlier.iter().chain(&opened).copied().collect();
    if !touched.is_empty() {
        known.retired = sqlx::query_scalar(
            "SELECT case_id FROM statistics_retired_cases WHERE case_id = ANY($1)",
        )
        .bind(&touched)
        .fetch_all(&mut *db)
        .await?
        .into_iter()
        .collect();
    }
    let earlier: Vec<Uuid> = earlier
        .into_iter()
        .filter(|case| !opened.contains(case))
        .collect();
    if !earlier.is_empty() {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(Uuid, String, String, DateTime<Utc>, Option<DateTime<Utc>>)> =
            sqlx::query_as(
                "SELECT case_id, campus, discipline, opened_at, first_contact_due
                   FROM statistics_cases WHERE case_id = ANY($1)",
            )
            .bind(&earlier)
            .fetch_all(&mut *db)
            .await?;
        // A case without a row stays unknown: its events fail as unreadable.
        for (case_id, campus, discipline, opened_at, first_contact_due) in rows {
            let facts = CaseFacts {
                campus,
                discipline,
                opened_at,
                first_contact_due,
            };
            known.cases.insert(case_id, facts);
        }
    }
    if !contacted.is_empty() {
        let attempted: Vec<(String, bool)> = sqlx::query_as(
            "SELECT aggregate_id,
                    bool_or(payload -> 'ContactAttempted' ->> 'outcome' = 'reached')
               FROM events
              WHERE aggregate_type = 'OutreachCase' AND aggregate_id = ANY($1)
                AND event_type = 'ContactAttempted'
                AND (transaction_id, global_position) < ($2::xid8, $3)
              GROUP BY aggregate_id",
        )
        .bind(contacted.into_iter().collect::<Vec<_>>())
        .bind(&first.transaction_id)
        .bind(first.global_position)
        .fetch_all(&mut *db)
        .await?;
        for (case_id, reached) in attempted {
            let case_id: Uuid = case_id
                .parse()
                .map_err(|_| first.unreadable("a case id is not a UUID".into()))?;
            known.contacted.insert(case_id);
            if reached {
                known.reached.insert(case_id);
            }
        }
    }
    if !reports.is_empty() {
        let recorded: Vec<(serde_json::Value, Option<String>)> = sqlx::query_as(
            "SELECT payload -> 'ReportRecorded' -> 'report', payload -> 'ReportRecorded' ->> 'campus'
               FROM events
              WHERE aggregate_type = 'SafetyReport' AND aggregate_id = ANY($1)
                AND event_type = 'ReportRecorded'",
        )
        .bind(reports.into_iter().collect::<Vec<_>>())
        .fetch_all(&mut *db)
        .await?;
        for (report, campus) in recorded {
            if let Ok(report) = serde_json::from_value::<ReportRef>(report) {
                known.report_campus.insert(report, campus);
            }
        }
    }
    Ok(known)
}

/// Adds the batch's tally: to each count, and its first contacts; keeps the facts of the cases
/// it opened; moves the cases its purges retired into the ledger.
async fn write(
    db: &mut PgConnection,
    tally: &Tally,
    retired: &Retired,
) -> Result<(), ProjectionError> {
    add_counts(db, "statistics_counts", "statistics_first_contact", tally).await?;
    if !tally.opened.is_empty() {
        let rows = &tally.opened;
        // The migration that brought this table filled it from the store as it stood, ahead
        // of this projection's checkpoint: a case it knows keeps its row.
        sqlx::query(
            "INSERT INTO statistics_cases
                 (case_id, campus, discipline, opened_at, first_contact_due)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                                  $5::timestamptz[])
             ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.campus.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.1.discipline.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.1.opened_at).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.1.first_contact_due)
                .collect::<Vec<_>>(),
        )
        .execute(&mut *db)
        .await?;
    }
    if !tally.moved.is_empty() {
        // After the openings: a case opened and made urgent in one batch has its row by now.
        sqlx::query(
            "UPDATE statistics_cases AS c SET first_contact_due = m.due
               FROM UNNEST($1::uuid[], $2::timestamptz[]) AS m(case_id, due)
              WHERE c.case_id = m.case_id",
        )
        .bind(tally.moved.iter().map(|m| m.0).collect::<Vec<_>>())
        .bind(tally.moved.iter().map(|m| m.1).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    if !retired.cases.is_empty() {
        add_counts(
            db,
            "statistics_retired_counts",
            "statistics_retired_first_contact",
            &retired.tally,
        )
        .await?;
        sqlx::query(
            "INSERT INTO statistics_retired_cases (case_id)
             SELECT * FROM UNNEST($1::uuid[]) ON CONFLICT DO NOTHING",
        )
        .bind(&retired.cases)
        .execute(&mut *db)
        .await?;
        sqlx::query("DELETE FROM statistics_cases WHERE case_id = ANY($1)")
            .bind(&retired.cases)
            .execute(db)
            .await?;
    }
    Ok(())
}

/// Adds `tally`'s counts to table `counts` and its first contacts to table `first_contacts`.
async fn add_counts(
    db: &mut PgConnection,
    counts: &str,
    first_contacts: &str,
    tally: &Tally,
) -> Result<(), ProjectionError> {
    if !tally.counts.is_empty() {
        let keys = tally.counts.keys();
        sqlx::query(&format!(
            "INSERT INTO {counts} (month, measure, campus, discipline, count)
             SELECT * FROM UNNEST($1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[])
             ON CONFLICT (month, measure, campus, discipline)
             DO UPDATE SET count = {counts}.count + excluded.count"
        ))
        .bind(keys.clone().map(|k| k.0).collect::<Vec<_>>())
        .bind(keys.clone().map(|k| k.1.as_str()).collect::<Vec<_>>())
        .bind(keys.clone().map(|k| k.2.as_str()).collect::<Vec<_>>())
        .bind(keys.map(|k| k.3.as_str()).collect::<Vec<_>>())
        .bind(tally.counts.values().copied().collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    if !tally.first_contacts.is_empty() {
        let rows = &tally.first_contacts;
        sqlx::query(&format!(
            "INSERT INTO {first_contacts}
                 (month, campus, discipline, working_seconds, within_deadline)
             SELECT * FROM UNNEST($1::date[], $2::text[], $3::text[], $4::bigint[], $5::bool[])"
        ))
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.3).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.4).collect::<Vec<_>>())
        .execute(db)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "statistics_tests.rs"]
mod tests;
