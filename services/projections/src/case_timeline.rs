//! The case timeline: each case's steps in time order, one row per event of the case, for the
//! manager's case page. A step is its kind, its time and its codes (channel, outcome, modality,
//! reason...): the events hold nothing more, because what was said is never recorded.
//!
//! Each step also records who took it, from its event's metadata (see
//! [`outreach_events::author`]): the program's staff by name, a care team member by their
//! relation to the member only, the service's own processes by name. Only the program director
//! is shown it.
//!
//! Rows are only ever added (a case's past does not change), so a batch is one insert and
//! never reads the table; at a member's purge their cases' rows are unlinked from every person
//! (see `unlink`).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use outreach_events::author::Attribution;
use outreach_events::care_team_member::MemberEvent;
use outreach_events::case;
use outreach_events::CaseEvent;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{code_name, Projection, ProjectionError, Reads, StoredEvent};

pub struct CaseTimeline;

/// Every event of a case is a step of its timeline; a member's purge unlinks their cases'.
const READS: &[&str] = &crate::case_event_types_and::<{ CaseEvent::TYPES.len() + 1 }>(&[
    MemberEvent::PERSONAL_DATA_PURGED,
]);

#[async_trait]
impl Projection for CaseTimeline {
    fn name(&self) -> &'static str {
        "case-timeline"
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: READS,
            // The member's name and contact details have no place here.
            personal_data_of: &[],
        }
    }

    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        crate::empty(db, &["case_timeline"]).await
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut steps = Vec::with_capacity(events.len());
        for event in events {
            if event.aggregate_type != case::AGGREGATE_TYPE {
                continue;
            }
            let _applying = crate::applying(self.name(), event).entered();
            steps.push(Step {
                author: attribution(event),
                ..Step::of(event.aggregate_uuid()?, event.sequence, event.decode()?)
            });
        }
        insert(db, &steps).await?;
        let purged: Vec<Uuid> = crate::purge::cases_purged_by(db, events)
            .await?
            .into_iter()
            .flat_map(|(_, cases)| cases)
            .collect();
        unlink(db, &purged).await
    }
}

/// The steps of purged members' cases keep their kind, time and codes, and lose what links
/// them to a person (issue 27): the report (the safety office knows whom it named), the
/// supporter, and who took each step. Run at the purge, live and in a rebuild alike (the steps
/// are inserted as their events say, then unlinked), so a rebuild leaves the same rows.
async fn unlink(db: &mut PgConnection, cases: &[Uuid]) -> Result<(), ProjectionError> {
    if cases.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE case_timeline
            SET report_source = NULL, report_id = NULL, supporter_id = NULL,
                author_subject = NULL, author_staff_id = NULL
          WHERE case_id = ANY($1)",
    )
    .bind(cases)
    .execute(db)
    .await?;
    Ok(())
}

/// One row of `case_timeline`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Step {
    pub case_id: Uuid,
    pub sequence: i64,
    pub at: DateTime<Utc>,
    pub step: &'static str,
    pub report_source: Option<String>,
    pub report_id: Option<String>,
    pub trigger_kind: Option<String>,
    pub supporter_id: Option<String>,
    pub channel: Option<String>,
    pub outcome: Option<String>,
    pub resource_sheet_sent: Option<bool>,
    pub held_on: Option<NaiveDate>,
    pub modality: Option<String>,
    pub format: Option<String>,
    pub duration: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
    pub reason: Option<String>,
    pub merged_into: Option<Uuid>,
    /// `opened`: whether the case opened urgent; `trigger_linked`: whether the report that
    /// joined made it urgent.
    pub urgent: Option<bool>,
    /// `opened`: when first contact was due; `trigger_linked`: the sooner deadline the link
    /// moved it to, if any.
    pub first_contact_due: Option<DateTime<Utc>>,
    pub author: Attribution,
}

/// Who stored `event`. Intake's events name their CloudEvent, not a source: they are intake's.
fn attribution(event: &StoredEvent) -> Attribution {
    let mut author = Attribution::deserialize(&event.metadata).unwrap_or_default();
    if author.source.is_none() && event.metadata.get("event_id").is_some() {
        author.source = Some("intake".to_owned());
    }
    author
}

