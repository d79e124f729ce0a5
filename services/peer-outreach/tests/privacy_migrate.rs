//! `peer-outreach privacy migrate` on a store written in the shape of before issue 27: every
//! plain personal part ends sealed under its member's key (and opens to what it was), or null
//! for a member whose key a purge destroyed; every case and member record with an id derived
//! from a staff id (UUID v5) is renamed, to the id the service derives under the member's live
//! key or to a random one, wherever the id is held (other events, the outbox and its keys, read
//! models, parked commands, the access audit, re-chained with the rewrite on its record); a run
//! killed half-way (in either pass) completes when run again, and a run after that rewrites
//! nothing. A `pg_dump` of the whole database afterwards names none of the old ids, nor a staff
//! id.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use outreach_command_side::CommandSide;
use outreach_domain::ids::{self, derivable_before_27 as old};
use outreach_events::ReportRef;
use outreach_privacy::{open_all, seal, DataKeys};
use outreach_projections::outbox_id_named;
use outreach_test_support::TestDatabase;
use serde_json::{json, Value};
use uuid::Uuid;

mod operator;
use operator::{operator, succeeded};

/// A member whose key lives, and one whose key a purge destroyed.
const LIVE: &str = "E7710001";
const PURGED: &str = "E7710002";
/// A member purged and named again since: a new key, the same record (ids were derived from
/// the staff id before issue 27).
const RENAMED: &str = "E7710003";
/// Fillers: member records of a member whose key is gone, one event each, enough one-event
/// (or one-aggregate) transactions that a run is still going when it is killed (it blocks on
/// its unread progress lines long before the end).
const FILLERS: i64 = 3000;

const CASE: &str = outreach_events::case::AGGREGATE_TYPE;
const MEMBER: &str = outreach_events::care_team_member::AGGREGATE_TYPE;
const REPORT: &str = outreach_events::report::AGGREGATE_TYPE;

fn report(id: &str) -> ReportRef {
    ReportRef {
        source: "/datix/parnassus".into(),
        report_id: id.into(),
    }
}

fn profile(staff_id: &str, role: &str, department: &str) -> Value {
    json!({"staff_id": staff_id, "role": role, "discipline": "nurse",
           "department": department, "seniority": null, "involvement": "primary"})
}

fn case_opened(case_id: &str, report_id: &str, member: Value, personal: Value) -> Value {
    json!({"CaseOpened": {"facts": {
        "case_id": case_id, "report": {"source": "/datix/parnassus", "report_id": report_id},
        "trigger": "incident", "campus": "Parnassus", "unit": "7 North", "member": member,
        "opened_at": "2026-11-02T10:00:00Z"}, "personal": personal}})
}

/// Stores an event as the code before issue 27 did, as the owner.
async fn store(owner: &sqlx::PgPool, kind: &str, id: &str, sequence: i64, payload: &Value) {
    let event_type = payload.as_object().unwrap().keys().next().unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ($1, $2, $3, $4, '1.0', $5, '{}')",
    )
    .bind(kind)
    .bind(id)
    .bind(sequence)
    .bind(event_type)
    .bind(payload)
    .execute(owner)
    .await
    .unwrap();
}

fn migrate(db: &TestDatabase, batch: u32) -> Command {
    let mut command = operator(db);
    command
        .args(["privacy", "migrate", "--batch"])
        .arg(batch.to_string());
    command
}

