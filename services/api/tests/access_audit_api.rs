//! Every read of a member's personal data is on record, for the director, and the record
//! cannot be changed.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::TestApp;
use outreach_auth::Role;
use serde_json::{json, Value};

fn reads(audit: &Value) -> Vec<(String, String, Value)> {
    audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| {
            (
                record["subject"].as_str().unwrap_or_default().to_owned(),
                record["endpoint"].as_str().unwrap().to_owned(),
                record["case_id"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_director_sees_who_read_which_case_when_and_how() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    let assigned = app
        .post(
            &format!("/v1/cases/{case_id}/assignment"),
            Some(json!({"supporter_id": "E20001"})),
            None,
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK);
    app.project(Arc::new(outreach_projections::OutreachProjection))
        .await;
    let manager = app.token(Role::ProgramManager, Some("E90002"));
    let supporter = app.token(Role::PeerSupporter, Some("E20001"));

    assert_eq!(
        app.get_as(&manager, "/v1/cases").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get_as(&manager, &format!("/v1/cases/{case_id}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get_as(&supporter, "/v1/my/cases").await.status,
        StatusCode::OK
    );
    // A refused read reads nothing, and is not a read.
    app.get_as(&supporter, &format!("/v1/cases/{case_id}"))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");

    let audit = app.get("/v1/access-audit").await;

    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    let case = json!(case_id);
    assert_eq!(
        reads(&audit.body),
        vec![
            (
                "oidc|program_manager".into(),
                "GET /v1/cases".into(),
                case.clone()
            ),
            (
                "oidc|program_manager".into(),
                "GET /v1/cases/{case_id}".into(),
                case.clone()
            ),
            (
                "oidc|peer_supporter".into(),
                "GET /v1/my/cases".into(),
                case
            ),
        ]
    );
    let first = &audit.body["records"][0];
    assert_eq!(first["reader_roles"], json!(["program_manager"]));
    assert_eq!(first["reader_staff_id"], "E90002");
    assert!(first["read_at"].is_string());

    let by_case = app
        .get(&format!(
            "/v1/access-audit?case_id={case_id}&subject=oidc%7Cpeer_supporter"
        ))
        .await;
    assert_eq!(reads(&by_case.body).len(), 1);
    // Only the director reads the audit.
    app.get_as(&manager, "/v1/access-audit")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn a_members_own_record_read_is_on_record_too() {
    let app = TestApp::spawn().await;
    let stated = app
        .put("/v1/members/E7/preferences", json!({"channel": "phone"}))
        .await;
    assert_eq!(stated.status, StatusCode::OK);
    let member = app.token(Role::CareTeamMember, Some("E7"));

    assert_eq!(
        app.get_as(&member, "/v1/members/E7").await.status,
        StatusCode::OK
    );

    let manager = app.token(Role::ProgramManager, Some("E90002"));
    assert_eq!(
        app.get_as(&manager, "/v1/members/E7").await.status,
        StatusCode::OK
    );

    let audit = app.get("/v1/access-audit").await;
    let record = &audit.body["records"][0];
    assert_eq!(record["endpoint"], "GET /v1/members/{staff_id}");
    assert_eq!(record["case_id"], Value::Null);
    assert_eq!(
        record["member_id"],
        json!(app.commands.member_id("E7").await.unwrap())
    );
    // The member is not named: who they are is theirs to have forgotten.
    assert_eq!(record["subject"], Value::Null);
    assert_eq!(record["reader_staff_id"], Value::Null);
    assert_eq!(record["reader_relation"], "self");
    assert_eq!(record["reader_roles"], json!(["care_team_member"]));
    // Someone reading it for the program is.
    let record = &audit.body["records"][1];
    assert_eq!(record["subject"], "oidc|program_manager");
    assert_eq!(record["reader_staff_id"], "E90002");
    assert_eq!(record["reader_relation"], Value::Null);
}

/// Runs `statement` as the server's superuser with the audit's triggers off.
async fn tamper(app: &TestApp, statement: &str) {
    let owner = app.owner_pool().await;
    let mut superuser = owner.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *superuser)
        .await
        .unwrap();
    sqlx::query(statement)
        .execute(&mut *superuser)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_audit_says_whether_its_hash_chain_holds() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    app.project(Arc::new(outreach_projections::OutreachProjection))
        .await;
    let read = || async {
        let case = app.get(&format!("/v1/cases/{case_id}")).await;
        assert_eq!(case.status, StatusCode::OK);
    };
    for _ in 0..3 {
        read().await;
    }

    let audit = app.get("/v1/access-audit").await;
    assert_eq!(
        audit.body["chain"],
        json!({"intact": true, "verified_through": 3, "more_to_check": false,
               "last_full_walk_at": null, "first_break": null})
    );

    // Two more reads, and the second of them altered: the next request checks what is new.
    read().await;
    read().await;
    tamper(
        &app,
        "UPDATE access_audit SET subject = 'oidc|nobody' WHERE entry_id = 5",
    )
    .await;
    let audit = app.get("/v1/access-audit").await;
    let chain = &audit.body["chain"];
    assert_eq!(chain["intact"], false);
    assert_eq!(chain["first_break"]["entry_id"], 5);
    assert_eq!(chain["verified_through"], 3);

    // An entry altered behind the last one found intact is the whole walk's to find: the
    // service walks the chain at start and every six hours.
    tamper(
        &app,
        "UPDATE access_audit SET subject = 'oidc|nobody' WHERE entry_id = 2",
    )
    .await;
    let walked = outreach_api::audit_chain::verify_whole_chain(&app.pool)
        .await
        .unwrap();
    assert!(matches!(
        walked,
        outreach_api::audit_chain::WholeChain::Broken(ref broken) if broken.entry_id == 2
    ));
    let audit = app.get("/v1/access-audit").await;
    let chain = &audit.body["chain"];
    assert_eq!(chain["intact"], false);
    assert_eq!(chain["first_break"]["entry_id"], 2);
    assert!(chain["last_full_walk_at"].is_string());
}

#[tokio::test]
async fn nobody_can_change_or_delete_the_access_audit() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    app.project(Arc::new(outreach_projections::OutreachProjection))
        .await;
    assert_eq!(
        app.get(&format!("/v1/cases/{case_id}")).await.status,
        StatusCode::OK
    );

    // The service's own role holds no right to; the owner, who could grant one, is stopped by
    // the table's triggers.
    let owner = app.owner_pool().await;
    for statement in [
        "UPDATE access_audit SET subject = 'someone else'",
        "DELETE FROM access_audit",
        "TRUNCATE access_audit",
    ] {
        let error = sqlx::query(statement)
            .execute(&app.pool)
            .await
            .expect_err(statement);
        assert!(
            error.to_string().contains("permission denied"),
            "{statement}: {error}"
        );
        let error = sqlx::query(statement)
            .execute(&owner)
            .await
            .expect_err(statement);
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    let audit = app.get("/v1/access-audit").await;
    assert_eq!(audit.body["records"][0]["subject"], "oidc|director");
    assert_eq!(audit.body["records"].as_array().unwrap().len(), 1);
}
