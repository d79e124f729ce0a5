//! Care team members' referrals, preferences and opting out, through HTTP to the event store of
//! a real database. What the commands did is read from the event store and from the member's
//! record (`GET /v1/members/{staff_id}`).

mod common;

use axum::http::StatusCode;
use common::{TestApp, TestResponse};
use outreach_domain::{CasePolicies, EligibilityPolicy};
use serde_json::{json, Value};
use uuid::Uuid;

const MEMBER: &str = "E10001";

/// A referral of `MEMBER`, a nurse, by `referred_by`.
fn referral(referred_by: &str) -> Value {
    json!({
        "referred_by": referred_by,
        "campus": "North",
        "unit": "ICU 4",
        "member": {
            "staff_id": MEMBER,
            "name": {"given": "Ana", "family": "Silva"},
            "role": "Registered nurse",
            "discipline": "nurse",
            "department": "Critical care",
            "seniority": "mid_career",
            "contact": {"email": "ana.silva@hospital.example", "mobile": "+1 555 0100"},
            "preferred_channel": "text"
        }
    })
}

fn with_referral_id(mut body: Value, referral_id: Uuid) -> Value {
    body["referral_id"] = json!(referral_id);
    body
}

/// The payloads of the events of one type stored for an aggregate, oldest first.
async fn payloads(app: &TestApp, aggregate_id: Uuid, event_type: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_id = $1 AND event_type = $2 ORDER BY sequence",
    )
    .bind(aggregate_id.to_string())
    .bind(event_type)
    .fetch_all(&app.pool)
    .await
    .expect("read the event store")
}

async fn count_events(app: &TestApp, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&app.pool)
        .await
        .expect("read the event store")
}

async fn count_all_events(app: &TestApp) -> i64 {
    // The roster every test app starts with is not the members' doing.
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type <> 'PeerSupporter'")
        .fetch_one(&app.pool)
        .await
        .expect("read the event store")
}

fn member_uri(staff_id: &str) -> String {
    format!("/v1/members/{staff_id}")
}

/// Asserts a 201 that opened a case; returns its id.
fn assert_opened(response: &TestResponse, referral_id: Option<Uuid>) -> Uuid {
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    assert_eq!(response.body["outcome"], "opened");
    let case_id: Uuid = serde_json::from_value(response.body["case_id"].clone()).unwrap();
    let sent_or_generated: Uuid =
        serde_json::from_value(response.body["referral_id"].clone()).unwrap();
    if let Some(referral_id) = referral_id {
        assert_eq!(sent_or_generated, referral_id);
    }
    assert_eq!(
        response.headers.get("location").unwrap(),
        &format!("/v1/cases/{case_id}")
    );
    case_id
}

#[tokio::test]
async fn a_self_referral_opens_a_case_for_the_member() {
    let app = TestApp::spawn().await;

    let response = app
        .post("/v1/referrals", Some(referral("self")), None)
        .await;

    let case_id = assert_opened(&response, None);
    // Without a referral id, one is generated and returned.
    let referral_id: Uuid = serde_json::from_value(response.body["referral_id"].clone()).unwrap();
    assert_eq!(referral_id.get_version_num(), 4);
    assert_eq!(app.event_types(case_id).await, ["CaseOpened"]);
    let opened = &payloads(&app, case_id, "CaseOpened").await[0]["CaseOpened"];
    let facts = &opened["facts"];
    assert_eq!(facts["trigger"], "self_referral");
    assert_eq!(
        facts["report"],
        json!({"source": "referral", "report_id": referral_id.to_string()})
    );
    assert_eq!(facts["campus"], "North");
    assert_eq!(facts["unit"], "ICU 4");
    // The member's profile is personal data too (issue 27): sealed, and read opened.
    assert!(facts["member"]["sealed"].is_object(), "{opened}");
    assert!(!opened.to_string().contains(MEMBER), "{opened}");
    let mut member = facts["member"].clone();
    let mut conn = app.pool.acquire().await.unwrap();
    outreach_privacy::open_all(&mut conn, vec![&mut member])
        .await
        .expect("the member's key opens it");
    assert_eq!(member["staff_id"], MEMBER);
    assert_eq!(member["discipline"], "nurse");
    assert_eq!(member["seniority"], "mid_career");
    assert_eq!(member["involvement"], "other");
    // Name and contact details sit in the purgeable part only, sealed under the member's key.
    assert!(opened["personal"]["sealed"].is_object(), "{opened}");
    for plain in ["Silva", "ana.silva@hospital.example", "+1 555 0100"] {
        assert!(
            !opened.to_string().contains(plain),
            "{plain} in the event store"
        );
    }
    assert!(!facts.to_string().contains("Silva"));

    // The member's record knows the open case.
    let member = app.get(&member_uri(MEMBER)).await;
    assert_eq!(member.status, StatusCode::OK, "{}", member.body);
    assert_eq!(member.body["staff_id"], MEMBER);
    assert_eq!(member.body["open_case_id"], json!(case_id));
    assert_eq!(member.body["opted_out"], false);
    assert_eq!(member.body["version"], 1);
}

