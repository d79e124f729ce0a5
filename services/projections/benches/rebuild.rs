//! Rebuilds each projection from zero on an event store of the benchmark's size, and prints a
//! table: events, seconds, events/s, rows written, peak RSS.
//!
//! `cargo bench -p outreach-projections --bench rebuild` (release). `REPORTS` sets the number of
//! safety reports (default 100,000: about 1.25 million events), `REBUILD_BATCH` the events per
//! transaction (a comma-separated list compares sizes on the one store), `PROJECTIONS` a
//! comma-separated list of names to rebuild (default: all).
//!
//! The store is filled the way the service fills it, minus the commands: domain events of every
//! aggregate, their personal parts sealed under each member's own key, inserted in transactions
//! of 10,000 events. Each report names 1 to 8 staff (a `ReportRecorded`, then per member a
//! `CaseStarted` on the member and a `CaseOpened` on the case); one case in twenty is worked to
//! its end (assignment, contact attempts, a decision, encounters, referral, escalation, closing);
//! a roster of 200 supporters takes and releases those cases; some members state preferences or
//! opt out; large reports propose group debriefs; and the last 50 members are purged.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use outreach_domain::ids;
use outreach_events::care_team_member::{self, MemberEvent, Preferences};
use outreach_events::lifecycle::{
    CaseClosed, CloseReason, ContactAttempted, ContactOutcome, DurationBand, EncounterFormat,
    EncounterRecorded, EscalationCategory, EscalationRecorded, Modality, ProfessionalHelp,
    ReferredToProfessionalHelp, SupportAccepted, SupportDeclined, SupporterAssigned,
};
use outreach_events::supporter::{
    self, Availability, SupporterContact, SupporterEvent, SupporterProfile, Training,
    TrainingStatus,
};
use outreach_events::{
    case, report, CaseEvent, CaseOpened, CaseOpenedFacts, Channel, Discipline, Involvement,
    MemberContact, MemberProfile, ReportEvent, ReportMember, ReportRef, Seniority, TriggerKind,
};
use outreach_privacy::{seal, DataKey, DataKeys};
use outreach_projections::{ProjectionRunner, RunnerSettings, Setup};
use outreach_test_support::TestDatabase;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const STAFF: usize = 40_000;
const SUPPORTERS: usize = 200;
const PURGED: usize = 50;
const CAMPUSES: [&str; 4] = ["Parnassus", "Mission Bay", "Mount Zion", "Benioff Oakland"];
const DEPARTMENTS: [&str; 6] = [
    "Emergency",
    "Cardiology",
    "Pharmacy",
    "Surgery",
    "Pediatrics",
    "Oncology",
];

/// A small deterministic generator (xorshift64*): the same store on every run.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One event to store.
struct Row {
    aggregate_type: &'static str,
    aggregate_id: Uuid,
    sequence: i64,
    event_type: String,
    payload: String,
}

/// The events of the store, in the order they are committed, with each aggregate's sequence.
#[derive(Default)]
struct Stream {
    rows: Vec<Row>,
    sequences: HashMap<Uuid, i64>,
}

impl Stream {
    fn push<E: serde::Serialize>(&mut self, aggregate_type: &'static str, id: Uuid, event: &E) {
        self.push_sealed(aggregate_type, id, event, None);
    }

    /// As [`push`](Self::push), its personal part sealed under `key` where the command side
    /// would seal it. Stored as text, which takes a fraction of the memory of a JSON tree.
    fn push_sealed<E: serde::Serialize>(
        &mut self,
        aggregate_type: &'static str,
        id: Uuid,
        event: &E,
        key: Option<&DataKey>,
    ) {
        let sequence = self.sequences.entry(id).or_default();
        *sequence += 1;
        let mut payload = serde_json::to_value(event).expect("events serialise");
        // Externally tagged, as cqrs-es stores them: the variant's name is the event type.
        let event_type = payload
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .expect("an externally tagged enum");
        if let Some(key) = key {
            let personal = &mut payload[&event_type]["personal"];
            if !personal.is_null() {
                *personal = seal(key, personal).expect("seal");
            }
        }
        self.rows.push(Row {
            aggregate_type,
            aggregate_id: id,
            sequence: *sequence,
            event_type,
            payload: payload.to_string(),
        });
    }
}

