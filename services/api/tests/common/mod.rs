//! Test harness: one fresh, migrated database per test, and the router driven in-process.
#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use outreach_api::{router, ApiState, BrokerHealth, MetricsExposition};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tower::ServiceExt;
use uuid::Uuid;

fn database_url_base() -> String {
    std::env::var("DATABASE_URL_BASE")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub struct TestApp {
    pub router: Router,
    pub pool: PgPool,
    pub broker: BrokerHealth,
    database: Option<String>,
}

impl TestApp {
    /// A router over a fresh database with every migration applied, broker reachable.
    pub async fn spawn() -> Self {
        let base = database_url_base();
        let name = format!("api_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{base}/postgres"))
            .await
            .expect("connect to the postgres database");
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();

        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&format!("{base}/{name}"))
            .await
            .expect("connect to the test database");
        sqlx::migrate!("../../migrations")
            .run(&pool)
            .await
            .expect("run migrations");

        let mut app = Self::with_pool(pool);
        app.database = Some(name);
        app.broker.set_reachable(true);
        app
    }

    /// A router whose database cannot be reached; nothing is created.
    pub fn without_database() -> Self {
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(1))
            // Port 1 on loopback: connection refused, at once.
            .connect_lazy("postgres://postgres@127.0.0.1:1/unreachable")
            .expect("a lazy pool only parses its URL");
        let app = Self::with_pool(pool);
        app.broker.set_reachable(true);
        app
    }

    fn with_pool(pool: PgPool) -> Self {
        let broker = BrokerHealth::default();
        let router = router(ApiState {
            pool: pool.clone(),
            broker: broker.clone(),
            metrics: MetricsExposition::new(|| "# the service's metrics\n".into()),
        });
        TestApp {
            router,
            pool,
            broker,
            database: None,
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn request(&self, method: Method, uri: &str, body: Vec<u8>) -> TestResponse {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-length", body.len())
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }
}

impl Drop for TestApp {
    /// Best effort, also when the test panicked. Drop cannot await, and the test's runtime
    /// cannot be re-entered, so the database is dropped from a thread with its own runtime.
    fn drop(&mut self) {
        let Some(name) = self.database.take() else {
            return;
        };
        let url = format!("{}/postgres", database_url_base());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&url).await {
                    // FORCE: the test's pool may still hold connections.
                    let _ =
                        sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                            .execute(&mut admin)
                            .await;
                }
            });
        })
        .join();
    }
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    /// Asserts an RFC 9457 problem of the given status and slug; returns its detail.
    pub fn assert_problem(&self, status: StatusCode, slug: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.headers
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            Some("application/problem+json")
        );
        assert_eq!(
            self.body["type"],
            format!("https://peer-outreach.dev/problems/{slug}")
        );
        assert_eq!(self.body["status"], status.as_u16());
        assert!(self.body["title"].as_str().is_some_and(|t| !t.is_empty()));
        self.body["detail"].as_str().expect("detail").to_owned()
    }
}

/// A row of the outreach read model, as the projection would write it.
#[derive(Clone)]
pub struct CaseFixture {
    pub case_id: Uuid,
    pub report_source: String,
    pub report_id: String,
    pub trigger_kind: String,
    pub campus: String,
    pub unit: String,
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub staff_id: String,
    pub role: String,
    pub discipline: String,
    pub department: String,
    pub seniority: Option<String>,
    pub involvement: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub preferred_channel: Option<String>,
}

impl CaseFixture {
    /// An open case for a nurse on the North campus, opened at `opened_at`.
    pub fn open_at(opened_at: DateTime<Utc>) -> Self {
        CaseFixture {
            case_id: Uuid::new_v4(),
            report_source: "datix".into(),
            report_id: format!("IR-{}", opened_at.timestamp()),
            trigger_kind: "incident".into(),
            campus: "North".into(),
            unit: "ICU 4".into(),
            status: "open".into(),
            opened_at,
            closed_at: None,
            close_reason: None,
            staff_id: "S-1001".into(),
            role: "registered nurse".into(),
            discipline: "nursing".into(),
            department: "critical care".into(),
            seniority: Some("senior".into()),
            involvement: "primary".into(),
            given_name: Some("Ana".into()),
            family_name: Some("Silva".into()),
            email: Some("ana.silva@hospital.example".into()),
            phone: None,
            mobile: Some("+1 555 0100".into()),
            preferred_channel: Some("text".into()),
        }
    }

    pub fn campus(mut self, campus: &str) -> Self {
        self.campus = campus.into();
        self
    }

    pub fn cancelled(mut self, at: DateTime<Utc>, reason: &str) -> Self {
        self.status = "cancelled".into();
        self.closed_at = Some(at);
        self.close_reason = Some(reason.into());
        self
    }

    pub async fn insert(&self, pool: &PgPool) {
        sqlx::query(
            r#"
            INSERT INTO outreach_cases (
                case_id, report_source, report_id, trigger_kind, campus, unit, status,
                opened_at, closed_at, close_reason,
                staff_id, role, discipline, department, seniority, involvement,
                given_name, family_name, email, phone, mobile, preferred_channel, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17, $18, $19, $20, $21, $22, 1)
            "#,
        )
        .bind(self.case_id)
        .bind(&self.report_source)
        .bind(&self.report_id)
        .bind(&self.trigger_kind)
        .bind(&self.campus)
        .bind(&self.unit)
        .bind(&self.status)
        .bind(self.opened_at)
        .bind(self.closed_at)
        .bind(&self.close_reason)
        .bind(&self.staff_id)
        .bind(&self.role)
        .bind(&self.discipline)
        .bind(&self.department)
        .bind(&self.seniority)
        .bind(&self.involvement)
        .bind(&self.given_name)
        .bind(&self.family_name)
        .bind(&self.email)
        .bind(&self.phone)
        .bind(&self.mobile)
        .bind(&self.preferred_channel)
        .execute(pool)
        .await
        .expect("insert outreach case");
    }
}