#[tokio::test]
async fn the_same_referral_sent_twice_opens_one_case() {
    let app = TestApp::spawn().await;
    let referral_id = Uuid::new_v4();
    let body = with_referral_id(referral("self"), referral_id);

    let first = app.post("/v1/referrals", Some(body.clone()), None).await;
    let second = app.post("/v1/referrals", Some(body), None).await;

    let case_id = assert_opened(&first, Some(referral_id));
    assert_eq!(assert_opened(&second, Some(referral_id)), case_id);
    assert_eq!(first.body, second.body);
    assert_eq!(app.event_types(case_id).await, ["CaseOpened"]);
    assert_eq!(count_events(&app, "CaseOpened").await, 1);
    assert_eq!(count_events(&app, "CaseStarted").await, 1);
}

#[tokio::test]
async fn a_colleague_referral_joins_the_members_open_case() {
    let app = TestApp::spawn().await;
    let first = app
        .post("/v1/referrals", Some(referral("self")), None)
        .await;
    let case_id = assert_opened(&first, None);
    let referral_id = Uuid::new_v4();

    let response = app
        .post(
            "/v1/referrals",
            Some(with_referral_id(referral("colleague"), referral_id)),
            None,
        )
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(
        response.body,
        json!({"referral_id": referral_id, "case_id": case_id, "outcome": "linked"})
    );
    assert!(response.headers.get("location").is_none());
    assert_eq!(
        app.event_types(case_id).await,
        ["CaseOpened", "TriggerLinked"]
    );
    let linked = &payloads(&app, case_id, "TriggerLinked").await[0]["TriggerLinked"];
    assert_eq!(linked["trigger"], "colleague_referral");
    assert_eq!(
        linked["report"],
        json!({"source": "referral", "report_id": referral_id.to_string()})
    );
    // Nobody is contacted twice: no second case.
    assert_eq!(count_events(&app, "CaseOpened").await, 1);

    // A supervisor's referral sent twice joins once more, and once only.
    let supervisor = with_referral_id(referral("supervisor"), Uuid::new_v4());
    for _ in 0..2 {
        let response = app
            .post("/v1/referrals", Some(supervisor.clone()), None)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.body["outcome"], "linked");
    }
    assert_eq!(
        app.event_types(case_id).await,
        ["CaseOpened", "TriggerLinked", "TriggerLinked"]
    );
}

#[tokio::test]
async fn a_referral_for_a_discipline_the_program_does_not_serve_is_refused() {
    let app = TestApp::spawn_with_policies(CasePolicies {
        eligibility: EligibilityPolicy::physicians_only(),
        ..Default::default()
    })
    .await;

    let response = app
        .post("/v1/referrals", Some(referral("self")), None)
        .await;

    let detail = response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "member-not-eligible");
    assert_eq!(response.body["rule"], "member-not-eligible");
    assert!(detail.contains("nurse"), "{detail}");
    assert_eq!(count_all_events(&app).await, 0);
    app.get(&member_uri(MEMBER))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "member-not-found");

    // A physician is served.
    let mut physician = referral("colleague");
    physician["member"]["discipline"] = json!("physician");
    let response = app.post("/v1/referrals", Some(physician), None).await;
    assert_opened(&response, None);
}

