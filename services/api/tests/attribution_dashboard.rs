//! Every write names its author, on the dashboard too: each form that stores events, posted by
//! someone allowed to, stores metadata naming them (the program's staff by subject, staff id and
//! role; a care team member by role and relation only), with `source = dashboard`. The test's
//! forms must be exactly the router's (`outreach_api::dashboard_forms`), and the dashboard's
//! sources may register no POST route but through that list.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use outreach_auth::Role;
use outreach_projections::{CaseTimeline, MatchingProjection, OutreachProjection, Projection};
use serde_json::{json, Value};
use uuid::Uuid;

use common::open_command;
use common::site::Site;

/// Someone signed in to the dashboard: their session, its CSRF token, and what the metadata
/// must say of them.
struct Signed {
    session: String,
    csrf: String,
    expected: Value,
}

async fn staff(site: &Site, role: Role, staff_id: &str) -> Signed {
    let session = site.sign_in(role, staff_id).await;
    Signed {
        csrf: site.csrf(&session).await,
        session,
        expected: json!({
            "source": "dashboard",
            "author_role": role.code(),
            // As the development provider names whoever signs in.
            "author_subject": format!("dev|{}|{staff_id}", role.code()),
            "author_staff_id": staff_id,
        }),
    }
}

async fn member(site: &Site, staff_id: &str, relation: &str) -> Signed {
    let session = site.sign_in(Role::CareTeamMember, staff_id).await;
    Signed {
        csrf: site.csrf(&session).await,
        session,
        expected: json!({
            "source": "dashboard",
            "author_role": "care_team_member",
            "author_relation": relation,
        }),
    }
}

/// The forms posted so far, as `dashboard_forms` names them.
#[derive(Default)]
struct Posted(BTreeSet<String>);

async fn last_position(site: &Site) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(&site.app.pool)
        .await
        .unwrap()
}

impl Posted {
    /// Posts `fields` to `form` (`{case_id}` and `{staff_id}` filled in from `ids`) as `by`,
    /// expects the browser sent on, and checks that every event it stored names `by` as
    /// expected, and nothing more of a care team member.
    async fn attributed(
        &mut self,
        site: &Site,
        by: &Signed,
        form: &str,
        ids: (Option<Uuid>, Option<&str>),
        fields: &[(&str, &str)],
    ) {
        let path = self.path(form, ids);
        let before = last_position(site).await;
        let mut sent = fields.to_vec();
        sent.push(("csrf", &by.csrf));
        let page = site.post(&path, &by.session, &sent).await;
        assert!(
            matches!(page.status, StatusCode::SEE_OTHER | StatusCode::OK),
            "{path}: {} {}",
            page.status,
            page.html
        );
        let stored: Vec<Value> = sqlx::query_scalar(
            "SELECT metadata::jsonb FROM events WHERE global_position > $1 \
             ORDER BY global_position",
        )
        .bind(before)
        .fetch_all(&site.app.pool)
        .await
        .unwrap();
        assert!(!stored.is_empty(), "{path} stored no event");
        for metadata in &stored {
            for (key, value) in by.expected.as_object().unwrap() {
                assert_eq!(&metadata[key], value, "{path}: {metadata}");
            }
            if by.expected["author_role"] == "care_team_member" {
                assert!(
                    metadata.get("author_subject").is_none()
                        && metadata.get("author_staff_id").is_none(),
                    "{path} names a care team member: {metadata}"
                );
            }
        }
    }

