//! The form bomb: every form of the dashboard, posted by each role that may post it with the
//! session's own CSRF token and a body built to make a form reader allocate without bound (an
//! index of two billion, a name nested five thousand deep, a field ten thousand times). Each
//! gets a form error or a 400 (or, over the 64 KiB body limit, a 413 unread), nothing is
//! recorded, and the process (the test's, which serves the dashboard in-process) stays small.

mod common;

use axum::http::StatusCode;
use common::site::Site;
use outreach_auth::Role;

/// Resident memory of this process, as the kernel counts it: its peak so far (`VmHWM`).
fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

/// The bodies, each after the session's `csrf=`: `field` is one of the form's own fields.
fn bombs(field: &str) -> Vec<(&'static str, String)> {
    vec![
        ("an index of two billion", "x[2000000000]=1".to_owned()),
        (
            "an index of two billion on a field of the form",
            format!("{field}[2000000000]=1"),
        ),
        (
            "a name nested 5,000 deep",
            format!("{}=1", "a[b]".repeat(5000)),
        ),
        ("a field 10,000 times", "x=1&".repeat(10_000)),
        (
            "the form's field 2,000 times",
            format!("{field}=1&").repeat(2_000),
        ),
        // Over the 64 KiB body limit: refused unread (413).
        (
            "the form's field 10,000 times",
            format!("{field}=1&").repeat(10_000),
        ),
    ]
}

#[tokio::test]
async fn no_form_takes_a_bomb_as_each_role_that_may_post_it() {
    let site = Site::new().await;
    let case_id = site.case(true).await;
    let before = peak_resident_bytes();
    use Role::*;
    let staff: &[Role] = &[Director, ProgramManager];
    let members: &[Role] = &[Director, ProgramManager, PeerSupporter, CareTeamMember];
    let case = |step: &str| format!("/dashboard/cases/{case_id}/{step}");
    let mine = |step: &str| format!("/dashboard/my-cases/{case_id}/{step}");
    // (form, a field of it, roles that may post it)
    let mut forms: Vec<(String, &str, &[Role])> = vec![
        ("/dashboard/roster".into(), "staff_id", staff),
        ("/dashboard/roster/E20001".into(), "capacity", staff),
        ("/dashboard/roster/E20001/pause".into(), "csrf_", staff),
        ("/dashboard/roster/E20001/resume".into(), "csrf_", staff),
        (
            "/dashboard/referral".into(),
            "member.staff_id",
            &[
                Director,
                ProgramManager,
                PeerSupporter,
                CareTeamMember,
                Service,
            ],
        ),
        ("/dashboard/sign-out".into(), "csrf_", &Role::ALL),
        // The member's own page: the caller's own record, as anyone who may be a member.
        ("/dashboard/my-support/opt-out".into(), "csrf_", members),
        ("/dashboard/my-support/opt-in".into(), "csrf_", members),
        (
            "/dashboard/my-support/preferences".into(),
            "supporter_language",
            members,
        ),
    ];
    for (step, field) in [
        ("assignment", "supporter_id"),
        ("contact-attempts", "channel"),
        ("acceptance", "version"),
        ("decline", "version"),
        ("encounters", "held_on"),
        ("resources", "version"),
        ("professional-referrals", "service"),
        ("escalations", "category"),
        ("closure", "reason"),
        ("reopening", "version"),
        ("contact-confirmation", "email"),
    ] {
        forms.push((case(step), field, staff));
    }
    for (step, field) in [
        ("contact-attempts", "outcome"),
        ("acceptance", "version"),
        ("decline", "version"),
        ("encounters", "modality"),
        ("resources", "version"),
        ("professional-referrals", "service"),
        ("escalations", "category"),
    ] {
        // The case's own supporter.
        forms.push((mine(step), field, &[PeerSupporter]));
    }
    let events = site.events().await;

    let mut wrong = Vec::new();
    let mut posted = 0;
    for role in Role::ALL {
        let session = site.sign_in(role, "E20001").await;
        let csrf = site.csrf(&session).await;
        for (form, field, roles) in &forms {
            if !roles.contains(&role) {
                continue;
            }
            for (bomb, body) in bombs(field) {
                let page = site
                    .post_body(form, &session, format!("csrf={csrf}&{body}"))
                    .await;
                posted += 1;
                let refused = match page.status {
                    StatusCode::BAD_REQUEST => true,
                    StatusCode::PAYLOAD_TOO_LARGE => body.len() > 64 * 1024,
                    StatusCode::UNPROCESSABLE_ENTITY => {
                        page.html.contains("class=\"form-error\"")
                            || page.html.contains("class=\"field-error\"")
                    }
                    _ => false,
                };
                if !refused {
                    wrong.push(format!("{form} as {role}, {bomb}: {}", page.status));
                }
            }
        }
    }

    assert!(wrong.is_empty(), "not refused:\n{}", wrong.join("\n"));
    assert!(posted > 150, "{posted} bombs posted");
    assert_eq!(site.events().await, events, "nothing was recorded");
    let peak = peak_resident_bytes();
    println!(
        "{posted} bombs posted; peak resident memory {} MiB (before: {} MiB)",
        peak >> 20,
        before >> 20
    );
    assert!(
        peak < 300 * 1024 * 1024,
        "peak resident memory {} MiB (before the bombs: {} MiB)",
        peak >> 20,
        before >> 20
    );
}
