//! Program alerts: the reactions that tell people about a case without anyone watching a screen.
//! Each writes its messages into the outbox, in the same transaction as this projection's
//! checkpoint (architecture rules 1 and 4); the publishers send them at least once.
//!
//! - **An urgent case opens** (the urgency policy's decision at intake): the supporter on call
//!   that day on the roster is paged now, through the paging webhook (`page`, PagerDuty Events
//!   API v2 shape, `dedup_key` = the case id) and/or by e-mail to their SMS gateway address
//!   (`page-sms`). Nobody on call, or no way to page them: the program managers are alerted at
//!   once (`urgent-unstaffed-alert`).
//! - **An urgent report joins an open routine case** (`TriggerLinked` that made it urgent while
//!   first contact was owed): paged exactly as an urgent opening, due by the moved deadline. The
//!   campus and the member (not to page them about themselves) are read from the outreach read
//!   model; a batch that finds the case not there yet fails and is retried.
//! - **First contact is recorded** on a case that was paged (or it closes or is cancelled
//!   first): the page is resolved (`page-resolve`, one per case).
//! - **First contact is overdue** (`FirstContactDeadlinePassed`, recorded once by the deadline
//!   watch): the program managers get an alert with the case link and how long it was overdue
//!   (`deadline-passed-alert`), once.
//! - **An escalation is recorded**: the program director is e-mailed the case link and the
//!   category's name (`escalation-email`), beside the Kafka notice of
//!   [`DirectorNotices`](crate::DirectorNotices).
//!
//! Messages are composed by [`alert_messages`](crate::alert_messages): a link, the campus, times
//! and a category, never a member's name or anything clinical, so no row here needs a purge.
//! Each row's id is derived from the causing event and the recipient (a resolve's from the case
//! alone) and inserted `ON CONFLICT DO NOTHING`: a replay sends nothing twice. Like the other
//! reactions, `reset` deletes nothing and its start line is set by the migration that introduced
//! it; do not rebuild it (whom it pages is read from the roster as it stands, not from events).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_domain::alerts::{on_call, RotaEntry};
use outreach_events::case;
use outreach_events::lifecycle::EscalationCategory;
use outreach_events::supporter::Availability;
use outreach_events::CaseEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::alert_messages::{self as messages, AlertSetup};
use crate::director_notices::{outbox_id, outbox_id_named};
use crate::outbox::OutboxRow;
use crate::{Projection, ProjectionError, Reads, StoredEvent};

pub struct ProgramAlerts {
    setup: AlertSetup,
}

impl ProgramAlerts {
    pub fn new(setup: AlertSetup) -> Self {
        Self { setup }
    }
}

/// What the alerts read of one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Urgent {
        case_id: Uuid,
        campus: String,
        /// `None` once the member was purged (never paged then: the case is long over).
        member_staff_id: Option<String>,
        opened_at: DateTime<Utc>,
        due: DateTime<Utc>,
    },
    /// An urgent report joined the routine case at `at`, first contact owed by `due`. Becomes
    /// `Urgent` once the case's campus and member are read.
    MadeUrgent {
        case_id: Uuid,
        at: DateTime<Utc>,
        due: DateTime<Utc>,
    },
    /// First contact attempted, or the case ended: a page, if any, is over.
    PageOver(Uuid),
    Overdue {
        case_id: Uuid,
        due: DateTime<Utc>,
        noticed_at: DateTime<Utc>,
    },
    Escalated {
        case_id: Uuid,
        category: EscalationCategory,
    },
}

