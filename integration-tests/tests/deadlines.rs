//! The deadline watch notices, once per case, that first contact is past due and was never
//! attempted, however many instances of the service are watching.

use std::time::{Duration, Instant};

use integration_tests::reports::{incident, staff};
use integration_tests::{case_id_of, eventually, metric_value, TestBed};
use outreach_domain::deadline::Allowance;
use outreach_intake::sample::Mode;
use peer_outreach::Service;
use serde_json::json;
use sqlx::PgPool;

/// How many `FirstContactDeadlinePassed` events the event store holds, per case id.
async fn passed_events(db: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT aggregate_id, count(*) FROM events
          WHERE event_type = 'FirstContactDeadlinePassed'
          GROUP BY aggregate_id ORDER BY aggregate_id",
    )
    .fetch_all(db)
    .await
    .expect("the event store can be read")
}

async fn passed_event_count(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'FirstContactDeadlinePassed'",
    )
    .fetch_one(db)
    .await
    .expect("the event store can be read")
}

/// Staff id and `deadline_passed_at` (as text) of every case in the read model.
async fn read_model(db: &PgPool) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT staff_id, deadline_passed_at::text FROM outreach_cases ORDER BY staff_id",
    )
    .fetch_all(db)
    .await
    .expect("the read model can be read")
}

#[tokio::test]
async fn deadlines_passed_are_noticed_once_and_shown_in_the_read_model() {
    let bed = TestBed::with(|s| {
        s.policy.deadlines.first_contact = Allowance::Minutes(0);
        s.deadline_watch.watch_interval_ms = 100;
    })
    .await;
    let service = bed.start().await;
    let db = bed.db().await;
    bed.publish(
        &incident("INC-700", vec![staff("W1", "nurse")]),
        Mode::Structured,
    )
    .await;

    let rows = eventually(
        "the read model to show the passed deadline",
        || read_model(&db),
        |rows| rows.len() == 1 && rows[0].1.is_some(),
    )
    .await;
    assert_eq!(rows[0].0, "W1");

    // Many more ticks: the case is not noticed again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(passed_event_count(&db).await, 1);
    let (source,): (String,) = sqlx::query_as(
        "SELECT metadata->>'source' FROM events WHERE event_type = 'FirstContactDeadlinePassed'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(source, "deadline-watch");
    // Operators see it counted once.
    let metrics = bed.metrics(&service).await;
    assert_eq!(
        metric_value(&metrics, "peer_outreach_deadlines_passed_total", &[]),
        Some(1.0),
        "{metrics}"
    );
    service.stop().await;
}

#[tokio::test]
async fn deadlines_are_noticed_once_per_case_by_two_instances_on_one_database() {
    let bed = TestBed::with(|s| {
        s.policy.deadlines.first_contact = Allowance::Minutes(0);
        s.deadline_watch.watch_interval_ms = 100;
    })
    .await;
    let first = bed.start().await;
    let second = Service::start(&bed.settings)
        .await
        .expect("a second instance starts on the same database");
    assert_ne!(first.addr, second.addr);
    let db = bed.db().await;
    bed.publish(
        &incident(
            "INC-701",
            (1..=5).map(|n| staff(&format!("T{n}"), "nurse")).collect(),
        ),
        Mode::Structured,
    )
    .await;

    eventually(
        "all five deadlines noticed in the read model",
        || read_model(&db),
        |rows| rows.len() == 5 && rows.iter().all(|(_, passed)| passed.is_some()),
    )
    .await;
    // Several more ticks of both watches.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = passed_events(&db).await;
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(events.iter().all(|(_, n)| *n == 1), "{events:?}");
    // Both instances share this process's meter: five noticed between them.
    let metrics = bed.metrics(&first).await;
    assert_eq!(
        metric_value(&metrics, "peer_outreach_deadlines_passed_total", &[]),
        Some(5.0),
        "{metrics}"
    );
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn deadlines_never_pass_for_a_case_contacted_in_time() {
    // The shortest allowance that still leaves time to act: one minute.
    let bed = TestBed::with(|s| {
        s.policy.deadlines.first_contact = Allowance::Minutes(1);
        s.deadline_watch.watch_interval_ms = 100;
    })
    .await;
    let service = bed.start().await;
    bed.put_on_roster(&service, "S1").await;
    let db = bed.db().await;
    bed.publish(
        &incident("INC-702", vec![staff("C1", "nurse"), staff("U1", "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "two cases", |cases| cases.len() == 2)
        .await;
    let contacted = case_id_of(&cases, "C1");
    let (status, assigned) = bed
        .post(
            &service,
            &format!("/v1/cases/{contacted}/assignment"),
            json!({"supporter_id": "S1"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{assigned}");
    let (status, attempted) = bed
        .post(
            &service,
            &format!("/v1/cases/{contacted}/contact-attempts"),
            json!({"channel": "email", "outcome": "message_left"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{attempted}");
    let (before_deadline,): (bool,) = sqlx::query_as(
        "SELECT now() < first_contact_due FROM outreach_cases WHERE case_id = $1::uuid",
    )
    .bind(&contacted)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(
        before_deadline,
        "the attempt was meant to come before the deadline"
    );

    // The untouched case shows the watch has run past the deadline...
    let started = Instant::now();
    while passed_event_count(&db).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the untouched case's deadline was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and a few ticks later the contacted case still has no such event.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let events = passed_events(&db).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_ne!(events[0].0, contacted, "{events:?}");
    let rows = read_model(&db).await;
    assert_eq!(rows[0], ("C1".to_string(), None), "{rows:?}");
    service.stop().await;
}

#[tokio::test]
async fn deadlines_wait_while_another_instance_holds_the_sweep_lock() {
    // The documented key (ASCII "peerdlw1"); pinned here because instances of two releases
    // running side by side must agree on it.
    const LOCK_KEY: i64 = 8098991046881212209;
    let bed = TestBed::with(|s| {
        s.policy.deadlines.first_contact = Allowance::Minutes(0);
        s.deadline_watch.watch_interval_ms = 100;
    })
    .await;
    let service = bed.start().await;
    let db = bed.db().await;
    // "Another instance" sweeping: it holds the lock on a session of its own (waiting, if need
    // be, for this instance's current sweep to let go of it).
    let mut other = db.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *other)
        .await
        .unwrap();
    bed.publish(
        &incident("INC-703", vec![staff("L1", "nurse")]),
        Mode::Structured,
    )
    .await;
    eventually(
        "the case in the read model",
        || read_model(&db),
        |rows| rows.len() == 1,
    )
    .await;
    // Many ticks, each skipped.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(passed_event_count(&db).await, 0);

    let unlocked: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *other)
        .await
        .unwrap();
    assert!(unlocked);
    eventually(
        "the deadline noticed once the lock is free",
        || passed_event_count(&db),
        |count| *count == 1,
    )
    .await;
    service.stop().await;
}
