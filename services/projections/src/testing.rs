//! For this crate's database tests: a fresh, migrated database, events appended as postgres-es
//! appends them, a projection applied in a transaction, the outbox read back.

use chrono::DateTime;
use outreach_events::{
    case, CaseEvent, CaseOpened, CaseOpenedFacts, Discipline, Involvement, MemberContact,
    MemberProfile, ReportRef, TriggerKind,
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

    /// Appends events in one transaction, as postgres-es stores the events of one command:
    /// they become visible to a runner together.
    pub async fn append_together(&self, events: &[(&str, Uuid, i64, &str, serde_json::Value)]) {
        let mut tx = self.db.pool.begin().await.unwrap();
        for (aggregate_type, aggregate_id, sequence, event_type, payload) in events {
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata)
                 VALUES ($1, $2, $3, $4, '1', $5, '{}')",
            )
            .bind(aggregate_type)
            .bind(aggregate_id.to_string())
            .bind(sequence)
            .bind(event_type)
            .bind(payload)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// Applies `event` with `projection`, in a transaction of its own.
    pub async fn apply_with(
        &self,
        projection: &dyn Projection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let mut tx = self.db.pool.begin().await?;
        // As the runner hands it over: a purge named from the member's record.
        let mut events = vec![event.clone()];
        crate::purge::name_purged_members(&mut tx, &mut events).await?;
        projection.apply(&mut tx, &events).await?;
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

/// Ada Lovelace, reachable by e-mail.
pub(crate) fn ada() -> MemberContact {
    MemberContact {
        given_name: "Ada".into(),
        family_name: "Lovelace".into(),
        email: Some("ada@example.org".into()),
        phone: None,
        mobile: None,
        preferred_channel: Some(outreach_events::Channel::Email),
    }
}

/// Supporter `S1`: a trained senior physician in Medicine at Parnassus, for three cases.
pub(crate) fn supporter_profile() -> outreach_events::supporter::SupporterProfile {
    use outreach_events::supporter::{Availability, SupporterProfile, Training, TrainingStatus};
    SupporterProfile {
        staff_id: "S1".into(),
        campus: "Parnassus".into(),
        department: "Medicine".into(),
        discipline: Discipline::Physician,
        specialty: None,
        seniority: outreach_events::Seniority::Senior,
        languages: vec!["en".into()],
        interests: vec![],
        training: Training {
            status: TrainingStatus::Trained,
            completed_on: None,
        },
        capacity: 3,
        availability: Availability::default(),
    }
}

/// Grace Hopper, supporter `S1`'s contact details.
pub(crate) fn grace() -> outreach_events::supporter::SupporterContact {
    outreach_events::supporter::SupporterContact {
        given_name: "Grace".into(),
        family_name: "Hopper".into(),
        email: "grace@example.org".into(),
        phone: None,
        gender: None,
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
            member: Some(MemberProfile {
                staff_id: "E1".into(),
                role: "Nurse".into(),
                discipline: Discipline::Nurse,
                department: "Emergency".into(),
                seniority: None,
                involvement: Involvement::Primary,
            }),
            opened_at: DateTime::from_timestamp(1_799_000_000, 0).unwrap(),
            first_contact_due: None,
            urgent: false,
        },
        personal: Some(contact),
    })
}

