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
#[path = "program_alerts_tests.rs"]
mod tests;
