//! Every write names its author: each command route, called by someone, stores events whose
//! metadata names them (the program's staff by subject, staff id and role; a care team member
//! by role and relation only, never by an identifier); the director reads it back, on the
//! case's timeline and in a supporter's roster changes; nobody else sees it.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestApp;
use outreach_auth::Role;
use outreach_domain::{CasePolicies, RosterPolicy};
use outreach_events::case::CaseEvent;
use serde_json::{json, Value};
use uuid::Uuid;

async fn app() -> TestApp {
    TestApp::spawn_with_policies(CasePolicies {
        roster: RosterPolicy {
            campuses: vec!["North".into(), "South".into()],
        },
        ..CasePolicies::default()
    })
    .await
}

/// Someone calling: their token, and what the metadata must say of them.
struct Caller {
    token: String,
    expected: Value,
}

fn staff(app: &TestApp, role: Role, staff_id: &str) -> Caller {
    Caller {
        token: app.token(role, Some(staff_id)),
        expected: json!({
            "author_role": role.code(),
            "author_subject": format!("oidc|{}", role.code()),
            "author_staff_id": staff_id,
        }),
    }
}

fn member(app: &TestApp, staff_id: &str, relation: &str) -> Caller {
    Caller {
        token: app.token(Role::CareTeamMember, Some(staff_id)),
        expected: json!({"author_role": "care_team_member", "author_relation": relation}),
    }
}

/// The metadata of every event stored after `position`, oldest first.
async fn metadata_since(app: &TestApp, position: i64) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT metadata::jsonb FROM events WHERE global_position > $1 ORDER BY global_position",
    )
    .bind(position)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn last_position(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Sends `method path body` as `caller`, expects `status`, and checks that every event it
/// stored names the caller as expected, through the API, and nothing more of a care team
/// member.
async fn attributed(
    app: &TestApp,
    caller: &Caller,
    method: &str,
    path: &str,
    body: Value,
    status: StatusCode,
) -> Value {
    let before = last_position(app).await;
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.send_as(Some(&caller.token), request).await;
    assert_eq!(
        response.status, status,
        "{method} {path}: {}",
        response.body
    );
    let stored = metadata_since(app, before).await;
    assert!(!stored.is_empty(), "{method} {path} stored no event");
    for metadata in &stored {
        for (key, value) in caller.expected.as_object().unwrap() {
            assert_eq!(&metadata[key], value, "{method} {path}: {metadata}");
        }
        assert_eq!(metadata["source"], "api", "{method} {path}: {metadata}");
        if caller.expected["author_role"] == "care_team_member" {
            assert!(
                metadata.get("author_subject").is_none()
                    && metadata.get("author_staff_id").is_none(),
                "{method} {path} names a care team member: {metadata}"
            );
        }
    }
    response.body
}

/// Every operation of the API that changes something, as `(method, route)`: the OpenAPI
/// document's POST, PUT, PATCH and DELETE operations.
fn command_routes() -> BTreeSet<(String, String)> {
    outreach_api::openapi()
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            [
                ("post", item.post.is_some()),
                ("put", item.put.is_some()),
                ("patch", item.patch.is_some()),
                ("delete", item.delete.is_some()),
            ]
            .into_iter()
            .filter(|(_, present)| *present)
            .map(move |(method, _)| (method.to_owned(), path.clone()))
        })
        .collect()
}