fn staff_id(n: usize) -> String {
    format!("E{n:05}")
}

fn supporter_staff_id(n: usize) -> String {
    format!("S{n:03}")
}

fn profile(n: usize) -> SupporterProfile {
    SupporterProfile {
        staff_id: supporter_staff_id(n),
        campus: CAMPUSES[n % CAMPUSES.len()].into(),
        department: DEPARTMENTS[n % DEPARTMENTS.len()].into(),
        discipline: [
            Discipline::Physician,
            Discipline::Nurse,
            Discipline::SocialWork,
        ][n % 3],
        specialty: None,
        seniority: Seniority::Senior,
        languages: vec!["en".into()],
        interests: vec![],
        training: Training {
            status: TrainingStatus::Trained,
            completed_on: None,
        },
        capacity: 50,
        availability: Availability::default(),
    }
}

/// Every event of the benchmark's store, and the members whose data is purged at its end.
fn generate(reports: usize, keys: &HashMap<String, DataKey>) -> (Stream, Vec<String>) {
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut stream = Stream::default();
    let start: DateTime<Utc> = DateTime::from_timestamp(1_798_761_600, 0).expect("a time");
    for n in 0..SUPPORTERS {
        let joined = SupporterEvent::SupporterJoined {
            profile: profile(n),
            personal: SupporterContact {
                given_name: format!("Given{n}"),
                family_name: format!("Family{n}"),
                email: format!("s{n}@example.org"),
                phone: None,
                gender: None,
            },
            joined_at: start,
        };
        stream.push(
            supporter::AGGREGATE_TYPE,
            ids::supporter_id(&supporter_staff_id(n)),
            &joined,
        );
    }
    let key = |staff: &str| keys.get(staff).expect("every member has a key");
    for r in 0..reports {
        let at = start + Duration::minutes(5 * r as i64);
        let report = ReportRef {
            source: "/datix/bench".into(),
            report_id: format!("INC-{r}"),
        };
        let campus = CAMPUSES[dice.below(CAMPUSES.len())];
        let named = 1 + dice.below(8);
        let mut members: Vec<String> = (0..named).map(|_| staff_id(dice.below(STAFF))).collect();
        members.sort();
        members.dedup();
        let recorded = ReportEvent::ReportRecorded {
            report: report.clone(),
            trigger: TriggerKind::Incident,
            outreach: true,
            urgent: false,
            campus: campus.into(),
            unit: "ED".into(),
            members: members
                .iter()
                .map(|staff| ReportMember {
                    staff_id: staff.clone(),
                    case_id: ids::derivable_before_27::case_id(&report, staff),
                    eligible: true,
                })
                .collect(),
            recorded_at: at,
        };
        let report_aggregate = ids::report_id(&report);
        stream.push(report::AGGREGATE_TYPE, report_aggregate, &recorded);
        for staff in &members {
            let case_id = ids::derivable_before_27::case_id(&report, staff);
            let member = ids::derivable_before_27::member_id(staff);
            if dice.chance(1) {
                // Opted out: no case, but counted for statistics.
                let out = MemberEvent::OptedOut {
                    staff_id: staff.clone(),
                    opted_out_at: at,
                };
                stream.push(care_team_member::AGGREGATE_TYPE, member, &out);
                let skipped = MemberEvent::AutomaticOutreachSkipped {
                    staff_id: staff.clone(),
                    report: report.clone(),
                    skipped_at: at,
                };
                stream.push(care_team_member::AGGREGATE_TYPE, member, &skipped);
                continue;
            }
            let started = MemberEvent::CaseStarted {
                staff_id: staff.clone(),
                case_id,
                started_at: at,
            };
            stream.push(care_team_member::AGGREGATE_TYPE, member, &started);
            let department = DEPARTMENTS[dice.below(DEPARTMENTS.len())];
            let opened = CaseEvent::CaseOpened(CaseOpened {
                facts: CaseOpenedFacts {
                    case_id,
                    report: report.clone(),
                    trigger: TriggerKind::Incident,
                    campus: campus.into(),
                    unit: "ED".into(),
                    member: Some(MemberProfile {
                        staff_id: staff.clone(),
                        role: "Nurse".into(),
                        discipline: Discipline::ALL[dice.below(Discipline::ALL.len())],
                        department: department.into(),
                        seniority: None,
                        involvement: Involvement::Primary,
                    }),
                    opened_at: at,
                    first_contact_due: Some(at + Duration::days(2)),
                    urgent: false,
                },
                personal: Some(MemberContact {
                    given_name: format!("Given{staff}"),
                    family_name: format!("Family{staff}"),
                    email: Some(format!("{staff}@example.org")),
                    phone: None,
                    mobile: Some("555 0100".into()),
                    preferred_channel: Some(Channel::Email),
                }),
            });
            stream.push_sealed(case::AGGREGATE_TYPE, case_id, &opened, Some(key(staff)));
            if dice.chance(2) {
                let stated = MemberEvent::PreferencesStated {
                    staff_id: staff.clone(),
                    personal: Some(Preferences {
                        channel: Some(Channel::Phone),
                        ..Preferences::default()
                    }),
                    stated_at: at,
                };
                stream.push_sealed(
                    care_team_member::AGGREGATE_TYPE,
                    member,
                    &stated,
                    Some(key(staff)),
                );
            }
            if dice.chance(5) {
                work(&mut dice, &mut stream, case_id, member, at);
            }
        }
        if members.len() > 5 {
            let proposed = ReportEvent::GroupDebriefProposed {
                report: report.clone(),
                campus: campus.into(),
                unit: "ED".into(),
                staff: members.len(),
                departments: 3,
                proposed_at: at,
            };
            stream.push(report::AGGREGATE_TYPE, report_aggregate, &proposed);
        }
    }
    let purged: Vec<String> = (0..PURGED).map(staff_id).collect();
    let at = start + Duration::minutes(5 * reports as i64 + 60);
    for staff in &purged {
        let purge = MemberEvent::PersonalDataPurged {
            staff_id: staff.clone(),
            key_id: key(staff).key_id(),
            purged_at: at,
        };
        stream.push(
            care_team_member::AGGREGATE_TYPE,
            ids::derivable_before_27::member_id(staff),
            &purge,
        );
    }
    (stream, purged)
}

