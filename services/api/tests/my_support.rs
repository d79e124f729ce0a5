//! A care team member's own page on the dashboard, `/dashboard/my-support`: their request, its
//! status, supporter and first-contact deadline; opting out and back in; stating preferences;
//! in their language; and nothing of anyone else, whatever the URL says. The referral form a
//! member reaches from "Ask for support" speaks their language too.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use outreach_auth::Role;
use serde_json::Value;

use common::site::{Page, Site};

const PAGE: &str = "/dashboard/my-support";

/// The page with the browser's `Accept-Language`.
async fn page_in(site: &Site, session: &str, language: &str) -> Page {
    site.send(
        Request::get(PAGE)
            .header("cookie", format!("po_session={session}"))
            .header("accept-language", language)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

/// The metadata of the member's events, oldest first.
async fn member_event_metadata(site: &Site) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT metadata::jsonb FROM events WHERE aggregate_type = 'CareTeamMember'
          ORDER BY global_position",
    )
    .fetch_all(&site.app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_member_sees_their_request_opts_out_and_back_in_and_states_preferences() {
    let site = Site::new().await;
    let session = site.sign_in(Role::CareTeamMember, "E7").await;
    let home = site.get("/dashboard", Some(&session)).await;
    assert_eq!(
        home.location.as_deref(),
        Some(PAGE),
        "a member's first page"
    );
    let csrf = site.csrf(&session).await;

    let none = site.get(PAGE, Some(&session)).await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.html);
    assert!(
        none.html.contains("You have no open request"),
        "{}",
        none.html
    );
    assert!(none.html.contains(r#"href="/dashboard/referral""#));

    // A case opens and a supporter is assigned.
    site.case(false).await;
    let seen = site.get(PAGE, Some(&session)).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(
        seen.html.contains("Your request arrived on "),
        "{}",
        seen.html
    );
    assert!(
        seen.html.contains("A peer supporter has been assigned"),
        "{}",
        seen.html
    );
    assert!(seen.html.contains("Ines Okafor-E20001"), "{}", seen.html);
    assert!(
        seen.html.contains(r#"<dd id="request-due">By "#),
        "{}",
        seen.html
    );
    assert!(
        seen.html.contains(" hours)") || seen.html.contains("an hour)"),
        "{}",
        seen.html
    );

    // Opts out, and back in: the member's record says so, attributed to the dashboard.
    let out = site
        .post(&format!("{PAGE}/opt-out"), &session, &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.html);
    assert_eq!(
        out.location.as_deref(),
        Some("/dashboard/my-support?done=opted-out")
    );
    assert!(site.app.commands.member("E7").await.unwrap().0.opted_out());
    let after = site
        .get(out.location.as_deref().unwrap(), Some(&session))
        .await;
    assert!(
        after.html.contains("You opted out of automatic outreach."),
        "{}",
        after.html
    );
    assert!(after
        .html
        .contains(r#"action="/dashboard/my-support/opt-in""#));
    let back = site
        .post(&format!("{PAGE}/opt-in"), &session, &[("csrf", &csrf)])
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert!(!site.app.commands.member("E7").await.unwrap().0.opted_out());
    let metadata = member_event_metadata(&site).await;
    assert!(metadata.len() >= 2, "{metadata:?}");
    for stored in &metadata[metadata.len() - 2..] {
        assert_eq!(stored["source"], "dashboard", "{stored}");
    }

    // States preferences, Spanish among them: the page then speaks Spanish.
    let stated = site
        .post(
            &format!("{PAGE}/preferences"),
            &session,
            &[
                ("csrf", &csrf),
                ("channel", "phone"),
                ("supporter_gender", "woman"),
                ("supporter_department", "own_department"),
                ("supporter_seniority", "more_senior"),
                ("supporter_language", "es"),
                ("supporter_specialty", "Emergency medicine"),
            ],
        )
        .await;
    assert_eq!(stated.status, StatusCode::SEE_OTHER, "{}", stated.html);
    let (member, _) = site.app.commands.member("E7").await.unwrap();
    let preferences = serde_json::to_value(member.preferences()).unwrap();
    assert_eq!(preferences["channel"], "phone");
    assert_eq!(preferences["supporter_gender"], "woman");
    assert_eq!(preferences["supporter_department"], "own_department");
    assert_eq!(preferences["supporter_seniority"], "more_senior");
    assert_eq!(preferences["supporter_language"], "es");
    assert_eq!(preferences["supporter_specialty"], "Emergency medicine");
    let spanish = site
        .get(stated.location.as_deref().unwrap(), Some(&session))
        .await;
    assert!(
        spanish.html.contains(r#"<html lang="es">"#),
        "{}",
        spanish.html
    );
    assert!(spanish.html.contains("Sus preferencias se guardaron."));
    assert!(spanish.html.contains("Se asignó un compañero de apoyo"));
    assert!(spanish
        .html
        .contains(r#"<option value="own_department" selected>"#));
    assert!(spanish.html.contains(r#"value="Emergency medicine""#));
    // The stated language wins over the browser's.
    let still = page_in(&site, &session, "en-US").await;
    assert!(still.html.contains(r#"<html lang="es">"#));

    // Back to no preference at all: every answer blank.
    let cleared = site
        .post(
            &format!("{PAGE}/preferences"),
            &session,
            &[
                ("csrf", &csrf),
                ("channel", ""),
                ("supporter_gender", ""),
                ("supporter_department", ""),
                ("supporter_seniority", ""),
                ("supporter_language", ""),
                ("supporter_specialty", ""),
            ],
        )
        .await;
    assert_eq!(cleared.status, StatusCode::SEE_OTHER, "{}", cleared.html);
    let (member, _) = site.app.commands.member("E7").await.unwrap();
    let preferences = serde_json::to_value(member.preferences()).unwrap();
    assert!(
        preferences
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_null),
        "{preferences}"
    );
}

#[tokio::test]
async fn without_a_stated_language_the_page_speaks_the_browsers() {
    let site = Site::new().await;
    let session = site.sign_in(Role::CareTeamMember, "E7").await;
    let spanish = page_in(&site, &session, "es-MX,es;q=0.9").await;
    assert!(
        spanish.html.contains(r#"<html lang="es">"#),
        "{}",
        spanish.html
    );
    assert!(spanish
        .html
        .contains("No tiene ninguna solicitud de apoyo abierta."));
    let default = page_in(&site, &session, "de-DE").await;
    assert!(default.html.contains(r#"<html lang="en">"#));
}

#[tokio::test]
async fn a_refused_preference_is_marked_and_changes_nothing() {
    let site = Site::new().await;
    let session = site.sign_in(Role::CareTeamMember, "E7").await;
    let csrf = site.csrf(&session).await;
    let long = "x".repeat(101);
    let before = site.events().await;
    for (form, marked) in [
        (
            vec![("supporter_specialty", long.as_str())],
            Some("supporter_specialty"),
        ),
        (
            vec![("supporter_gender", "robot")],
            Some("supporter_gender"),
        ),
        (vec![("channel", "pigeon")], Some("channel")),
        // A question the form does not ask: the whole form is refused.
        (vec![("notes", "what happened")], None),
    ] {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(form.iter().copied());
        let refused = site
            .post(&format!("{PAGE}/preferences"), &session, &fields)
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{form:?}: {}",
            refused.html
        );
        assert!(refused.html.contains(r#"role="alert""#), "{form:?}");
        if let Some(field) = marked {
            assert!(
                refused
                    .html
                    .contains(&format!(r#"id="pref-{field}-error""#)),
                "{form:?}: {}",
                refused.html
            );
        }
    }
    assert_eq!(site.events().await, before);

    // Without the session's CSRF token: refused, nothing changes.
    let forged = site
        .post(&format!("{PAGE}/opt-out"), &session, &[("csrf", "forged")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(site.events().await, before);
}

#[tokio::test]
async fn a_members_page_shows_nobody_elses_case_whatever_the_url_says() {
    let site = Site::new().await;
    // Member E7's case, assigned to Ines Okafor-E20001.
    let case_id = site.case(false).await;
    let session = site.sign_in(Role::CareTeamMember, "E8").await;
    let csrf = site.csrf(&session).await;

    for path in [
        PAGE.to_owned(),
        format!("{PAGE}?case_id={case_id}"),
        format!("{PAGE}?staff_id=E7"),
    ] {
        let page = site.get(&path, Some(&session)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.html.contains("You have no open request"),
            "{path}: {}",
            page.html
        );
        for theirs in ["Okafor", "Ana", "Silva", "E7", &case_id.to_string()] {
            assert!(!page.html.contains(theirs), "{path} shows {theirs}");
        }
    }
    for path in [format!("{PAGE}/{case_id}"), format!("{PAGE}/E7")] {
        let page = site.get(&path, Some(&session)).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.html.contains("Okafor"));
    }
    // Opting out acts on the caller's own record only.
    let out = site
        .post(&format!("{PAGE}/opt-out"), &session, &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(site.app.commands.member("E8").await.unwrap().0.opted_out());
    assert!(!site.app.commands.member("E7").await.unwrap().0.opted_out());
}

const REFERRAL: &str = "/dashboard/referral";

/// A request to the dashboard with the session's cookie and the browser's `Accept-Language`.
async fn send_in(
    site: &Site,
    request: axum::http::request::Builder,
    session: &str,
    language: &str,
    body: Body,
) -> Page {
    site.send(
        request
            .header("cookie", format!("po_session={session}"))
            .header("accept-language", language)
            .body(body)
            .unwrap(),
    )
    .await
}

/// The referral form posted as a member's browser in `language` sends it.
async fn refer_in(site: &Site, session: &str, language: &str, form: &[(&str, &str)]) -> Page {
    send_in(
        site,
        Request::post(REFERRAL).header("content-type", "application/x-www-form-urlencoded"),
        session,
        language,
        Body::from(serde_urlencoded::to_string(form).unwrap()),
    )
    .await
}

/// A self-referral of E7 with everything the form requires, but for `leave_out`.
fn self_referral<'a>(csrf: &'a str, leave_out: &[&str]) -> Vec<(&'a str, &'a str)> {
    [
        ("csrf", csrf),
        ("referred_by", "self"),
        ("member.staff_id", "E7"),
        ("member.name.given", "Noor"),
        ("member.name.family", "Haddad"),
        ("member.role", "Pharmacist"),
        ("member.discipline", "pharmacist"),
        ("member.department", "Pharmacy"),
        ("campus", "Parnassus"),
        ("unit", "Pharmacy"),
        ("member.contact.email", "noor@hospital.example"),
    ]
    .into_iter()
    .filter(|(name, _)| !leave_out.contains(name))
    .collect()
}

/// The form's English words, none of which a Spanish page may show.
const ENGLISH: &[&str] = &[
    "Refer for peer support",
    "Who is referring",
    "Staff id of the person to support",
    "Given name",
    "Family name",
    "Discipline",
    "Preferred supporter",
    "No preference",
    "Not stated",
    "Send referral",
    "(required)",
    "Choose…",
    "Pharmacist",
    "Sign out",
];

fn assert_no_english(page: &Page) {
    for words in ENGLISH {
        assert!(!page.html.contains(words), "{words:?} in {}", page.html);
    }
}

#[tokio::test]
async fn the_referral_form_and_its_answers_speak_the_members_browsers_language() {
    let site = Site::new().await;
    let session = site.sign_in(Role::CareTeamMember, "E7").await;
    let csrf = site.csrf(&session).await;

    let form = send_in(
        &site,
        Request::get(REFERRAL),
        &session,
        "es-MX,es;q=0.9",
        Body::empty(),
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert!(form.html.contains(r#"<html lang="es">"#), "{}", form.html);
    for words in [
        "Derivar al apoyo entre pares",
        "Quién hace la derivación",
        "Número de empleado de la persona a apoyar",
        "(obligatorio)",
        "Farmacia",
        "Sin preferencia",
        "Enviar la derivación",
        // Among the member's own pages, not the staff's navigation.
        r#"href="/dashboard/referral" aria-current="page">Pedir apoyo"#,
    ] {
        assert!(form.html.contains(words), "{words:?} in {}", form.html);
    }
    assert_no_english(&form);

    // A required answer left out: refused next to its field, in Spanish, and nothing sent.
    let before = site.events().await;
    let refused = refer_in(
        &site,
        &session,
        "es",
        &self_referral(&csrf, &["member.name.family"]),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains(
            r#"id="referral-member-name-family-error"><span class="visually-hidden">Error: </span>Este dato es obligatorio.</p>"#
        ),
        "{}",
        refused.html
    );
    assert!(
        !refused.html.contains("This is required."),
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains(r#"value="Noor""#),
        "what was sent is kept"
    );
    // No way to reach the member: the API's refusal, in Spanish too.
    let unreachable = refer_in(
        &site,
        &session,
        "es",
        &self_referral(&csrf, &["member.contact.email"]),
    )
    .await;
    assert_eq!(unreachable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unreachable
            .html
            .contains("Indique al menos una forma de contactarle"),
        "{}",
        unreachable.html
    );
    assert!(
        !unreachable.html.contains("at least one of"),
        "{}",
        unreachable.html
    );
    assert_eq!(site.events().await, before);

    // Sent: the confirmation is in Spanish.
    let sent = refer_in(&site, &session, "es", &self_referral(&csrf, &[])).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.html);
    assert!(sent.html.contains(r#"<html lang="es">"#));
    assert!(sent.html.contains("Derivación enviada"), "{}", sent.html);
    assert!(
        sent.html.contains("Enviar otra derivación"),
        "{}",
        sent.html
    );
    assert!(!sent.html.contains("Referral sent"), "{}", sent.html);
    assert!(site
        .app
        .commands
        .member("E7")
        .await
        .unwrap()
        .0
        .open_case()
        .is_some());

    // A browser that asks for no language we speak reads the program's default, English.
    let english = send_in(
        &site,
        Request::get(REFERRAL),
        &session,
        "de-DE",
        Body::empty(),
    )
    .await;
    assert!(
        english.html.contains(r#"<html lang="en">"#),
        "{}",
        english.html
    );
    assert!(english.html.contains("Who is referring"));
    assert!(english.html.contains("(required)"));
}

#[tokio::test]
async fn a_member_who_stated_spanish_reads_the_referral_form_in_spanish_whatever_the_browser() {
    let site = Site::new().await;
    let session = site.sign_in(Role::CareTeamMember, "E7").await;
    let csrf = site.csrf(&session).await;
    let stated = site
        .post(
            &format!("{PAGE}/preferences"),
            &session,
            &[("csrf", &csrf), ("supporter_language", "es")],
        )
        .await;
    assert_eq!(stated.status, StatusCode::SEE_OTHER, "{}", stated.html);

    let form = send_in(
        &site,
        Request::get(REFERRAL),
        &session,
        "en-US",
        Body::empty(),
    )
    .await;
    assert!(form.html.contains(r#"<html lang="es">"#), "{}", form.html);
    assert!(form.html.contains("Quién hace la derivación"));
    assert_no_english(&form);
    let refused = refer_in(&site, &session, "en-US", &self_referral(&csrf, &["unit"])).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.html.contains("Este dato es obligatorio."),
        "{}",
        refused.html
    );
    let sent = refer_in(&site, &session, "en-US", &self_referral(&csrf, &[])).await;
    assert!(sent.html.contains("Derivación enviada"), "{}", sent.html);
}

#[tokio::test]
async fn the_program_staff_read_the_referral_form_in_english_with_their_own_navigation() {
    let site = Site::new().await;
    let session = site.sign_in(Role::ProgramManager, "M1").await;
    let form = send_in(&site, Request::get(REFERRAL), &session, "es", Body::empty()).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert!(form.html.contains(r#"<html lang="en">"#));
    assert!(form.html.contains("Who is referring"));
    assert!(
        form.html.contains(r#"href="/dashboard/queue""#),
        "{}",
        form.html
    );
}