/// The route a request path was sent to: the segment after `cases`, `supporters` or `members`
/// is that route's id.
fn route_of(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .iter()
        .enumerate()
        .map(
            |(n, segment)| match n.checked_sub(1).map(|previous| segments[previous]) {
                Some("cases") => "{case_id}",
                Some("supporters") | Some("members") => "{staff_id}",
                _ => segment,
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn roster_entry(staff_id: &str) -> Value {
    json!({
        "staff_id": staff_id,
        "given_name": "Ines",
        "family_name": format!("Okafor {staff_id}"),
        "email": format!("{}@hospital.example", staff_id.to_lowercase()),
        "campus": "North",
        "department": "Emergency medicine",
        "discipline": "nurse",
        "seniority": "senior",
        "languages": ["en"],
        "training": {"status": "trained", "completed_on": "2026-01-15"},
        "capacity": 3,
        "availability": {"weekly_hours": [], "on_call": []}
    })
}

fn referral(referred_by: &str, staff_id: &str) -> Value {
    json!({
        "referred_by": referred_by,
        "campus": "North",
        "unit": "ICU 4",
        "member": {
            "staff_id": staff_id,
            "name": {"given": "Ana", "family": "Silva"},
            "role": "Registered nurse",
            "discipline": "nurse",
            "department": "Critical care",
            "contact": {"email": "ana.silva@hospital.example"}
        }
    })
}

#[tokio::test]
async fn every_command_route_records_who_sent_it() {
    let app = app().await;
    let director = staff(&app, Role::Director, "E90001");
    let manager = staff(&app, Role::ProgramManager, "E90002");
    let supporter = staff(&app, Role::PeerSupporter, "E20001");
    // Care team members: of their own record and self-referral, of a colleague, a supervisor.
    let themselves = member(&app, "E7", "self");
    let self_referral = member(&app, "E61", "self");
    let colleague = member(&app, "E62", "colleague");
    let supervisor = member(&app, "E64", "supervisor");
    let (worked, declined, merged, kept) = (
        app.open_case().await,
        app.open_case().await,
        app.open_case().await,
        app.open_case().await,
    );
    let today = chrono::Utc::now().date_naive().to_string();
    let mut changed = roster_entry("E50005");
    changed["capacity"] = json!(4);
    let (ok, created) = (StatusCode::OK, StatusCode::CREATED);
    // Anyone but the program's staff is told only that a referral was taken in.
    let accepted = StatusCode::ACCEPTED;
    let on = |case: Uuid, step: &str| format!("/v1/cases/{case}/{step}");
    let no_body = || json!({});

    // Every command route, in an order the program's rules allow: a case worked from
    // assignment to reopening, a decline, a merge, the roster, a member's record, referrals.
    let calls: Vec<(&Caller, &str, String, Value, StatusCode)> = vec![
        (
            &manager,
            "POST",
            on(worked, "assignment"),
            json!({"supporter_id": "E20001"}),
            ok,
        ),
        (
            &supporter,
            "POST",
            on(worked, "contact-attempts"),
            json!({"channel": "phone", "outcome": "reached"}),
            ok,
        ),
        (&supporter, "POST", on(worked, "acceptance"), no_body(), ok),
        (
            &supporter,
            "POST",
            on(worked, "encounters"),
            json!({"held_on": today, "modality": "video", "format": "individual", "duration": "30_to_60_minutes"}),
            ok,
        ),
        (&supporter, "POST", on(worked, "resources"), no_body(), ok),
        (
            &supporter,
            "POST",
            on(worked, "professional-referrals"),
            json!({"service": "employee_assistance"}),
            ok,
        ),
        (
            &supporter,
            "POST",
            on(worked, "escalations"),
            json!({"category": "impairment_putting_patients_at_risk"}),
            ok,
        ),
        (
            &manager,
            "POST",
            on(worked, "closure"),
            json!({"reason": "completed"}),
            ok,
        ),
        (&director, "POST", on(worked, "reopening"), no_body(), ok),
        (
            &manager,
            "POST",
            on(declined, "assignment"),
            json!({"supporter_id": "E20001"}),
            ok,
        ),
        (
            &supporter,
            "POST",
            on(declined, "contact-attempts"),
            json!({"channel": "text", "outcome": "reached"}),
            ok,
        ),
        (&supporter, "POST", on(declined, "decline"), no_body(), ok),
        (
            &manager,
            "POST",
            on(merged, "merge"),
            json!({"into": kept}),
            ok,
        ),
        (
            &manager,
            "POST",
            "/v1/supporters".into(),
            roster_entry("E50005"),
            created,
        ),
        (
            &director,
            "PUT",
            "/v1/supporters/E50005".into(),
            changed,
            ok,
        ),
        (
            &manager,
            "POST",
            "/v1/supporters/E50005/pause".into(),
            no_body(),
            ok,
        ),
        (
            &manager,
            "POST",
            "/v1/supporters/E50005/resume".into(),
            no_body(),
            ok,
        ),
        (
            &themselves,
            "PUT",
            "/v1/members/E7/preferences".into(),
            json!({"channel": "phone"}),
            ok,
        ),
        (
            &themselves,
            "POST",
            "/v1/members/E7/opt-out".into(),
            no_body(),
            ok,
        ),
        (
            &manager,
            "POST",
            "/v1/members/E7/opt-in".into(),
            no_body(),
            ok,
        ),
        (
            &self_referral,
            "POST",
            "/v1/referrals".into(),
            referral("self", "E61"),
            accepted,
        ),
        (
            &colleague,
            "POST",
            "/v1/referrals".into(),
            referral("colleague", "E63"),
            accepted,
        ),
        (
            &supervisor,
            "POST",
            "/v1/referrals".into(),
            referral("supervisor", "E65"),
            accepted,
        ),
        (
            &director,
            "POST",
            "/v1/referrals".into(),
            referral("colleague", "E66"),
            created,
        ),
    ];
    let mut covered = BTreeSet::new();
    for (caller, method, path, body, status) in calls {
        attributed(&app, caller, method, &path, body, status).await;
        covered.insert((method.to_lowercase(), route_of(&path)));
    }
    // The colleague's referral of a member the program has no record of opened a case whose
    // contact is held for the staff to confirm: a manager confirms it.
    let held: String = sqlx::query_scalar("SELECT aggregate_id FROM events WHERE event_type = $1")
        .bind(CaseEvent::CONTACT_TO_CONFIRM)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let confirmation = format!("/v1/cases/{held}/contact-confirmation");
    attributed(&app, &manager, "POST", &confirmation, json!({}), ok).await;
    covered.insert(("post".to_owned(), route_of(&confirmation)));

    // Every route that changes something is above, but two that store no event: an anonymous
    // answer (which must name no one) and a publication (whose requester its own table keeps,
    // statistics_api::the_director_publishes_a_quarter_once_and_asking_again_sends_nothing).
    let unattributed = BTreeSet::from([
        ("post".to_owned(), "/v1/feedback/{token}".to_owned()),
        ("post".to_owned(), "/v1/statistics/publications".to_owned()),
    ]);
    let missing: Vec<_> = command_routes()
        .difference(&covered)
        .filter(|route| !unattributed.contains(route))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "command routes not tried here: {missing:?}"
    );

    // Nothing anywhere in the event store names a care team member who acted.
    let everything: Vec<String> = sqlx::query_scalar("SELECT metadata::text FROM events")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for who in ["oidc|care_team_member", "E61", "E62", "E64"] {
        assert!(
            !everything.iter().any(|metadata| metadata.contains(who)),
            "{who} is named in the metadata"
        );
    }
}

#[tokio::test]
async fn the_director_reads_who_changed_a_roster_entry_and_nobody_else_does() {
    let app = app().await;
    let manager = app.token(Role::ProgramManager, Some("E90002"));
    let added = app
        .post_as(&manager, "/v1/supporters", Some(roster_entry("E50005")))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let paused = app.post("/v1/supporters/E50005/pause", None, None).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);

    let changes = app.get("/v1/supporters/E50005/changes").await;

    assert_eq!(changes.status, StatusCode::OK, "{}", changes.body);
    let changes = changes.body["changes"].as_array().unwrap().clone();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["change"], "joined");
    assert_eq!(changes[0]["author"]["role"], "program_manager");
    assert_eq!(changes[0]["author"]["staff_id"], "E90002");
    assert_eq!(changes[1]["change"], "paused");
    assert_eq!(changes[1]["author"]["role"], "director");
    assert_eq!(changes[1]["author"]["subject"], "oidc|director");
    let refused = app.get_as(&manager, "/v1/supporters/E50005/changes").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    app.get("/v1/supporters/E99999/changes")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "supporter-not-found");
}

