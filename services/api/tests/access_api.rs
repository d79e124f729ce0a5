//! Who may do what, route by route: every endpoint the OpenAPI document lists, called by every
//! role, and with every kind of bad token. Adding a route without a line here fails the first
//! test.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{post_request, TestApp};
use outreach_auth::{Role, TokenRequest};
use serde_json::{json, Value};
use uuid::Uuid;

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// Anyone, without a token.
    Public,
    /// Holders of these roles.
    Roles(&'static [Role]),
    /// The program's staff, and the peer supporter the case is assigned to.
    StaffOrCaseSupporter,
    /// The program's staff, and the member the record is about.
    StaffOrTheMember,
}

use Role::{CareTeamMember, Director, PeerSupporter, ProgramManager, SafetyOffice, Service};

const STAFF: &[Role] = &[Director, ProgramManager];

/// The supporter every case in these tests is assigned to, and the member it is about.
const SUPPORTER: &str = "E20001";
const OTHER_SUPPORTER: &str = "E30003";
const MEMBER: &str = "E7";

fn routes() -> Vec<(&'static str, &'static str, Who, Option<Value>)> {
    let today = chrono::Utc::now().date_naive().to_string();
    vec![
        ("get", "/healthz", Who::Public, None),
        ("get", "/readyz", Who::Public, None),
        ("get", "/openapi.json", Who::Public, None),
        ("get", "/metrics", Who::Roles(&[Service, Director]), None),
        ("get", "/v1/cases", Who::Roles(STAFF), None),
        ("get", "/v1/cases/{case_id}", Who::Roles(STAFF), None),
        (
            "get",
            "/v1/cases/{case_id}/timeline",
            Who::Roles(STAFF),
            None,
        ),
        (
            "get",
            "/v1/cases/{case_id}/candidates",
            Who::Roles(STAFF),
            None,
        ),
        (
            "post",
            "/v1/cases/{case_id}/assignment",
            Who::Roles(STAFF),
            Some(json!({"supporter_id": SUPPORTER})),
        ),
        (
            "post",
            "/v1/cases/{case_id}/contact-attempts",
            Who::StaffOrCaseSupporter,
            Some(json!({"channel": "phone", "outcome": "no_answer"})),
        ),
        (
            "post",
            "/v1/cases/{case_id}/decline",
            Who::StaffOrCaseSupporter,
            None,
        ),
        (
            "post",
            "/v1/cases/{case_id}/acceptance",
            Who::StaffOrCaseSupporter,
            None,
        ),
        (
            "post",
            "/v1/cases/{case_id}/encounters",
            Who::StaffOrCaseSupporter,
            Some(json!({
                "held_on": today, "modality": "video", "format": "individual", "duration": "30_to_60_minutes"
            })),
        ),
        (
            "post",
            "/v1/cases/{case_id}/resources",
            Who::StaffOrCaseSupporter,
            None,
        ),
        (
            "post",
            "/v1/cases/{case_id}/professional-referrals",
            Who::StaffOrCaseSupporter,
            Some(json!({"service": "employee_assistance"})),
        ),
        (
            "post",
            "/v1/cases/{case_id}/escalations",
            Who::StaffOrCaseSupporter,
            Some(json!({"category": "impairment_putting_patients_at_risk"})),
        ),
        (
            "post",
            "/v1/cases/{case_id}/closure",
            Who::Roles(STAFF),
            Some(json!({"reason": "completed"})),
        ),
        (
            "post",
            "/v1/cases/{case_id}/reopening",
            Who::Roles(STAFF),
            None,
        ),
        (
            "post",
            "/v1/cases/{case_id}/merge",
            Who::Roles(STAFF),
            Some(json!({"into": Uuid::new_v4()})),
        ),
        (
            "post",
            "/v1/cases/{case_id}/contact-confirmation",
            Who::Roles(STAFF),
            Some(json!({})),
        ),
        ("get", "/v1/my/cases", Who::Roles(&[PeerSupporter]), None),
        (
            "get",
            "/v1/my/cases/{case_id}",
            Who::Roles(&[PeerSupporter]),
            None,
        ),
        (
            "post",
            "/v1/referrals",
            Who::Roles(&[
                Director,
                ProgramManager,
                PeerSupporter,
                CareTeamMember,
                Service,
            ]),
            Some(referral()),
        ),
        ("get", "/v1/members/{staff_id}", Who::StaffOrTheMember, None),
        (
            "put",
            "/v1/members/{staff_id}/preferences",
            Who::StaffOrTheMember,
            Some(json!({"channel": "phone"})),
        ),
        (
            "post",
            "/v1/members/{staff_id}/opt-out",
            Who::StaffOrTheMember,
            None,
        ),
        (
            "post",
            "/v1/members/{staff_id}/opt-in",
            Who::StaffOrTheMember,
            None,
        ),
        ("get", "/v1/supporters", Who::Roles(STAFF), None),
        (
            "post",
            "/v1/supporters",
            Who::Roles(STAFF),
            Some(roster_entry("E40004")),
        ),
        ("get", "/v1/supporters/{staff_id}", Who::Roles(STAFF), None),
        (
            "put",
            "/v1/supporters/{staff_id}",
            Who::Roles(STAFF),
            Some(roster_entry(SUPPORTER)),
        ),
        (
            "post",
            "/v1/supporters/{staff_id}/pause",
            Who::Roles(STAFF),
            None,
        ),
        (
            "post",
            "/v1/supporters/{staff_id}/resume",
            Who::Roles(STAFF),
            None,
        ),
        (
            "get",
            "/v1/statistics",
            Who::Roles(&[Director, ProgramManager, SafetyOffice]),
            None,
        ),
        (
            "post",
            "/v1/statistics/publications",
            Who::Roles(&[Director, Service]),
            Some(json!({"period": "2026-Q3"})),
        ),
        ("get", "/v1/group-debriefs", Who::Roles(STAFF), None),
        (
            "post",
            "/v1/feedback/{token}",
            Who::Public,
            Some(json!({"helpfulness": 4, "would_recommend": true})),
        ),
        ("get", "/v1/access-audit", Who::Roles(&[Director]), None),
        (
            "get",
            "/v1/supporters/{staff_id}/changes",
            Who::Roles(&[Director]),
            None,
        ),
    ]
}

