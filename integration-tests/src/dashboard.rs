//! The dashboard of a test bed's service: served with sign-in through the development issuer
//! (as an OpenID provider on a port of its own), and signed in to over plain HTTP, as a browser
//! would, for tests that read pages without a browser.

use std::sync::Arc;

use outreach_auth::{DevIssuer, DevProvider};
use serde_json::json;

use crate::TestBed;

/// Has `bed`'s service serve the dashboard, signing in through the development issuer served
/// on a free port (it signs with the key the service trusts). Call before starting the service.
pub async fn serve_dashboard(bed: &mut TestBed) {
    let issuer_dir = std::env::temp_dir().join(format!("peer-outreach-issuer-{}", bed.id));
    let issuer = Arc::new(DevIssuer::load_or_generate(&issuer_dir).expect("the test bed's issuer"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        Arc::new(DevProvider::new(issuer, &provider)).serve(listener, std::future::pending()),
    );
    // The redirect URI names the service's port, so it is chosen before the service starts.
    let port = outreach_test_support::free_port();
    bed.settings.http.listen = format!("127.0.0.1:{port}").parse().unwrap();
    bed.settings.dashboard = Some(
        serde_json::from_value(json!({
            "sign_in": {
                "client_id": "peer-outreach-dashboard",
                "redirect_uri": format!("http://127.0.0.1:{port}/dashboard/sign-in/callback"),
                "authorization_endpoint": format!("{provider}/authorize"),
                "token_endpoint": format!("{provider}/token"),
            },
            "queue_refresh_seconds": 1,
        }))
        .expect("dashboard settings"),
    );
}

/// A signed-in session on the dashboard at `site` (`http://host:port`).
pub struct Session {
    site: String,
    cookie: String,
    http: reqwest::Client,
}

/// A client that follows no redirect, so each hop of the sign-in is seen.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))?
                .split(';')
                .next()
                .map(String::from)
        })
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("a location")
        .to_owned()
}

impl Session {
    /// Signs in on the development issuer's authorize page as `role` (its code, e.g.
    /// `program_manager`) with `staff_id`, as a browser would: the sign-in redirect, the
    /// provider's form, the callback with the sign-in cookie.
    pub async fn sign_in(site: &str, role: &str, staff_id: &str) -> Session {
        let http = client();
        let start = http
            .get(format!("{site}/dashboard/sign-in"))
            .send()
            .await
            .expect("the dashboard answers");
        let attempt = cookie(&start, "po_sign_in").expect("a sign-in cookie");
        let authorize = reqwest::Url::parse(&location(&start)).expect("the provider's URL");
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        form.push(("role".into(), role.into()));
        form.push(("staff_id".into(), staff_id.into()));
        let back = http
            .post(authorize.join("/authorize").unwrap())
            .form(&form)
            .send()
            .await
            .expect("the provider answers");
        let done = http
            .get(location(&back))
            .header("cookie", format!("po_sign_in={attempt}"))
            .send()
            .await
            .expect("the callback answers");
        let cookie = cookie(&done, "po_session").expect("a session cookie");
        Session {
            site: site.to_owned(),
            cookie,
            http,
        }
    }

    /// GETs a page: its status and HTML.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.site))
            .header("cookie", format!("po_session={}", self.cookie))
            .send()
            .await
            .expect("the dashboard answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}
