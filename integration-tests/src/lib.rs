//! A test bed per test: its own database, its own topics and consumer group, the real service
//! started in-process against real PostgreSQL and a real Kafka-protocol broker.

pub mod dashboard;
pub mod fhir;
pub mod logs;
pub mod mail;
pub mod reports;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use outreach_auth::{DevIssuer, Role, TokenRequest};
use outreach_intake::sample::{Encoded, Mode, Publisher};
use outreach_test_support::{drop_database, owner_url, runtime_url};
use peer_outreach::{Service, Settings};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use serde_json::Value;

pub const WAIT: Duration = Duration::from_secs(45);

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub struct TestBed {
    pub settings: Settings,
    pub id: String,
    publisher: Publisher,
    /// Calls the API as the program director.
    http: reqwest::Client,
    /// The identity provider the service trusts, through its key file.
    pub issuer: DevIssuer,
}

impl TestBed {
    pub async fn new() -> TestBed {
        Self::with(|_| {}).await
    }

    /// A test bed whose settings `tweak` may adjust (policies, limits).
    pub async fn with(tweak: impl FnOnce(&mut Settings)) -> TestBed {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let mut settings = Settings::load(None).expect("default settings load");
        // Created and migrated by the service when it first starts (`create_database`), as the
        // owner; the service then runs as the runtime role, as deployed.
        outreach_test_support::ensure_runtime_role().await;
        settings.database.url = runtime_url(&database_name(&id));
        settings.database.migration_url = Some(owner_url(&database_name(&id)));
        settings.database.max_connections = 5;
        settings.kafka.brokers = brokers();
        settings.kafka.incidents_topic = format!("incidents-{id}");
        settings.kafka.dead_letter_topic = format!("incidents-{id}.dead-letter");
        settings.notifications.topic = format!("director-notices-{id}");
        settings.notifications.assignments_topic = format!("assignments-{id}");
        settings.notifications.statistics_topic = format!("statistics-{id}");
        settings.kafka.group_id = format!("peer-outreach-{id}");
        settings.kafka.partitions = 2;
        settings.http.listen = "127.0.0.1:0".parse().unwrap();
        // The tests' fixed key-encryption key: the service refuses to start without one.
        settings.privacy.key_encryption_key =
            Some(outreach_test_support::TEST_KEY_ENCRYPTION_KEY.to_owned());
        // And the test process's own, for what a test reads past the service (a rebuild).
        outreach_privacy::KeyEncryptionKey::install_if_none(
            outreach_test_support::test_key_encryption_key(),
        );
        settings.projections.poll_interval_ms = 50;
        // Each test bed its own identity provider, trusted through its key file as a local
        // run trusts the development issuer.
        let issuer_dir = std::env::temp_dir().join(format!("peer-outreach-issuer-{id}"));
        let issuer = DevIssuer::load_or_generate(&issuer_dir).expect("a development issuer");
        settings.auth = Some(outreach_auth::AuthSettings {
            // A local run's opt-in: the service serves on loopback only.
            allow_development_issuer: true,
            ..issuer.settings(&issuer_dir)
        });
        tweak(&mut settings);
        // Created up front, as the service would, so a test can publish before the service
        // first starts.
        outreach_intake::admin::ensure_topics(&settings.kafka.connection(), &settings.topics())
            .await
            .expect("the test's topics can be created");
        let publisher = Publisher::new(
            &settings.kafka.connection(),
            &settings.kafka.incidents_topic,
        )
        .expect("a producer can be created");
        let director = issuer
            .mint(&TokenRequest::new("oidc|director", Role::Director).staff_id("E90001"))
            .expect("a token");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {director}")
                .parse()
                .expect("a header value"),
        );
        TestBed {
            settings,
            id,
            publisher,
            http: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .expect("an HTTP client"),
            issuer,
        }
    }

    /// A token for someone with `role` (and a staff id), from the test bed's issuer.
    pub fn token(&self, role: Role, staff_id: Option<&str>) -> String {
        let mut request = TokenRequest::new(format!("oidc|{}", role.code()), role);
        request.staff_id = staff_id.map(str::to_owned);
        self.issuer.mint(&request).expect("a token")
    }

    /// GETs `path` as the caller with `token`.
    pub async fn get_as(&self, service: &Service, token: &str, path: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("http://{}{path}", service.addr))
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn start(&self) -> Service {
        Service::start(&self.settings)
            .await
            .expect("the service starts")
    }

    pub async fn publish(&self, event: &Value, mode: Mode) {
        self.publisher
            .publish(event, mode)
            .await
            .expect("publishing succeeds");
    }

    pub async fn publish_raw(&self, key: Option<&str>, record: &Encoded) {
        self.publisher
            .publish_raw(key, record)
            .await
            .expect("publishing succeeds");
    }

    pub async fn get(&self, service: &Service, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("http://{}{path}", service.addr))
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs `body` (with `If-Match: "version"` when given) and returns the status and JSON.
    pub async fn post(
        &self,
        service: &Service,
        path: &str,
        body: Value,
        if_match: Option<u64>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("http://{}{path}", service.addr))
            .json(&body);
        if let Some(version) = if_match {
            request = request.header("If-Match", format!("\"{version}\""));
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Puts a trained supporter on the roster through the API, as a program manager would:
    /// room for five cases, available any time, at Mission Bay in Anesthesia.
    pub async fn put_on_roster(&self, service: &Service, staff_id: &str) {
        let (status, body) = self
            .post(service, "/v1/supporters", roster_entry(staff_id), None)
            .await;
        assert_eq!(status, 201, "putting {staff_id} on the roster: {body}");
    }

    /// The service's `/metrics` text.
    pub async fn metrics(&self, service: &Service) -> String {
        let response = self
            .http
            .get(format!("http://{}/metrics", service.addr))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.expect("metrics are text")
    }

    /// Every case the API lists, following every page.
    pub async fn cases(&self, service: &Service) -> Vec<Value> {
        let mut cases = Vec::new();
        let mut path = "/v1/cases?limit=200".to_string();
        loop {
            let (status, page) = self.get(service, &path).await;
            assert_eq!(status, 200, "listing cases: {page}");
            cases.extend(page["cases"].as_array().cloned().unwrap_or_default());
            match page["next"].as_str() {
                Some(next) => path = format!("/v1/cases?limit=200&after={next}"),
                None => return cases,
            }
        }
    }

    /// Polls the API until `done` holds for the case list, or fails the test after [`WAIT`].
    pub async fn wait_for_cases(
        &self,
        service: &Service,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        eventually(what, || self.cases(service), |cases| done(cases)).await
    }

    /// Reads `count` records from the dead-letter topic.
    pub async fn dead_letters(&self, count: usize) -> Vec<DeadLetter> {
        let topic = self.settings.kafka.dead_letter_topic.clone();
        self.read_topic(&topic, count).await
    }

    /// Reads the first `count` records of `topic` (from the start, as a new consumer group).
    pub async fn read_topic(&self, topic: &str, count: usize) -> Vec<TopicRecord> {
        let consumer: StreamConsumer = self
            .settings
            .kafka
            .connection()
            .client_config("topic-reader")
            .set(
                "group.id",
                format!("topic-reader-{}-{}", self.id, uuid::Uuid::new_v4().simple()),
            )
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("a consumer can be created");
        consumer.subscribe(&[topic]).expect("subscribing works");
        let mut records = Vec::new();
        while records.len() < count {
            let message = tokio::time::timeout(WAIT, consumer.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out reading {topic}; got {records:#?}"))
                .unwrap_or_else(|e| panic!("reading {topic} fails: {e}"));
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            records.push(TopicRecord {
                key: message
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned()),
                headers,
                payload: message.payload().unwrap_or_default().to_vec(),
            });
        }
        records
    }

    /// How many events of `event_type` the event store holds.
    pub async fn events_of_type(&self, event_type: &str) -> i64 {
        events_of_type_in(&self.db().await, event_type).await
    }

    /// Polls one case through the API until `done` holds for it, or fails after [`WAIT`].
    pub async fn wait_for_case(
        &self,
        service: &Service,
        case_id: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/v1/cases/{case_id}");
        eventually(
            what,
            || async { self.get(service, &path).await.1 },
            |case| done(case),
        )
        .await
    }

    /// Runs SQL against this test's database.
    /// Waits (a minute at most) until the read model holds at least `count` cases.
    pub async fn wait_for_case_count(&self, count: i64) {
        let since = Instant::now();
        let db = self.db().await;
        loop {
            let now: i64 = sqlx::query_scalar("SELECT count(*) FROM outreach_cases")
                .fetch_one(&db)
                .await
                .expect("the read model is readable");
            if now >= count {
                return;
            }
            assert!(
                since.elapsed() < Duration::from_secs(60),
                "{now} of {count} cases after a minute"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (`within` at most) until the read model holds `expected` cases, then checks that
    /// the event store opened each exactly once. Reads that meet a database outage are retried.
    pub async fn expect_every_case_once(&self, expected: i64, after: &str, within: Duration) {
        let since = Instant::now();
        loop {
            let now = match sqlx::PgPool::connect(&self.settings.database.url).await {
                Ok(db) => sqlx::query_scalar("SELECT count(*) FROM outreach_cases")
                    .fetch_one(&db)
                    .await
                    .unwrap_or(-1),
                Err(_) => -1,
            };
            if now == expected {
                break;
            }
            assert!(
                since.elapsed() < within,
                "stuck at {now} of {expected} cases after {after}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let (opened, distinct): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT aggregate_id) FROM events WHERE event_type = 'CaseOpened'",
        )
        .fetch_one(&self.db().await)
        .await
        .expect("the event store is readable");
        assert_eq!(
            (opened, distinct),
            (expected, expected),
            "each case opened once"
        );
    }

    /// The test's database as the service's runtime role sees it.
    pub async fn db(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.settings.database.url)
            .await
            .expect("the test database is reachable")
    }

    /// The test's database as its owner: for what the service's role may not do.
    pub async fn owner_db(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(self.settings.database.migration_url())
            .await
            .expect("the test database is reachable")
    }
}

/// The database of the test bed `id`.
fn database_name(id: &str) -> String {
    format!("po_test_{id}")
}

impl Drop for TestBed {
    /// Drops the test's database, even when the test failed, so nothing is left behind.
    fn drop(&mut self) {
        drop_database(&database_name(&self.id));
    }
}

/// A record of the dead-letter topic.
pub type DeadLetter = TopicRecord;

/// A record read from a topic.
#[derive(Debug)]
pub struct TopicRecord {
    pub key: Option<String>,
    pub headers: HashMap<String, String>,
    pub payload: Vec<u8>,
}

impl TopicRecord {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
    }

    /// The payload as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("the payload is not JSON ({e}): {self:?}"))
    }
}

/// The case of `staff_id` among `cases`, as the API lists them.
pub fn case_of<'c>(cases: &'c [Value], staff_id: &str) -> &'c Value {
    cases
        .iter()
        .find(|c| c["member"]["staff_id"] == staff_id)
        .unwrap_or_else(|| panic!("no case for {staff_id} in {cases:#?}"))
}

