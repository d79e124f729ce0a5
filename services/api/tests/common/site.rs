//! The dashboard served in-process, signed in to through the development issuer served as an
//! OpenID provider on a port of its own: for the dashboard's tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use outreach_api::{router_with_dashboard, ApiState, Dashboard, DashboardSettings, RateLimits};
use outreach_auth::sign_in::SignInSettings;
use outreach_auth::{Authenticator, DevProvider, Role};
use outreach_projections::{
    CaseTimeline, MatchingProjection, OutreachProjection, ProjectionRunner,
};
use tower::ServiceExt;
use uuid::Uuid;

use super::{open_command, TestApp};

pub const REDIRECT: &str = "http://127.0.0.1:9/dashboard/sign-in/callback";

pub struct Site {
    pub app: TestApp,
    pub router: Router,
    pub provider: String,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub cookies: Vec<String>,
    pub html: String,
}

impl Site {
    pub async fn new() -> Site {
        Self::with_token_lifetime(Duration::from_secs(3600)).await
    }

    pub async fn with_token_lifetime(lifetime: Duration) -> Site {
        let app = TestApp::spawn().await;
        let issuer = app.issuer.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let provider = format!("http://{}", listener.local_addr().unwrap());
        let served = Arc::new(DevProvider::new(issuer.clone(), &provider).token_lifetime(lifetime));
        tokio::spawn(served.serve(listener, std::future::pending()));
        let dashboard = Dashboard::connect(
            DashboardSettings {
                sign_in: SignInSettings {
                    client_id: "peer-outreach-dashboard".into(),
                    client_secret: None,
                    redirect_uri: REDIRECT.into(),
                    // As `dev-issuer init --provider` prints them: the development issuer is
                    // not at the address it is served on, so it is not discovered.
                    authorization_endpoint: Some(format!("{provider}/authorize")),
                    token_endpoint: Some(format!("{provider}/token")),
                    scopes: vec![],
                },
                queue_refresh_seconds: 5,
            },
            &outreach_auth::AuthSettings {
                allow_development_issuer: true,
                ..issuer.settings_in_process()
            },
        )
        .await
        .expect("the provider's endpoints are found");
        let router = router_with_dashboard(
            ApiState {
                pool: app.pool.clone(),
                broker: app.broker.clone(),
                metrics: Default::default(),
                commands: app.commands.clone(),
                auth: Arc::new(Authenticator::with_keys(
                    issuer.settings_in_process(),
                    issuer.jwks(),
                )),
                rate_limits: RateLimits::new(super::generous_rate_limits()),
                safety_office: Default::default(),
                default_language: Default::default(),
            },
            Arc::new(dashboard),
        );
        Site {
            app,
            router,
            provider,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Page {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            location,
            cookies,
            html: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, session: Option<&str>) -> Page {
        let mut request = Request::get(path);
        if let Some(session) = session {
            request = request.header("cookie", format!("po_session={session}"));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, path: &str, session: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.post_body(path, session, body).await
    }

    /// POSTs a form body as written (`a=1&b=2`), with the session's cookie.
    pub async fn post_body(&self, path: &str, session: &str, body: String) -> Page {
        self.send(
            Request::post(path)
                .header("cookie", format!("po_session={session}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// Signs in through the provider's authorize page as `role`; returns the session cookie.
    pub async fn sign_in(&self, role: Role, staff_id: &str) -> String {
        let start = self.get("/dashboard/sign-in", None).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER);
        let attempt = cookie_value(&start.cookies, "po_sign_in").expect("a sign-in cookie");
        let authorize = reqwest::Url::parse(start.location.as_deref().unwrap()).unwrap();
        assert!(authorize.as_str().starts_with(&self.provider));
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        form.push(("role".into(), role.code().into()));
        form.push(("staff_id".into(), staff_id.into()));
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let back = browser
            .post(authorize.join("/authorize").unwrap())
            .form(&form)
            .send()
            .await
            .unwrap();
        let callback = back.headers()["location"].to_str().unwrap().to_owned();
        let callback = callback
            .strip_prefix("http://127.0.0.1:9")
            .unwrap()
            .to_owned();
        let done = self
            .send(
                Request::get(callback)
                    .header("cookie", format!("po_sign_in={attempt}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
        let session = cookie_value(&done.cookies, "po_session").expect("a session cookie");
        let set = done
            .cookies
            .iter()
            .find(|c| c.starts_with("po_session="))
            .unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
        assert!(!set.contains("Secure"), "served over http here: {set}");
        session
    }

    /// The CSRF token the session's pages carry.
    pub async fn csrf(&self, session: &str) -> String {
        let page = self.get("/dashboard/signed-out", None).await;
        assert_eq!(page.status, StatusCode::OK);
        let page = self.get("/dashboard", Some(session)).await;
        let first = page.location.expect("home sends each role on");
        let page = self.get(&first, Some(session)).await;
        let at = page.html.find(r#"name="csrf" value=""#).expect("a form") + 19;
        page.html[at..at + 43].to_owned()
    }

    /// A case of member E7, assigned to supporter E20001 and, when `reached`, with the member
    /// reached; once the read model shows it.
    pub async fn case(&self, reached: bool) -> Uuid {
        let case_id = Uuid::new_v4();
        let commands = &self.app.commands;
        commands
            .handle_case(case_id, open_command(case_id, "E7"), &HashMap::new())
            .await
            .unwrap();
        let version = commands
            .assign(case_id, "E20001", None, chrono::Utc::now(), &HashMap::new())
            .await
            .unwrap();
        let mut version = version;
        if reached {
            version = commands
                .act_on_case(
                    case_id,
                    outreach_domain::CaseCommand::RecordContactAttempt {
                        channel: outreach_events::Channel::Phone,
                        outcome: outreach_events::lifecycle::ContactOutcome::Reached,
                        at: chrono::Utc::now(),
                    },
                    None,
                    &HashMap::new(),
                )
                .await
                .unwrap();
        }
        self.project().await;
        for _ in 0..200 {
            let seen: Option<i64> =
                sqlx::query_scalar("SELECT version FROM outreach_cases WHERE case_id = $1")
                    .bind(case_id)
                    .fetch_optional(&self.app.pool)
                    .await
                    .unwrap();
            if seen == Some(version as i64) {
                return case_id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT version FROM outreach_cases WHERE case_id = $1")
                .bind(case_id)
                .fetch_optional(&self.app.pool)
                .await
                .unwrap();
        panic!("the read model never showed the case at {version}: {seen:?}");
    }

    /// Brings the read models up to the event store, as the service's runners do.
    pub async fn project(&self) {
        for projection in [
            Arc::new(OutreachProjection) as Arc<dyn outreach_projections::Projection>,
            Arc::new(MatchingProjection),
            Arc::new(CaseTimeline),
        ] {
            ProjectionRunner::new(self.app.pool.clone(), projection, Default::default())
                .catch_up()
                .await
                .expect("the projections catch up");
        }
    }

    pub async fn events(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }
}

pub fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|c| {
        let value = c.strip_prefix(&format!("{name}="))?;
        Some(value.split(';').next()?.to_owned()).filter(|v| !v.is_empty())
    })
}
