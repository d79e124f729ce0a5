//! The broker killed in the middle of a stream and started again: nothing is lost, nothing is
//! applied twice, and the service's consumer resumes by itself. The broker is a tansu of the
//! test's own (on a free port, SQLite storage in a temporary folder), so the restart disturbs
//! no other test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::reports::incidents;
use integration_tests::TestBed;
use outreach_intake::sample::Mode;
use outreach_test_support::free_port;

/// The tansu binary: on the PATH, or where `cargo install` puts it.
fn tansu() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"))
        .find(|path| path.exists());
    let installed = std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo/bin/tansu"));
    on_path
        .or(installed.filter(|path| path.exists()))
        .expect("tansu is installed (scripts/test installs it)")
}

/// A tansu broker of this test's own; killed when dropped.
struct Broker {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Broker {
    fn start(dir: &Path, port: u16) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("broker.log"))
            .unwrap();
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            // Relative to the working directory, as tansu reads it.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        let broker = Broker {
            child,
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// As a crash would: SIGKILL, then started again on the same storage.
    fn restart_after(mut self, down: Duration) -> Broker {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        Broker::start(&self.dir.clone(), self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_broker_restart_mid_stream_loses_nothing_and_the_consumer_resumes_by_itself() {
    let dir = std::env::temp_dir().join(format!("peer-outreach-broker-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let broker = Broker::start(&dir, port);
    let bed = TestBed::with(|settings| {
        settings.kafka.brokers = format!("127.0.0.1:{port}");
        settings.kafka.partitions = 2;
    })
    .await;
    let (before, first) = incidents("B", 0..30);
    let (after, second) = incidents("B", 30..60);
    let expected = first + second;
    for report in &before {
        bed.publish(report, Mode::Structured).await;
    }
    let service = bed.start().await;
    bed.wait_for_case_count(5).await;

    let broker = broker.restart_after(Duration::from_secs(2));
    for report in &after {
        bed.publish(report, Mode::Binary).await;
    }

    // The consumer rejoins its group once the broker is back; on tansu, whose group state
    // restarts with it, that took from 10 s to over 90 s on a loaded 2-core machine.
    bed.expect_every_case_once(expected, "the broker restarted", Duration::from_secs(240))
        .await;
    service.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