/// The step `event` calls for, if any.
pub(crate) fn step(event: &StoredEvent) -> Result<Option<Step>, ProjectionError> {
    if event.aggregate_type != case::AGGREGATE_TYPE {
        return Ok(None);
    }
    let case_id = event.aggregate_uuid()?;
    Ok(match event.decode::<CaseEvent>()? {
        CaseEvent::CaseOpened(opened) if opened.facts.urgent => {
            let Some(due) = opened.facts.first_contact_due else {
                return Ok(None);
            };
            Some(Step::Urgent {
                case_id,
                campus: opened.facts.campus,
                member_staff_id: opened.facts.member.map(|member| member.staff_id),
                opened_at: opened.facts.opened_at,
                due,
            })
        }
        // Made urgent after first contact was attempted: no deadline moved, nobody is paged
        // (the domain leaves `first_contact_due` empty; see `CaseCommand::LinkTrigger`).
        CaseEvent::TriggerLinked(linked) if linked.made_urgent => {
            linked.first_contact_due.map(|due| Step::MadeUrgent {
                case_id,
                at: linked.linked_at,
                due,
            })
        }
        CaseEvent::ContactAttempted(_) | CaseEvent::CaseClosed(_) | CaseEvent::CaseCancelled(_) => {
            Some(Step::PageOver(case_id))
        }
        CaseEvent::FirstContactDeadlinePassed(passed) => Some(Step::Overdue {
            case_id,
            due: passed.due,
            noticed_at: passed.noticed_at,
        }),
        CaseEvent::EscalationRecorded(escalation) => Some(Step::Escalated {
            case_id,
            category: escalation.category,
        }),
        _ => None,
    })
}

/// A supporter as the rota reads them from the roster read model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OnRoster {
    pub staff_id: String,
    pub campus: String,
    pub availability: Availability,
    pub takes_cases: bool,
    pub phone: Option<String>,
}

/// A supporter as the roster read model holds them.
#[derive(sqlx::FromRow)]
struct RosterRow {
    staff_id: String,
    campus: String,
    availability: sqlx::types::Json<Availability>,
    takes_cases: bool,
    phone: Option<String>,
}

/// What deciding the batch's alerts reads: the roster (when an urgent case opened) and the
/// cases already paged (when a page may be over).
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub roster: Vec<OnRoster>,
    pub paged: HashSet<Uuid>,
    /// The campus and member's staff id of cases made urgent in the batch.
    pub made_urgent: HashMap<Uuid, (String, String)>,
}

#[async_trait]
impl Projection for ProgramAlerts {
    fn name(&self) -> &'static str {
        "program-alerts"
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: &[
                CaseEvent::CASE_OPENED,
                CaseEvent::TRIGGER_LINKED,
                CaseEvent::CONTACT_ATTEMPTED,
                CaseEvent::CASE_CLOSED,
                CaseEvent::CASE_CANCELLED,
                CaseEvent::FIRST_CONTACT_DEADLINE_PASSED,
                CaseEvent::ESCALATION_RECORDED,
            ],
            // Alerts name no one, but the member on call is not paged for their own case: the
            // openings' member profile is read for that alone.
            personal_data_of: &["CaseOpened"],
        }
    }

    /// Deletes nothing: alerts may have been sent already (see the module).
    async fn reset(&self, _db: &mut PgConnection) -> Result<(), ProjectionError> {
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut steps = Vec::new();
        for event in events {
            if let Some(step) = step(event)? {
                steps.push((event, step));
            }
        }
        let known = self.load(db, steps.iter().map(|(_, step)| step)).await?;
        let mut rows = Vec::new();
        for (event, step) in steps {
            let step = match step {
                Step::MadeUrgent { case_id, at, due } => {
                    let Some((campus, member_staff_id)) = known.made_urgent.get(&case_id) else {
                        return Err(ProjectionError::NotCaughtUp(format!(
                            "case {case_id} is not in the outreach read model"
                        )));
                    };
                    Step::Urgent {
                        case_id,
                        campus: campus.clone(),
                        // Empty once purged, as the opening's profile is then gone.
                        member_staff_id: Some(member_staff_id.clone())
                            .filter(|staff_id| !staff_id.is_empty()),
                        opened_at: at,
                        due,
                    }
                }
                other => other,
            };
            let _applying = crate::applying(self.name(), event).entered();
            self.alert(&mut rows, &known, event, step);
        }
        crate::outbox::insert(db, &rows).await
    }
}

