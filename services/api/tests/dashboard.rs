//! The dashboard's pages, driven in-process: signing in through the development issuer served
//! as an OpenID provider, sessions, CSRF refusal, which role may open which page, forms that
//! show their errors next to the field and change nothing, and page reads in the access audit.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use outreach_auth::Role;
use uuid::Uuid;

use common::site::{cookie_value, Site, REDIRECT};

#[tokio::test]
async fn pages_without_a_session_send_the_browser_to_sign_in_with_pkce() {
    let site = Site::new().await;

    let page = site.get("/dashboard/queue", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/dashboard/sign-in?return_to=%2Fdashboard%2Fqueue")
    );

    let start = site.get(page.location.as_deref().unwrap(), None).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let to = reqwest::Url::parse(start.location.as_deref().unwrap()).unwrap();
    let query: HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["redirect_uri"], REDIRECT);
    assert!(query["state"].len() >= 43 && query["nonce"].len() >= 43);
    let set = &start.cookies[0];
    assert!(
        set.starts_with("po_sign_in=") && set.contains("HttpOnly") && set.contains("SameSite=Lax")
    );
    // Nothing personal is in the sign-in's address: only the authorization request's own
    // parameters. (Not a search for a staff id: state, nonce and challenge are random and spell
    // one now and then.)
    let mut keys: Vec<&str> = query.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "client_id",
            "code_challenge",
            "code_challenge_method",
            "nonce",
            "redirect_uri",
            "response_type",
            "scope",
            "state"
        ]
    );
}