    /// Posts a form that stores nothing (signing out): the browser is sent on, no event.
    async fn stores_nothing(&mut self, site: &Site, by: &Signed, form: &str) {
        let path = self.path(form, (None, None));
        let before = last_position(site).await;
        let page = site.post(&path, &by.session, &[("csrf", &by.csrf)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}: {}", page.html);
        assert_eq!(last_position(site).await, before, "{path} stored an event");
    }

    fn path(&mut self, form: &str, (case_id, staff_id): (Option<Uuid>, Option<&str>)) -> String {
        assert!(self.0.insert(form.to_owned()), "{form} posted twice");
        let mut path = form.to_owned();
        if let Some(case_id) = case_id {
            path = path.replace("{case_id}", &case_id.to_string());
        }
        if let Some(staff_id) = staff_id {
            path = path.replace("{staff_id}", staff_id);
        }
        assert!(!path.contains('{'), "{path}: an id is missing");
        path
    }
}

/// Keeps the read models up to the event store while the test runs, as the service's runners
/// do: each form waits for its step to show before sending the browser on.
fn keep_projecting(pool: sqlx::PgPool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            for projection in [
                Arc::new(OutreachProjection) as Arc<dyn Projection>,
                Arc::new(MatchingProjection),
                Arc::new(CaseTimeline),
            ] {
                let _ = outreach_projections::ProjectionRunner::new(
                    pool.clone(),
                    projection,
                    Default::default(),
                )
                .catch_up()
                .await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// An open case of `member`, nobody assigned yet.
async fn open_case(site: &Site, member: &str) -> Uuid {
    let case_id = Uuid::new_v4();
    site.app
        .commands
        .handle_case(case_id, open_command(case_id, member), &HashMap::new())
        .await
        .unwrap();
    case_id
}

/// A case of `member`, assigned to supporter E20001 and the member reached, once the read
/// model shows it (a supporter's steps are allowed by it).
async fn reached_case(site: &Site, member: &str) -> Uuid {
    let case_id = open_case(site, member).await;
    let commands = &site.app.commands;
    let no_metadata = HashMap::new();
    commands
        .assign(case_id, "E20001", None, chrono::Utc::now(), &no_metadata)
        .await
        .unwrap();
    let reached = outreach_domain::CaseCommand::RecordContactAttempt {
        channel: outreach_events::Channel::Phone,
        outcome: outreach_events::lifecycle::ContactOutcome::Reached,
        at: chrono::Utc::now(),
    };
    let version = commands
        .act_on_case(case_id, reached, None, &no_metadata)
        .await
        .unwrap();
    for _ in 0..500 {
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT version FROM outreach_cases WHERE case_id = $1")
                .bind(case_id)
                .fetch_optional(&site.app.pool)
                .await
                .unwrap();
        if seen == Some(version as i64) {
            return case_id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the read model never showed case {case_id} at {version}");
}

const CASE: &str = "/dashboard/cases/{case_id}";
const MY_CASE: &str = "/dashboard/my-cases/{case_id}";

#[tokio::test]
async fn every_dashboard_form_records_who_sent_it() {
    let site = Site::new().await;
    let projecting = keep_projecting(site.app.pool.clone());
    let director = staff(&site, Role::Director, "E90001").await;
    let manager = staff(&site, Role::ProgramManager, "E90002").await;
    let supporter = staff(&site, Role::PeerSupporter, "E20001").await;
    let colleague = member(&site, "E61", "colleague").await;
    let themselves = member(&site, "E55", "self").await;
    let today = chrono::Utc::now().date_naive().to_string();
    let encounter = [
        ("held_on", today.as_str()),
        ("modality", "video"),
        ("format", "individual"),
        ("duration", "30_to_60_minutes"),
    ];
    let mut posted = Posted::default();
    let step = |page: &str, step: &str| format!("{page}/{step}");

    // A manager takes a case through every step of its page.
    let worked = open_case(&site, "E7").await;
    for (name, fields) in [
        ("assignment", &[("supporter_id", "E20001")][..]),
        (
            "contact-attempts",
            &[("channel", "phone"), ("outcome", "reached")],
        ),
        ("acceptance", &[]),
        ("encounters", &encounter),
        ("resources", &[]),
        ("professional-referrals", &[("service", "psychology")]),
        ("escalations", &[("category", "abuse_or_neglect")]),
        ("closure", &[("reason", "completed")]),
        ("reopening", &[]),
    ] {
        let form = step(CASE, name);
        posted
            .attributed(&site, &manager, &form, (Some(worked), None), fields)
            .await;
    }
    let declined = reached_case(&site, "E8").await;
    posted
        .attributed(
            &site,
            &manager,
            &step(CASE, "decline"),
            (Some(declined), None),
            &[],
        )
        .await;
    // A colleague's referral on the dashboard, with a contact the manager then confirms.
    let referral_id = Uuid::new_v4().to_string();
    posted
        .attributed(
            &site,
            &colleague,
            "/dashboard/referral",
            (None, None),
            &[
                ("referral_id", &referral_id),
                ("referred_by", "colleague"),
                ("member.staff_id", "E55"),
                ("member.name.given", "Noor"),
                ("member.name.family", "Haddad"),
                ("member.role", "Pharmacist"),
                ("member.discipline", "pharmacist"),
                ("member.department", "Pharmacy"),
                ("campus", "Parnassus"),
                ("unit", "Pharmacy"),
                ("member.contact.email", "noor@example.org"),
            ],
        )
        .await;
    let (referred, _) = site.app.commands.member("E55").await.unwrap();
    let referred = referred.open_case();
    assert!(referred.is_some(), "the referral opened a case");
    posted
        .attributed(
            &site,
            &manager,
            &step(CASE, "contact-confirmation"),
            (referred, None),
            &[("decision", "as_suggested")],
        )
        .await;

    // The case's supporter takes each step their own case page offers.
    let supported = reached_case(&site, "E9").await;
    for (name, fields) in [
        (
            "contact-attempts",
            &[("channel", "phone"), ("outcome", "reached")][..],
        ),
        ("acceptance", &[]),
        ("encounters", &encounter),
        ("resources", &[]),
        ("professional-referrals", &[("service", "chaplaincy")]),
        ("escalations", &[("category", "danger_to_self_or_others")]),
    ] {
        let form = step(MY_CASE, name);
        posted
            .attributed(&site, &supporter, &form, (Some(supported), None), fields)
            .await;
    }
    let declining = reached_case(&site, "E10").await;
    posted
        .attributed(
            &site,
            &supporter,
            &step(MY_CASE, "decline"),
            (Some(declining), None),
            &[],
        )
        .await;

    // The director edits the roster: a new supporter, their entry changed, paused, resumed.
    let entry = |family: &'static str| {
        [
            ("given_name", "Ines"),
            ("family_name", family),
            ("email", "ines.okafor@hospital.example"),
            ("campus", "Parnassus"),
            ("department", "Anesthesia"),
            ("discipline", "physician"),
            ("seniority", "senior"),
            ("training.status", "trained"),
            ("training.completed_on", "2026-01-15"),
            ("capacity", "3"),
        ]
    };
    let mut new = entry("Okafor").to_vec();
    new.push(("staff_id", "E40004"));
    posted
        .attributed(&site, &director, "/dashboard/roster", (None, None), &new)
        .await;
    let mut changed = entry("Okafor-Reyes").to_vec();
    changed.push(("staff_id", "E40004"));
    posted
        .attributed(
            &site,
            &director,
            "/dashboard/roster/{staff_id}",
            (None, Some("E40004")),
            &changed,
        )
        .await;
    for switch in ["pause", "resume"] {
        let form = format!("/dashboard/roster/{{staff_id}}/{switch}");
        posted
            .attributed(&site, &director, &form, (None, Some("E40004")), &[])
            .await;
    }

    // The member on their own page: opted out, back in, their preferences.
    for form in ["opt-out", "opt-in"] {
        let form = format!("/dashboard/my-support/{form}");
        posted
            .attributed(&site, &themselves, &form, (None, None), &[])
            .await;
    }
    posted
        .attributed(
            &site,
            &themselves,
            "/dashboard/my-support/preferences",
            (None, None),
            &[("channel", "email"), ("supporter_gender", "woman")],
        )
        .await;

    // The director reads who took each step on the case's page; the supporter's own page and
    // the safety office's statistics name nobody.
    let case_page = |case_id: Uuid| format!("/dashboard/cases/{case_id}");
    let as_director = site.get(&case_page(worked), Some(&director.session)).await;
    assert!(
        as_director.html.contains("(by program manager E90002"),
        "{}",
        as_director.html
    );
    let as_director = site
        .get(&case_page(supported), Some(&director.session))
        .await;
    assert!(
        as_director.html.contains("(by peer supporter E20001"),
        "{}",
        as_director.html
    );
    let own = format!("/dashboard/my-cases/{supported}");
    let as_supporter = site.get(&own, Some(&supporter.session)).await;
    assert_eq!(as_supporter.status, StatusCode::OK);
    let safety_office = site.sign_in(Role::SafetyOffice, "E90003").await;
    let statistics = site
        .get("/dashboard/statistics", Some(&safety_office))
        .await;
    assert_eq!(statistics.status, StatusCode::OK);
    for page in [&as_supporter.html, &statistics.html] {
        assert!(
            !page.contains("(by ") && !page.contains("dev|") && !page.contains("E90002"),
            "{page}"
        );
    }

    posted
        .stores_nothing(&site, &director, "/dashboard/sign-out")
        .await;

    projecting.abort();
    let forms: BTreeSet<String> = outreach_api::dashboard_forms().into_iter().collect();
    assert_eq!(
        posted.0, forms,
        "the forms posted here are not the dashboard's: add a row for each new form"
    );
}

/// The dashboard's sources register a POST route only by a name of `form_routes`, so that
/// `dashboard_forms` cannot miss one. (The feedback page is the API's, not the dashboard's: it
/// is anonymous, and has no author to record.)
#[test]
fn every_post_route_of_the_dashboard_is_a_listed_form() {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut unlisted = Vec::new();
    for file in std::fs::read_dir(&web).unwrap() {
        let path = file.unwrap().path();
        if path.file_name().unwrap() == "feedback.rs" {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        // A route is one `.route(` call, up to the next one.
        for route in source.split(".route(").skip(1) {
            let call = route.split(".route(").next().unwrap();
            let call = &call[..call.find("\n\n").unwrap_or(call.len())];
            if call.contains("post(") && !call.trim_start().starts_with("form_routes::") {
                unlisted.push(format!("{}: {}", path.display(), call.trim()));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "POST routes not named in form_routes:\n{}",
        unlisted.join("\n")
    );
}