#[tokio::test]
async fn a_referral_with_an_unknown_field_is_a_400_problem_and_nothing_is_recorded() {
    let app = TestApp::spawn().await;
    let mut with_reason = referral("colleague");
    with_reason["reason"] = json!("she made a medication error and cried");
    let mut with_nested = referral("colleague");
    with_nested["member"]["notes"] = json!("seemed upset");

    for (body, field) in [(with_reason, "`reason`"), (with_nested, "`notes`")] {
        let response = app.post("/v1/referrals", Some(body), None).await;

        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        assert!(detail.contains(field), "{detail}");
    }
    assert_eq!(count_all_events(&app).await, 0);
}

#[tokio::test]
async fn malformed_referrals_are_400_problems_naming_the_field() {
    let app = TestApp::spawn().await;
    // The referral with one field set (added if absent).
    let with = |pointer: &str, value: Value| {
        let mut body = referral("self");
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[key] = value;
        body
    };

    for (body, field) in [
        (with("/referred_by", json!("manager")), "referred_by"),
        (with("/referral_id", json!("not-a-uuid")), "referral_id"),
        (with("/campus", json!("")), "campus"),
        (with("/unit", json!("x".repeat(101))), "unit"),
        (
            with("/member/staff_id", json!("E1 0001")),
            "member.staff_id",
        ),
        (with("/member/name/given", json!("  ")), "member.name.given"),
        (
            with("/member/role", json!("nurse\nsee notes")),
            "member.role",
        ),
        (
            with("/member/discipline", json!("surgeon")),
            "member.discipline",
        ),
        (
            with("/member/seniority", json!("junior")),
            "member.seniority",
        ),
        (
            with("/member/contact/email", json!("ana.silva")),
            "member.contact.email",
        ),
        (
            with("/member/contact/mobile", json!("call 555")),
            "member.contact.mobile",
        ),
        (
            with("/member/preferred_channel", json!("pager")),
            "member.preferred_channel",
        ),
        // Involvement is not the client's to say.
        (with("/member/involvement", json!("primary")), "involvement"),
        // No way to reach the member.
        (with("/member/contact", json!({})), "member.contact"),
        (
            with("/member/contact", json!({"email": null, "phone": null})),
            "member.contact",
        ),
    ] {
        let response = app.post("/v1/referrals", Some(body), None).await;

        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        assert!(detail.contains(field), "{field}: {detail}");
    }
    assert_eq!(count_all_events(&app).await, 0);
}

#[tokio::test]
async fn stated_preferences_are_read_back_with_the_members_record() {
    let app = TestApp::spawn().await;
    let preferences = json!({
        "channel": "phone",
        "supporter_gender": "non_binary",
        "supporter_specialty": "Emergency medicine",
        "supporter_department": "own_department",
        "supporter_seniority": "more_senior",
        "supporter_language": "es"
    });

    let stated = app
        .put(
            &format!("{}/preferences", member_uri(MEMBER)),
            preferences.clone(),
        )
        .await;

    assert_eq!(stated.status, StatusCode::OK, "{}", stated.body);
    assert_eq!(stated.body, json!({"staff_id": MEMBER, "version": 1}));
    let member = app.get(&member_uri(MEMBER)).await;
    assert_eq!(member.status, StatusCode::OK, "{}", member.body);
    assert_eq!(
        member.body,
        json!({
            "staff_id": MEMBER,
            "opted_out": false,
            "open_case_id": null,
            "preferences": preferences,
            "version": 1
        })
    );

    // Stating them again changes nothing; stating fewer replaces them, the rest read null.
    let again = app
        .put(&format!("{}/preferences", member_uri(MEMBER)), preferences)
        .await;
    assert_eq!(again.body, json!({"staff_id": MEMBER, "version": 1}));
    let fewer = app
        .put(
            &format!("{}/preferences", member_uri(MEMBER)),
            json!({"channel": "email"}),
        )
        .await;
    assert_eq!(fewer.body, json!({"staff_id": MEMBER, "version": 2}));
    let member = app.get(&member_uri(MEMBER)).await;
    assert_eq!(
        member.body["preferences"],
        json!({
            "channel": "email",
            "supporter_gender": null,
            "supporter_specialty": null,
            "supporter_department": null,
            "supporter_seniority": null,
            "supporter_language": null
        })
    );
    assert_eq!(member.body["version"], 2);
}