fn referral() -> Value {
    json!({
        "referred_by": "colleague",
        "campus": "North",
        "unit": "ICU 4",
        "member": {
            "staff_id": "E8",
            "name": {"given": "Ana", "family": "Silva"},
            "role": "Registered nurse",
            "discipline": "nurse",
            "department": "Critical care",
            "contact": {"email": "ana.silva@hospital.example"}
        }
    })
}

fn roster_entry(staff_id: &str) -> Value {
    json!({
        "staff_id": staff_id,
        "given_name": "Ines",
        "family_name": "Okafor",
        "email": "ines.okafor@hospital.example",
        "campus": "North",
        "department": "Emergency medicine",
        "discipline": "nurse",
        "seniority": "senior",
        "languages": ["en"],
        "training": {"status": "trained", "completed_on": "2026-01-15"},
        // Room for a case per route tried.
        "capacity": 20,
        "availability": {"weekly_hours": [], "on_call": []}
    })
}

/// The staff id each role's caller has: the supporter is the case's, the member the record's.
fn staff_id_of(role: Role) -> &'static str {
    match role {
        PeerSupporter => SUPPORTER,
        CareTeamMember => MEMBER,
        Director => "E90001",
        ProgramManager => "E90002",
        SafetyOffice => "E90003",
        Service => "E90004",
    }
}

/// A case of `MEMBER`, assigned to `SUPPORTER`, for one route to be tried on.
async fn assigned_case(app: &TestApp) -> Uuid {
    let case_id = app.open_case().await;
    let assigned = app
        .post(
            &format!("/v1/cases/{case_id}/assignment"),
            Some(json!({"supporter_id": SUPPORTER})),
            None,
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    case_id
}

fn request(method: &str, path: &str, case_id: Uuid, body: Option<&Value>) -> Request<Body> {
    let staff_id = if path.starts_with("/v1/supporters/") {
        SUPPORTER
    } else {
        MEMBER
    };
    let uri = path
        .replace("{case_id}", &case_id.to_string())
        .replace("{staff_id}", staff_id)
        .replace("{token}", &"ab".repeat(32));
    match method {
        "get" => Request::get(uri).body(Body::empty()).unwrap(),
        "post" => post_request(&uri, body.cloned(), None),
        "put" => Request::builder()
            .method(Method::PUT)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.map(Value::to_string).unwrap_or_default()))
            .unwrap(),
        other => panic!("no requests for {other}"),
    }
}

#[test]
fn every_route_of_the_api_is_in_the_table() {
    let documented: BTreeSet<(String, String)> = outreach_api::openapi()
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            [
                ("get", item.get.is_some()),
                ("post", item.post.is_some()),
                ("put", item.put.is_some()),
                ("delete", item.delete.is_some()),
                ("patch", item.patch.is_some()),
            ]
            .into_iter()
            .filter(|(_, present)| *present)
            .map(move |(method, _)| (method.to_owned(), path.clone()))
        })
        .collect();
    let tabled: BTreeSet<(String, String)> = routes()
        .into_iter()
        .map(|(method, path, _, _)| (method.to_owned(), path.to_owned()))
        .collect();
    assert_eq!(documented, tabled);
    let public: BTreeSet<(String, String)> = outreach_api::PUBLIC_ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    let tabled_public: BTreeSet<(String, String)> = routes()
        .into_iter()
        .filter(|(_, _, who, _)| matches!(who, Who::Public))
        .map(|(method, path, _, _)| (method.to_owned(), path.to_owned()))
        .collect();
    assert_eq!(public, tabled_public);
}

