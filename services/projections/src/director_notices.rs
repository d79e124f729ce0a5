//! Director notices: the reaction to an escalation (promise 5). When a case records that a limit
//! of confidentiality was reached, the program director is told: an `escalation` row goes into
//! the outbox, in the same transaction as this projection's checkpoint (architecture rules 1 and
//! 4), and the outbox publisher sends it on at least once.
//!
//! The notice carries the case id, the category and when it was recorded: nothing else. No name,
//! no contact detail, no narrative (the event has none to give) and nothing clinical. The
//! director looks the case up through the API, where access is controlled.
//!
//! # Why it is a projection, and why `reset` deletes nothing
//!
//! It runs under the [`ProjectionRunner`](crate::ProjectionRunner) for its checkpoint and commit
//! order, and that is all it shares with the read models: its "read model" is the outbox, which
//! records messages that may already have left the service. A message that left cannot be taken
//! back, so deleting rows and re-recording them would send every past notice again.
//!
//! So [`reset`](Projection::reset) deletes nothing, and a rebuild replays onto the outbox as it
//! stands. Every row's id is derived from the event that caused it (uuid v5 of
//! `aggregate_type/aggregate_id/sequence` in the `escalation` namespace) and inserted with
//! `ON CONFLICT (id) DO NOTHING`, so replaying an event finds its row already there: published
//! rows stay published, unpublished ones stay queued, and a rebuild sends nothing new. The
//! checkpoint alone already records each notice once in normal running; the deterministic id is
//! what makes a rebuild (or any replay) a no-op. The same id is the `idempotency-key` consumers
//! dedupe on. Should a retention job ever purge published rows, a rebuild would re-send the purged
//! ones (with their old idempotency keys): keep the ids, or stop rebuilding this projection.

use async_trait::async_trait;
use outreach_events::case;
use outreach_events::lifecycle::EscalationRecorded;
use outreach_events::CaseEvent;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::outbox::OutboxRow;
use crate::{Projection, ProjectionError, Reads, StoredEvent};

/// The outbox `kind` (and `notice-kind` header) of an escalation notice.
pub const ESCALATION: &str = "escalation";

/// The namespace every outbox id is derived in; each kind of message has its own beneath it, so
/// two reactions to the same event never share an idempotency key. Never change it: consumers
/// dedupe on the ids, and a rebuild relies on finding the same ones.
const OUTBOX_NAMESPACE: Uuid = Uuid::from_u128(0x6f75_7462_6f78_4e53_9c1d_2f0a_5e7b_3a41);

pub struct DirectorNotices;

#[async_trait]
impl Projection for DirectorNotices {
    fn name(&self) -> &'static str {
        "director-notices"
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: &["EscalationRecorded"],
            personal_data_of: &[],
        }
    }

    /// Deletes nothing: notices may have been published already (see the module).
    async fn reset(&self, _db: &mut PgConnection) -> Result<(), ProjectionError> {
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut notices = Vec::new();
        for event in events {
            let _applying = crate::applying(self.name(), event).entered();
            notices.extend(notice(event)?);
        }
        crate::outbox::insert(db, &notices).await
    }
}

/// The director's notice of an escalation; `None` for any other event.
fn notice(event: &StoredEvent) -> Result<Option<OutboxRow>, ProjectionError> {
    if event.aggregate_type != case::AGGREGATE_TYPE
        || event.event_type != CaseEvent::ESCALATION_RECORDED
    {
        return Ok(None);
    }
    let CaseEvent::EscalationRecorded(escalation) = event.decode::<CaseEvent>()? else {
        return Err(event.unreadable("event type and payload disagree".into()));
    };
    let case_id = event.aggregate_uuid()?;
    Ok(Some(OutboxRow {
        id: outbox_id(ESCALATION, event),
        kind: ESCALATION,
        channel: "kafka",
        case_id,
        payload: escalation_notice(case_id, &escalation),
        created_at: event.recorded_at,
    }))
}

/// The idempotency key of the `kind` message caused by `event`.
pub fn outbox_id(kind: &str, event: &StoredEvent) -> Uuid {
    let name = format!(
        "{}/{}/{}",
        event.aggregate_type, event.aggregate_id, event.sequence
    );
    outbox_id_named(kind, &name)
}

/// The idempotency key of the `kind` message named `name` (its cause, and whatever else makes
/// it one message: a recipient, a deadline), in the kind's own namespace.
pub fn outbox_id_named(kind: &str, name: &str) -> Uuid {
    let namespace = Uuid::new_v5(&OUTBOX_NAMESPACE, kind.as_bytes());
    Uuid::new_v5(&namespace, name.as_bytes())
}

/// What the director is told: which case, which category, when. Facts only.
fn escalation_notice(case_id: Uuid, escalation: &EscalationRecorded) -> serde_json::Value {
    json!({
        "notice": ESCALATION,
        "case_id": case_id,
        "category": escalation.category,
        "recorded_at": escalation.recorded_at,
    })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use outreach_events::lifecycle::EscalationCategory;

    use super::*;

    fn stored(sequence: i64) -> StoredEvent {
        let case = Uuid::from_u128(7);
        let payload = serde_json::to_value(CaseEvent::EscalationRecorded(EscalationRecorded {
            category: EscalationCategory::DangerToSelfOrOthers,
            recorded_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }))
        .unwrap();
        StoredEvent {
            aggregate_type: case::AGGREGATE_TYPE.into(),
            aggregate_id: case.to_string(),
            sequence,
            event_type: "EscalationRecorded".into(),
            event_version: "1.0".into(),
            payload,
            metadata: json!({}),
            transaction_id: "1".into(),
            global_position: 1,
            recorded_at: DateTime::from_timestamp(1_800_000_001, 0).unwrap(),
        }
    }

    #[test]
    fn the_id_follows_from_the_event_and_the_kind_alone() {
        assert_eq!(
            outbox_id(ESCALATION, &stored(4)),
            outbox_id(ESCALATION, &stored(4))
        );
        assert_ne!(
            outbox_id(ESCALATION, &stored(4)),
            outbox_id(ESCALATION, &stored(5))
        );
        assert_ne!(
            outbox_id(ESCALATION, &stored(4)),
            outbox_id("other", &stored(4))
        );
        assert_eq!(outbox_id(ESCALATION, &stored(4)).get_version_num(), 5);
    }

    #[test]
    fn the_notice_holds_the_case_the_category_and_the_time_only() {
        let event = stored(4);
        let CaseEvent::EscalationRecorded(escalation) = event.decode().unwrap() else {
            unreachable!()
        };
        let notice = escalation_notice(Uuid::from_u128(7), &escalation);
        assert_eq!(
            notice,
            json!({
                "notice": "escalation",
                "case_id": "00000000-0000-0000-0000-000000000007",
                "category": "danger_to_self_or_others",
                "recorded_at": "2027-01-15T08:00:00Z",
            })
        );
    }
}
