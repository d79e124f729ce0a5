//! The contract: schemathesis (installed by `scripts/test`) drives every operation of the
//! OpenAPI document against the router served on a real port over a database of its own, with
//! every check it has, and must find nothing. A documented 422 for a rule of the program is a
//! valid answer (it is in the document); anything undocumented, a 5xx, a wrong content type or
//! a body off its schema is a finding.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestApp;
use outreach_auth::Role;

/// schemathesis's own budget for the whole run; the test waits a little longer.
const MAX_SECONDS: u64 = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_against_the_openapi_document() {
    let app = TestApp::spawn().await;
    // Something to find: cases in the read model for the links from the case list to lead to.
    for _ in 0..3 {
        app.open_case().await;
    }
    app.project(std::sync::Arc::new(
        outreach_projections::OutreachProjection,
    ))
    .await;
    app.project_matching().await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let token = app.token(Role::Director, Some("E90001"));

    let installed = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        installed,
        "schemathesis is not installed: scripts/test installs it"
    );
    let report = std::env::temp_dir().join(format!("schemathesis-{}.txt", uuid::Uuid::new_v4()));
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    // `st`, as `python3 -m`: found wherever pip put it, with no script on the PATH needed.
    let mut st = Command::new("python3")
        // Its own folder for what it keeps (`.schemathesis/`), away from the source tree.
        .current_dir(std::env::temp_dir())
        .args([
            "-m",
            "schemathesis.cli",
            "--no-color",
            "--config-file",
            config,
            "run",
            &format!("http://{addr}/openapi.json"),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "all",
            "--max-examples",
            "30",
            "--max-time",
            &MAX_SECONDS.to_string(),
            "--seed",
            "1",
            // One worker: Python 3.11's parser, which hypothesis calls to describe its
            // strategies, is not safe to call from two threads at once.
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--suppress-health-check",
            "all",
        ])
        .stdout(std::fs::File::create(&report).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs (scripts/test installs schemathesis for it)");
    // Bounded: schemathesis keeps to its budget; a hang past it is killed and fails the test.
    let deadline = Instant::now() + Duration::from_secs(MAX_SECONDS + 60);
    let status = loop {
        if let Some(status) = st.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = st.kill();
            let _ = st.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let out = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    println!("{out}");
    let status = status.expect("schemathesis ends within its time budget");
    let summary = out
        .lines()
        .rev()
        .find(|line| {
            line.contains(" passed") || line.contains(" failed") || line.contains(" error")
        })
        .unwrap_or_default()
        .to_owned();
    println!("summary: {summary}");
    assert!(status.success(), "schemathesis found something: {summary}");
}