#[tokio::test]
async fn the_supporters_view_and_the_statistics_never_show_who_did_what() {
    let app = app().await;
    let case: Uuid = app.open_case().await;
    let manager = app.token(Role::ProgramManager, Some("E90002"));
    let assigned = app
        .post_as(
            &manager,
            &format!("/v1/cases/{case}/assignment"),
            Some(json!({"supporter_id": "E20001"})),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    for projection in [
        Arc::new(outreach_projections::OutreachProjection)
            as Arc<dyn outreach_projections::Projection>,
        Arc::new(outreach_projections::CaseTimeline),
        Arc::new(outreach_projections::StatisticsProjection::new(
            app.commands.policies().deadlines.calendar.clone(),
        )),
    ] {
        app.project(projection).await;
    }
    let supporter = app.token(Role::PeerSupporter, Some("E20001"));
    let safety_office = app.token(Role::SafetyOffice, None);
    let today = chrono::Utc::now().date_naive();
    let quarter = format!(
        "{}-Q{}",
        chrono::Datelike::year(&today),
        (chrono::Datelike::month(&today) - 1) / 3 + 1
    );

    // The safety office reads only quarters that are over; the running quarter's document,
    // which holds this case, is the one it will get, read here by the director.
    let last_quarter = outreach_domain::period::Period::quarter_of(today)
        .previous_quarter()
        .to_string();
    let views = [
        app.get_as(&supporter, "/v1/my/cases").await,
        app.get_as(&supporter, &format!("/v1/my/cases/{case}"))
            .await,
        app.get(&format!("/v1/statistics?period={quarter}")).await,
        app.get_as(
            &safety_office,
            &format!("/v1/statistics?period={last_quarter}"),
        )
        .await,
        app.get_as(&manager, &format!("/v1/cases/{case}/timeline"))
            .await,
    ];

    for view in views {
        assert_eq!(view.status, StatusCode::OK, "{}", view.body);
        let text = view.body.to_string();
        assert!(!text.contains("author"), "{text}");
        assert!(
            !text.contains("E90002") && !text.contains("oidc|"),
            "{text}"
        );
    }
    let directors = app.get(&format!("/v1/cases/{case}/timeline")).await;
    assert!(
        directors.body.to_string().contains("E90002"),
        "{}",
        directors.body
    );
}
