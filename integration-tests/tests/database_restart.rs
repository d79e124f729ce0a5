//! PostgreSQL stopped as a crash would stop it, in the middle of a stream, and started again:
//! nothing is lost, nothing is applied twice, and the service carries on by itself. The
//! database server is a cluster of the test's own (initdb on a free port, run as the `postgres`
//! user), so the restart disturbs no other test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::reports::incidents;
use integration_tests::TestBed;
use outreach_intake::sample::Mode;
use outreach_test_support::free_port;

/// PostgreSQL's server programs, from Debian's packaging.
fn server_program(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server programs are installed")
        .filter_map(|entry| Some(entry.ok()?.path().join("bin").join(name)))
        .filter(|path| path.exists())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("{name} is not installed"))
}

/// Runs a server program as `postgres`: PostgreSQL refuses to run as root.
fn as_postgres(program: &str, args: &[&str]) {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(server_program(program))
        .args(args)
        .output()
        .expect("runuser runs");
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A PostgreSQL cluster of this test's own; stopped and removed when dropped.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    fn create() -> Cluster {
        let dir = std::env::temp_dir().join(format!("peer-outreach-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown the cluster's folder");
        let data = dir.join("data");
        as_postgres(
            "initdb",
            &[
                "-D",
                path(&data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let cluster = Cluster {
            dir,
            port: free_port(),
        };
        cluster.start();
        cluster
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            path(&self.dir)
        );
        let log = self.dir.join("server.log");
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                path(&self.dir.join("data")),
                "-o",
                &options,
                "-l",
                path(&log),
                "-w",
                "start",
            ],
        );
    }

    /// As a crash would: immediate shutdown (no checkpoint, clients cut off), then started
    /// again, recovering from its write-ahead log.
    fn restart_after(&self, down: Duration) {
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                path(&self.dir.join("data")),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        std::thread::sleep(down);
        self.start();
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(server_program("pg_ctl"))
            .args([
                "-D",
                path(&self.dir.join("data")),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[tokio::test]
async fn a_database_restart_mid_stream_loses_nothing_and_the_service_carries_on_by_itself() {
    let cluster = Cluster::create();
    // Two roles on this server too: it migrates as its superuser, runs as the runtime role.
    outreach_test_support::ensure_runtime_role_on(&cluster.url("postgres")).await;
    let bed = TestBed::with(|settings| {
        settings.database.url =
            outreach_test_support::runtime_url_on(&cluster.url(""), "peer_outreach");
        settings.database.migration_url = Some(cluster.url("peer_outreach"));
        settings.kafka.partitions = 2;
    })
    .await;
    let (before, first) = incidents("D", 0..30);
    let (after, second) = incidents("D", 30..60);
    let expected = first + second;
    for report in &before {
        bed.publish(report, Mode::Structured).await;
    }
    let service = bed.start().await;
    bed.wait_for_case_count(5).await;

    cluster.restart_after(Duration::from_secs(2));
    for report in &after {
        bed.publish(report, Mode::Binary).await;
    }

    bed.expect_every_case_once(expected, "the database restarted", Duration::from_secs(90))
        .await;
    service.stop().await;
}
