//! Test harness: one fresh, migrated database per test, and the router driven in-process.
#![allow(dead_code)] // each test binary uses its own subset

pub mod site;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use outreach_api::{
    router, ApiState, BrokerHealth, MetricsExposition, RateLimitSettings, RateLimits,
};
use outreach_auth::{Authenticator, DevIssuer, Role, TokenRequest};
use outreach_command_side::CommandSide;
use outreach_domain::deadline::Allowance;
use outreach_domain::{CaseCommand, CasePolicies};
use outreach_events::case;
use outreach_events::lifecycle::ContactOutcome;
use outreach_events::{
    CancelReason, CaseEvent, CaseOpened, CaseOpenedFacts, Channel, Discipline, Involvement,
    MemberContact, MemberProfile, ReportRef, Seniority, TriggerKind,
};
use outreach_test_support::TestDatabase;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

pub struct TestApp {
    pub router: Router,
    pub pool: PgPool,
    pub broker: BrokerHealth,
    /// The command side the router sends commands to, for tests to open cases with.
    pub commands: Arc<CommandSide>,
    /// The test's own database, dropped with the app; none for [`TestApp::without_database`].
    database: Option<TestDatabase>,
    /// The identity provider the router trusts: every request goes through the real checks.
    pub issuer: Arc<DevIssuer>,
    /// Sent with requests that carry no `Authorization` of their own: the program director's.
    default_token: String,
}

/// Limits no scenario reaches, except the rate-limit tests that set their own.
pub fn generous_rate_limits() -> RateLimitSettings {
    RateLimitSettings {
        referrals_per_minute: 100_000,
        feedback_per_link_per_minute: 100_000,
        feedback_per_minute: 100_000,
    }
}

impl TestApp {
    /// A router over a fresh database with every migration applied, broker reachable.
    pub async fn spawn() -> Self {
        Self::spawn_with_policies(CasePolicies::default()).await
    }

    /// As [`TestApp::spawn`], with the command side deciding under the given policies.
    pub async fn spawn_with_policies(policies: CasePolicies) -> Self {
        let database = TestDatabase::create("api_test").await;
        let mut app = Self::with_pool(database.pool.clone(), policies);
        app.database = Some(database);
        app.broker.set_reachable(true);
        for supporter in ROSTER {
            app.put_on_roster(supporter).await;
        }
        app
    }

    /// Puts a trained supporter with room for five cases on the roster, through the command
    /// side, as a program manager would.
    pub async fn put_on_roster(&self, staff_id: &str) {
        let (profile, contact) = roster_entry(staff_id);
        self.commands
            .act_on_supporter(
                staff_id,
                outreach_domain::SupporterCommand::Join {
                    profile,
                    contact,
                    at: Utc::now(),
                },
                &HashMap::new(),
            )
            .await
            .expect("put the supporter on the roster");
    }