/// Appends a stream in which every projection has work, with several events of one case, a
/// case opened and closed, a purge between a member's cases, and events no projection reads:
/// a case worked from opening to completion (assigned, contacted twice, accepted, an encounter,
/// an escalation), a case of `E2` assigned and then purged, a case of `E2` opened after the
/// purge, a supporter taking and releasing a case, a report amended and proposing a group
/// debrief, an opt-out with its skipped outreach, and stated preferences.
pub(crate) async fn a_bit_of_everything(db: &TestDb) {
    use outreach_events::care_team_member::{MemberEvent, Preferences};
    use outreach_events::lifecycle::*;
    use outreach_events::supporter::SupporterEvent;
    use outreach_events::{Channel, ReportEvent, ReportMember};

    let at = DateTime::from_timestamp(1_799_000_000, 0).unwrap();
    let hours = |h: i64| at + chrono::Duration::hours(h);
    let report = ReportRef {
        source: "/datix/a".into(),
        report_id: "INC-1".into(),
    };
    let report_aggregate = outreach_domain::ids::report_id(&report);
    let member = |staff_id: &str| ReportMember {
        staff_id: staff_id.into(),
        case_id: outreach_domain::ids::derivable_before_27::case_id(&report, staff_id),
        eligible: true,
    };
    let supporter = outreach_domain::ids::supporter_id("S1");
    let contact = |given: &str| MemberContact {
        given_name: given.into(),
        email: Some(format!("{given}@example.org")),
        ..ada()
    };
    let opened = |case_id: Uuid, staff_id: &str, given: &str| {
        let CaseEvent::CaseOpened(mut opened) = case_opened(case_id, contact(given)) else {
            unreachable!()
        };
        if let Some(member) = &mut opened.facts.member {
            member.staff_id = staff_id.into();
        }
        CaseEvent::CaseOpened(opened)
    };
    let (worked, purged, after) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
    fn json<T: serde::Serialize>(event: &T) -> serde_json::Value {
        serde_json::to_value(event).unwrap()
    }
    let mut events: Vec<(&str, Uuid, &str, serde_json::Value)> = vec![
        (
            "PeerSupporter",
            supporter,
            "SupporterJoined",
            json(&SupporterEvent::SupporterJoined {
                profile: supporter_profile(),
                personal: grace(),
                joined_at: at,
            }),
        ),
        (
            "SafetyReport",
            report_aggregate,
            "ReportRecorded",
            json(&ReportEvent::ReportRecorded {
                report: report.clone(),
                trigger: TriggerKind::Incident,
                outreach: true,
                urgent: false,
                campus: "Parnassus".into(),
                unit: "ED".into(),
                members: vec![member("E1"), member("E2"), member("E3")],
                recorded_at: at,
            }),
        ),
        (
            "CareTeamMember",
            outreach_domain::ids::derivable_before_27::member_id("E1"),
            "CaseStarted",
            json(&MemberEvent::CaseStarted {
                staff_id: "E1".into(),
                case_id: worked,
                started_at: at,
            }),
        ),
        (
            case::AGGREGATE_TYPE,
            worked,
            "CaseOpened",
            json(&opened(worked, "E1", "Ada")),
        ),
        (
            outreach_events::care_team_member::AGGREGATE_TYPE,
            outreach_domain::ids::derivable_before_27::member_id("E2"),
            "CaseStarted",
            json(&MemberEvent::CaseStarted {
                staff_id: "E2".into(),
                case_id: purged,
                started_at: at,
            }),
        ),
        (
            case::AGGREGATE_TYPE,
            purged,
            "CaseOpened",
            json(&opened(purged, "E2", "Bea")),
        ),
        (
            "PeerSupporter",
            supporter,
            "CaseTaken",
            json(&SupporterEvent::CaseTaken {
                case_id: worked,
                taken_at: hours(1),
            }),
        ),
        (
            case::AGGREGATE_TYPE,
            worked,
            "SupporterAssigned",
            json(&CaseEvent::SupporterAssigned(SupporterAssigned {
                supporter_id: "S1".into(),
                assigned_at: hours(1),
            })),
        ),
        (
            case::AGGREGATE_TYPE,
            purged,
            "SupporterAssigned",
            json(&CaseEvent::SupporterAssigned(SupporterAssigned {
                supporter_id: "S1".into(),
                assigned_at: hours(1),
            })),
        ),
    ];
    for (h, outcome) in [(2, ContactOutcome::NoAnswer), (3, ContactOutcome::Reached)] {
        events.push((
            case::AGGREGATE_TYPE,
            worked,
            "ContactAttempted",
            json(&CaseEvent::ContactAttempted(ContactAttempted {
                channel: Channel::Phone,
                outcome,
                attempted_at: hours(h),
            })),
        ));
    }
    events.extend([
        (
            "SafetyReport",
            report_aggregate,
            "StaffAdded",
            json(&ReportEvent::StaffAdded {
                members: vec![member("E4")],
                amended_at: hours(3),
            }),
        ),
        (
            "SafetyReport",
            report_aggregate,
            "StaffRemoved",
            json(&ReportEvent::StaffRemoved {
                staff_ids: vec!["E3".into(), "E4".into()],
                case_ids: vec![member("E3").case_id, member("E4").case_id],
                amended_at: hours(3),
            }),
        ),
        (
            "SafetyReport",
            report_aggregate,
            "GroupDebriefProposed",
            json(&ReportEvent::GroupDebriefProposed {
                report: report.clone(),
                campus: "Parnassus".into(),
                unit: "ED".into(),
                staff: 6,
                departments: 3,
                proposed_at: hours(3),
            }),
        ),
        (
            case::AGGREGATE_TYPE,
            worked,
            "SupportAccepted",
            json(&CaseEvent::SupportAccepted(SupportAccepted {
                accepted_at: hours(4),
            })),
        ),
        (
            case::AGGREGATE_TYPE,
            worked,
            "EncounterRecorded",
            json(&CaseEvent::EncounterRecorded(EncounterRecorded {
                held_on: hours(24).date_naive(),
                modality: Modality::Phone,
                format: EncounterFormat::Individual,
                duration: DurationBand::FifteenToThirtyMinutes,
                recorded_at: hours(24),
            })),
        ),
        (
            case::AGGREGATE_TYPE,
            worked,
            "EscalationRecorded",
            json(&CaseEvent::EscalationRecorded(EscalationRecorded {
                category: EscalationCategory::AbuseOrNeglect,
                recorded_at: hours(24),
            })),
        ),
        (
            "CareTeamMember",
            outreach_domain::ids::derivable_before_27::member_id("E2"),
            "PreferencesStated",
            json(&MemberEvent::PreferencesStated {
                staff_id: "E2".into(),
                personal: Some(Preferences {
                    supporter_language: Some("es".into()),
                    ..Preferences::default()
                }),
                stated_at: hours(24),
            }),
        ),
        (
            "CareTeamMember",
            outreach_domain::ids::derivable_before_27::member_id("E2"),
            "PersonalDataPurged",
            // As stored since issue 27: the purge names no one, the member's record does.
            json(&MemberEvent::PersonalDataPurged {
                staff_id: String::new(),
                key_id: Uuid::from_u128(99),
                purged_at: hours(30),
            }),
        ),
        (
            outreach_events::care_team_member::AGGREGATE_TYPE,
            outreach_domain::ids::derivable_before_27::member_id("E2"),
            "CaseStarted",
            json(&MemberEvent::CaseStarted {
                staff_id: "E2".into(),
                case_id: after,
                started_at: hours(31),
            }),
        ),
        (
            case::AGGREGATE_TYPE,
            after,
            "CaseOpened",
            json(&opened(after, "E2", "Bea")),
        ),
        (
            "CareTeamMember",
            outreach_domain::ids::derivable_before_27::member_id("E5"),
            "OptedOut",
            json(&MemberEvent::OptedOut {
                staff_id: "E5".into(),
                opted_out_at: hours(30),
            }),
        ),
        (
            "CareTeamMember",
            outreach_domain::ids::derivable_before_27::member_id("E5"),
            "AutomaticOutreachSkipped",
            json(&MemberEvent::AutomaticOutreachSkipped {
                staff_id: "E5".into(),
                report: report.clone(),
                skipped_at: hours(30),
            }),
        ),
        (
            case::AGGREGATE_TYPE,
            worked,
            "CaseClosed",
            json(&CaseEvent::CaseClosed(CaseClosed {
                reason: CloseReason::Completed,
                closed_at: hours(48),
                merged_into: None,
            })),
        ),
        (
            "PeerSupporter",
            supporter,
            "CaseReleased",
            json(&SupporterEvent::CaseReleased {
                case_id: worked,
                released_at: hours(48),
            }),
        ),
        (
            "CareTeamMember",
            outreach_domain::ids::derivable_before_27::member_id("E1"),
            "CaseEnded",
            json(&MemberEvent::CaseEnded {
                case_id: worked,
                ended_at: hours(48),
            }),
        ),
    ]);
    let mut sequences = std::collections::HashMap::new();
    for (aggregate_type, id, event_type, payload) in events {
        let sequence = sequences.entry(id).or_insert(0);
        *sequence += 1;
        db.append(aggregate_type, id, *sequence, event_type, payload)
            .await;
    }
}