impl ProgramAlerts {
    /// The rows one step records. Pages recorded earlier in `rows` count as sent for a resolve.
    pub(crate) fn alert(
        &self,
        rows: &mut Vec<OutboxRow>,
        known: &Known,
        event: &StoredEvent,
        step: Step,
    ) {
        let setup = &self.setup;
        let row =
            |kind: &'static str, channel: &'static str, id: Uuid, case_id, payload| OutboxRow {
                id,
                kind,
                channel,
                case_id,
                payload,
                created_at: event.recorded_at,
            };
        let to = |kind: &str, address: &str| {
            outbox_id_named(kind, &format!("{}/{address}", event_name(event)))
        };
        match step {
            Step::Urgent {
                case_id,
                campus,
                member_staff_id,
                opened_at,
                due,
            } => {
                let day = opened_at.with_timezone(&setup.time_zone).date_naive();
                let rota = known.roster.iter().map(|s| RotaEntry {
                    staff_id: &s.staff_id,
                    campus: &s.campus,
                    availability: &s.availability,
                    takes_cases: s.takes_cases,
                });
                let member = member_staff_id.as_deref().unwrap_or_default();
                let on_call = on_call(rota, day, &campus, member)
                    .and_then(|staff_id| known.roster.iter().find(|s| s.staff_id == staff_id));
                let mut paged = false;
                if let Some(supporter) = on_call {
                    if setup.webhook {
                        let page = messages::page_trigger(
                            setup,
                            case_id,
                            &campus,
                            due,
                            &supporter.staff_id,
                        );
                        let id = outbox_id(messages::PAGE, event);
                        rows.push(row(messages::PAGE, "webhook", id, case_id, page));
                        paged = true;
                    }
                    if let Some(address) = supporter
                        .phone
                        .as_deref()
                        .and_then(|phone| setup.sms_address(phone))
                    {
                        let sms = messages::page_sms(setup, &address, case_id, &campus, due);
                        let id = outbox_id(messages::PAGE_SMS, event);
                        rows.push(row(messages::PAGE_SMS, "email", id, case_id, sms));
                        paged = true;
                    }
                }
                if !paged {
                    for manager in &setup.managers {
                        let alert =
                            messages::urgent_unstaffed(setup, manager, case_id, &campus, due);
                        let id = to(messages::URGENT_UNSTAFFED, manager);
                        rows.push(row(messages::URGENT_UNSTAFFED, "email", id, case_id, alert));
                    }
                }
            }
            // Made into `Urgent` by `apply`, once the case's campus and member are known.
            Step::MadeUrgent { .. } => {}
            Step::PageOver(case_id) => {
                let paged_in_batch = rows
                    .iter()
                    .any(|r| r.kind == messages::PAGE && r.case_id == case_id);
                if known.paged.contains(&case_id) || paged_in_batch {
                    let id = outbox_id_named(messages::PAGE_RESOLVE, &case_id.to_string());
                    let resolve = messages::page_resolve(case_id);
                    rows.push(row(messages::PAGE_RESOLVE, "webhook", id, case_id, resolve));
                }
            }
            Step::Overdue {
                case_id,
                due,
                noticed_at,
            } => {
                for manager in &setup.managers {
                    let alert = messages::deadline_passed(setup, manager, case_id, due, noticed_at);
                    let id = to(messages::DEADLINE_PASSED, manager);
                    rows.push(row(messages::DEADLINE_PASSED, "email", id, case_id, alert));
                }
            }
            Step::Escalated { case_id, category } => {
                for director in &setup.director {
                    let email = messages::escalation(setup, director, case_id, category);
                    let id = to(messages::ESCALATION_EMAIL, director);
                    rows.push(row(messages::ESCALATION_EMAIL, "email", id, case_id, email));
                }
            }
        }
    }