impl Step {
    /// The step an event of the case records. No I/O.
    pub(crate) fn of(case_id: Uuid, sequence: i64, event: CaseEvent) -> Step {
        let step = |step: &'static str, at: DateTime<Utc>| Step {
            case_id,
            sequence,
            at,
            step,
            ..Step::default()
        };
        match event {
            CaseEvent::CaseOpened(opened) => Step {
                report_source: Some(opened.facts.report.source),
                report_id: Some(opened.facts.report.report_id),
                trigger_kind: code(opened.facts.trigger),
                urgent: Some(opened.facts.urgent),
                first_contact_due: opened.facts.first_contact_due,
                ..step("opened", opened.facts.opened_at)
            },
            CaseEvent::TriggerLinked(linked) => Step {
                report_source: Some(linked.report.source),
                report_id: Some(linked.report.report_id),
                trigger_kind: code(linked.trigger),
                urgent: Some(linked.made_urgent),
                first_contact_due: linked.first_contact_due,
                ..step("trigger_linked", linked.linked_at)
            },
            CaseEvent::CaseCancelled(cancelled) => Step {
                reason: code(cancelled.reason),
                ..step("cancelled", cancelled.cancelled_at)
            },
            CaseEvent::SupporterAssigned(assigned) => Step {
                supporter_id: Some(assigned.supporter_id),
                ..step("supporter_assigned", assigned.assigned_at)
            },
            CaseEvent::ContactAttempted(attempt) => Step {
                channel: code(attempt.channel),
                outcome: code(attempt.outcome),
                ..step("contact_attempted", attempt.attempted_at)
            },
            // Only declines stored before sheets were really sent carry a claim (unverified).
            CaseEvent::SupportDeclined(declined) => Step {
                resource_sheet_sent: declined.unverified_sheet_claim,
                ..step("support_declined", declined.declined_at)
            },
            CaseEvent::SupportAccepted(accepted) => step("support_accepted", accepted.accepted_at),
            CaseEvent::EncounterRecorded(encounter) => Step {
                held_on: Some(encounter.held_on),
                modality: code(encounter.modality),
                format: code(encounter.format),
                duration: code(encounter.duration),
                ..step("encounter_recorded", encounter.recorded_at)
            },
            CaseEvent::ResourcesSent(sent) => step("resources_sent", sent.sent_at),
            CaseEvent::ResourceSheetSent(sent) => step("resource_sheet_sent", sent.sent_at),
            CaseEvent::ReferredToProfessionalHelp(referral) => Step {
                service: code(referral.service),
                ..step("referred_to_professional_help", referral.referred_at)
            },
            CaseEvent::EscalationRecorded(escalation) => Step {
                category: code(escalation.category),
                ..step("escalation_recorded", escalation.recorded_at)
            },
            CaseEvent::CaseClosed(closed) => Step {
                reason: code(closed.reason),
                merged_into: closed.merged_into,
                ..step("closed", closed.closed_at)
            },
            CaseEvent::CaseReopened(reopened) => step("reopened", reopened.reopened_at),
            // Dated when it passed; the watch may notice a little later.
            CaseEvent::FirstContactDeadlinePassed(passed) => {
                step("first_contact_deadline_passed", passed.due)
            }
            // Nothing of the contact details themselves: only that they wait, and how they
            // were settled (`as_suggested` or `replaced`).
            CaseEvent::ContactToConfirm(held) => step("contact_to_confirm", held.held_at),
            CaseEvent::ContactConfirmed(confirmed) => Step {
                reason: Some(
                    if confirmed.as_suggested {
                        "as_suggested"
                    } else {
                        "replaced"
                    }
                    .into(),
                ),
                ..step("contact_confirmed", confirmed.confirmed_at)
            },
        }
    }
}

fn code<T: serde::Serialize>(value: T) -> Option<String> {
    Some(code_name(&value))
}

