//! The runner against a real database: batches, commit order, hidden events, rebuilds.

use outreach_events::MemberContact;
use serde_json::json;
use sqlx::Connection;
use uuid::Uuid;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::follow::{names_any, EVENTS_CHANNEL};
use super::position::{first_beyond, FirstBeyond, Position};
use super::*;
use crate::testing::{a_bit_of_everything, ada, case_opened, every_read_model, TestDb};
use crate::{CaseTimeline, DirectorNotices, OutreachProjection, Setup};

fn runners(db: &TestDb, batch_size: i64) -> Vec<ProjectionRunner> {
    crate::all(&Setup::default())
        .into_iter()
        .map(|projection| {
            let settings = RunnerSettings {
                batch_size,
                rebuild_batch_size: batch_size,
                poll_interval: Duration::from_millis(10),
                ..Default::default()
            };
            ProjectionRunner::new(db.db.pool.clone(), projection, settings)
        })
        .collect()
}

/// Folding many events in memory and writing them at once gives the rows that applying
/// them one at a time gives: several events of one case, a case opened and closed, a purge
/// between a member's cases, events no projection reads, all in one batch.
#[tokio::test]
async fn a_batch_of_many_events_gives_the_rows_that_one_event_batches_give() {
    let db = TestDb::new().await;
    a_bit_of_everything(&db).await;
    for runner in runners(&db, 1) {
        runner.catch_up().await.unwrap();
    }
    let one_by_one = every_read_model(&db).await;
    // The batch had things to do: the worked case, the purged one, the one after the purge.
    let cases = one_by_one["outreach_cases"].as_array().unwrap();
    let case = |n: u128| {
        let id = json!(Uuid::from_u128(n));
        cases.iter().find(|c| c["case_id"] == id).unwrap().clone()
    };
    let names: Vec<_> = (1..=3).map(|n| case(n)["given_name"].clone()).collect();
    assert_eq!(names, [json!("Ada"), json!(null), json!("Bea")]);
    assert_eq!(case(1)["status"], "closed");
    assert_eq!(case(1)["contact_attempts"], 2);
    let kinds: Vec<_> = one_by_one["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["kind"].clone(), row["topic_key"].clone()))
        .collect();
    let worked = json!(Uuid::from_u128(1));
    for kind in [
        "assignment",
        "assignment-email",
        "escalation",
        "feedback-invitation",
    ] {
        assert!(
            kinds.contains(&(json!(kind), worked.clone())),
            "{kind}: {kinds:?}"
        );
    }
    assert_eq!(
        kinds.len(),
        4,
        "the purged case's notices are gone: {kinds:?}"
    );
    assert_eq!(
        one_by_one["matching_report_staff"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(one_by_one["matching_preferences"], json!([]));
    assert_eq!(one_by_one["roster_caseload"], json!([]));
    assert_eq!(
        one_by_one["statistics_first_contact"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        one_by_one["group_debrief_proposals"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The reactions' reset keeps what may have been sent; start them from nothing too
    // (as the owner: the service never deletes outbox rows it has not published).
    sqlx::query("DELETE FROM outbox")
        .execute(&db.db.owner_pool().await)
        .await
        .unwrap();
    for runner in runners(&db, 1000) {
        runner.rebuild(|_, _| {}).await.unwrap();
    }

    assert_eq!(every_read_model(&db).await, one_by_one);
}

/// Nothing is half-applied: the batch's good events are rolled back with the bad one, and
/// the checkpoint stays where it was.
#[tokio::test]
async fn an_unreadable_event_fails_its_whole_batch() {
    let db = TestDb::new().await;
    let case = Uuid::from_u128(1);
    let opened = serde_json::to_value(case_opened(case, ada())).unwrap();
    let closed = json!({"CaseClosed": {"reason": "vanished"}});
    // In one transaction, as postgres-es stores a command's events: appended one by one, the
    // second could stay hidden behind another test's transaction while the first is visible,
    // and a batch of one good event is no test of a batch that fails.
    db.append_together(&[
        ("OutreachCase", case, 1, "CaseOpened", opened),
        ("OutreachCase", case, 2, "CaseClosed", closed),
    ])
    .await;
    let runner = ProjectionRunner::new(
        db.db.pool.clone(),
        Arc::new(OutreachProjection),
        RunnerSettings::default(),
    );

    // Other transactions of the cluster may keep the events hidden for a moment.
    let error = loop {
        match runner.catch_up_batch().await {
            Ok(0) => tokio::time::sleep(Duration::from_millis(10)).await,
            Ok(applied) => panic!("applied {applied} events"),
            Err(error) => break error,
        }
    };

    assert!(
        matches!(error, ProjectionError::UnreadableEvent { .. }),
        "{error}"
    );
    assert!(!error.to_string().contains("vanished"), "{error}");
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM outreach_cases")
        .fetch_one(&db.db.pool)
        .await
        .unwrap();
    assert_eq!(cases, 0);
    assert_eq!(runner.lag().await.unwrap(), 2);
}

/// Events a projection does not read are never handed to it, and the checkpoint moves over
/// them all the same.
#[tokio::test]
async fn the_checkpoint_moves_over_events_the_projection_does_not_read() {
    let db = TestDb::new().await;
    a_bit_of_everything(&db).await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.db.pool)
        .await
        .unwrap();
    let runner = ProjectionRunner::new(
        db.db.pool.clone(),
        Arc::new(DirectorNotices),
        RunnerSettings::default(),
    );

    assert_eq!(runner.catch_up().await.unwrap() as i64, total);

    assert_eq!(runner.lag().await.unwrap(), 0);
    assert_eq!(db.outbox().await.len(), 1, "the one escalation");
}

/// Transaction ids are numbers: 10 follows 9, though "10" sorts before "9" as text. (A
/// batch sorted as text once moved the checkpoint back past 99,999 -> 100,000.)
#[tokio::test]
async fn events_are_applied_in_commit_order_across_a_change_in_the_number_of_digits() {
    let db = TestDb::new().await;
    let contact = MemberContact {
        given_name: "Ada".into(),
        family_name: "Lovelace".into(),
        email: None,
        phone: None,
        mobile: None,
        preferred_channel: None,
    };
    for (transaction_id, case) in [("9", 1u128), ("10", 2)] {
        let case_id = Uuid::from_u128(case);
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata, transaction_id)
             VALUES ('OutreachCase', $1, 1, 'CaseOpened', '1', $2, '{}', $3::text::xid8)",
        )
        .bind(case_id.to_string())
        .bind(serde_json::to_value(case_opened(case_id, contact.clone())).unwrap())
        .bind(transaction_id)
        .execute(&db.db.pool)
        .await
        .unwrap();
    }
    // One event per batch: each batch must take the next in commit order.
    let runner = ProjectionRunner::new(
        db.db.pool.clone(),
        Arc::new(OutreachProjection),
        RunnerSettings {
            batch_size: 1,
            ..Default::default()
        },
    );

    let applied = [
        runner.catch_up_batch().await.unwrap(),
        runner.catch_up_batch().await.unwrap(),
        runner.catch_up_batch().await.unwrap(),
    ];

    assert_eq!(applied, [1, 1, 0]);
    let opened: Vec<Uuid> =
        sqlx::query_scalar("SELECT case_id FROM outreach_cases ORDER BY case_id")
            .fetch_all(&db.db.pool)
            .await
            .unwrap();
    assert_eq!(opened, [Uuid::from_u128(1), Uuid::from_u128(2)]);
}

/// What a runner waits for after a batch short of full: the next event of a type it
/// reads, in commit order, whatever the number of digits of its transaction id.
#[tokio::test]
async fn the_next_event_a_runner_reads_is_found_in_commit_order_across_a_change_in_digits() {
    let db = TestDb::new().await;
    for (case, transaction_id, event_type) in [
        (1u128, "99990", "NotReadByOutreach"),
        (2, "99999", "CaseOpened"),
        (3, "100000", "CaseOpened"),
    ] {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata, transaction_id)
             VALUES ('OutreachCase', $1, 1, $2, '1', '{}', '{}', $3::text::xid8)",
        )
        .bind(Uuid::from_u128(case).to_string())
        .bind(event_type)
        .bind(transaction_id)
        .execute(&db.db.pool)
        .await
        .unwrap();
    }
    let start = Position::new("99989", 0);

    let read = first_beyond(&db.db.pool, &start, OutreachProjection.reads().event_types);
    let not_read = first_beyond(&db.db.pool, &start, &["NotReadByOutreach"]);

    let named = |first: Option<FirstBeyond>| first.map(|first| first.transaction_id);
    assert_eq!(named(read.await.unwrap()).as_deref(), Some("99999"));
    assert_eq!(named(not_read.await.unwrap()).as_deref(), Some("99990"));
}

async fn open_cases(db: &TestDb, cases: u128) {
    for n in 1..=cases {
        let id = Uuid::from_u128(n);
        let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
        db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
    }
}

async fn cases_in_read_model(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outreach_cases")
        .fetch_one(&db.db.pool)
        .await
        .unwrap()
}

/// Two runners of one projection at once (two instances in the moment before one stands
/// down) share its events between them: each is applied once. A batch applied twice would
/// insert a case twice and fail.
#[tokio::test]
async fn two_runners_of_one_projection_apply_each_event_once() {
    let db = TestDb::new().await;
    open_cases(&db, 40).await;
    let runner = || {
        let settings = RunnerSettings {
            batch_size: 3,
            ..Default::default()
        };
        ProjectionRunner::new(db.db.pool.clone(), Arc::new(OutreachProjection), settings)
    };
    let (one, other) = (runner(), runner());

    let (a, b) = tokio::join!(one.catch_up(), other.catch_up());

    assert_eq!(a.unwrap() + b.unwrap(), 40);
    assert_eq!(cases_in_read_model(&db).await, 40);
}

/// A rebuild reads its next batch ahead while it writes one; a runner of the same
/// projection running beside it (a service left running) takes batches meanwhile. Each
/// event is still applied once: the rebuild reads again from wherever the other left the
/// checkpoint.
#[tokio::test]
async fn a_rebuild_beside_a_running_runner_of_the_projection_applies_each_event_once() {
    let db = TestDb::new().await;
    open_cases(&db, 60).await;
    let runner = || {
        let settings = RunnerSettings {
            batch_size: 3,
            rebuild_batch_size: 3,
            ..Default::default()
        };
        ProjectionRunner::new(db.db.pool.clone(), Arc::new(OutreachProjection), settings)
    };
    let (rebuilding, following) = (runner(), runner());
    following.catch_up().await.unwrap();
    let reset = tokio::sync::Notify::new();

    // The other runner starts once the rebuild has reset the read model.
    let (rebuilt, followed) = tokio::join!(
        rebuilding.rebuild(|applied, _| {
            if applied == 0 {
                reset.notify_one();
            }
        }),
        async {
            reset.notified().await;
            following.catch_up().await
        }
    );

    assert_eq!(rebuilt.unwrap() + followed.unwrap(), 60);
    assert_eq!(cases_in_read_model(&db).await, 60);
    assert_eq!(rebuilding.lag().await.unwrap(), 0);
}

/// Two running runners of one projection (two instances in the moment before one stands
/// down), each woken by every append: each one's idea of where the checkpoint stands goes
/// stale as the other moves it, and still every case reaches the read model by the
/// notifications alone (the poll is a minute), once.
#[tokio::test]
async fn two_running_runners_of_one_projection_follow_appends_between_them() {
    let db = TestDb::new().await;
    let (shutdown, one) = run_outreach_polling_each_minute(&db);
    let (other_shutdown, other) = run_outreach_polling_each_minute(&db);
    tokio::time::sleep(Duration::from_millis(200)).await;

    for n in 1..=20u128 {
        let id = Uuid::from_u128(n);
        let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
        db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    assert_eq!(cases_within_seconds(&db, 20).await, 20);
    let last: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&db.db.pool)
        .await
        .unwrap();
    assert_eq!(checkpoint_of(&db, "outreach").await, last);
    shutdown.cancel();
    other_shutdown.cancel();
    one.await.unwrap();
    other.await.unwrap();
}

/// A read model nobody watches by the millisecond (here the case timeline), following a
/// stream whose next append is always there already when a batch ends, still takes one
/// batch per gather, not one per append: at 200 reports/s such runners had kept pace with
/// intake's every commit, on a machine short of CPU. Batches are counted by a trigger on
/// the checkpoint, which each batch moves once.
#[tokio::test]
async fn a_runner_of_an_unwatched_read_model_takes_a_batch_per_gather_under_a_steady_stream() {
    let db = TestDb::new().await;
    sqlx::raw_sql(
        "CREATE TABLE timeline_batches (n bigint NOT NULL);
         INSERT INTO timeline_batches VALUES (0);
         CREATE FUNCTION count_timeline_batch() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF NEW.projection = 'case-timeline' THEN UPDATE timeline_batches SET n = n + 1; END IF;
             RETURN NEW;
           END $$;
         CREATE TRIGGER count_timeline_batch AFTER UPDATE ON projection_checkpoints
           FOR EACH ROW EXECUTE FUNCTION count_timeline_batch();
         GRANT SELECT, UPDATE ON timeline_batches TO peer_outreach_test_runtime;",
    )
    // The test's own table and trigger: the owner's to make, the runner's role's to use.
    .execute(&db.db.owner_pool().await)
    .await
    .unwrap();
    let gather = Duration::from_millis(250);
    let settings = RunnerSettings {
        batch_size: 100_000,
        poll_interval: Duration::from_secs(60),
        gather,
        ..Default::default()
    };
    let runner = ProjectionRunner::new(db.db.pool.clone(), Arc::new(CaseTimeline), settings);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(shutdown.child_token()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let batches_before: i64 = sqlx::query_scalar("SELECT n FROM timeline_batches")
        .fetch_one(&db.db.pool)
        .await
        .unwrap();

    // Appends back to back for a second: whenever a batch ends, the next one is there.
    let streaming = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let mut appended = 0;
    while started.elapsed() < streaming {
        appended += 1;
        let id = Uuid::from_u128(appended);
        let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
        db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
    }
    let last: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&db.db.pool)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while checkpoint_of(&db, "case-timeline").await < last {
        assert!(
            std::time::Instant::now() < deadline,
            "the timeline caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let batches: i64 = sqlx::query_scalar("SELECT n FROM timeline_batches")
        .fetch_one(&db.db.pool)
        .await
        .unwrap();
    let batches = batches - batches_before;

    // A second of appends, one batch per 250 ms gather and one for what came last. The
    // bound holds however slow the machine: a slower one only makes fewer batches.
    let at_most = (streaming.as_millis() / gather.as_millis()) as i64 + 2;
    assert!(
        (1..=at_most).contains(&batches),
        "{batches} batches for {appended} appends over {streaming:?}, at most {at_most}"
    );
    shutdown.cancel();
    running.await.unwrap();
}

/// A command's events hidden behind a transaction that began before they committed reach
/// the read model soon after that transaction ends: the runner looks again within
/// milliseconds instead of waiting for the next append or poll (a minute here).
#[tokio::test]
async fn events_hidden_behind_an_older_transaction_are_applied_soon_after_it_ends() {
    let db = TestDb::new().await;
    let (shutdown, running) = run_outreach_polling_each_minute(&db);
    let mut older = open_transaction_with_an_id(&db).await;

    open_cases(&db, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cases_in_read_model(&db).await,
        0,
        "hidden while the older transaction runs"
    );
    sqlx::query("COMMIT").execute(&mut older).await.unwrap();

    assert_eq!(
        cases_within_seconds(&db, 1).await,
        1,
        "applied long before the poll"
    );
    shutdown.cancel();
    running.await.unwrap();
}

/// The outreach projection's runner, running, with a poll of a minute: whatever it applies
/// within a test's seconds, a notification or its hidden-event watch brought.
fn run_outreach_polling_each_minute(
    db: &TestDb,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let settings = RunnerSettings {
        poll_interval: Duration::from_secs(60),
        ..Default::default()
    };
    let runner = ProjectionRunner::new(db.db.pool.clone(), Arc::new(OutreachProjection), settings);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(runner.run(shutdown.child_token()));
    (shutdown, running)
}

/// A transaction that has taken its id and stays open (until COMMIT on the connection):
/// events committed after it are hidden from every runner while it runs.
async fn open_transaction_with_an_id(db: &TestDb) -> sqlx::PgConnection {
    let mut older = sqlx::PgConnection::connect(&db.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut older).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut older)
        .await
        .unwrap();
    older
}

/// The cases in the read model once it holds `cases`, or after 10 s.
async fn cases_within_seconds(db: &TestDb, cases: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cases_in_read_model(db).await < cases && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cases_in_read_model(db).await
}

/// A batch's statements are planned for the batch's own keys, in a catch-up and in a
/// rebuild: a plan kept from when the read model was empty would scan it whole. The mode
/// each write ran under is recorded by a trigger on the outreach read model.
#[tokio::test]
async fn every_batch_is_planned_for_its_own_keys_in_a_catch_up_and_in_a_rebuild() {
    let db = TestDb::new().await;
    sqlx::raw_sql(
        "CREATE TABLE planned_under (mode text NOT NULL);
         CREATE FUNCTION record_plan_mode() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             INSERT INTO planned_under VALUES (current_setting('plan_cache_mode'));
             RETURN NULL;
           END $$;
         CREATE TRIGGER record_plan_mode AFTER INSERT ON outreach_cases
           FOR EACH STATEMENT EXECUTE FUNCTION record_plan_mode();
         GRANT SELECT, INSERT ON planned_under TO peer_outreach_test_runtime;",
    )
    // The test's own table and trigger: the owner's to make, the runner's role's to use.
    .execute(&db.db.owner_pool().await)
    .await
    .unwrap();
    for n in 1..=3 {
        let id = Uuid::from_u128(n);
        let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
        db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
    }
    let runner = || {
        let settings = RunnerSettings {
            batch_size: 1,
            rebuild_batch_size: 2,
            ..Default::default()
        };
        ProjectionRunner::new(db.db.pool.clone(), Arc::new(OutreachProjection), settings)
    };
    runner().catch_up().await.unwrap();
    runner().rebuild(|_, _| {}).await.unwrap();

    let modes: Vec<String> = sqlx::query_scalar("SELECT mode FROM planned_under")
        .fetch_all(&db.db.pool)
        .await
        .unwrap();
    assert_eq!(
        modes.len(),
        5,
        "three batches of one, then two of up to two"
    );
    assert!(
        modes.iter().all(|mode| mode == "force_custom_plan"),
        "{modes:?}"
    );
    let outside: String = sqlx::query_scalar("SELECT current_setting('plan_cache_mode')")
        .fetch_one(&db.db.pool)
        .await
        .unwrap();
    assert_eq!(outside, "auto", "the mode is the batch transaction's only");
}

async fn checkpoint_of(db: &TestDb, projection: &str) -> i64 {
    sqlx::query_scalar("SELECT global_position FROM projection_checkpoints WHERE projection = $1")
        .bind(projection)
        .fetch_optional(&db.db.pool)
        .await
        .unwrap()
        .unwrap_or(0)
}

/// Each append's notification names the types it appended, once each.
#[tokio::test]
async fn the_notification_of_an_append_names_the_types_appended() {
    let db = TestDb::new().await;
    let mut listener = PgListener::connect(&db.db.url).await.unwrap();
    listener.listen(EVENTS_CHANNEL).await.unwrap();

    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                             event_version, payload, metadata)
         VALUES ('OutreachCase', 'a', 1, 'CaseOpened', '1', '{}', '{}'),
                ('OutreachCase', 'b', 1, 'CaseOpened', '1', '{}', '{}'),
                ('OutreachCase', 'a', 2, 'SupporterAssigned', '1', '{}', '{}')",
    )
    .execute(&db.db.pool)
    .await
    .unwrap();

    let notification = listener.recv().await.unwrap();
    let mut named: Vec<&str> = notification.payload().split(',').collect();
    named.sort();
    assert_eq!(named, ["CaseOpened", "SupporterAssigned"]);
}