/// A case worked to its end: assigned, contacted, a decision, encounters, maybe a referral or
/// an escalation, closed; the supporter's slot taken and released.
fn work(dice: &mut Dice, stream: &mut Stream, case_id: Uuid, member: Uuid, at: DateTime<Utc>) {
    let supporter = supporter_staff_id(dice.below(SUPPORTERS));
    let supporter_id = ids::supporter_id(&supporter);
    let hour = |h: i64| at + Duration::hours(h);
    let taken = SupporterEvent::CaseTaken {
        case_id,
        taken_at: hour(1),
    };
    stream.push(supporter::AGGREGATE_TYPE, supporter_id, &taken);
    let mut case = |event: CaseEvent| stream.push(case::AGGREGATE_TYPE, case_id, &event);
    case(CaseEvent::SupporterAssigned(SupporterAssigned {
        supporter_id: supporter.clone(),
        assigned_at: hour(1),
    }));
    let attempts = 1 + dice.below(3);
    let reached = dice.chance(80);
    for a in 0..attempts {
        let outcome = if reached && a + 1 == attempts {
            ContactOutcome::Reached
        } else {
            ContactOutcome::NoAnswer
        };
        case(CaseEvent::ContactAttempted(ContactAttempted {
            channel: Channel::Phone,
            outcome,
            attempted_at: hour(2 + a as i64),
        }));
    }
    let reason = if !reached {
        CloseReason::Unreachable
    } else if dice.chance(80) {
        case(CaseEvent::SupportAccepted(SupportAccepted {
            accepted_at: hour(6),
        }));
        for e in 0..1 + dice.below(2) {
            case(CaseEvent::EncounterRecorded(EncounterRecorded {
                held_on: hour(24 * (1 + e as i64)).date_naive(),
                modality: Modality::Phone,
                format: EncounterFormat::Individual,
                duration: DurationBand::FifteenToThirtyMinutes,
                recorded_at: hour(24 * (1 + e as i64)),
            }));
        }
        if dice.chance(10) {
            case(CaseEvent::ReferredToProfessionalHelp(
                ReferredToProfessionalHelp {
                    service: ProfessionalHelp::EmployeeAssistance,
                    referred_at: hour(72),
                },
            ));
        }
        if dice.chance(5) {
            case(CaseEvent::EscalationRecorded(EscalationRecorded {
                category: EscalationCategory::DangerToSelfOrOthers,
                recorded_at: hour(72),
            }));
        }
        CloseReason::Completed
    } else {
        case(CaseEvent::SupportDeclined(SupportDeclined {
            unverified_sheet_claim: None,
            declined_at: hour(6),
        }));
        CloseReason::Declined
    };
    case(CaseEvent::CaseClosed(CaseClosed {
        reason,
        closed_at: hour(96),
        merged_into: None,
    }));
    let released = SupporterEvent::CaseReleased {
        case_id,
        released_at: hour(96),
    };
    stream.push(supporter::AGGREGATE_TYPE, supporter_id, &released);
    let ended = MemberEvent::CaseEnded {
        case_id,
        ended_at: hour(96),
    };
    stream.push(care_team_member::AGGREGATE_TYPE, member, &ended);
}