/// The id of the case of member `staff_id` among `cases` (as the API lists them).
pub fn case_id_of(cases: &[Value], staff_id: &str) -> String {
    cases
        .iter()
        .find(|c| c["member"]["staff_id"] == staff_id)
        .and_then(|c| c["case_id"].as_str())
        .unwrap_or_else(|| panic!("no case for {staff_id}"))
        .to_string()
}

/// The members' staff ids of the cases in `cases`, sorted.
pub fn staff_ids(cases: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = cases
        .iter()
        .map(|c| c["member"]["staff_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// How many events of `event_type` the event store on `db` holds: for a test that asks often,
/// on a pool of its own ([`TestBed::events_of_type`] connects afresh each time).
pub async fn events_of_type_in(db: &sqlx::PgPool, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(db)
        .await
        .expect("the event store can be read")
}

/// Calls `probe` until `done` holds for what it returns, or fails the test after [`WAIT`]
/// showing the last thing it saw.
pub async fn eventually<T, F, Fut>(what: &str, probe: F, done: impl Fn(&T) -> bool) -> T
where
    T: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    eventually_every(Duration::from_millis(100), what, probe, done).await
}

/// [`eventually`], probing every `interval`: for a test that must act the moment `done` holds.
pub async fn eventually_every<T, F, Fut>(
    interval: Duration,
    what: &str,
    mut probe: F,
    done: impl Fn(&T) -> bool,
) -> T
where
    T: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let seen = probe().await;
        if done(&seen) {
            return seen;
        }
        assert!(
            started.elapsed() < WAIT,
            "timed out waiting for {what}; last seen: {seen:#?}"
        );
        tokio::time::sleep(interval).await;
    }
}

/// The value of the first sample of `metric` whose labels include every one of `labels`
/// (written as `name="value"`), in a Prometheus text exposition.
pub fn metric_value(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(&format!("{metric}{{")) || line.starts_with(&format!("{metric} "))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

/// A trained supporter's roster entry as the API takes it.
pub fn roster_entry(staff_id: &str) -> Value {
    serde_json::json!({
        "staff_id": staff_id,
        "given_name": "Ines",
        "family_name": format!("Okafor {staff_id}"),
        "email": format!("{}@hospital.example", staff_id.to_lowercase()),
        "campus": "Mission Bay",
        "department": "Anesthesia",
        "discipline": "physician",
        "seniority": "senior",
        "languages": ["en"],
        "training": {"status": "trained", "completed_on": "2026-01-15"},
        "capacity": 5
    })
}