    /// Three queries at most: the cases made urgent by a link, if any; the roster, if an urgent
    /// case opened and anyone can be paged; the batch's cases already paged, if a page may be
    /// over and the webhook is in use.
    async fn load(
        &self,
        db: &mut PgConnection,
        steps: impl Iterator<Item = &Step> + Clone,
    ) -> Result<Known, ProjectionError> {
        let mut known = Known::default();
        let urgent = steps
            .clone()
            .any(|s| matches!(s, Step::Urgent { .. } | Step::MadeUrgent { .. }));
        let made_urgent: Vec<Uuid> = steps
            .clone()
            .filter_map(|s| match s {
                Step::MadeUrgent { case_id, .. } => Some(*case_id),
                _ => None,
            })
            .collect();
        if !made_urgent.is_empty() {
            let cases: Vec<(Uuid, String, String)> = sqlx::query_as(
                "SELECT case_id, campus, staff_id FROM outreach_cases WHERE case_id = ANY($1)",
            )
            .bind(&made_urgent)
            .fetch_all(&mut *db)
            .await?;
            known.made_urgent = cases
                .into_iter()
                .map(|(case_id, campus, staff_id)| (case_id, (campus, staff_id)))
                .collect();
        }
        if urgent && self.setup.pages() {
            let roster: Vec<RosterRow> = sqlx::query_as(
                "SELECT staff_id, campus, availability,
                        NOT paused AND training_status = 'trained' AS takes_cases, phone
                   FROM roster_supporters",
            )
            .fetch_all(&mut *db)
            .await?;
            known.roster = roster
                .into_iter()
                .map(|row| OnRoster {
                    staff_id: row.staff_id,
                    campus: row.campus,
                    availability: row.availability.0,
                    takes_cases: row.takes_cases,
                    phone: row.phone,
                })
                .collect();
        }
        let over: Vec<String> = steps
            .filter_map(|s| match s {
                Step::PageOver(case_id) => Some(case_id.to_string()),
                _ => None,
            })
            .collect();
        if !over.is_empty() && self.setup.webhook {
            let paged: Vec<String> = sqlx::query_scalar(
                "SELECT topic_key FROM outbox WHERE kind = $1 AND topic_key = ANY($2)",
            )
            .bind(messages::PAGE)
            .bind(&over)
            .fetch_all(&mut *db)
            .await?;
            known.paged = paged.iter().filter_map(|key| key.parse().ok()).collect();
        }
        Ok(known)
    }
}