/// Inserts the stream in transactions of 10,000 events, as multi-row inserts.
async fn store(pool: &PgPool, stream: &Stream) {
    for chunk in stream.rows.chunks(10_000) {
        let column = |f: fn(&Row) -> String| chunk.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata)
             SELECT t, id, s, et, '1', p::json, m::json
               FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                           $6::text[]) AS r(t, id, s, et, p, m)",
        )
        .bind(column(|r| r.aggregate_type.to_owned()))
        .bind(column(|r| r.aggregate_id.to_string()))
        .bind(chunk.iter().map(|r| r.sequence).collect::<Vec<_>>())
        .bind(column(|r| r.event_type.clone()))
        .bind(column(|r| r.payload.clone()))
        .bind(column(|r| {
            // The trace context each command leaves in its events' metadata.
            let trace = Uuid::from_u128(r.sequence as u128 ^ r.aggregate_id.as_u128()).simple();
            json!({ "traceparent": format!("00-{trace}-{}-01", &trace.to_string()[..16]) })
                .to_string()
        }))
        .execute(pool)
        .await
        .expect("insert events");
    }
}

/// The read-model tables (or outbox kinds) each projection writes, to count its rows.
fn rows_of(projection: &str) -> &'static str {
    match projection {
        "statistics" => {
            "(SELECT count(*) FROM statistics_counts) + (SELECT count(*) FROM statistics_first_contact)"
        }
        "outreach" => "(SELECT count(*) FROM outreach_cases)",
        "case-timeline" => "(SELECT count(*) FROM case_timeline)",
        "director-notices" => "(SELECT count(*) FROM outbox WHERE kind = 'escalation')",
        "assignment-notices" => {
            "(SELECT count(*) FROM outbox WHERE kind IN ('assignment', 'assignment-email'))"
        }
        "feedback-invitations" => "(SELECT count(*) FROM outbox WHERE kind = 'feedback-invitation')",
        "group-debriefs" => "(SELECT count(*) FROM group_debrief_proposals)",
        "matching" => {
            "(SELECT count(*) FROM roster_supporters) + (SELECT count(*) FROM roster_caseload)
             + (SELECT count(*) FROM matching_cases) + (SELECT count(*) FROM matching_case_reports)
             + (SELECT count(*) FROM matching_report_staff) + (SELECT count(*) FROM matching_reports)
             + (SELECT count(*) FROM matching_preferences)"
        }
        _ => "0",
    }
}