fn allowed(who: Who, role: Role, on_own: bool) -> bool {
    match who {
        Who::Public => true,
        Who::Roles(roles) => roles.contains(&role),
        Who::StaffOrCaseSupporter => STAFF.contains(&role) || (role == PeerSupporter && on_own),
        Who::StaffOrTheMember => {
            STAFF.contains(&role) || (matches!(role, PeerSupporter | CareTeamMember) && on_own)
        }
    }
}

#[tokio::test]
async fn every_role_may_call_exactly_the_routes_its_part_in_the_program_needs() {
    let app = TestApp::spawn().await;
    let roomy = app
        .put(
            &format!("/v1/supporters/{SUPPORTER}"),
            roster_entry(SUPPORTER),
        )
        .await;
    assert_eq!(roomy.status, StatusCode::OK, "{}", roomy.body);
    let mut wrong = Vec::new();
    for (method, path, who, body) in routes() {
        // A case of its own for each route that acts on one.
        let case_id = if path.contains("case") {
            assigned_case(&app).await
        } else {
            Uuid::nil()
        };
        // Every role as the case's supporter or the record's member, then a supporter and a
        // member who are someone else.
        let mut callers: Vec<(Role, &str, bool)> = Role::ALL
            .into_iter()
            .map(|role| (role, staff_id_of(role), true))
            .collect();
        callers.push((PeerSupporter, OTHER_SUPPORTER, false));
        callers.push((CareTeamMember, "E8", false));
        for (role, staff_id, own) in callers {
            // The member's own record is theirs whether they support others or not.
            let own = own && !(path.starts_with("/v1/members/") && staff_id != MEMBER);
            let token = app.token(role, Some(staff_id));
            let response = app
                .send_as(Some(&token), request(method, path, case_id, body.as_ref()))
                .await;
            let expected = allowed(who, role, own);
            let refused = response.status == StatusCode::FORBIDDEN;
            let unauthenticated = response.status == StatusCode::UNAUTHORIZED;
            if unauthenticated || refused == expected {
                wrong.push(format!(
                    "{method} {path} as {role} ({staff_id}): {} {}",
                    response.status, response.body
                ));
            }
            if refused {
                assert_eq!(
                    response.body["type"],
                    "https://peer-outreach.dev/problems/forbidden"
                );
            }
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
}

/// Tokens that must never let anyone in: expired, for another audience, from another issuer,
/// unsigned, tampered with; and no token at all.
fn bad_tokens(app: &TestApp) -> Vec<(&'static str, Option<String>)> {
    let valid = || TokenRequest::new("oidc|director", Director).staff_id("E90001");
    let mint = |request: TokenRequest| app.issuer.mint(&request).unwrap();
    let expired = mint(TokenRequest {
        expires_in: -600,
        ..valid()
    });
    let wrong_audience = mint(TokenRequest {
        audience: Some("payroll".into()),
        ..valid()
    });
    let wrong_issuer = mint(TokenRequest {
        issuer: Some("https://login.elsewhere.example".into()),
        ..valid()
    });
    let token = mint(valid());
    let parts: Vec<&str> = token.split('.').collect();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 0x80;
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    vec![
        ("expired", Some(expired)),
        ("wrong audience", Some(wrong_audience)),
        ("wrong issuer", Some(wrong_issuer)),
        ("unsigned (alg none)", Some(unsigned)),
        ("tampered signature", Some(tampered)),
        ("no token", None),
    ]
}

#[tokio::test]
async fn no_route_but_the_public_ones_answers_a_bad_token_or_none() {
    let app = TestApp::spawn().await;
    let case_id = assigned_case(&app).await;
    let mut wrong = Vec::new();
    for (kind, token) in bad_tokens(&app) {
        for (method, path, who, body) in routes() {
            let response = app
                .send_as(
                    token.as_deref(),
                    request(method, path, case_id, body.as_ref()),
                )
                .await;
            let public = matches!(who, Who::Public);
            let unauthenticated = response.status == StatusCode::UNAUTHORIZED;
            if public == unauthenticated {
                wrong.push(format!("{method} {path} with {kind}: {}", response.status));
            }
            if unauthenticated {
                assert_eq!(
                    response.body["type"],
                    "https://peer-outreach.dev/problems/unauthenticated"
                );
                assert!(response.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"));
            }
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
}