/// All of the batch's steps in one statement. A plain insert: the batch holds the projection's
/// checkpoint lock and each event is applied once, so no row is there before.
async fn insert(db: &mut PgConnection, steps: &[Step]) -> Result<(), ProjectionError> {
    if steps.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&Step) -> Option<&str>| steps.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO case_timeline
             (case_id, sequence, at, step, report_source, report_id, trigger_kind, supporter_id,
              channel, outcome, resource_sheet_sent, held_on, modality, format, duration, service,
              category, reason, merged_into, author_source, author_role, author_subject,
              author_staff_id, author_relation, urgent, first_contact_due)
         SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                              $11::boolean[], $12::date[], $13::text[], $14::text[], $15::text[],
                              $16::text[], $17::text[], $18::text[], $19::uuid[], $20::text[],
                              $21::text[], $22::text[], $23::text[], $24::text[], $25::boolean[],
                              $26::timestamptz[])",
    )
    .bind(steps.iter().map(|s| s.case_id).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.sequence).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.at).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.step).collect::<Vec<_>>())
    .bind(text(|s| s.report_source.as_deref()))
    .bind(text(|s| s.report_id.as_deref()))
    .bind(text(|s| s.trigger_kind.as_deref()))
    .bind(text(|s| s.supporter_id.as_deref()))
    .bind(text(|s| s.channel.as_deref()))
    .bind(text(|s| s.outcome.as_deref()))
    .bind(
        steps
            .iter()
            .map(|s| s.resource_sheet_sent)
            .collect::<Vec<_>>(),
    )
    .bind(steps.iter().map(|s| s.held_on).collect::<Vec<_>>())
    .bind(text(|s| s.modality.as_deref()))
    .bind(text(|s| s.format.as_deref()))
    .bind(text(|s| s.duration.as_deref()))
    .bind(text(|s| s.service.as_deref()))
    .bind(text(|s| s.category.as_deref()))
    .bind(text(|s| s.reason.as_deref()))
    .bind(steps.iter().map(|s| s.merged_into).collect::<Vec<_>>())
    .bind(text(|s| s.author.source.as_deref()))
    .bind(text(|s| s.author.role.as_deref()))
    .bind(text(|s| s.author.subject.as_deref()))
    .bind(text(|s| s.author.staff_id.as_deref()))
    .bind(text(|s| s.author.relation.map(|r| r.code())))
    .bind(steps.iter().map(|s| s.urgent).collect::<Vec<_>>())
    .bind(
        steps
            .iter()
            .map(|s| s.first_contact_due)
            .collect::<Vec<_>>(),
    )
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use outreach_events::lifecycle::{
        CaseClosed, CloseReason, ContactAttempted, ContactOutcome, DurationBand, EncounterFormat,
        EncounterRecorded, Modality,
    };
    use outreach_events::Channel;

    use super::*;
    use crate::testing::{a_bit_of_everything, TestDb};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, minute, 0).unwrap()
    }

    /// The codes of a step are kept under the names the API and the events use.
    #[test]
    fn a_step_keeps_its_codes_and_nothing_else() {
        let case = Uuid::from_u128(7);
        let attempt = Step::of(
            case,
            3,
            CaseEvent::ContactAttempted(ContactAttempted {
                channel: Channel::Phone,
                outcome: ContactOutcome::MessageLeft,
                attempted_at: at(5),
            }),
        );
        assert_eq!(
            attempt,
            Step {
                case_id: case,
                sequence: 3,
                at: at(5),
                step: "contact_attempted",
                channel: Some("phone".into()),
                outcome: Some("message_left".into()),
                ..Step::default()
            }
        );
        let encounter = Step::of(
            case,
            4,
            CaseEvent::EncounterRecorded(EncounterRecorded {
                held_on: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
                modality: Modality::InPerson,
                format: EncounterFormat::Individual,
                duration: DurationBand::FifteenToThirtyMinutes,
                recorded_at: at(40),
            }),
        );
        assert_eq!(encounter.modality.as_deref(), Some("in_person"));
        assert_eq!(encounter.duration.as_deref(), Some("15_to_30_minutes"));
        let merged = Step::of(
            case,
            5,
            CaseEvent::CaseClosed(CaseClosed {
                reason: CloseReason::Merged,
                closed_at: at(50),
                merged_into: Some(Uuid::from_u128(8)),
            }),
        );
        assert_eq!(
            (merged.reason.as_deref(), merged.merged_into),
            (Some("merged"), Some(Uuid::from_u128(8)))
        );
    }

    /// An urgent report joining a routine case says so, with the deadline it moved; any other
    /// link says the case's urgency did not change.
    #[test]
    fn a_link_that_made_the_case_urgent_keeps_that_and_the_deadline_it_moved() {
        let linked = |made_urgent, first_contact_due| {
            Step::of(
                Uuid::from_u128(7),
                2,
                CaseEvent::TriggerLinked(outreach_events::lifecycle::TriggerLinked {
                    report: outreach_events::ReportRef {
                        source: "/datix/parnassus".into(),
                        report_id: "INC-2".into(),
                    },
                    trigger: outreach_events::TriggerKind::Incident,
                    linked_at: at(10),
                    made_urgent,
                    first_contact_due,
                }),
            )
        };

        let urgent = linked(true, Some(at(40)));
        let routine = linked(false, None);

        assert_eq!(
            (urgent.step, urgent.urgent, urgent.first_contact_due),
            ("trigger_linked", Some(true), Some(at(40)))
        );
        assert_eq!(
            (routine.urgent, routine.first_contact_due),
            (Some(false), None)
        );
    }

    fn stored_with(metadata: serde_json::Value) -> StoredEvent {
        StoredEvent {
            aggregate_type: case::AGGREGATE_TYPE.into(),
            aggregate_id: Uuid::from_u128(7).to_string(),
            sequence: 1,
            event_type: "ContactAttempted".into(),
            event_version: "1".into(),
            payload: serde_json::Value::Null,
            metadata,
            transaction_id: "1".into(),
            global_position: 1,
            recorded_at: at(0),
        }
    }

    /// Who took a step comes from its event's metadata; intake's events are intake's.
    #[test]
    fn a_step_names_who_took_it_as_the_metadata_does() {
        let manager = attribution(&stored_with(serde_json::json!({
            "source": "dashboard", "author_role": "program_manager",
            "author_subject": "oidc|pm", "author_staff_id": "E90002",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        })));
        assert_eq!(manager.source.as_deref(), Some("dashboard"));
        assert_eq!(manager.subject.as_deref(), Some("oidc|pm"));
        assert_eq!(manager.staff_id.as_deref(), Some("E90002"));
        let colleague = attribution(&stored_with(serde_json::json!({
            "source": "api", "author_role": "care_team_member", "author_relation": "colleague",
        })));
        assert_eq!(
            colleague.relation,
            Some(outreach_events::author::Relation::Colleague)
        );
        assert_eq!((colleague.subject, colleague.staff_id), (None, None));
        let intake = attribution(&stored_with(serde_json::json!({"event_id": "evt-1"})));
        assert_eq!(intake.source.as_deref(), Some("intake"));
        assert_eq!(intake.role, None);
        let watch = attribution(&stored_with(
            serde_json::json!({"source": "deadline-watch"}),
        ));
        assert_eq!(watch.source.as_deref(), Some("deadline-watch"));
    }

    /// A worked case's page lists every step it went through, in the order they happened,
    /// repeated steps (two contact attempts) each on their own line.
    #[tokio::test]
    async fn a_worked_case_shows_each_step_in_order() {
        let db = TestDb::new().await;
        a_bit_of_everything(&db).await;
        let runner = crate::ProjectionRunner::new(
            db.db.pool.clone(),
            std::sync::Arc::new(CaseTimeline),
            Default::default(),
        );
        runner.catch_up().await.unwrap();

        let steps: Vec<String> = sqlx::query_scalar(
            "SELECT step FROM case_timeline WHERE case_id = $1 ORDER BY at, sequence",
        )
        .bind(Uuid::from_u128(1))
        .fetch_all(&db.db.pool)
        .await
        .unwrap();
        let attempts = steps.iter().filter(|s| *s == "contact_attempted").count();
        assert_eq!(steps.first().map(String::as_str), Some("opened"));
        assert_eq!(steps.last().map(String::as_str), Some("closed"));
        assert_eq!(attempts, 2, "{steps:?}");
        let in_order: Vec<i64> = sqlx::query_scalar(
            "SELECT sequence FROM case_timeline WHERE case_id = $1 ORDER BY at, sequence",
        )
        .bind(Uuid::from_u128(1))
        .fetch_all(&db.db.pool)
        .await
        .unwrap();
        assert!(in_order.windows(2).all(|w| w[0] < w[1]), "{in_order:?}");
    }
}