/// This process's resident memory now, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Samples the resident memory every 10 ms until dropped, keeping the highest: the peak of one
/// rebuild (the process's own high-water mark includes filling the store).
struct PeakRss {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl PeakRss {
    fn start() -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rss_kib()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Relaxed) {
                p.fetch_max(rss_kib(), Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        PeakRss { peak, stop }
    }

    fn mib(&self) -> f64 {
        use std::sync::atomic::Ordering::Relaxed;
        self.peak.fetch_max(rss_kib(), Relaxed);
        self.peak.load(Relaxed) as f64 / 1024.0
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() {
    let reports: usize = env("REPORTS").unwrap_or(100_000);
    let db = TestDatabase::create("projections_bench").await;
    let pool = &db.pool;

    let filling = Instant::now();
    let mut keys = HashMap::new();
    {
        let mut conn = pool.acquire().await.expect("connect");
        for n in 0..STAFF {
            let staff = staff_id(n);
            let key = DataKeys::on(&mut conn)
                .live_key(&staff)
                .await
                .expect("a key");
            keys.insert(staff, key);
        }
    }
    let (stream, purged) = generate(reports, &keys);
    store(pool, &stream).await;
    {
        // The purge destroys the members' keys after recording it, as the service does.
        let mut conn = pool.acquire().await.expect("connect");
        for staff in &purged {
            DataKeys::on(&mut conn)
                .destroy(keys[staff].key_id())
                .await
                .expect("destroy a key");
        }
    }
    // The owner's to run: the service's role would only be warned that it may not.
    sqlx::query("VACUUM ANALYZE events")
        .execute(&db.owner_pool().await)
        .await
        .expect("vacuum");
    let events = stream.rows.len();
    drop(stream);
    eprintln!(
        "{reports} reports, {events} events stored in {:.1} s (then VACUUM ANALYZE)",
        filling.elapsed().as_secs_f64()
    );

    let only: Option<Vec<String>> =
        env::<String>("PROJECTIONS").map(|v| v.split(',').map(str::to_owned).collect());
    // Several sizes (`REBUILD_BATCH=5000,10000,20000`) compare on the one store.
    let batches: Vec<i64> = std::env::var("REBUILD_BATCH")
        .ok()
        .map(|v| v.split(',').filter_map(|b| b.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![RunnerSettings::default().rebuild_batch_size]);
    // What filling the store left resident is in every figure: shown beside the peak.
    println!(
        "| projection | batch | events | seconds | events/s | rows written | peak RSS (at start) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for batch in batches {
        let settings = RunnerSettings {
            rebuild_batch_size: batch,
            ..RunnerSettings::default()
        };
        for projection in outreach_projections::all(&Setup::default()) {
            let name = projection.name();
            if only.as_ref().is_some_and(|o| !o.iter().any(|n| n == name)) {
                continue;
            }
            let runner = ProjectionRunner::new(pool.clone(), projection, settings.clone());
            let at_start = rss_kib() as f64 / 1024.0;
            let peak = PeakRss::start();
            let started = Instant::now();
            let applied = runner.rebuild(|_, _| {}).await.expect("rebuild");
            let seconds = started.elapsed().as_secs_f64();
            let rows: i64 = sqlx::query_scalar(&format!("SELECT {}", rows_of(name)))
                .fetch_one(pool)
                .await
                .expect("count rows");
            println!(
                "| {name} | {batch} | {applied} | {seconds:.2} | {:.0} | {rows} | {:.1} MiB ({at_start:.1}) |",
                applied as f64 / seconds,
                peak.mib()
            );
        }
    }
}