#[tokio::test]
async fn an_opted_out_member_reads_opted_out_until_opting_back_in() {
    let app = TestApp::spawn().await;
    let member_id = app.commands.member_id(MEMBER).await.unwrap();

    // No body at all, and an empty object, are the same command.
    let opted_out = app
        .post(&format!("{}/opt-out", member_uri(MEMBER)), None, None)
        .await;
    assert_eq!(opted_out.status, StatusCode::OK, "{}", opted_out.body);
    assert_eq!(opted_out.body, json!({"staff_id": MEMBER, "version": 1}));
    let again = app
        .post(
            &format!("{}/opt-out", member_uri(MEMBER)),
            Some(json!({})),
            None,
        )
        .await;
    assert_eq!(again.body, json!({"staff_id": MEMBER, "version": 1}));

    let member = app.get(&member_uri(MEMBER)).await;
    assert_eq!(member.status, StatusCode::OK, "{}", member.body);
    assert_eq!(member.body["opted_out"], true);
    assert_eq!(member.body["version"], 1);

    let opted_in = app
        .post(&format!("{}/opt-in", member_uri(MEMBER)), None, None)
        .await;
    assert_eq!(opted_in.body, json!({"staff_id": MEMBER, "version": 2}));
    assert_eq!(app.get(&member_uri(MEMBER)).await.body["opted_out"], false);
    assert_eq!(app.event_types(member_id).await, ["OptedOut", "OptedIn"]);

    // Opting out takes no reason.
    let with_reason = app
        .post(
            &format!("{}/opt-out", member_uri(MEMBER)),
            Some(json!({"reason": "too busy"})),
            None,
        )
        .await;
    let detail = with_reason.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    assert!(detail.contains("`reason`"), "{detail}");
}

#[tokio::test]
async fn a_preferred_specialty_over_100_characters_is_refused() {
    let app = TestApp::spawn().await;

    let response = app
        .put(
            &format!("{}/preferences", member_uri(MEMBER)),
            json!({"supporter_specialty": "x".repeat(101)}),
        )
        .await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "specialty-too-long");
    assert_eq!(response.body["rule"], "specialty-too-long");
    assert_eq!(count_all_events(&app).await, 0);
    // Exactly 100 is a name.
    let hundred = app
        .put(
            &format!("{}/preferences", member_uri(MEMBER)),
            json!({"supporter_specialty": "x".repeat(100)}),
        )
        .await;
    assert_eq!(hundred.status, StatusCode::OK, "{}", hundred.body);
}

#[tokio::test]
async fn an_unknown_member_is_a_404_and_a_malformed_staff_id_a_400_naming_it() {
    let app = TestApp::spawn().await;

    app.get(&member_uri("E99999"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "member-not-found");

    for response in [
        app.get("/v1/members/-E1").await,
        app.get("/v1/members/E%201").await,
        app.post("/v1/members/E%201/opt-out", None, None).await,
        app.put("/v1/members/%C3%841/preferences", json!({})).await,
    ] {
        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
        assert!(detail.contains("`staff_id`"), "{detail}");
    }
    assert_eq!(count_all_events(&app).await, 0);
}

#[tokio::test]
async fn an_unreachable_event_store_is_a_503_problem() {
    let app = TestApp::without_database();

    let referral = app
        .post("/v1/referrals", Some(referral("self")), None)
        .await;
    let member = app.get(&member_uri(MEMBER)).await;

    for response in [referral, member] {
        let detail = response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(!detail.contains("127.0.0.1"), "{detail}");
    }
}

/// What the document says is what is taken: a body is required where one is documented, a
/// field documented as a string is never `null`, and a body is an object.
#[tokio::test]
async fn a_missing_body_a_null_and_an_array_are_400s_that_record_nothing() {
    let app = TestApp::spawn().await;
    let before = count_all_events(&app).await;
    let no_body = app
        .request(
            axum::http::Method::PUT,
            &format!("{}/preferences", member_uri(MEMBER)),
            Vec::new(),
        )
        .await;
    let mut null_id = referral("self");
    null_id["referral_id"] = Value::Null;
    let null = app.post("/v1/referrals", Some(null_id), None).await;
    let array = app
        .post(
            &format!("{}/opt-out", member_uri(MEMBER)),
            Some(json!([])),
            None,
        )
        .await;

    for response in [no_body, null, array] {
        response.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    }
    assert_eq!(count_all_events(&app).await, before);
}
