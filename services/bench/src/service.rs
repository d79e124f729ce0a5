//! The real service as a child process, configured by environment as an operator would
//! (the pattern of `integration-tests/tests/faults.rs`), and its memory read from `/proc`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use outreach_auth::DevIssuer;
use outreach_intake::admin::TopicSpec;
use outreach_intake::sample::Publisher;

/// Everything a child needs to find its database, topics and identity provider.
#[derive(Clone)]
pub struct Environment {
    pub binary: PathBuf,
    pub database_url: String,
    pub brokers: String,
    pub id: String,
    pub partitions: i32,
    pub issuer_dir: PathBuf,
    pub issuer: outreach_auth::AuthSettings,
    /// The service's `kafka.fetch_wait_max_ms`, where the bench sets it; its default otherwise.
    pub fetch_wait_max_ms: Option<u64>,
}

impl Environment {
    pub fn incidents_topic(&self) -> String {
        format!("bench-incidents-{}", self.id)
    }

    pub fn new(
        binary: PathBuf,
        database_url: String,
        brokers: String,
        id: String,
        partitions: i32,
    ) -> anyhow::Result<(Self, DevIssuer)> {
        let issuer_dir = std::env::temp_dir().join(format!("peer-outreach-bench-issuer-{id}"));
        let dev = DevIssuer::generate()?;
        dev.save(&issuer_dir)?;
        let issuer = dev.settings(&issuer_dir);
        Ok((
            Environment {
                binary,
                database_url,
                brokers,
                id,
                partitions,
                issuer_dir,
                issuer,
                fetch_wait_max_ms: None,
            },
            dev,
        ))
    }

    fn command(&self, args: &[&str]) -> Command {
        let id = &self.id;
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("PEER_OUTREACH__DATABASE__URL", &self.database_url)
            .env("PEER_OUTREACH__KAFKA__BROKERS", &self.brokers)
            .env(
                "PEER_OUTREACH__KAFKA__INCIDENTS_TOPIC",
                self.incidents_topic(),
            )
            .env(
                "PEER_OUTREACH__KAFKA__DEAD_LETTER_TOPIC",
                format!("bench-incidents-{id}.dead-letter"),
            )
            .env(
                "PEER_OUTREACH__KAFKA__GROUP_ID",
                format!("peer-outreach-bench-{id}"),
            )
            .env(
                "PEER_OUTREACH__KAFKA__PARTITIONS",
                self.partitions.to_string(),
            )
            .env(
                "PEER_OUTREACH__NOTIFICATIONS__TOPIC",
                format!("bench-director-notices-{id}"),
            )
            .env(
                "PEER_OUTREACH__NOTIFICATIONS__ASSIGNMENTS_TOPIC",
                format!("bench-assignments-{id}"),
            )
            .env(
                "PEER_OUTREACH__NOTIFICATIONS__STATISTICS_TOPIC",
                format!("bench-statistics-{id}"),
            )
            .env("PEER_OUTREACH__HTTP__LISTEN", "127.0.0.1:0")
            .env("PEER_OUTREACH__AUTH__ISSUER", &self.issuer.issuer)
            .env("PEER_OUTREACH__AUTH__AUDIENCE", &self.issuer.audience)
            .env(
                "PEER_OUTREACH__AUTH__JWKS_URI",
                self.issuer.jwks_uri.as_deref().unwrap_or_default(),
            )
            // The development issuer, on loopback: a local run's explicit opt-in.
            .env("PEER_OUTREACH__AUTH__ALLOW_DEVELOPMENT_ISSUER", "true")
            // The tests' fixed key-encryption key: a bench database holds test data only.
            .env(
                "PEER_OUTREACH__PRIVACY__KEY_ENCRYPTION_KEY",
                outreach_test_support::TEST_KEY_ENCRYPTION_KEY,
            )
            // As the tests run it: warnings only. Per-message info lines to a pipe would
            // measure the logger as much as the pipeline.
            .env("PEER_OUTREACH__LOG__FILTER", "warn")
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        if let Some(ms) = self.fetch_wait_max_ms {
            command.env("PEER_OUTREACH__KAFKA__FETCH_WAIT_MAX_MS", ms.to_string());
        }
        command
    }

    /// Starts `peer-outreach run` and waits until it says where it serves.
    pub fn spawn_service(&self) -> anyhow::Result<Process> {
        let mut child = self
            .command(&["run"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                bail!("the service exited before it served");
            };
            if let Some(url) = line?.strip_prefix("peer-outreach is serving on http://") {
                break url.trim().to_string();
            }
        };
        // Keep reading, so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Process { child, addr })
    }

    /// Runs `peer-outreach projections rebuild NAME` to the end: events applied, wall time,
    /// and the peak resident memory seen while it ran.
    pub fn rebuild(&self, name: &str) -> anyhow::Result<Rebuilt> {
        let started = Instant::now();
        let mut child = self
            .command(&["projections", "rebuild", name])
            .stdout(Stdio::piped())
            // The progress bar draws on stderr.
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        // VmHWM only grows; a zombie has none, so it is sampled while the process lives.
        let mut peak_kib = 0;
        let status = loop {
            if let Some(kib) = peak_rss_kib(child.id()) {
                peak_kib = peak_kib.max(kib);
            }
            if let Some(status) = child.try_wait()? {
                break status;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = started.elapsed();
        let lines = reader.join().unwrap_or_default();
        if !status.success() {
            bail!("rebuilding {name} failed: {status}; {lines:?}");
        }
        // "<name> rebuilt from <n> events"
        let events = lines
            .iter()
            .find_map(|line| {
                line.strip_prefix(&format!("{name} rebuilt from "))?
                    .strip_suffix(" events")?
                    .parse::<u64>()
                    .ok()
            })
            .with_context(|| format!("rebuild of {name} printed no count: {lines:?}"))?;
        Ok(Rebuilt {
            events,
            elapsed,
            peak_kib,
        })
    }

    /// Creates the service's incidents and dead-letter topics on its broker (tansu does not
    /// create topics on first use), and a publisher to the incidents topic.
    pub async fn topics_and_publisher(&self) -> anyhow::Result<Publisher> {
        let topic = self.incidents_topic();
        let connection = outreach_kafka::KafkaConnection::plaintext(&self.brokers);
        let week = Duration::from_secs(7 * 24 * 3600);
        outreach_intake::admin::ensure_topics(
            &connection,
            &[
                TopicSpec::new(&topic, self.partitions, week),
                TopicSpec::new(format!("{topic}.dead-letter"), self.partitions, week),
            ],
        )
        .await?;
        Ok(Publisher::new(&connection, &topic)?)
    }

    /// The same service on another broker.
    pub fn with_brokers(&self, brokers: String) -> Self {
        Environment {
            brokers,
            ..self.clone()
        }
    }

    pub fn with_fetch_wait_max_ms(&self, fetch_wait_max_ms: Option<u64>) -> Self {
        Environment {
            fetch_wait_max_ms,
            ..self.clone()
        }
    }

    pub fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.issuer_dir);
    }
}

pub struct Rebuilt {
    pub events: u64,
    pub elapsed: Duration,
    pub peak_kib: u64,
}

/// A running service; killed when dropped, so a failed run leaves no process behind.
pub struct Process {
    pub child: Child,
    pub addr: String,
}

impl Process {
    /// Peak resident memory of the service so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.child.id())
    }

    /// Kills the service and waits for it to go.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_field(&PathBuf::from(format!("/proc/{pid}/status")), "VmHWM:")
}

fn status_field(path: &Path, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