#[tokio::test]
async fn an_answer_that_is_not_this_browsers_sign_in_is_refused() {
    let site = Site::new().await;
    let start = site.get("/dashboard/sign-in", None).await;
    let attempt = cookie_value(&start.cookies, "po_sign_in").unwrap();

    // The browser's own sign-in, answered with another state: refused, and spent.
    let wrong_state = site
        .send(
            Request::get("/dashboard/sign-in/callback?code=abc&state=forged")
                .header("cookie", format!("po_sign_in={attempt}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong_state.status, StatusCode::UNAUTHORIZED);
    assert!(wrong_state.html.contains("Sign-in did not complete"));
    assert!(cookie_value(&wrong_state.cookies, "po_session").is_none());

    // An answer without the browser's cookie (a link sent by someone else).
    let to = reqwest::Url::parse(start.location.as_deref().unwrap()).unwrap();
    let state = to
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let no_cookie = site
        .get(
            &format!("/dashboard/sign-in/callback?code=abc&state={state}"),
            None,
        )
        .await;
    assert_eq!(no_cookie.status, StatusCode::UNAUTHORIZED);
    assert!(cookie_value(&no_cookie.cookies, "po_session").is_none());
}

#[tokio::test]
async fn each_role_opens_exactly_the_pages_the_access_table_allows() {
    let site = Site::new().await;
    let case_id = site.case(false).await;
    let case = format!("/dashboard/cases/{case_id}");
    let my_case = format!("/dashboard/my-cases/{case_id}");
    // (page, roles that may open it)
    use Role::*;
    let pages: Vec<(&str, &[Role])> = vec![
        ("/dashboard/queue", &[Director, ProgramManager]),
        (&case, &[Director, ProgramManager]),
        ("/dashboard/roster", &[Director, ProgramManager]),
        ("/dashboard/roster/new", &[Director, ProgramManager]),
        ("/dashboard/my-cases", &[PeerSupporter]),
        (&my_case, &[PeerSupporter]),
        (
            "/dashboard/my-support",
            &[Director, ProgramManager, PeerSupporter, CareTeamMember],
        ),
        (
            "/dashboard/statistics",
            &[Director, ProgramManager, SafetyOffice],
        ),
        (
            "/dashboard/referral",
            &[
                Director,
                ProgramManager,
                PeerSupporter,
                CareTeamMember,
                Service,
            ],
        ),
    ];
    let mut wrong = Vec::new();
    for role in Role::ALL {
        // The supporter is the case's.
        let session = site.sign_in(role, "E20001").await;
        for (page, allowed) in &pages {
            let seen = site.get(page, Some(&session)).await;
            let expected = if allowed.contains(&role) {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            if seen.status != expected {
                wrong.push(format!("{page} as {role}: {}", seen.status));
            }
            if seen.status == StatusCode::FORBIDDEN && !seen.html.contains("<h1>Not allowed</h1>") {
                wrong.push(format!("{page} as {role}: no clear 403 page"));
            }
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
}

/// The manager's case page tells the case's story line by line, oldest first: opening,
/// assignment, each contact attempt with its channel and outcome.
#[tokio::test]
async fn the_case_page_lists_each_step_of_the_case_in_time_order() {
    let site = Site::new().await;
    let case_id = site.case(true).await;
    let session = site.sign_in(Role::ProgramManager, "E90002").await;

    let page = site
        .get(&format!("/dashboard/cases/{case_id}"), Some(&session))
        .await;

    assert_eq!(page.status, StatusCode::OK);
    let lines = [
        "Case opened: incident",
        "Supporter E20001 assigned",
        "Contact attempted by phone: reached",
    ];
    let at: Vec<Option<usize>> = lines.iter().map(|line| page.html.find(line)).collect();
    assert!(at.iter().all(Option::is_some), "{at:?}\n{}", page.html);
    assert!(at.windows(2).all(|w| w[0] < w[1]), "out of order: {at:?}");
}

#[tokio::test]
async fn a_supporter_sees_only_contact_details_and_another_supporters_case_is_not_found() {
    let site = Site::new().await;
    let case_id = site.case(false).await;
    let mine = site.sign_in(Role::PeerSupporter, "E20001").await;
    let page = site
        .get(&format!("/dashboard/my-cases/{case_id}"), Some(&mine))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Ana Silva") && page.html.contains("ana.silva@hospital.example"));
    for fact in [
        "INC-",
        "ICU 4",
        "Critical care",
        "Registered nurse",
        "incident",
    ] {
        assert!(!page.html.contains(fact), "{fact} shown to the supporter");
    }
    let theirs = site.sign_in(Role::PeerSupporter, "E30003").await;
    let page = site
        .get(&format!("/dashboard/my-cases/{case_id}"), Some(&theirs))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.html.contains("Silva"));
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_changes_nothing() {
    let site = Site::new().await;
    let case_id = site.case(false).await;
    let session = site.sign_in(Role::ProgramManager, "E90002").await;
    let before = site.events().await;
    let path = format!("/dashboard/cases/{case_id}/contact-attempts");
    let form = [("channel", "phone"), ("outcome", "no_answer")];

    let none = site.post(&path, &session, &form).await;
    let other = site.sign_in(Role::ProgramManager, "E90002").await;
    let other_csrf = site.csrf(&other).await;
    let mut forged = form.to_vec();
    forged.push(("csrf", &other_csrf));
    let foreign = site.post(&path, &session, &forged).await;

    for page in [none, foreign] {
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.html.contains("Form not accepted"), "{}", page.html);
    }
    assert_eq!(site.events().await, before, "nothing was recorded");

    let csrf = site.csrf(&session).await;
    let mut sent = form.to_vec();
    sent.push(("csrf", &csrf));
    let done = site.post(&path, &session, &sent).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert!(site.events().await > before);
}

#[tokio::test]
async fn a_refused_step_shows_its_error_next_to_the_field_and_records_nothing() {
    let site = Site::new().await;
    let case_id = site.case(true).await;
    let session = site.sign_in(Role::ProgramManager, "E90002").await;
    let csrf = site.csrf(&session).await;
    let before = site.events().await;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2))
        .date_naive()
        .to_string();
    let path = format!("/dashboard/cases/{case_id}/encounters");

    let future = site
        .post(
            &path,
            &session,
            &[
                ("csrf", &csrf),
                ("held_on", &tomorrow),
                ("modality", "video"),
                ("format", "individual"),
                ("duration", "30_to_60_minutes"),
            ],
        )
        .await;
    assert_eq!(future.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        future.html.contains(r#"id="encounters-held_on-error""#),
        "{}",
        future.html
    );
    assert!(future
        .html
        .contains(r#"aria-describedby="encounters-held_on-hint encounters-held_on-error""#));
    // The values sent are shown again.
    assert!(future.html.contains(&format!(r#"value="{tomorrow}""#)));

    let missing = site
        .post(&path, &session, &[("csrf", &csrf), ("held_on", &tomorrow)])
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing.html.contains(r#"id="encounters-modality-error""#),
        "{}",
        missing.html
    );

    // A page rendered at an older version: someone changed the case since.
    let stale = site
        .post(
            &format!("/dashboard/cases/{case_id}/resources"),
            &session,
            &[("csrf", &csrf), ("version", "1")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.html.contains("Someone changed this case"));

    assert_eq!(site.events().await, before, "nothing was recorded");
}

#[tokio::test]
async fn the_roster_form_names_every_wrong_field_and_adds_nobody() {
    let site = Site::new().await;
    let session = site.sign_in(Role::ProgramManager, "E90002").await;
    let csrf = site.csrf(&session).await;
    let before = site.events().await;
    let page = site
        .post(
            "/dashboard/roster",
            &session,
            &[
                ("csrf", &csrf),
                ("staff_id", "S-NEW"),
                ("given_name", ""),
                ("family_name", "Okafor"),
                ("email", "not an address"),
                ("campus", "Parnassus"),
                ("department", "Anesthesia"),
                ("discipline", "physician"),
                ("seniority", "senior"),
                ("training.status", "trained"),
                ("training.completed_on", "2026-01-15"),
                ("capacity", "3"),
                ("hours.monday.starts", "09:00"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in [
        "roster-given_name",
        "roster-email",
        "roster-hours-monday-ends",
    ] {
        assert!(
            page.html.contains(&format!(r#"id="{field}-error""#)),
            "no error next to {field}: {}",
            page.html
        );
    }
    assert!(page.html.contains("Please correct these"));
    assert_eq!(site.events().await, before, "nobody was added");

    // A rule of the program (at most 20 cases at once) lands next to its field too.
    let page = site
        .post(
            "/dashboard/roster",
            &session,
            &[
                ("csrf", &csrf),
                ("staff_id", "S-NEW"),
                ("given_name", "Ines"),
                ("family_name", "Okafor"),
                ("email", "ines@hospital.example"),
                ("campus", "Parnassus"),
                ("department", "Anesthesia"),
                ("discipline", "physician"),
                ("seniority", "senior"),
                ("training.status", "trained"),
                ("training.completed_on", "2026-01-15"),
                ("capacity", "99"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    assert!(
        page.html.contains(r#"id="roster-capacity-error""#),
        "{}",
        page.html
    );
    assert_eq!(site.events().await, before, "nobody was added");
}

#[tokio::test]
async fn a_page_read_of_personal_data_is_in_the_access_audit_and_the_queue_is_not() {
    let site = Site::new().await;
    let case_id = site.case(false).await;
    let session = site.sign_in(Role::ProgramManager, "E90002").await;

    let queue = site.get("/dashboard/queue/rows", Some(&session)).await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.html.contains(&case_id.to_string()));
    assert!(!queue.html.contains("Silva"), "the queue shows no names");
    let page = site
        .get(&format!("/dashboard/cases/{case_id}"), Some(&session))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Ana Silva"));

    type Entry = (String, Option<Uuid>, Option<String>, Vec<String>);
    let audit: Vec<Entry> = sqlx::query_as(
        "SELECT endpoint, case_id, reader_staff_id, reader_roles FROM access_audit ORDER BY entry_id",
    )
    .fetch_all(&site.app.pool)
    .await
    .unwrap();
    assert_eq!(
        audit,
        vec![(
            "GET /dashboard/cases/{case_id}".to_owned(),
            Some(case_id),
            Some("E90002".to_owned()),
            vec!["program_manager".to_owned()],
        )]
    );
}

#[tokio::test]
async fn signing_out_ends_the_session_and_so_does_the_tokens_expiry() {
    let site = Site::with_token_lifetime(Duration::from_secs(2)).await;
    let session = site.sign_in(Role::SafetyOffice, "E90003").await;
    let csrf = site.csrf(&session).await;
    let out = site
        .post("/dashboard/sign-out", &session, &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some("/dashboard/signed-out"));
    assert!(out.cookies[0].contains("Max-Age=0"));
    let after = site.get("/dashboard/statistics", Some(&session)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "signed out");

    let session = site.sign_in(Role::SafetyOffice, "E90003").await;
    assert_eq!(
        site.get("/dashboard/statistics", Some(&session))
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = site.get("/dashboard/statistics", Some(&session)).await;
    assert_eq!(
        expired.status,
        StatusCode::SEE_OTHER,
        "the session ended with its token"
    );
}

#[tokio::test]
async fn a_self_referral_with_preferences_opens_a_case() {
    let site = Site::new().await;
    let session = site.sign_in(Role::CareTeamMember, "E55").await;
    let csrf = site.csrf(&session).await;
    let form = site.get("/dashboard/referral", Some(&session)).await;
    assert!(
        form.html.contains(r#"value="E55""#),
        "the caller's own staff id is filled in"
    );
    let sent = site
        .post(
            "/dashboard/referral",
            &session,
            &[
                ("csrf", &csrf),
                ("referral_id", &Uuid::new_v4().to_string()),
                ("referred_by", "self"),
                ("member.staff_id", "E55"),
                ("member.name.given", "Noor"),
                ("member.name.family", "Haddad"),
                ("member.role", "Pharmacist"),
                ("member.discipline", "pharmacist"),
                ("member.department", "Pharmacy"),
                ("campus", "Parnassus"),
                ("unit", "Pharmacy"),
                ("member.contact.email", "noor@hospital.example"),
                ("preferences.supporter_gender", "woman"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.html);
    assert!(sent.html.contains("Referral sent"));
    let (member, _) = site.app.commands.member("E55").await.unwrap();
    assert!(member.open_case().is_some());

    // No way to reach the member: refused, next to the form, and nothing opened.
    let before = site.events().await;
    let refused = site
        .post(
            "/dashboard/referral",
            &session,
            &[
                ("csrf", &csrf),
                ("referred_by", "colleague"),
                ("member.staff_id", "E56"),
                ("member.name.given", "Sam"),
                ("member.name.family", "Lee"),
                ("member.role", "Nurse"),
                ("member.discipline", "nurse"),
                ("member.department", "ICU"),
                ("campus", "Parnassus"),
                ("unit", "ICU"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.html.contains("referral-error"), "{}", refused.html);
    assert_eq!(site.events().await, before);
}

#[tokio::test]
async fn a_step_recorded_on_the_dashboard_names_its_author_to_the_director_only() {
    let site = Site::new().await;
    let case_id = site.case(false).await;
    let manager = site.sign_in(Role::ProgramManager, "E90002").await;
    let csrf = site.csrf(&manager).await;
    let before: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&site.app.pool)
        .await
        .unwrap();

    let done = site
        .post(
            &format!("/dashboard/cases/{case_id}/contact-attempts"),
            &manager,
            &[
                ("channel", "phone"),
                ("outcome", "no_answer"),
                ("csrf", &csrf),
            ],
        )
        .await;

    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let metadata: serde_json::Value =
        sqlx::query_scalar("SELECT metadata::jsonb FROM events WHERE global_position > $1")
            .bind(before)
            .fetch_one(&site.app.pool)
            .await
            .unwrap();
    assert_eq!(metadata["source"], "dashboard");
    assert_eq!(metadata["author_role"], "program_manager");
    assert_eq!(metadata["author_staff_id"], "E90002");
    site.project().await;
    let director = site.sign_in(Role::Director, "E90001").await;
    let as_director = site
        .get(&format!("/dashboard/cases/{case_id}"), Some(&director))
        .await;
    assert!(
        as_director.html.contains("(by program manager E90002"),
        "{}",
        as_director.html
    );
    let as_manager = site
        .get(&format!("/dashboard/cases/{case_id}"), Some(&manager))
        .await;
    assert!(as_manager.html.contains("Contact attempted by phone"));
    assert!(!as_manager.html.contains("(by "), "{}", as_manager.html);
}

#[tokio::test]
async fn a_session_keeps_no_token_anyone_could_use() {
    let site = Site::new().await;
    let session = site.sign_in(Role::ProgramManager, "E90002").await;

    let stored: Vec<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT session_hash, sealed_token FROM dashboard_sessions")
            .fetch_all(&site.app.pool)
            .await
            .unwrap();

    assert_eq!(stored.len(), 1);
    let (hash, sealed) = &stored[0];
    // Not a JWT, nor anything with one inside: the token's header would start `eyJ`.
    let text = String::from_utf8_lossy(sealed);
    assert!(!text.contains("eyJ"), "{text}");
    assert!(!String::from_utf8_lossy(hash).contains(&session));
    // The session still works: the browser's cookie opens it.
    let page = site.get("/dashboard/queue", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
    // A cookie that is not this session's opens nothing, and changes nothing.
    // Its first character changed (every bit of it counts, unlike the last's padding bits): to
    // `B` where it already was `A`, or the "forgery" would be the session itself.
    let first = if session.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{first}{}", &session[1..]);
    let page = site.get("/dashboard/queue", Some(&forged)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

/// Starting a sign-in writes a row until the provider sends the browser back; a flood of starts
/// from one address leaves at most the cap of sign-ins under way, and the newest still works.
#[tokio::test]
async fn ten_thousand_sign_in_starts_leave_at_most_the_cap() {
    let site = Site::new().await;
    use futures::StreamExt;
    let started = futures::stream::iter(0..10_000)
        .map(|_| site.get("/dashboard/sign-in", None))
        .buffer_unordered(8)
        .fold(0, |started, page| async move {
            assert_eq!(page.status, StatusCode::SEE_OTHER);
            started + 1
        })
        .await;
    assert_eq!(started, 10_000);
    let under_way: i64 = sqlx::query_scalar("SELECT count(*) FROM dashboard_sign_ins")
        .fetch_one(&site.app.pool)
        .await
        .unwrap();
    assert!(under_way <= 20, "{under_way} sign-ins under way");
    // The newest start is among them: a real browser signs in after the flood.
    let session = site.sign_in(Role::SafetyOffice, "E90003").await;
    let page = site.get("/dashboard/statistics", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
}

/// A colleague's referral with nothing on record: the queue and the case page say the contact
/// is to confirm, the page shows the suggestion apart, and its form confirms it (or names the
/// field to fix) under the manager's name.
#[tokio::test]
async fn a_manager_confirms_a_suggested_contact_from_the_case_page() {
    let site = Site::new().await;
    let colleague = site.app.token(Role::CareTeamMember, Some("E55"));
    let referred = site
        .app
        .post_as(
            &colleague,
            "/v1/referrals",
            Some(serde_json::json!({
                "referred_by": "colleague", "campus": "North", "unit": "ICU 4",
                "member": {
                    "staff_id": "E7", "name": {"given": "Ana", "family": "Silva"},
                    "role": "Registered nurse", "discipline": "nurse",
                    "department": "Critical care",
                    "contact": {"email": "suggested@example.org"}}})),
        )
        .await;
    assert_eq!(referred.status, StatusCode::ACCEPTED, "{}", referred.body);
    let (member, _) = site.app.commands.member("E7").await.unwrap();
    let case_id = member.open_case().unwrap();
    site.project().await;
    let manager = site.sign_in(Role::ProgramManager, "E90002").await;
    let csrf = site.csrf(&manager).await;

    let queue = site.get("/dashboard/queue", Some(&manager)).await;
    assert!(queue.html.contains("Contact to confirm"), "{}", queue.html);
    let page = site
        .get(&format!("/dashboard/cases/{case_id}"), Some(&manager))
        .await;
    assert!(
        page.html.contains(r#"id="contact-to-confirm""#),
        "{}",
        page.html
    );
    assert!(page.html.contains("e-mail suggested@example.org"));
    assert!(page.html.contains(r#"id="contact-confirmation-form""#));
    assert!(!page.html.contains(r#"id="contact-attempts-form""#));

    let path = format!("/dashboard/cases/{case_id}/contact-confirmation");
    let before = site.events().await;
    let nothing_entered = site
        .post(&path, &manager, &[("csrf", &csrf), ("decision", "replace")])
        .await;
    assert_eq!(nothing_entered.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        nothing_entered
            .html
            .contains(r#"id="contact-confirmation-email-error""#),
        "{}",
        nothing_entered.html
    );
    assert_eq!(site.events().await, before, "nothing was recorded");

    let done = site
        .post(
            &path,
            &manager,
            &[("csrf", &csrf), ("decision", "as_suggested")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let metadata: serde_json::Value = sqlx::query_scalar(
        "SELECT metadata FROM events WHERE aggregate_id = $1 AND event_type = 'ContactConfirmed'",
    )
    .bind(case_id.to_string())
    .fetch_one(&site.app.pool)
    .await
    .unwrap();
    assert_eq!(metadata["source"], "dashboard");
    assert_eq!(metadata["author_staff_id"], "E90002");
    site.project().await;
    let page = site
        .get(&format!("/dashboard/cases/{case_id}"), Some(&manager))
        .await;
    assert!(
        !page.html.contains(r#"id="contact-to-confirm""#),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("<dd>suggested@example.org</dd>"),
        "{}",
        page.html
    );
    assert!(page
        .html
        .contains("Contact details confirmed as the referrer gave them"));
}

/// The `<tr>` of the queue's rows for `case_id`.
fn queue_row(html: &str, case_id: Uuid) -> &str {
    let start = html
        .find(&format!(r#"data-case-id="{case_id}""#))
        .unwrap_or_else(|| panic!("no row for {case_id}:\n{html}"));
    let end = html[start..].find("</tr>").expect("the row ends") + start;
    &html[start..end]
}

#[tokio::test]
async fn an_urgent_case_is_marked_urgent_in_the_queue_and_on_its_page() {
    let site = Site::new().await;
    let routine = site.case(false).await;
    let urgent = Uuid::new_v4();
    let mut open = common::open_command(urgent, "E8");
    if let outreach_domain::CaseCommand::Open { urgent, .. } = &mut open {
        *urgent = true;
    }
    site.app
        .commands
        .handle_case(urgent, open, &HashMap::new())
        .await
        .unwrap();
    site.project().await;
    let session = site.sign_in(Role::ProgramManager, "E90002").await;

    let rows = site.get("/dashboard/queue/rows", Some(&session)).await;
    assert_eq!(rows.status, StatusCode::OK);
    assert!(
        queue_row(&rows.html, urgent).contains(r#"<strong class="badge urgent">Urgent</strong>"#)
    );
    assert!(!queue_row(&rows.html, routine).contains("Urgent"));

    let page = site
        .get(&format!("/dashboard/cases/{urgent}"), Some(&session))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .html
        .contains(r#"<p class="badge urgent" id="urgent">Urgent</p>"#));
    let page = site
        .get(&format!("/dashboard/cases/{routine}"), Some(&session))
        .await;
    assert!(!page.html.contains(r#"id="urgent""#));
}

/// The escalation form's `<form>`, from its id to its end.
fn escalation_form(html: &str) -> &str {
    let start = html
        .find(r#"id="escalations-form""#)
        .unwrap_or_else(|| panic!("no escalation form:\n{html}"));
    let end = html[start..].find("</form>").expect("the form ends") + start;
    &html[start..end]
}

#[tokio::test]
async fn after_a_decline_the_escalation_form_offers_only_danger_to_self_or_others() {
    let site = Site::new().await;
    let case_id = site.case(true).await;
    let session = site.sign_in(Role::ProgramManager, "E90002").await;
    let path = format!("/dashboard/cases/{case_id}");
    let others = [
        "impairment_putting_patients_at_risk",
        "abuse_or_neglect",
        "discrimination_harassment_or_retaliation",
    ];

    // Reached: every category is offered.
    let page = site.get(&path, Some(&session)).await;
    let form = escalation_form(&page.html);
    for category in others.iter().chain(&["danger_to_self_or_others"]) {
        assert!(
            form.contains(&format!(r#"value="{category}""#)),
            "{category}\n{form}"
        );
    }

    site.app
        .commands
        .act_on_case(
            case_id,
            outreach_domain::CaseCommand::RecordDecline {
                at: chrono::Utc::now(),
            },
            None,
            &HashMap::new(),
        )
        .await
        .unwrap();
    site.project().await;

    let page = site.get(&path, Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK);
    let form = escalation_form(&page.html);
    assert!(
        form.contains(r#"value="danger_to_self_or_others""#),
        "{form}"
    );
    for category in others {
        assert!(
            !form.contains(category),
            "{category} offered after a decline:\n{form}"
        );
    }
    assert!(
        form.contains("only danger to self or others can be escalated now"),
        "{form}"
    );

    // What it offers is accepted.
    let csrf = site.csrf(&session).await;
    let before = site.events().await;
    let escalated = site
        .post(
            &format!("{path}/escalations"),
            &session,
            &[("csrf", &csrf), ("category", "danger_to_self_or_others")],
        )
        .await;
    assert!(
        escalated.status.is_redirection() || escalated.status.is_success(),
        "{}: {}",
        escalated.status,
        escalated.html
    );
    assert_eq!(site.events().await, before + 1);
}