/// Every row every projection writes, table by table in a stable order; the random part of
/// feedback invitations (the token in the link, and its hash) left out.
pub(crate) async fn every_read_model(db: &TestDb) -> serde_json::Value {
    let mut tables = serde_json::Map::new();
    for (table, rows) in [
        ("outreach_cases", "SELECT * FROM outreach_cases"),
        ("case_timeline", "SELECT * FROM case_timeline"),
        ("statistics_counts", "SELECT * FROM statistics_counts"),
        (
            "statistics_first_contact",
            "SELECT * FROM statistics_first_contact",
        ),
        (
            "group_debrief_proposals",
            "SELECT * FROM group_debrief_proposals",
        ),
        ("roster_supporters", "SELECT * FROM roster_supporters"),
        ("roster_caseload", "SELECT * FROM roster_caseload"),
        ("matching_cases", "SELECT * FROM matching_cases"),
        (
            "matching_case_reports",
            "SELECT * FROM matching_case_reports",
        ),
        (
            "matching_report_staff",
            "SELECT * FROM matching_report_staff",
        ),
        ("matching_reports", "SELECT * FROM matching_reports"),
        ("matching_preferences", "SELECT * FROM matching_preferences"),
        (
            "outbox",
            "SELECT id, kind, channel, topic_key, created_at,
                    CASE WHEN kind = 'feedback-invitation' THEN payload - 'body'
                         ELSE payload END AS payload
               FROM outbox",
        ),
    ] {
        let rows: serde_json::Value = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]')
               FROM ({rows}) t"
        ))
        .fetch_one(&db.db.pool)
        .await
        .unwrap();
        tables.insert(table.into(), rows);
    }
    serde_json::Value::Object(tables)
}
