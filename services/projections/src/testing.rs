//! For this crate's database tests: a fresh, migrated database, events appended as postgres-es
//! appends them, a projection applied in a transaction, the outbox read back.

use chrono::DateTime;
use outreach_events::{
    CaseEvent, CaseOpened, CaseOpenedFacts, Discipline, Involvement, MemberContact, MemberProfile,
    ReportRef, TriggerKind,
};
use outreach_test_support::TestDatabase;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::stored_event::EVENT_COLUMNS;
use crate::{Projection, ProjectionError, StoredEvent};

pub(crate) struct TestDb {
    pub db: TestDatabase,
}

impl TestDb {
    pub async fn new() -> Self {
        let pool = PgPoolOptions::new().max_connections(2);
        TestDb {
            db: TestDatabase::create_with("projections_test", pool).await,
        }
    }

    /// Appends an event, as the command side would have stored it.
    pub async fn append(
        &self,
        aggregate_type: &str,
        aggregate_id: Uuid,
        sequence: i64,
        event_type: &str,
        payload: serde_json::Value,
    ) -> StoredEvent {
        sqlx::query_as(&format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata)
             VALUES ($1, $2, $3, $4, '1', $5, '{{}}')
             RETURNING {EVENT_COLUMNS}"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id.to_string())
        .bind(sequence)
        .bind(event_type)
        .bind(payload)
        .fetch_one(&self.db.pool)
        .await
        .unwrap()
    }

    /// Applies `event` with `projection`, in a transaction of its own.
    pub async fn apply_with(
        &self,
        projection: &dyn Projection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let mut tx = self.db.pool.begin().await?;
        projection.apply(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every outbox row: id, kind, channel, key, payload; by kind, then id.
    pub async fn outbox(&self) -> Vec<(Uuid, String, String, String, serde_json::Value)> {
        sqlx::query_as("SELECT id, kind, channel, topic_key, payload FROM outbox ORDER BY kind, id")
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

/// A case opened for nurse `E1` at Parnassus after incident `INC-1`, reachable through `contact`.
pub(crate) fn case_opened(case_id: Uuid, contact: MemberContact) -> CaseEvent {
    CaseEvent::CaseOpened(CaseOpened {
        facts: CaseOpenedFacts {
            case_id,
            report: ReportRef {
                source: "/datix/a".into(),
                report_id: "INC-1".into(),
            },
            trigger: TriggerKind::Incident,
            campus: "Parnassus".into(),
            unit: "ED".into(),
            member: MemberProfile {
                staff_id: "E1".into(),
                role: "Nurse".into(),
                discipline: Discipline::Nurse,
                department: "Emergency".into(),
                seniority: None,
                involvement: Involvement::Primary,
            },
            opened_at: DateTime::from_timestamp(1_799_000_000, 0).unwrap(),
            first_contact_due: None,
        },
        personal: Some(contact),
    })
}