/// Every stored payload, by place, as text.
async fn payloads(db: &TestDatabase) -> Vec<(String, String, i64, String)> {
    sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, payload::text FROM events
          ORDER BY aggregate_type, aggregate_id, sequence",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

async fn payload(db: &TestDatabase, kind: &str, id: &str, sequence: i64) -> Value {
    sqlx::query_scalar(
        "SELECT payload FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
    )
    .bind(kind)
    .bind(id)
    .bind(sequence)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// The aggregate id of the member record whose purge destroyed `key_id`.
async fn purged_record(db: &TestDatabase, key_id: Uuid) -> String {
    sqlx::query_scalar(
        "SELECT aggregate_id FROM events
          WHERE event_type = 'PersonalDataPurged'
            AND payload -> 'PersonalDataPurged' ->> 'key_id' = $1",
    )
    .bind(key_id.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

async fn events_of(db: &TestDatabase, kind: &str, id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(kind)
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// How many cases and member records still have an id of before issue 27.
async fn old_ids_left(db: &TestDatabase) -> i64 {
    sqlx::query_scalar(
        "SELECT count(DISTINCT aggregate_id) FROM events
          WHERE aggregate_type = ANY($1) AND substr(aggregate_id, 15, 1) = '5'",
    )
    .bind([CASE, MEMBER])
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// Starts `command`, reads its progress lines until one starts with `line`, and kills it there.
fn kill_at(mut command: Command, line: &str) {
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let said = lines
            .next()
            .expect("it ended before it was killed")
            .unwrap();
        if said.starts_with(line) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn pg_dump(db: &TestDatabase) -> String {
    let dump = Command::new("pg_dump")
        .arg("--dbname")
        .arg(&db.owner_url)
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    String::from_utf8(dump.stdout).unwrap()
}

#[tokio::test]
async fn privacy_migrate_seals_and_renames_what_was_stored_before_issue_27_and_completes_after_kills(
) {
    let db = TestDatabase::create("privacy_migrate").await;
    let owner = db.owner_pool().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let (r77, r79, r80) = (report("R-77"), report("R-79"), report("R-80"));
    let c1 = old::case_id(&r77, LIVE).to_string();
    let c2 = old::case_id(&r77, PURGED).to_string();
    let c3 = old::case_id(&r79, RENAMED).to_string();
    let c4 = old::case_id(&r80, RENAMED).to_string();
    let m_live = old::member_id(LIVE).to_string();
    let m_purged = old::member_id(PURGED).to_string();
    let m_renamed = old::member_id(RENAMED).to_string();
    let fillers: Vec<String> = (0..FILLERS)
        .map(|n| old::member_id(&format!("F{n:05}")).to_string())
        .collect();
    // Before issue 27 the contact part was sealed already, under the member's key.
    let live_key = DataKeys::on(&mut conn).live_key(LIVE).await.unwrap();
    let purged_key = DataKeys::on(&mut conn).live_key(PURGED).await.unwrap();
    let live_contact = json!({"given_name": "Mary", "family_name": "Seacole"});
    let live_preferences = json!({"channel": "email"});

    // The live member: a case opening, their record, a report naming both members.
    let live_case = case_opened(
        &c1,
        "R-77",
        profile(LIVE, "Charge nurse Q7731", "Nephrology Q7731"),
        seal(&live_key, &live_contact).unwrap(),
    );
    let live_record = [
        json!({"CaseStarted": {"staff_id": LIVE, "case_id": c1,
                               "started_at": "2026-11-02T10:00:00Z"}}),
        json!({"PreferencesStated": {"staff_id": LIVE,
                                     "personal": seal(&live_key, &live_preferences).unwrap(),
                                     "stated_at": "2026-11-02T11:00:00Z"}}),
        json!({"OptedOut": {"staff_id": LIVE, "opted_out_at": "2026-11-03T10:00:00Z"}}),
        json!({"OptedIn": {"staff_id": LIVE, "opted_in_at": "2026-11-04T10:00:00Z"}}),
        json!({"AutomaticOutreachSkipped": {"staff_id": LIVE,
               "report": {"source": "/datix/parnassus", "report_id": "R-78"},
               "skipped_at": "2026-11-03T12:00:00Z"}}),
    ];
    let report77 = json!({"ReportRecorded": {"campus": "Parnassus", "members": [
        {"staff_id": LIVE, "case_id": c1, "eligible": true},
        {"staff_id": PURGED, "case_id": c2, "eligible": true}]}});
    let removed = json!({"StaffRemoved": {"staff_ids": [LIVE, PURGED]}});
    let report77_id = ids::report_id(&r77).to_string();
    store(&owner, CASE, &c1, 1, &live_case).await;
    for (at, event) in live_record.iter().enumerate() {
        store(&owner, MEMBER, &m_live, at as i64 + 1, event).await;
    }
    store(&owner, REPORT, &report77_id, 1, &report77).await;
    store(&owner, REPORT, &report77_id, 2, &removed).await;
    // A report stored after issue 27 sealed staff ids but before it sealed whether each member
    // was eligible: the flag is sealed under the key its staff id names, or gone with it.
    let report81_id = ids::report_id(&report("R-81")).to_string();
    let report81 = json!({"ReportRecorded": {"campus": "Parnassus", "members": [
        {"staff_id": seal(&live_key, &json!(LIVE)).unwrap(),
         "case_id": Uuid::new_v4().to_string(), "eligible": true},
        {"staff_id": seal(&purged_key, &json!(PURGED)).unwrap(),
         "case_id": Uuid::new_v4().to_string(), "eligible": false}]}});
    store(&owner, REPORT, &report81_id, 1, &report81).await;
    // The purged member: their opening and record, the purge naming them, then the key gone.
    let purged_case = case_opened(
        &c2,
        "R-77",
        profile(PURGED, "Pharmacist Q7732", "Oncology Q7732"),
        seal(
            &purged_key,
            &json!({"given_name": "Jo", "family_name": "March"}),
        )
        .unwrap(),
    );
    store(&owner, CASE, &c2, 1, &purged_case).await;
    store(
        &owner,
        MEMBER,
        &m_purged,
        1,
        &json!({"CaseStarted": {"staff_id": PURGED, "case_id": c2,
                                "started_at": "2026-11-02T10:00:00Z"}}),
    )
    .await;
    store(
        &owner,
        MEMBER,
        &m_purged,
        2,
        &json!({"PersonalDataPurged": {"staff_id": PURGED, "key_id": purged_key.key_id(),
                                       "purged_at": "2026-12-02T10:00:00Z"}}),
    )
    .await;
    assert!(DataKeys::on(&mut conn)
        .destroy(purged_key.key_id())
        .await
        .unwrap());
    // The member named again: their first life purged, then a new key and a new case.
    let first_key = DataKeys::on(&mut conn).live_key(RENAMED).await.unwrap();
    let first_life = case_opened(
        &c3,
        "R-79",
        profile(RENAMED, "Midwife Q7733", "Obstetrics Q7733"),
        // No contact given: only the case its record started before the purge tells.
        Value::Null,
    );
    store(&owner, CASE, &c3, 1, &first_life).await;
    let renamed_started = |case: &str| {
        json!({"CaseStarted": {"staff_id": RENAMED, "case_id": case,
                               "started_at": "2026-11-02T10:00:00Z"}})
    };
    store(&owner, MEMBER, &m_renamed, 1, &renamed_started(&c3)).await;
    store(
        &owner,
        MEMBER,
        &m_renamed,
        2,
        &json!({"PersonalDataPurged": {"staff_id": RENAMED, "key_id": first_key.key_id(),
                                       "purged_at": "2026-12-02T10:00:00Z"}}),
    )
    .await;
    assert!(DataKeys::on(&mut conn)
        .destroy(first_key.key_id())
        .await
        .unwrap());
    let second_key = DataKeys::on(&mut conn).live_key(RENAMED).await.unwrap();
    let second_profile = profile(RENAMED, "Midwife Q7734", "Obstetrics Q7734");
    let second_life = case_opened(
        &c4,
        "R-80",
        second_profile.clone(),
        seal(
            &second_key,
            &json!({"given_name": "Ida", "family_name": "Minerva"}),
        )
        .unwrap(),
    );
    store(&owner, CASE, &c4, 1, &second_life).await;
    let report_of = |event: &str, case: &str| {
        json!({event: {"campus": "Parnassus", "members": [
            {"staff_id": RENAMED, "case_id": case, "eligible": true}]}})
    };
    let (report79_id, report80_id) = (
        ids::report_id(&r79).to_string(),
        ids::report_id(&r80).to_string(),
    );
    store(
        &owner,
        REPORT,
        &report79_id,
        1,
        &report_of("ReportRecorded", &c3),
    )
    .await;
    store(
        &owner,
        REPORT,
        &report80_id,
        1,
        &report_of("StaffAdded", &c4),
    )
    .await;
    store(&owner, MEMBER, &m_renamed, 3, &renamed_started(&c4)).await;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT $1, filler, 1, 'OptedOut', '1.0',
                json_build_object('OptedOut', json_build_object(
                    'staff_id', $2::text, 'opted_out_at', '2026-11-03T10:00:00Z')), '{}'
           FROM unnest($3::text[]) AS filler",
    )
    .bind(MEMBER)
    .bind(PURGED)
    .bind(&fillers)
    .execute(&owner)
    .await
    .unwrap();

    // Outside the event store: the outbox (an escalation keyed by its event, a feedback
    // invitation, a reminder keyed by a name the command cannot recognise), read models, a
    // parked command, and the access audit.
    let escalation_id = outbox_id_named("escalation", &format!("{CASE}/{c1}/1"));
    let invitation_id = outbox_id_named("feedback-invitation", &format!("{CASE}/{c2}/1"));
    let reminder_id = outbox_id_named(
        "first-contact-reminder",
        &format!("{c1}/2026-11-03T10:00:00+00:00/S1"),
    );
    for (id, kind, channel, case) in [
        (escalation_id, "escalation", "kafka", &c1),
        (invitation_id, "feedback-invitation", "email", &c2),
        (reminder_id, "first-contact-reminder", "email", &c1),
    ] {
        sqlx::query(
            "INSERT INTO outbox (id, kind, topic_key, payload, created_at, channel)
             VALUES ($1, $2, $3, $4, now(), $5)",
        )
        .bind(id)
        .bind(kind)
        .bind(case)
        .bind(json!({"notice": kind, "case_id": case}))
        .bind(channel)
        .execute(&owner)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO case_timeline (case_id, sequence, at, step)
         VALUES ($1::uuid, 1, '2026-11-02T10:00:00Z', 'opened'),
                ($2::uuid, 1, '2026-11-02T10:00:00Z', 'opened')",
    )
    .bind(&c1)
    .bind(&c2)
    .execute(&owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO statistics_cases (case_id, campus, discipline, opened_at)
         VALUES ($1::uuid, 'Parnassus', 'nurse', '2026-11-02T10:00:00Z')",
    )
    .bind(&c2)
    .execute(&owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO parked_report_commands (id, report_source, report_id, command)
         VALUES (1, '/datix/parnassus', 'R-81', $1)",
    )
    .bind(json!({"Amend": {"removed_cases": [c1]}}))
    .execute(&owner)
    .await
    .unwrap();
    let unrelated_case = Uuid::new_v4();
    for (subject, relation, case, member) in [
        (Some("director|1"), None, Some(&c1), None),
        (Some("director|1"), None, Some(&c2), None),
        (None, Some("self"), None, Some(&m_live)),
        (
            Some("director|1"),
            None,
            Some(&unrelated_case.to_string()),
            None,
        ),
    ] {
        sqlx::query(
            "INSERT INTO access_audit (subject, reader_roles, reader_relation, endpoint,
                                       case_id, member_id)
             VALUES ($1, '{director}', $2, 'GET /v1/cases/{case_id}', $3::uuid, $4::uuid)",
        )
        .bind(subject)
        .bind(relation)
        .bind(case)
        .bind(member)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let keys_before: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let verified = succeeded(
        &operator(&db)
            .args(["access-audit", "verify"])
            .output()
            .unwrap(),
    );
    let old_head = verified
        .split("has the hash ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .expect("the head's hash")
        .to_owned();
    let old_ids = old_ids_left(&db).await;
    assert_eq!(old_ids, FILLERS + 7);

    // One event a transaction, killed once the first batch is reported: half sealed.
    kill_at(migrate(&db, 1), "examined ");
    // Every event of the old shapes named a member in the clear.
    let plain_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text ~ 'E771000[123]'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(
        plain_left > 0 && plain_left < FILLERS + 19,
        "killed half-way, yet {plain_left} events name a member in the clear"
    );
    // One aggregate a transaction, killed once the first is renamed: half renamed.
    kill_at(migrate(&db, 1), "renamed ");
    let left = old_ids_left(&db).await;
    assert!(
        left > 0 && left < old_ids,
        "killed half-way, yet {left} of {old_ids} aggregates keep their old ids"
    );
    let under_way: i64 = sqlx::query_scalar("SELECT count(*) FROM privacy_migrate_audit_rewrite")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(under_way, 1, "the audit's rewrite is left under way");

    let said = succeeded(&migrate(&db, 50).output().unwrap());
    assert!(said.contains("no read model needs rebuilding"), "{said}");
    assert!(said.contains("entry 5 records the rewrite"), "{said}");
    assert_eq!(old_ids_left(&db).await, 0);

    // Nothing of any member is left in the clear, and no key was made.
    let everything: String =
        sqlx::query_scalar("SELECT string_agg(payload::text, ' ') FROM events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    for plain in [
        LIVE, PURGED, RENAMED, "Q7731", "Q7732", "Q7733", "Q7734", "Seacole", "March",
    ] {
        assert!(!everything.contains(plain), "{plain} is left in the clear");
    }
    let keys_after: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(keys_after, keys_before);

    // A dump of the whole database names no old id and no staff id.
    let dump = pg_dump(&db);
    for old_id in [&c1, &c2, &c3, &c4, &m_live, &m_purged, &m_renamed]
        .into_iter()
        .chain(&fillers)
    {
        assert!(!dump.contains(old_id.as_str()), "the dump holds {old_id}");
    }
    for staff_id in [LIVE, PURGED, RENAMED] {
        assert!(!dump.contains(staff_id), "the dump holds {staff_id}");
    }

    // The live member's case and record are where the service looks for them now.
    let commands = CommandSide::new(db.pool.clone(), Default::default());
    let new_c1 = commands.case_id(&r77, LIVE).await.unwrap();
    let (_, version) = commands.case(new_c1).await.unwrap();
    assert_eq!(
        version, 1,
        "the live member's case loads under its derived id"
    );
    let (_, version) = commands.member(LIVE).await.unwrap();
    assert_eq!(version, live_record.len() as u64, "their record loads");
    let new_m_live = commands.member_id(LIVE).await.unwrap().to_string();
    let new_c1 = new_c1.to_string();

    // Their parts open to what they were, under their key, naming the new ids.
    let mut opened = payload(&db, CASE, &new_c1, 1).await;
    let mut expected = live_case.clone();
    expected["CaseOpened"]["personal"] = live_contact.clone();
    expected["CaseOpened"]["facts"]["case_id"] = json!(new_c1);
    let mut record = Vec::new();
    for sequence in 1..=live_record.len() as i64 {
        record.push(payload(&db, MEMBER, &new_m_live, sequence).await);
    }
    let mut report_now = payload(&db, REPORT, &report77_id, 1).await;
    let mut removed_now = payload(&db, REPORT, &report77_id, 2).await;
    let mut all: Vec<&mut Value> = vec![&mut opened, &mut report_now, &mut removed_now];
    all.extend(record.iter_mut());
    open_all(&mut conn, all).await.unwrap();
    assert_eq!(opened, expected);
    let mut expected_record = live_record.to_vec();
    expected_record[0]["CaseStarted"]["case_id"] = json!(new_c1);
    expected_record[1]["PreferencesStated"]["personal"] = live_preferences;
    assert_eq!(record, expected_record);
    // The report's live member opens; the purged one's staff id is gone, their case renamed
    // to an id nothing derives.
    let new_c2 = report_now["ReportRecorded"]["members"][1]["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        report_now,
        json!({"ReportRecorded": {"campus": "Parnassus", "members": [
            {"staff_id": LIVE, "case_id": new_c1, "eligible": true},
            {"staff_id": null, "case_id": new_c2, "eligible": null}]}})
    );
    assert_eq!(
        removed_now,
        json!({"StaffRemoved": {"staff_ids": [LIVE, null]}})
    );

    // The purged member's parts are null, their case and record under random ids.
    let purged_opening = payload(&db, CASE, &new_c2, 1).await;
    assert_eq!(purged_opening["CaseOpened"]["facts"]["member"], Value::Null);
    assert_eq!(
        purged_opening["CaseOpened"]["facts"]["case_id"],
        json!(new_c2)
    );
    let new_m_purged = purged_record(&db, purged_key.key_id()).await;
    let started = payload(&db, MEMBER, &new_m_purged, 1).await;
    assert_eq!(started["CaseStarted"]["staff_id"], Value::Null);
    assert_eq!(started["CaseStarted"]["case_id"], json!(new_c2));
    let purge = payload(&db, MEMBER, &new_m_purged, 2).await;
    assert_eq!(purge["PersonalDataPurged"]["staff_id"], "");

    // The member named again: their first life apart under a random id, their second the
    // record the service finds, numbered from 1.
    let first_life_record = purged_record(&db, first_key.key_id()).await;
    assert_eq!(events_of(&db, MEMBER, &first_life_record).await, 2);
    let first_start = payload(&db, MEMBER, &first_life_record, 1).await;
    assert_eq!(first_start["CaseStarted"]["staff_id"], Value::Null);
    let new_c3 = first_start["CaseStarted"]["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_opening = payload(&db, CASE, &new_c3, 1).await;
    assert_eq!(first_opening["CaseOpened"]["facts"]["member"], Value::Null);
    let first_report = payload(&db, REPORT, &report79_id, 1).await;
    assert_eq!(
        first_report["ReportRecorded"]["members"][0],
        json!({"staff_id": null, "case_id": new_c3, "eligible": null})
    );
    let report81_now = payload(&db, REPORT, &report81_id, 1).await;
    let members81 = &report81_now["ReportRecorded"]["members"];
    assert!(
        outreach_privacy::is_sealed(&members81[0]["eligible"]),
        "a live member's eligibility is sealed: {members81}"
    );
    assert_eq!(
        members81[1]["eligible"],
        Value::Null,
        "a purged member's is gone"
    );
    let mut live_eligible = members81[0]["eligible"].clone();
    open_all(&mut conn, vec![&mut live_eligible]).await.unwrap();
    assert_eq!(live_eligible, json!(true));
    let new_c4 = commands.case_id(&r80, RENAMED).await.unwrap().to_string();
    let (_, version) = commands.member(RENAMED).await.unwrap();
    assert_eq!(
        version, 1,
        "the second life's record holds its own events only"
    );
    let new_m_renamed = commands.member_id(RENAMED).await.unwrap().to_string();
    let mut second_opening = payload(&db, CASE, &new_c4, 1).await;
    let mut second_start = payload(&db, MEMBER, &new_m_renamed, 1).await;
    let mut second_report = payload(&db, REPORT, &report80_id, 1).await;
    open_all(
        &mut conn,
        vec![&mut second_opening, &mut second_start, &mut second_report],
    )
    .await
    .unwrap();
    assert_eq!(
        second_opening["CaseOpened"]["facts"]["member"],
        second_profile
    );
    assert_eq!(second_start, renamed_started(&new_c4));
    assert_eq!(second_report, report_of("StaffAdded", &new_c4));

    // The outbox: keys recognised are given the new names (a replay finds them), the one not
    // recognised a random id; read models and the parked command name the new ids.
    let outbox: Vec<(Uuid, String, String, Value)> =
        sqlx::query_as("SELECT id, kind, topic_key, payload::json FROM outbox ORDER BY kind")
            .fetch_all(&owner)
            .await
            .unwrap();
    let by_kind = |kind: &str| outbox.iter().find(|row| row.1 == kind).unwrap().clone();
    let escalation = by_kind("escalation");
    assert_eq!(
        escalation.0,
        outbox_id_named("escalation", &format!("{CASE}/{new_c1}/1"))
    );
    assert_eq!(
        (escalation.2.as_str(), &escalation.3["case_id"]),
        (new_c1.as_str(), &json!(new_c1))
    );
    let invitation = by_kind("feedback-invitation");
    assert_eq!(
        invitation.0,
        outbox_id_named("feedback-invitation", &format!("{CASE}/{new_c2}/1"))
    );
    assert_eq!(invitation.2, new_c2);
    let reminder = by_kind("first-contact-reminder");
    assert_ne!(reminder.0, reminder_id);
    assert_eq!(reminder.2, new_c1);
    let timeline: Vec<String> =
        sqlx::query_scalar("SELECT case_id::text FROM case_timeline ORDER BY case_id")
            .fetch_all(&owner)
            .await
            .unwrap();
    let mut expected_timeline = vec![new_c1.clone(), new_c2.clone()];
    expected_timeline.sort();
    assert_eq!(timeline, expected_timeline);
    let parked: Value = sqlx::query_scalar("SELECT command FROM parked_report_commands")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(parked, json!({"Amend": {"removed_cases": [new_c1]}}));

    // The access audit names the new ids, verifies, and has the rewrite on its record.
    let entries: Vec<(i64, Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT entry_id, case_id::text, member_id::text, endpoint FROM access_audit
          ORDER BY entry_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0].1.as_deref(), Some(new_c1.as_str()));
    assert_eq!(entries[1].1.as_deref(), Some(new_c2.as_str()));
    assert_eq!(entries[2].2.as_deref(), Some(new_m_live.as_str()));
    assert_eq!(entries[3].1, Some(unrelated_case.to_string()));
    assert!(
        entries[4].3.starts_with("peer-outreach privacy migrate:")
            && entries[4].3.contains(&format!("entry 4, hash {old_head}")),
        "{}",
        entries[4].3
    );
    let verified = succeeded(
        &operator(&db)
            .args(["access-audit", "verify"])
            .output()
            .unwrap(),
    );
    assert!(verified.contains("5 entries, chained intact"), "{verified}");

    // Run again: everything is in today's shape, and nothing is rewritten or recorded.
    let before = payloads(&db).await;
    let again = succeeded(&migrate(&db, 500).output().unwrap());
    assert!(
        again.contains(&format!("0 of {} events rewritten", FILLERS + 19)),
        "{again}"
    );
    assert!(
        again.contains("renamed 0 cases and member records"),
        "{again}"
    );
    assert_eq!(payloads(&db).await, before);
    let entries_now: i64 = sqlx::query_scalar("SELECT count(*) FROM access_audit")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(entries_now, 5);
}

#[tokio::test]
async fn privacy_migrate_renames_nothing_over_an_access_audit_that_does_not_verify() {
    let db = TestDatabase::create("privacy_migrate_broken_audit").await;
    let owner = db.owner_pool().await;
    let r77 = report("R-77");
    let c1 = old::case_id(&r77, PURGED).to_string();
    store(
        &owner,
        CASE,
        &c1,
        1,
        &case_opened(&c1, "R-77", Value::Null, Value::Null),
    )
    .await;
    for _ in 0..2 {
        sqlx::query(
            "INSERT INTO access_audit (subject, reader_roles, endpoint, case_id)
             VALUES ('director|1', '{director}', 'GET /v1/cases/{case_id}', $1::uuid)",
        )
        .bind(&c1)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    // Someone with the owner's rights alters the first entry.
    for statement in [
        "ALTER TABLE access_audit DISABLE TRIGGER access_audit_no_change",
        "UPDATE access_audit SET subject = 'someone else' WHERE entry_id = 1",
        "ALTER TABLE access_audit ENABLE TRIGGER access_audit_no_change",
    ] {
        sqlx::query(statement).execute(&owner).await.unwrap();
    }

    let output = migrate(&db, 50).output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        said.contains("the access audit does not verify (entry 1:"),
        "{said}"
    );
    assert_eq!(old_ids_left(&db).await, 1, "nothing is renamed");
    let subject: String = sqlx::query_scalar("SELECT subject FROM access_audit WHERE entry_id = 1")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(subject, "someone else", "the break is left for all to see");
}