#[test]
fn a_notification_wakes_a_runner_whose_projection_reads_one_of_its_types() {
    let reads = ["CaseOpened", "CaseClosed"];
    assert!(names_any("ReportRecorded,CaseClosed", &reads));
    assert!(!names_any("ReportRecorded,MemberRegistered", &reads));
    assert!(!names_any("CaseOpenedLater", &reads), "whole names only");
    assert!(names_any("", &reads), "the old trigger named none: all");
}

/// Events of types the projection does not read wake nothing: its checkpoint stays until
/// an event it reads (or its poll, a minute here) comes, and then moves over both.
#[tokio::test]
async fn a_runner_sleeps_through_appends_its_projection_does_not_read() {
    let db = TestDb::new().await;
    let (shutdown, running) = run_outreach_polling_each_minute(&db);
    open_cases(&db, 1).await;
    assert_eq!(
        cases_within_seconds(&db, 1).await,
        1,
        "woken by a case opened"
    );
    let after_first = checkpoint_of(&db, "outreach").await;

    let other = db
        .append(
            "Roster",
            Uuid::from_u128(99),
            1,
            "NotReadByOutreach",
            json!({}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        checkpoint_of(&db, "outreach").await,
        after_first,
        "not woken by a type it does not read"
    );

    let id = Uuid::from_u128(2);
    let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
    let second = db.append("OutreachCase", id, 1, "CaseOpened", opened).await;
    assert_eq!(
        cases_within_seconds(&db, 2).await,
        2,
        "woken by the next case opened"
    );
    assert!(second.global_position > other.global_position);
    assert_eq!(checkpoint_of(&db, "outreach").await, second.global_position);
    shutdown.cancel();
    running.await.unwrap();
}

/// Events visible and events still hidden behind an older transaction, found by one
/// batch: the batch applies the visible ones, and the hidden ones follow soon after that
/// transaction ends, not at the next poll (a minute here), as their notification was
/// already spent when the batch ran.
#[tokio::test]
async fn events_hidden_behind_visible_ones_follow_soon_after_the_older_transaction_ends() {
    let db = TestDb::new().await;
    let insert = |n: u128| {
        let id = Uuid::from_u128(n);
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata)
             VALUES ('OutreachCase', $1, 1, 'CaseOpened', '1', $2, '{}')",
        )
        .bind(id.to_string())
        .bind(serde_json::to_value(case_opened(id, ada())).unwrap())
    };
    // The first case's transaction has the lowest id and commits first; the older
    // transaction takes the next id and stays open; the second case commits behind it.
    let mut first = sqlx::PgConnection::connect(&db.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut first).await.unwrap();
    insert(1).execute(&mut first).await.unwrap();
    let mut older = open_transaction_with_an_id(&db).await;
    sqlx::query("COMMIT").execute(&mut first).await.unwrap();
    insert(2).execute(&db.db.pool).await.unwrap();

    let (shutdown, running) = run_outreach_polling_each_minute(&db);
    assert_eq!(
        cases_within_seconds(&db, 1).await,
        1,
        "the visible case applied"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cases_in_read_model(&db).await, 1, "the second still hidden");

    sqlx::query("COMMIT").execute(&mut older).await.unwrap();
    assert_eq!(
        cases_within_seconds(&db, 2).await,
        2,
        "applied long before the poll"
    );
    shutdown.cancel();
    running.await.unwrap();
}
