//! Faults with real processes: the service binary killed with SIGKILL in the middle of a
//! backlog, then started again. Every expected case exists exactly once, and the read models
//! equal a fresh rebuild.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use integration_tests::reports::{incident, staff};
use integration_tests::{eventually, TestBed};
use outreach_intake::sample::Mode;
use outreach_projections::{ProjectionRunner, RunnerSettings};
use peer_outreach::settings::Settings;

/// The service binary, built beside the tests (`scripts/test` builds it first).
fn binary() -> PathBuf {
    let deps = std::env::current_exe().expect("the test knows where it runs from");
    let path = deps
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps")
        .join("peer-outreach");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p peer-outreach` first (scripts/test does)",
        path.display()
    );
    path
}

/// A running service process and the address it serves on; killed when dropped, so a failing
/// test leaves no process behind.
struct Process {
    child: Child,
    addr: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with the test bed's settings, as an operator would: by environment.
fn spawn(settings: &Settings) -> Process {
    let kafka = &settings.kafka;
    let auth = settings
        .auth
        .as_ref()
        .expect("the test bed trusts its issuer");
    let mut child = Command::new(binary())
        .arg("run")
        .env("PEER_OUTREACH__DATABASE__URL", &settings.database.url)
        .env(
            "PEER_OUTREACH__DATABASE__MIGRATION_URL",
            settings.database.migration_url(),
        )
        .env("PEER_OUTREACH__KAFKA__BROKERS", &kafka.brokers)
        .env(
            "PEER_OUTREACH__KAFKA__INCIDENTS_TOPIC",
            &kafka.incidents_topic,
        )
        .env(
            "PEER_OUTREACH__KAFKA__DEAD_LETTER_TOPIC",
            &kafka.dead_letter_topic,
        )
        .env("PEER_OUTREACH__KAFKA__GROUP_ID", &kafka.group_id)
        .env(
            "PEER_OUTREACH__KAFKA__GROUP_INSTANCE_ID",
            "the-only-instance",
        )
        .env(
            "PEER_OUTREACH__KAFKA__PARTITIONS",
            kafka.partitions.to_string(),
        )
        .env(
            "PEER_OUTREACH__NOTIFICATIONS__TOPIC",
            &settings.notifications.topic,
        )
        .env(
            "PEER_OUTREACH__NOTIFICATIONS__ASSIGNMENTS_TOPIC",
            &settings.notifications.assignments_topic,
        )
        .env(
            "PEER_OUTREACH__NOTIFICATIONS__STATISTICS_TOPIC",
            &settings.notifications.statistics_topic,
        )
        .env("PEER_OUTREACH__HTTP__LISTEN", "127.0.0.1:0")
        .env("PEER_OUTREACH__AUTH__ISSUER", &auth.issuer)
        .env("PEER_OUTREACH__AUTH__AUDIENCE", &auth.audience)
        .env(
            "PEER_OUTREACH__AUTH__JWKS_URI",
            auth.jwks_uri.as_deref().unwrap_or_default(),
        )
        .env("PEER_OUTREACH__AUTH__ALLOW_DEVELOPMENT_ISSUER", "true")
        .env(
            "PEER_OUTREACH__PRIVACY__KEY_ENCRYPTION_KEY",
            settings
                .privacy
                .key_encryption_key
                .as_deref()
                .expect("the test bed has a KEK"),
        )
        .env("PEER_OUTREACH__PROJECTIONS__POLL_INTERVAL_MS", "50")
        .env("PEER_OUTREACH__LOG__FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the service binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the service says where it serves before it exits")
            .expect("stdout reads");
        if let Some(url) = line.strip_prefix("peer-outreach is serving on http://") {
            break url.trim().to_string();
        }
    };
    // Keep reading, so the process never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Process { child, addr }
}

async fn cases_in_read_model(bed: &TestBed) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outreach_cases")
        .fetch_one(&bed.db().await)
        .await
        .unwrap()
}

/// Every row of a read model, in a stable order.
async fn snapshot(bed: &TestBed, table: &str, key: &str) -> Vec<String> {
    sqlx::query_scalar(&format!(
        "SELECT row_to_json(t)::text FROM {table} t ORDER BY {key}"
    ))
    .fetch_all(&bed.db().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_service_killed_with_sigkill_mid_backlog_and_restarted_opens_every_case_exactly_once() {
    let bed = TestBed::new().await;
    // A backlog of 120 reports naming 1 to 8 staff each: 540 cases.
    let mut expected = 0;
    for n in 0..120 {
        let size = 1 + n % 8;
        let named = (0..size)
            .map(|s| staff(&format!("K{n}-{s}"), "nurse"))
            .collect();
        bed.publish(&incident(&format!("INC-K{n}"), named), Mode::Structured)
            .await;
        expected += size as i64;
    }

    let mut first = spawn(&bed.settings);
    eventually(
        "the first process to be part-way through the backlog",
        || cases_in_read_model(&bed),
        |cases| *cases >= 20,
    )
    .await;
    // Child::kill is SIGKILL on Unix: no shutdown, no leaving the consumer group.
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("the killed process is reaped");
    let at_kill = cases_in_read_model(&bed).await;
    assert!(
        at_kill < expected,
        "the kill came after the backlog was done"
    );
    eprintln!("killed with {at_kill} of {expected} cases in the read model");

    // The broker may hold the dead member's partitions for the rebalance timeout
    // (kafka.max_poll_interval_ms, 20 s) before the new process gets them.
    let second = spawn(&bed.settings);
    let restarted = std::time::Instant::now();
    loop {
        let cases = cases_in_read_model(&bed).await;
        if cases == expected {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(90),
            "stuck at {cases} of {expected} cases after the restart"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("all cases {:?} after the restart", restarted.elapsed());
    let db = bed.db().await;
    let opened: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'CaseOpened'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(opened, expected, "each case opened exactly once");
    // The read models have caught up with everything stored.
    let setup = bed.settings.projection_setup();
    for name in ["outreach", "matching"] {
        let projection = outreach_projections::by_name(name, &setup).unwrap();
        let runner = ProjectionRunner::new(db.clone(), projection, RunnerSettings::default());
        eventually(
            "the read model to catch up",
            || async { runner.lag().await.unwrap() },
            |lag| *lag == 0,
        )
        .await;
    }
    assert!(!second.addr.is_empty());
    drop(second);

    // Each read model equals a rebuild from the event store.
    for (name, table, key) in [
        ("outreach", "outreach_cases", "case_id"),
        ("matching", "matching_cases", "case_id"),
    ] {
        let before = snapshot(&bed, table, key).await;
        let projection = outreach_projections::by_name(name, &setup).unwrap();
        let runner = ProjectionRunner::new(db.clone(), projection, RunnerSettings::default());
        runner.rebuild(|_, _| {}).await.unwrap();
        assert_eq!(snapshot(&bed, table, key).await, before, "{name}");
    }
}

/// How many projection leadership locks are held in the test's database, and by which sessions.
async fn projection_leaders(bed: &TestBed) -> (i64, Vec<i32>) {
    let names: Vec<String> = outreach_projections::all(&bed.settings.projection_setup())
        .iter()
        .map(|p| format!("peer-outreach projection {}", p.name()))
        .collect();
    let held: Vec<i32> = sqlx::query_scalar(
        "SELECT l.pid FROM pg_locks l
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND ((l.classid::bigint << 32) | l.objid::bigint)
                = ANY (SELECT hashtextextended(n, 0) FROM unnest($1::text[]) n)",
    )
    .bind(&names)
    .fetch_all(&bed.db().await)
    .await
    .unwrap();
    let mut sessions = held.clone();
    sessions.sort_unstable();
    sessions.dedup();
    (held.len() as i64, sessions)
}

#[tokio::test]
async fn two_instances_share_the_stream_through_rebalances_and_each_case_opens_once() {
    let bed = TestBed::with(|settings| settings.kafka.partitions = 4).await;
    let mut expected = 0;
    for n in 0..80 {
        let size = 1 + n % 5;
        let named = (0..size)
            .map(|s| staff(&format!("R{n}-{s}"), "nurse"))
            .collect();
        let mode = if n % 2 == 0 {
            Mode::Structured
        } else {
            Mode::Binary
        };
        bed.publish(&incident(&format!("INC-R{n}"), named), mode)
            .await;
        expected += size as i64;
    }

    // The first instance starts on the backlog; a second joins mid-stream (a rebalance), and
    // the first then stops (another): the second finishes alone.
    let first = bed.start().await;
    eventually(
        "the first instance to be part-way",
        || cases_in_read_model(&bed),
        |cases| *cases >= 10,
    )
    .await;
    let second = bed.start().await;
    eventually(
        "more cases with both instances in the group",
        || cases_in_read_model(&bed),
        |cases| *cases >= expected / 2,
    )
    .await;
    // Both instances compete for every projection; the first, there first, drives them all.
    let projections = outreach_projections::all(&bed.settings.projection_setup()).len() as i64;
    let (leads, leaders) = projection_leaders(&bed).await;
    assert_eq!(
        (leads, leaders.len()),
        (projections, 1),
        "one instance drives each projection"
    );
    first.stop().await;
    let taken_over = eventually(
        "the second instance to take the projections over",
        || projection_leaders(&bed),
        |(leads, _)| *leads == projections,
    )
    .await;
    assert_eq!(taken_over.1.len(), 1);
    assert_ne!(taken_over.1, leaders, "the second instance drives them now");
    bed.expect_every_case_once(
        expected,
        "the first instance stopped",
        Duration::from_secs(90),
    )
    .await;
    second.stop().await;
}
