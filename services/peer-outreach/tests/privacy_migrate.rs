//! `peer-outreach privacy migrate` on a store written in the shape of before issue 27: every
//! plain personal part ends sealed under its member's key (and opens to what it was), or null
//! for a member whose key a purge destroyed; a run killed half-way completes when run again,
//! and a run after that rewrites nothing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use outreach_privacy::{open_all, seal, DataKeys};
use outreach_test_support::TestDatabase;
use serde_json::{json, Value};

mod operator;
use operator::{operator, succeeded};

/// A member whose key lives, and one whose key a purge destroyed.
const LIVE: &str = "E7710001";
const PURGED: &str = "E7710002";
/// A member purged and named again since: a new key, the same record (ids were derived from
/// the staff id before issue 27).
const RENAMED: &str = "E7710003";
/// Fillers of the live member's record: enough one-event transactions that the run is still
/// going when it is killed (it blocks on its unread progress lines long before the end).
const FILLERS: i64 = 3000;

fn profile(staff_id: &str, role: &str, department: &str) -> Value {
    json!({"staff_id": staff_id, "role": role, "discipline": "nurse",
           "department": department, "seniority": null, "involvement": "primary"})
}

fn case_opened(case_id: &str, member: Value, personal: Value) -> Value {
    json!({"CaseOpened": {"facts": {
        "case_id": case_id, "report": {"source": "/datix/parnassus", "report_id": "R-77"},
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

#[tokio::test]
async fn privacy_migrate_seals_old_parts_or_forgets_them_and_completes_after_a_kill() {
    let db = TestDatabase::create("privacy_migrate").await;
    let owner = db.owner_pool().await;
    let mut conn = db.pool.acquire().await.unwrap();
    // Before issue 27 the contact part was sealed already, under the member's key.
    let live_key = DataKeys::on(&mut conn).live_key(LIVE).await.unwrap();
    let purged_key = DataKeys::on(&mut conn).live_key(PURGED).await.unwrap();
    let live_contact = json!({"given_name": "Mary", "family_name": "Seacole"});
    let live_preferences = json!({"channel": "email"});

    // The live member: a case opening, their record, a report naming both members.
    let live_case = case_opened(
        "c1",
        profile(LIVE, "Charge nurse Q7731", "Nephrology Q7731"),
        seal(&live_key, &live_contact).unwrap(),
    );
    let live_record = [
        json!({"CaseStarted": {"staff_id": LIVE, "case_id": "c1",
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
    let report = json!({"ReportRecorded": {"campus": "Parnassus", "members": [
        {"staff_id": LIVE, "case_id": "c1", "eligible": true},
        {"staff_id": PURGED, "case_id": "c2", "eligible": true}]}});
    let removed = json!({"StaffRemoved": {"staff_ids": [LIVE, PURGED]}});
    store(&owner, "OutreachCase", "c1", 1, &live_case).await;
    for (at, event) in live_record.iter().enumerate() {
        store(&owner, "CareTeamMember", "m-live", at as i64 + 1, event).await;
    }
    store(&owner, "Report", "r77", 1, &report).await;
    store(&owner, "Report", "r77", 2, &removed).await;
    // The purged member: their opening and record, the purge naming them, then the key gone.
    let purged_case = case_opened(
        "c2",
        profile(PURGED, "Pharmacist Q7732", "Oncology Q7732"),
        seal(
            &purged_key,
            &json!({"given_name": "Jo", "family_name": "March"}),
        )
        .unwrap(),
    );
    store(&owner, "OutreachCase", "c2", 1, &purged_case).await;
    store(
        &owner,
        "CareTeamMember",
        "m-purged",
        1,
        &json!({"CaseStarted": {"staff_id": PURGED, "case_id": "c2",
                                "started_at": "2026-11-02T10:00:00Z"}}),
    )
    .await;
    store(
        &owner,
        "CareTeamMember",
        "m-purged",
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
        "c3",
        profile(RENAMED, "Midwife Q7733", "Obstetrics Q7733"),
        // No contact given: only the case its record started before the purge tells.
        Value::Null,
    );
    store(&owner, "OutreachCase", "c3", 1, &first_life).await;
    let renamed_started = |case: &str| {
        json!({"CaseStarted": {"staff_id": RENAMED, "case_id": case,
                               "started_at": "2026-11-02T10:00:00Z"}})
    };
    store(
        &owner,
        "CareTeamMember",
        "m-renamed",
        1,
        &renamed_started("c3"),
    )
    .await;
    store(
        &owner,
        "CareTeamMember",
        "m-renamed",
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
        "c4",
        second_profile.clone(),
        seal(
            &second_key,
            &json!({"given_name": "Ida", "family_name": "Minerva"}),
        )
        .unwrap(),
    );
    store(&owner, "OutreachCase", "c4", 1, &second_life).await;
    let report_of = |event: &str, case: &str| {
        json!({event: {"campus": "Parnassus", "members": [
            {"staff_id": RENAMED, "case_id": case, "eligible": true}]}})
    };
    store(
        &owner,
        "Report",
        "r79",
        1,
        &report_of("ReportRecorded", "c3"),
    )
    .await;
    store(&owner, "Report", "r80", 1, &report_of("StaffAdded", "c4")).await;
    store(
        &owner,
        "CareTeamMember",
        "m-renamed",
        3,
        &renamed_started("c4"),
    )
    .await;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT 'CareTeamMember', 'filler-' || lpad(n::text, 5, '0'), 1, 'OptedOut', '1.0',
                json_build_object('OptedOut', json_build_object(
                    'staff_id', $1::text, 'opted_out_at', '2026-11-03T10:00:00Z')), '{}'
           FROM generate_series(1, $2) AS n",
    )
    .bind(LIVE)
    .bind(FILLERS)
    .execute(&owner)
    .await
    .unwrap();
    let keys_before: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();

    // One event a transaction, killed once the first batch is reported.
    let mut child = migrate(&db, 1).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("killed before it finished").unwrap();
        if line.starts_with("examined ") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let plain_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE strpos(payload::text, $1) > 0")
            .bind(LIVE)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(
        plain_left > 0 && plain_left < FILLERS + 8,
        "killed half-way, yet {plain_left} events name the member in the clear"
    );

    let said = succeeded(&migrate(&db, 50).output().unwrap());
    assert!(said.contains("no read model needs rebuilding"), "{said}");

    // Nothing of either member is left in the clear, and no key was made.
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

    // The live member's parts open to what they were, under their key.
    let mut opened = payload(&db, "OutreachCase", "c1", 1).await;
    let mut expected = live_case.clone();
    expected["CaseOpened"]["personal"] = live_contact.clone();
    let mut record = Vec::new();
    for sequence in 1..=live_record.len() as i64 {
        record.push(payload(&db, "CareTeamMember", "m-live", sequence).await);
    }
    let mut filler = payload(&db, "CareTeamMember", "filler-00042", 1).await;
    let mut report_now = payload(&db, "Report", "r77", 1).await;
    let mut removed_now = payload(&db, "Report", "r77", 2).await;
    let mut all: Vec<&mut Value> =
        vec![&mut opened, &mut filler, &mut report_now, &mut removed_now];
    all.extend(record.iter_mut());
    open_all(&mut conn, all).await.unwrap();
    assert_eq!(opened, expected);
    let mut expected_record = live_record.to_vec();
    expected_record[1]["PreferencesStated"]["personal"] = live_preferences;
    assert_eq!(record, expected_record);
    assert_eq!(filler["OptedOut"]["staff_id"], LIVE);
    // The report's live member opens; the purged one's staff id is gone.
    assert_eq!(
        report_now,
        json!({"ReportRecorded": {"campus": "Parnassus", "members": [
            {"staff_id": LIVE, "case_id": "c1", "eligible": true},
            {"staff_id": null, "case_id": "c2", "eligible": true}]}})
    );
    assert_eq!(
        removed_now,
        json!({"StaffRemoved": {"staff_ids": [LIVE, null]}})
    );

    // The purged member's parts are null, stored so: there is no key to seal them under.
    let purged_opening = payload(&db, "OutreachCase", "c2", 1).await;
    assert_eq!(purged_opening["CaseOpened"]["facts"]["member"], Value::Null);
    assert_eq!(purged_opening["CaseOpened"]["facts"]["campus"], "Parnassus");
    let started = payload(&db, "CareTeamMember", "m-purged", 1).await;
    assert_eq!(started["CaseStarted"]["staff_id"], Value::Null);
    assert_eq!(started["CaseStarted"]["case_id"], "c2");
    let purge = payload(&db, "CareTeamMember", "m-purged", 2).await;
    assert_eq!(purge["PersonalDataPurged"]["staff_id"], "");
    assert_eq!(
        purge["PersonalDataPurged"]["key_id"],
        json!(purged_key.key_id())
    );

    // The member named again: their first life is gone, their second opens.
    let first_opening = payload(&db, "OutreachCase", "c3", 1).await;
    assert_eq!(first_opening["CaseOpened"]["facts"]["member"], Value::Null);
    let first_start = payload(&db, "CareTeamMember", "m-renamed", 1).await;
    assert_eq!(first_start["CaseStarted"]["staff_id"], Value::Null);
    let first_purge = payload(&db, "CareTeamMember", "m-renamed", 2).await;
    assert_eq!(first_purge["PersonalDataPurged"]["staff_id"], "");
    let mut second_opening = payload(&db, "OutreachCase", "c4", 1).await;
    let mut second_start = payload(&db, "CareTeamMember", "m-renamed", 3).await;
    let first_report = payload(&db, "Report", "r79", 1).await;
    assert_eq!(
        first_report["ReportRecorded"]["members"][0]["staff_id"],
        Value::Null
    );
    let mut second_report = payload(&db, "Report", "r80", 1).await;
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
    assert_eq!(second_start, renamed_started("c4"));
    assert_eq!(second_report, report_of("StaffAdded", "c4"));

    // Run again: everything is in today's shape, and nothing is rewritten.
    let before = payloads(&db).await;
    let again = succeeded(&migrate(&db, 500).output().unwrap());
    assert!(
        again.contains(&format!("0 of {} events rewritten", FILLERS + 18)),
        "{again}"
    );
    assert_eq!(payloads(&db).await, before);
}