    /// A router whose database cannot be reached; nothing is created.
    pub fn without_database() -> Self {
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(1))
            // Port 1 on loopback: connection refused, at once.
            .connect_lazy("postgres://postgres@127.0.0.1:1/unreachable")
            .expect("a lazy pool only parses its URL");
        let app = Self::with_pool(pool, CasePolicies::default());
        app.broker.set_reachable(true);
        app
    }

    fn with_pool(pool: PgPool, policies: CasePolicies) -> Self {
        Self::with_pool_and_limits(pool, policies, generous_rate_limits())
    }

    /// As [`TestApp::spawn`], with these rate limits.
    pub async fn spawn_with_rate_limits(limits: RateLimitSettings) -> Self {
        let database = TestDatabase::create("api_test").await;
        let mut app =
            Self::with_pool_and_limits(database.pool.clone(), CasePolicies::default(), limits);
        app.database = Some(database);
        app.broker.set_reachable(true);
        app
    }

    fn with_pool_and_limits(
        pool: PgPool,
        policies: CasePolicies,
        limits: RateLimitSettings,
    ) -> Self {
        let broker = BrokerHealth::default();
        let commands = Arc::new(CommandSide::new(pool.clone(), policies));
        let issuer = Arc::new(DevIssuer::generate().expect("a development key pair"));
        let auth = Arc::new(Authenticator::with_keys(
            issuer.settings_in_process(),
            issuer.jwks(),
        ));
        let router = router(ApiState {
            pool: pool.clone(),
            broker: broker.clone(),
            metrics: MetricsExposition::new(|| "# the service's metrics\n".into()),
            commands: commands.clone(),
            auth,
            rate_limits: RateLimits::new(limits),
            safety_office: Default::default(),
            default_language: Default::default(),
        });
        let default_token = issuer
            .mint(&TokenRequest::new("oidc|director", Role::Director).staff_id("E90001"))
            .expect("a token");
        TestApp {
            router,
            pool,
            broker,
            commands,
            database: None,
            issuer,
            default_token,
        }
    }

    /// The test's database as its owner (the router and `pool` run as the service's runtime
    /// role): for what only an owner may do.
    pub async fn owner_pool(&self) -> PgPool {
        self.database
            .as_ref()
            .expect("a test app with a database")
            .owner_pool()
            .await
    }

    /// A valid token for someone with `role` (and a staff id, which supporters and members
    /// are found by).
    pub fn token(&self, role: Role, staff_id: Option<&str>) -> String {
        let mut request = TokenRequest::new(format!("oidc|{}", role.code()), role);
        request.staff_id = staff_id.map(str::to_owned);
        self.issuer.mint(&request).expect("a token")
    }

    /// Sends the request as the caller with `token` (`None`: with no token at all).
    pub async fn send_as(&self, token: Option<&str>, mut request: Request<Body>) -> TestResponse {
        request.headers_mut().remove("authorization");
        if let Some(token) = token {
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("a header value"),
            );
        }
        self.exchange(request).await
    }

    /// GETs `uri` as the caller with `token`.
    pub async fn get_as(&self, token: &str, uri: &str) -> TestResponse {
        self.send_as(Some(token), Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// POSTs as the caller with `token`.
    pub async fn post_as(&self, token: &str, uri: &str, body: Option<Value>) -> TestResponse {
        self.send_as(Some(token), post_request(uri, body, None))
            .await
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// Sends the request as the program director, unless it carries its own `Authorization`.
    pub async fn send(&self, mut request: Request<Body>) -> TestResponse {
        if !request.headers().contains_key("authorization") {
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {}", self.default_token)
                    .parse()
                    .expect("a header value"),
            );
        }
        self.exchange(request).await
    }

    /// Sends the request as it is: without a token unless it carries one.
    #[allow(dead_code)]
    pub async fn exchange_public(&self, request: Request<Body>) -> TestResponse {
        self.exchange(request).await
    }

    async fn exchange(&self, request: Request<Body>) -> TestResponse {
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
            // Metrics and CSV are text; tests that expect JSON find a string and fail there.
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// POSTs a JSON body (`None`: no body at all), with `If-Match` when given.
    pub async fn post(
        &self,
        uri: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> TestResponse {
        self.send(post_request(uri, body, if_match)).await
    }

    /// PUTs a JSON body.
    pub async fn put(&self, uri: &str, body: Value) -> TestResponse {
        let request = Request::put(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    /// Opens a case through the command side, as intake would for member `E7` on an incident
    /// report; returns its id. The case is at version 1.
    pub async fn open_case(&self) -> Uuid {
        let case_id = Uuid::new_v4();
        self.commands
            .handle_case(case_id, open_command(case_id, "E7"), &HashMap::new())
            .await
            .expect("open the case");
        case_id
    }

    /// The types of the events stored for a case, oldest first.
    pub async fn event_types(&self, case_id: Uuid) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(case_id.to_string())
        .fetch_all(&self.pool)
        .await
        .expect("read the event store")
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

/// A POST request with a JSON body (`None`: no body at all), with `If-Match` when given.
pub fn post_request(uri: &str, body: Option<Value>, if_match: Option<&str>) -> Request<Body> {
    let mut request = Request::post(uri);
    if let Some(version) = if_match {
        request = request.header("if-match", version);
    }
    match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap()
}

/// What intake would ask to open a case for member `staff_id` named on an incident report.
/// The supporters every test app starts with on its roster.
pub const ROSTER: [&str; 2] = ["E20001", "E30003"];

/// A trained supporter's roster entry: another campus and department than [`open_command`]'s
/// member, five cases at most, available any time.
pub fn roster_entry(
    staff_id: &str,
) -> (
    outreach_events::supporter::SupporterProfile,
    outreach_events::supporter::SupporterContact,
) {
    use outreach_events::supporter::*;
    (
        SupporterProfile {
            staff_id: staff_id.into(),
            campus: "South".into(),
            department: "Anesthesia".into(),
            discipline: Discipline::Nurse,
            specialty: None,
            seniority: outreach_events::Seniority::Senior,
            languages: vec!["en".into()],
            interests: vec![],
            training: Training {
                status: TrainingStatus::Trained,
                completed_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 15),
            },
            capacity: 5,
            availability: Availability::default(),
        },
        SupporterContact {
            given_name: "Ines".into(),
            family_name: format!("Okafor-{staff_id}"),
            email: format!("{}@hospital.example", staff_id.to_lowercase()),
            phone: None,
            gender: None,
        },
    )
}

pub fn open_command(case_id: Uuid, staff_id: &str) -> CaseCommand {
    CaseCommand::Open {
        case_id,
        report: ReportRef {
            source: "/datix/north".into(),
            report_id: format!("INC-{}", case_id.simple()),
        },
        trigger: TriggerKind::Incident,
        campus: "North".into(),
        unit: "ICU 4".into(),
        member: MemberProfile {
            staff_id: staff_id.into(),
            role: "Registered nurse".into(),
            discipline: Discipline::Nurse,
            department: "Critical care".into(),
            seniority: None,
            involvement: Involvement::Primary,
        },
        contact: MemberContact {
            given_name: "Ana".into(),
            family_name: "Silva".into(),
            email: Some("ana.silva@hospital.example".into()),
            phone: None,
            mobile: None,
            preferred_channel: Some(Channel::Email),
        },
        opened_at: Utc::now(),
        urgent: false,
        contact_to_confirm: false,
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

/// A case told by what happened to it: opened and worked through the command side (the
/// events the service would store), then projected into the outreach read model by its
/// projection ([`TestApp::tell`]). The API's tests read what the projection leaves, never a
/// hand-written row.
#[derive(Clone)]
pub struct CaseStory {
    pub case_id: Uuid,
    pub opened_at: DateTime<Utc>,
    pub report_id: String,
    campus: String,
    urgent: bool,
    /// What happened after the opening, in order.
    then: Vec<CaseCommand>,
}

impl CaseStory {
    /// A case for a senior nurse on the North campus, opened at `opened_at` on an incident
    /// report (first contact due 48 hours later under [`TestApp::spawn_for_stories`]'s policy).
    pub fn open_at(opened_at: DateTime<Utc>) -> Self {
        let case_id = Uuid::new_v4();
        CaseStory {
            case_id,
            opened_at,
            report_id: format!("INC-{}", case_id.simple()),
            campus: "North".into(),
            urgent: false,
            then: Vec::new(),
        }
    }

    /// The urgency policy found the report urgent.
    pub fn urgent(mut self) -> Self {
        self.urgent = true;
        self
    }

    pub fn campus(mut self, campus: &str) -> Self {
        self.campus = campus.into();
        self
    }

    /// Then `command` was decided on the case.
    pub fn then(mut self, command: CaseCommand) -> Self {
        self.then.push(command);
        self
    }

    /// `supporter` was assigned at `at`.
    pub fn assigned(self, supporter: &str, at: DateTime<Utc>) -> Self {
        self.then(CaseCommand::Assign {
            supporter_id: supporter.into(),
            named_in_report: false,
            at,
        })
    }

    /// Contact was attempted at `at`, with `outcome`.
    pub fn contacted(self, at: DateTime<Utc>, outcome: ContactOutcome) -> Self {
        self.then(CaseCommand::RecordContactAttempt {
            channel: Channel::Text,
            outcome,
            at,
        })
    }

    /// The report was withdrawn at `at`.
    pub fn cancelled(self, at: DateTime<Utc>) -> Self {
        self.then(CaseCommand::Cancel {
            reason: CancelReason::ReportWithdrawn,
            cancelled_at: at,
        })
    }

    /// [`open_command`]'s opening for member `S-1001`, told at this story's time and place,
    /// the member senior and reachable by mobile too.
    fn opening(&self) -> CaseCommand {
        let mut opening = open_command(self.case_id, "S-1001");
        if let CaseCommand::Open {
            report,
            campus,
            member,
            contact,
            opened_at,
            urgent,
            ..
        } = &mut opening
        {
            report.report_id.clone_from(&self.report_id);
            campus.clone_from(&self.campus);
            member.seniority = Some(Seniority::Senior);
            contact.mobile = Some("+1 555 0100".into());
            *opened_at = self.opened_at;
            *urgent = self.urgent;
        }
        opening
    }
}

/// First contact due 48 hours after the opening, urgent or not, nights and weekends included:
/// what [`CaseStory`]'s deadlines are told in.
pub fn stories_policies() -> CasePolicies {
    let mut policies = CasePolicies::default();
    policies.deadlines.first_contact = Allowance::Hours(48);
    policies.urgency.first_contact = Allowance::Hours(48);
    policies
}

impl TestApp {
    /// A test app whose command side gives first contact 48 hours ([`stories_policies`]).
    pub async fn spawn_for_stories() -> Self {
        Self::spawn_with_policies(stories_policies()).await
    }

    /// Tells each story through the command side, then brings the outreach read model up to
    /// the events, as the service's runner would.
    pub async fn tell(&self, stories: &[&CaseStory]) {
        for story in stories {
            let commands = std::iter::once(story.opening()).chain(story.then.iter().cloned());
            for command in commands {
                self.commands
                    .handle_case(story.case_id, command, &HashMap::new())
                    .await
                    .expect("the story's command is accepted");
            }
        }
        self.project_outreach().await;
    }

    /// Stores a case's opening with nothing about the member and no first-contact deadline, as
    /// the event store reads an opening whose member's data key a purge destroyed, and one
    /// from before deadlines existed; then projects it.
    pub async fn tell_legacy_opening(&self, case_id: Uuid, opened_at: DateTime<Utc>) {
        let opened = CaseEvent::CaseOpened(CaseOpened {
            facts: CaseOpenedFacts {
                case_id,
                report: ReportRef {
                    source: "/datix/north".into(),
                    report_id: format!("INC-{}", case_id.simple()),
                },
                trigger: TriggerKind::Incident,
                campus: "North".into(),
                unit: "ICU 4".into(),
                member: None,
                opened_at,
                first_contact_due: None,
                urgent: false,
            },
            personal: None,
        });
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                 event_version, payload, metadata)
             VALUES ($1, $2, 1, $3, $4, $5, '{}')",
        )
        .bind(case::AGGREGATE_TYPE)
        .bind(case_id.to_string())
        .bind(CaseEvent::CASE_OPENED)
        .bind(outreach_events::CURRENT_VERSION)
        .bind(serde_json::to_value(&opened).expect("an event serialises"))
        .execute(&self.pool)
        .await
        .expect("store the legacy opening");
        self.project_outreach().await;
    }

    /// Brings the outreach read model up to the event store.
    pub async fn project_outreach(&self) {
        self.project(Arc::new(outreach_projections::OutreachProjection))
            .await;
    }
}

impl TestApp {
    /// Brings a read model up to the event store, as the service's runner would.
    pub async fn project(&self, projection: Arc<dyn outreach_projections::Projection>) {
        let settings = outreach_projections::RunnerSettings {
            poll_interval: Duration::from_millis(10),
            ..Default::default()
        };
        outreach_projections::ProjectionRunner::new(self.pool.clone(), projection, settings)
            .catch_up()
            .await
            .expect("project");
    }

    /// Brings the matching read model up to the event store.
    pub async fn project_matching(&self) {
        self.project(Arc::new(outreach_projections::MatchingProjection))
            .await;
    }
}