/// The event's place, as outbox ids name it.
fn event_name(event: &StoredEvent) -> String {
    format!(
        "{}/{}/{}",
        event.aggregate_type, event.aggregate_id, event.sequence
    )
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use outreach_events::lifecycle::{ContactAttempted, ContactOutcome, EscalationRecorded};
    use outreach_events::supporter::DatePeriod;
    use outreach_events::Channel;
    use serde_json::json;

    use std::collections::HashMap;

    use super::*;
    use crate::testing::{ada, case_opened};

    /// How many rows of each kind.
    fn kinds(rows: &[OutboxRow]) -> HashMap<&str, usize> {
        let mut kinds = HashMap::new();
        for row in rows {
            *kinds.entry(row.kind).or_default() += 1;
        }
        kinds
    }

    fn setup() -> AlertSetup {
        AlertSetup {
            dashboard_url: "https://peer.example/dashboard".into(),
            managers: vec!["m1@hospital.example".into(), "m2@hospital.example".into()],
            director: vec!["director@hospital.example".into()],
            webhook: true,
            sms_gateway: Some("{phone}@sms.hospital.example".into()),
            time_zone: chrono_tz::UTC,
        }
    }

    fn stored(sequence: i64, event: CaseEvent) -> StoredEvent {
        StoredEvent {
            aggregate_type: case::AGGREGATE_TYPE.into(),
            aggregate_id: Uuid::from_u128(7).to_string(),
            sequence,
            event_type: cqrs_es::DomainEvent::event_type(&event),
            event_version: "1".into(),
            payload: serde_json::to_value(event).unwrap(),
            metadata: json!({}),
            transaction_id: "1".into(),
            global_position: sequence,
            recorded_at: DateTime::from_timestamp(1_799_000_000, 0).unwrap(),
        }
    }

    fn urgent_opening() -> StoredEvent {
        let CaseEvent::CaseOpened(mut opened) = case_opened(Uuid::from_u128(7), ada()) else {
            unreachable!()
        };
        opened.facts.urgent = true;
        opened.facts.first_contact_due =
            Some(opened.facts.opened_at + chrono::Duration::minutes(30));
        opened.personal = None;
        stored(1, CaseEvent::CaseOpened(opened))
    }

    fn on_call(staff_id: &str, phone: Option<&str>) -> OnRoster {
        let day = DateTime::from_timestamp(1_799_000_000, 0)
            .unwrap()
            .date_naive();
        OnRoster {
            staff_id: staff_id.into(),
            campus: "Parnassus".into(),
            availability: Availability {
                weekly_hours: vec![],
                on_call: vec![DatePeriod {
                    starts: day,
                    ends: day + chrono::Duration::days(6),
                }],
            },
            takes_cases: true,
            phone: phone.map(String::from),
        }
    }

    fn alerts(setup: AlertSetup, known: &Known, events: &[StoredEvent]) -> Vec<OutboxRow> {
        let alerts = ProgramAlerts::new(setup);
        let mut rows = Vec::new();
        for event in events {
            if let Some(step) = step(event).unwrap() {
                alerts.alert(&mut rows, known, event, step);
            }
        }
        rows
    }

    #[test]
    fn an_urgent_case_pages_the_supporter_on_call_by_webhook_and_sms_and_first_contact_resolves_it()
    {
        let known = Known {
            roster: vec![on_call("S1", Some("+1 415 555 0101"))],
            paged: HashSet::new(),
            made_urgent: HashMap::new(),
        };
        let contacted = stored(
            3,
            CaseEvent::ContactAttempted(ContactAttempted {
                channel: Channel::Phone,
                outcome: ContactOutcome::NoAnswer,
                attempted_at: DateTime::from_timestamp(1_799_000_600, 0).unwrap(),
            }),
        );
        let again = stored(4, contacted.decode::<CaseEvent>().unwrap());
        let rows = alerts(setup(), &known, &[urgent_opening(), contacted, again]);
        assert_eq!(
            kinds(&rows),
            HashMap::from([("page", 1), ("page-sms", 1), ("page-resolve", 2)])
        );
        let page = &rows[0];
        assert_eq!(
            (page.channel, page.case_id),
            ("webhook", Uuid::from_u128(7))
        );
        assert_eq!(
            page.payload["payload"]["custom_details"]["on_call_supporter"],
            "S1"
        );
        assert_eq!(rows[1].payload["to"], "14155550101@sms.hospital.example");
        // Every attempt asks for the resolve under one id: one row once inserted.
        assert_eq!(rows[2].id, rows[3].id);
        assert_eq!(rows[2].payload["event_action"], "resolve");
        for row in &rows {
            let text = row.payload.to_string();
            for personal in ["Ada", "Lovelace", "ada@example.org", "E1", "INC-1", "Nurse"] {
                assert!(!text.contains(personal), "{personal} in {text}");
            }
        }
    }

    #[test]
    fn nobody_on_call_alerts_every_manager_at_once() {
        let known = Known {
            roster: vec![OnRoster {
                availability: Availability::default(),
                ..on_call("S2", None)
            }],
            paged: HashSet::new(),
            made_urgent: HashMap::new(),
        };
        let rows = alerts(setup(), &known, &[urgent_opening()]);
        assert_eq!(kinds(&rows), HashMap::from([("urgent-unstaffed-alert", 2)]));
        assert_ne!(rows[0].id, rows[1].id);
        assert_eq!(rows[0].payload["to"], "m1@hospital.example");
        // The member themselves on call is not paged for their own case.
        let known = Known {
            roster: vec![on_call("E1", Some("555 0100"))],
            paged: HashSet::new(),
            made_urgent: HashMap::new(),
        };
        let rows = alerts(setup(), &known, &[urgent_opening()]);
        assert_eq!(kinds(&rows), HashMap::from([("urgent-unstaffed-alert", 2)]));
        // An on-call supporter who cannot be paged (no webhook, no phone) counts as nobody.
        let no_webhook = AlertSetup {
            webhook: false,
            ..setup()
        };
        let known = Known {
            roster: vec![on_call("S1", None)],
            paged: HashSet::new(),
            made_urgent: HashMap::new(),
        };
        let rows = alerts(no_webhook, &known, &[urgent_opening()]);
        assert_eq!(kinds(&rows), HashMap::from([("urgent-unstaffed-alert", 2)]));
    }

    #[test]
    fn a_routine_case_pages_nobody_and_an_escalation_reaches_the_director() {
        let CaseEvent::CaseOpened(routine) = case_opened(Uuid::from_u128(7), ada()) else {
            unreachable!()
        };
        let escalated = stored(
            5,
            CaseEvent::EscalationRecorded(EscalationRecorded {
                category: EscalationCategory::DangerToSelfOrOthers,
                recorded_at: DateTime::from_timestamp(1_799_000_900, 0).unwrap(),
            }),
        );
        let known = Known {
            roster: vec![on_call("S1", Some("555"))],
            paged: HashSet::new(),
            made_urgent: HashMap::new(),
        };
        let rows = alerts(
            setup(),
            &known,
            &[stored(1, CaseEvent::CaseOpened(routine)), escalated],
        );
        assert_eq!(kinds(&rows), HashMap::from([("escalation-email", 1)]));
        assert_eq!(rows[0].payload["to"], "director@hospital.example");
        assert!(rows[0].payload["body"]
            .as_str()
            .unwrap()
            .contains("danger to self or others"));
    }

    /// `apply` against a fresh, migrated database: the roster read, a replay a no-op.
    mod in_the_database {
        use super::*;
        use crate::testing::TestDb;

        #[tokio::test]
        async fn an_urgent_opening_pages_from_the_roster_read_model_and_a_replay_sends_nothing_new()
        {
            let db = TestDb::new().await;
            let day = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
            sqlx::query(
                "INSERT INTO roster_supporters
                     (supporter_id, staff_id, campus, department, discipline, seniority,
                      languages, interests, training_status, capacity, availability, phone,
                      joined_at, changed_at, version)
                 VALUES ($1, 'S1', 'Parnassus', 'Medicine', 'physician', 'senior', '{}', '{}',
                         'trained', 3, $2, '+1 415 555 0101', now(), now(), 1)",
            )
            .bind(Uuid::new_v4())
            .bind(json!({"weekly_hours": [], "on_call": [
                {"starts": day - chrono::Duration::days(30), "ends": day + chrono::Duration::days(30)}]}))
            .execute(&db.db.pool)
            .await
            .unwrap();
            let opening = urgent_opening();
            let event = db
                .append(
                    case::AGGREGATE_TYPE,
                    Uuid::from_u128(7),
                    1,
                    "CaseOpened",
                    opening.payload.clone(),
                )
                .await;
            let alerts = ProgramAlerts::new(setup());

            db.apply_with(&alerts, &event).await.unwrap();
            db.apply_with(&alerts, &event).await.unwrap();

            let rows = db.outbox().await;
            let kinds: Vec<_> = rows.iter().map(|r| (r.1.as_str(), r.2.as_str())).collect();
            assert_eq!(kinds, [("page", "webhook"), ("page-sms", "email")]);

            let contact = db
                .append(
                    case::AGGREGATE_TYPE,
                    Uuid::from_u128(7),
                    2,
                    "ContactAttempted",
                    json!({"ContactAttempted": {"channel": "phone", "outcome": "reached",
                        "attempted_at": "2027-01-15T08:10:00Z"}}),
                )
                .await;
            db.apply_with(&alerts, &contact).await.unwrap();
            let resolves: Vec<_> = db
                .outbox()
                .await
                .into_iter()
                .filter(|r| r.1 == "page-resolve")
                .collect();
            assert_eq!(resolves.len(), 1, "{resolves:?}");
            assert_eq!(resolves[0].2, "webhook");
        }

        /// A routine case, then an urgent report linked to it: paged as an urgent opening
        /// would be, the campus and member read from the outreach read model, once.
        #[tokio::test]
        async fn an_urgent_report_joining_a_routine_case_pages_once_and_a_replay_sends_nothing_new()
        {
            let db = TestDb::new().await;
            let day = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
            sqlx::query(
                "INSERT INTO roster_supporters
                     (supporter_id, staff_id, campus, department, discipline, seniority,
                      languages, interests, training_status, capacity, availability, phone,
                      joined_at, changed_at, version)
                 VALUES ($1, 'S1', 'Parnassus', 'Medicine', 'physician', 'senior', '{}', '{}',
                         'trained', 3, $2, '+1 415 555 0101', now(), now(), 1)",
            )
            .bind(Uuid::new_v4())
            .bind(json!({"weekly_hours": [], "on_call": [
                {"starts": day - chrono::Duration::days(30), "ends": day + chrono::Duration::days(30)}]}))
            .execute(&db.db.pool)
            .await
            .unwrap();
            let case_id = Uuid::from_u128(7);
            let CaseEvent::CaseOpened(mut routine) = case_opened(case_id, ada()) else {
                unreachable!()
            };
            routine.personal = None;
            let opened_at = routine.facts.opened_at;
            let opening = db
                .append(
                    outreach_events::case::AGGREGATE_TYPE,
                    case_id,
                    1,
                    "CaseOpened",
                    serde_json::to_value(CaseEvent::CaseOpened(routine)).unwrap(),
                )
                .await;
            let due = opened_at + chrono::Duration::hours(2);
            let link = |sequence, report_id: &str, first_contact_due| {
                let linked = CaseEvent::TriggerLinked(outreach_events::lifecycle::TriggerLinked {
                    report: outreach_events::ReportRef {
                        source: "/datix/a".into(),
                        report_id: report_id.into(),
                    },
                    trigger: outreach_events::TriggerKind::Incident,
                    linked_at: opened_at + chrono::Duration::hours(1),
                    made_urgent: true,
                    first_contact_due,
                });
                (sequence, serde_json::to_value(linked).unwrap())
            };
            let (sequence, payload) = link(2, "INC-2", Some(due));
            let linked = db
                .append(
                    outreach_events::case::AGGREGATE_TYPE,
                    case_id,
                    sequence,
                    "TriggerLinked",
                    payload,
                )
                .await;
            let alerts = ProgramAlerts::new(setup());

            // The outreach read model has not seen the case yet: nothing is sent, the batch
            // fails and is retried.
            let lagging = db.apply_with(&alerts, &linked).await;
            assert!(
                matches!(lagging, Err(ProjectionError::NotCaughtUp(_))),
                "{lagging:?}"
            );
            assert!(db.outbox().await.is_empty());

            db.apply_with(&crate::OutreachProjection, &opening)
                .await
                .unwrap();
            db.apply_with(&crate::OutreachProjection, &linked)
                .await
                .unwrap();
            db.apply_with(&alerts, &opening).await.unwrap();
            db.apply_with(&alerts, &linked).await.unwrap();
            db.apply_with(&alerts, &linked).await.unwrap();

            let rows = db.outbox().await;
            let kinds: Vec<_> = rows.iter().map(|r| (r.1.as_str(), r.2.as_str())).collect();
            assert_eq!(kinds, [("page", "webhook"), ("page-sms", "email")]);
            let page = &rows[0].4;
            assert_eq!(page["dedup_key"], case_id.to_string());
            assert_eq!(page["payload"]["custom_details"]["on_call_supporter"], "S1");
            let shown_due = messages::page_trigger(&setup(), case_id, "Parnassus", due, "S1");
            assert_eq!(page["payload"]["summary"], shown_due["payload"]["summary"]);
            for row in &rows {
                let text = row.4.to_string();
                for personal in ["Ada", "Lovelace", "ada@example.org", "E1", "INC-1", "INC-2"] {
                    assert!(!text.contains(personal), "{personal} in {text}");
                }
            }

            // Made urgent after first contact (no deadline moved): nobody is paged.
            let (sequence, payload) = link(3, "INC-3", None);
            let contacted = db
                .append(
                    outreach_events::case::AGGREGATE_TYPE,
                    case_id,
                    sequence,
                    "TriggerLinked",
                    payload,
                )
                .await;
            db.apply_with(&alerts, &contacted).await.unwrap();
            assert_eq!(db.outbox().await.len(), 2);
        }
    }
}
