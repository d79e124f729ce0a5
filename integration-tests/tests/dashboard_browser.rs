//! The dashboard in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against the real service, PostgreSQL and the broker, signing in through the development
//! issuer served as an OpenID provider on a port of its own. A manager signs in, an incident
//! is published, the new cases appear in the queue without a reload, the manager assigns the
//! top candidate; the supporter signs in and sees exactly that case, contact details only; the
//! safety office sees statistics and cannot open a case. Every page visited is saved as a
//! screenshot under `target/browser-artifacts/<test>/NN-page.png` and checked for the basics
//! of accessibility (labels, `lang`, headings in order, table headers, names of buttons).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use integration_tests::reports::{incident_with_clinical_detail, staff};
use integration_tests::{roster_entry, TestBed};
use outreach_intake::sample::Mode;
use serde_json::{json, Value};

const CANARY: &str = "Canary-Heron-7781";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where this test's screenshots go.
fn artifacts(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("browser-artifacts").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the artifacts folder can be made");
    dir
}

/// A headless Chromium of its own (its own chromedriver, port and profile), so tests run in
/// parallel.
struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
    shots: PathBuf,
    taken: u32,
}

impl Browser {
    async fn start(test: &str) -> Browser {
        Self::start_in(test, "en-US").await
    }

    /// A browser whose `Accept-Language` is `languages` (e.g. `es`).
    async fn start_in(test: &str, languages: &str) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is missing: scripts/test installs Debian's chromium and chromium-driver"
        );
        let port = outreach_test_support::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile =
            std::env::temp_dir().join(format!("po-chromium-{}", uuid::Uuid::new_v4().simple()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1024",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": { "intl": { "accept_languages": languages } }
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        // Both of the build's crypto providers are linked in; a second install is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let started = Instant::now();
        let client = loop {
            let attempt = ClientBuilder::rustls()
                .expect("a TLS configuration")
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match attempt {
                Ok(client) => break client,
                Err(error) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("chromedriver did not start a session: {error}"),
            }
        };
        Browser {
            client,
            driver,
            profile,
            shots: artifacts(test),
            taken: 0,
        }
    }

    /// Saves the page as `NN-name.png` and checks its structure.
    async fn shot(&mut self, name: &str) {
        self.taken += 1;
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(
            self.shots.join(format!("{:02}-{name}.png", self.taken)),
            png,
        )
        .expect("the screenshot is saved");
        self.check_accessibility(name).await;
    }

    /// What can be checked without a rules engine: the page's language, a label for every
    /// control, one h1 and no skipped heading level, headers and captions on tables, a name
    /// for every button and link, unique ids, and the contrast of every visible text.
    async fn check_accessibility(&self, page: &str) {
        let problems = self
            .client
            .execute(
                r#"
                const problems = [];
                if (!document.documentElement.lang) problems.push("no lang");
                if (!document.title) problems.push("no title");
                document.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(c => {
                  const named = (c.labels && c.labels.length > 0) || c.getAttribute("aria-label")
                    || c.getAttribute("aria-labelledby");
                  if (!named) problems.push("no label for " + (c.name || c.id));
                });
                const h1s = document.querySelectorAll("h1").length;
                if (h1s !== 1) problems.push(h1s + " h1 elements");
                let last = 0;
                document.querySelectorAll("h1, h2, h3, h4, h5, h6").forEach(h => {
                  const level = Number(h.tagName[1]);
                  if (level > last + 1) problems.push("heading skips to " + h.tagName + ": " + h.textContent.trim());
                  last = level;
                });
                document.querySelectorAll("table").forEach(t => {
                  if (!t.querySelector("th")) problems.push("a table without headers");
                  if (!t.querySelector("caption")) problems.push("a table without a caption");
                });
                document.querySelectorAll("button, a").forEach(b => {
                  if (!b.textContent.trim() && !b.getAttribute("aria-label")) problems.push("a nameless " + b.tagName);
                });
                const ids = new Set();
                document.querySelectorAll("[id]").forEach(e => {
                  if (ids.has(e.id)) problems.push("duplicate id " + e.id);
                  ids.add(e.id);
                });
                // WCAG 2.1 AA contrast (1.4.3) of all visible text, as Chromium renders it: the
                // text's colour against the backgrounds behind it, composited up to the page.
                const rgba = c => { const v = c.match(/[\d.]+/g).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
                const over = (top, below) => [0, 1, 2].map(i => top[i] * top[3] + below[i] * (1 - top[3])).concat([1]);
                const luminance = c => {
                  const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
                  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
                };
                const background = e => {
                  const layers = [];
                  for (let n = e; n && n.nodeType === 1; n = n.parentElement) layers.push(rgba(getComputedStyle(n).backgroundColor));
                  return layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255, 1]);
                };
                document.querySelectorAll("body *").forEach(e => {
                  if (e.closest("svg")) return;
                  const text = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join("").trim();
                  if (!text) return;
                  const box = e.getBoundingClientRect();
                  if (box.width <= 1 || box.height <= 1) return;
                  const style = getComputedStyle(e);
                  if (style.visibility === "hidden" || Number(style.opacity) === 0) return;
                  const bg = background(e);
                  const fg = over(rgba(style.color), bg);
                  const [light, dark] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
                  const ratio = (light + 0.05) / (dark + 0.05);
                  const size = parseFloat(style.fontSize);
                  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
                  const needed = large ? 3 : 4.5;
                  if (ratio < needed) problems.push("contrast " + ratio.toFixed(2) + ":1 < " + needed + ":1 for " + e.tagName + " '" + text.slice(0, 40) + "'");
                });
                return problems;
                "#,
                vec![],
            )
            .await
            .expect("the check runs");
        assert_eq!(problems, json!([]), "accessibility problems on {page}");
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    /// Clicks `css` once it is there; a page still settling (an element gone stale between
    /// finding and clicking) is tried again.
    async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.click().await.map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            match clicked {
                Ok(()) => return,
                Err(error) if started.elapsed() > Duration::from_secs(20) => {
                    panic!("clicking {css}: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The text of `css` once it is there, tried again while the page settles.
    async fn text(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            match text {
                Ok(text) => return text,
                Err(error) if started.elapsed() > Duration::from_secs(20) => {
                    panic!("no text of {css}: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until the page's h1 reads as `expected` says: the next page has loaded.
    async fn arrive(&self, expected: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let heading = self.text("h1").await;
            if expected(&heading) {
                return heading;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "still on the page {heading:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses Tab from the top of the page until focus comes round again, and checks that every
    /// control was reached (a group of radio buttons is one stop, as browsers make it).
    async fn keyboard_reaches_every_control(&self, page: &str) {
        const DESCRIBE: &str = r#"
            const d = e => !e || e === document.body ? "body"
              : e.type === "radio" ? "radio:" + e.name
              : e.tagName.toLowerCase() + ":" + (e.id || e.name || e.getAttribute("href") || e.getAttribute("formaction") || (e.form && e.form.getAttribute("action")) || e.textContent.trim());
        "#;
        let expected: Vec<String> = serde_json::from_value(
            self.client
                .execute(
                    &format!(
                        "{DESCRIBE} return [...new Set([...document.querySelectorAll('a[href], button, select, textarea, input:not([type=hidden])')]
                           .filter(e => {{ const b = e.getBoundingClientRect(); return !e.disabled && (b.width > 0 || e.classList.contains('skip')); }})
                           .map(d))];"
                    ),
                    vec![],
                )
                .await
                .expect("the controls are listed"),
        )
        .unwrap();
        self.client
            .execute(
                "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
                vec![],
            )
            .await
            .unwrap();
        let mut reached = std::collections::BTreeSet::new();
        for _ in 0..expected.len() * 2 + 10 {
            let tab = KeyActions::new("keyboard".into())
                .then(KeyAction::Down {
                    value: Key::Tab.into(),
                })
                .then(KeyAction::Up {
                    value: Key::Tab.into(),
                });
            self.client
                .perform_actions(tab)
                .await
                .expect("Tab is pressed");
            let focused: String = serde_json::from_value(
                self.client
                    .execute(
                        &format!("{DESCRIBE} return d(document.activeElement);"),
                        vec![],
                    )
                    .await
                    .unwrap(),
            )
            .unwrap();
            reached.insert(focused);
        }
        let missed: Vec<&String> = expected.iter().filter(|c| !reached.contains(*c)).collect();
        assert!(
            missed.is_empty(),
            "on {page}, Tab never reaches {missed:?} (reached {reached:?})"
        );
    }

    /// Chooses `value` in the select `css`.
    async fn choose(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .select_by_value(value)
            .await
            .unwrap();
    }

    async fn source(&self) -> String {
        self.client.source().await.expect("the page's source")
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|found| found.len())
            .unwrap_or(0)
    }

    /// Signs in on the development issuer's page, which the dashboard sends the browser to.
    async fn sign_in(&mut self, service: &str, role: &str, staff_id: &str, name: &str) {
        self.goto(&format!("{service}/dashboard")).await;
        self.text("h1").await;
        assert!(self.source().await.contains("Development only"));
        self.shot(&format!("{name}-sign-in")).await;
        self.client
            .find(Locator::Css("#role"))
            .await
            .unwrap()
            .select_by_value(role)
            .await
            .unwrap();
        self.client
            .find(Locator::Css("#staff_id"))
            .await
            .unwrap()
            .send_keys(staff_id)
            .await
            .unwrap();
        self.click("button[type=submit]").await;
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("form.sign-out"))
            .await
            .expect("signed in");
    }

    async fn sign_out(&mut self) {
        self.click("form.sign-out button").await;
        self.arrive(|h1| h1 == "Signed out").await;
    }

    async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        self.taken = 0;
    }
}

impl Drop for Browser {
    /// Also when the test failed: no chromedriver is left behind.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A test bed whose service serves the dashboard, signing in through the development issuer
/// served on a free port.
async fn bed_with_dashboard() -> TestBed {
    let mut bed = TestBed::new().await;
    integration_tests::dashboard::serve_dashboard(&mut bed).await;
    bed
}

#[tokio::test]
async fn a_manager_assigns_the_top_candidate_and_the_supporter_sees_only_that_case() {
    let bed = bed_with_dashboard().await;
    let service = bed.start().await;
    let site = format!("http://{}", service.addr);
    // The top candidate for a nurse at Parnassus, and another supporter further down.
    let mut nurse = roster_entry("S-PAR");
    nurse["campus"] = json!("Parnassus");
    nurse["discipline"] = json!("nurse");
    nurse["seniority"] = json!("mid_career");
    let (status, body) = bed.post(&service, "/v1/supporters", nurse, None).await;
    assert_eq!(status, 201, "{body}");
    bed.put_on_roster(&service, "S-MB").await;

    let mut manager = Browser::start("a_manager_assigns_the_top_candidate").await;
    manager
        .sign_in(&site, "program_manager", "E90002", "manager")
        .await;
    manager.arrive(|h1| h1 == "Queue").await;
    assert_eq!(manager.count("tr[data-case-id]").await, 0);
    manager.shot("queue-empty").await;

    bed.publish(
        &incident_with_clinical_detail(
            "INC-900",
            vec![staff("N1", "nurse"), staff("P2", "physician")],
            CANARY,
        ),
        Mode::Structured,
    )
    .await;
    // No reload: the queue asks for its rows by itself.
    let started = Instant::now();
    while manager.count("tr[data-case-id]").await < 2 {
        assert!(
            started.elapsed() < integration_tests::WAIT,
            "the new cases never appeared in the queue"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(manager.text("#queue-status").await.contains("new case"));
    let queue = manager.source().await;
    assert!(!queue.contains("GivenN1"), "the queue shows no names");
    manager.shot("queue-new-cases").await;

    // The nurse's case (the queue names nobody, so each case is opened until it is hers).
    let mut hrefs = Vec::new();
    for link in manager
        .client
        .find_all(Locator::Css("#queue-rows a[href*='/dashboard/cases/']"))
        .await
        .unwrap()
    {
        hrefs.push(link.attr("href").await.unwrap().unwrap());
    }
    let mut case_url = String::new();
    for href in hrefs {
        manager.goto(&format!("{site}{href}")).await;
        if manager.source().await.contains("GivenN1") {
            case_url = format!("{site}{href}");
            break;
        }
    }
    assert!(!case_url.is_empty(), "the nurse's case is in the queue");
    let started = Instant::now();
    while manager.count("table.candidates").await == 0 {
        assert!(started.elapsed() < integration_tests::WAIT, "no candidates");
        tokio::time::sleep(Duration::from_millis(300)).await;
        manager.goto(&case_url).await;
    }
    let page = manager.source().await;
    assert!(page.contains("n1@example.org"));
    assert!(!page.contains(CANARY), "clinical detail on the case page");
    let top = manager
        .text("table.candidates tbody tr:first-child th")
        .await;
    assert!(top.contains("S-PAR"), "the top candidate: {top}");
    manager.shot("case").await;
    manager
        .click("table.candidates tbody tr:first-child button")
        .await;
    assert_eq!(manager.text(".notice").await, "The supporter is assigned.");
    assert_eq!(manager.text("#assigned-supporter").await, "S-PAR");
    manager.shot("case-assigned").await;
    let case_id = case_url.rsplit('/').next().unwrap().to_owned();
    manager.sign_out().await;
    manager.shot("signed-out").await;

    // The supporter: exactly that case, who to reach and how, nothing else.
    manager
        .sign_in(&site, "peer_supporter", "S-PAR", "supporter")
        .await;
    manager.arrive(|h1| h1 == "My cases").await;
    assert_eq!(manager.count("tr[data-case-id]").await, 1);
    assert_eq!(
        manager
            .client
            .find(Locator::Css("tr[data-case-id]"))
            .await
            .unwrap()
            .attr("data-case-id")
            .await
            .unwrap()
            .as_deref(),
        Some(case_id.as_str())
    );
    let mine = manager.source().await;
    for shown in ["GivenN1 FamilyN1", "n1@example.org", "+1 415 555 0100"] {
        assert!(
            mine.contains(shown),
            "{shown} is not shown to the supporter"
        );
    }
    for hidden in [
        CANARY,
        "INC-900",
        "Critical Care",
        "nurse on shift",
        "GivenP2",
        "Incident",
    ] {
        assert!(!mine.contains(hidden), "{hidden} is shown to the supporter");
    }
    manager.shot("my-cases").await;
    manager.click("tr[data-case-id] a").await;
    manager.arrive(|h1| h1.contains("GivenN1")).await;
    manager.shot("my-case").await;
    manager
        .client
        .find(Locator::Css("#contact-attempts-channel"))
        .await
        .unwrap()
        .select_by_value("phone")
        .await
        .unwrap();
    manager
        .client
        .find(Locator::Css("#contact-attempts-outcome"))
        .await
        .unwrap()
        .select_by_value("reached")
        .await
        .unwrap();
    manager.click("#contact-attempts-form button").await;
    assert_eq!(
        manager.text(".notice").await,
        "The contact attempt is recorded."
    );
    manager.shot("contact-recorded").await;
    manager.sign_out().await;

    // The safety office: statistics, and no case.
    manager
        .sign_in(&site, "safety_office", "E90003", "safety-office")
        .await;
    manager.arrive(|h1| h1.starts_with("Statistics")).await;
    let statistics = manager.source().await;
    assert!(
        statistics.contains("suppressed"),
        "two cases are a small cell"
    );
    assert!(!statistics.contains("GivenN1"));
    assert!(manager.count("svg.chart").await == 2);
    manager.shot("statistics").await;
    manager.goto(&case_url).await;
    manager.arrive(|h1| h1 == "Not allowed").await;
    assert!(!manager.source().await.contains("GivenN1"));
    manager.shot("case-forbidden").await;
    manager.stop().await;
    service.stop().await;
}

/// A care team member signs in and sees their request and its supporter, opts out and back in,
/// states preferences (Spanish among them) and reads their page and the referral form in
/// Spanish; their case completes and the feedback invitation reaches them in Spanish; the link's
/// page, in a Spanish-speaking browser, takes their answer. Every page passes the accessibility
/// checks, and Tab reaches every control of the member's page, the referral form and the
/// feedback page.
#[tokio::test]
async fn a_member_follows_their_request_states_preferences_and_gives_feedback_in_spanish() {
    let smtp = outreach_test_support::SmtpServer::start();
    let mut bed = TestBed::with(|settings| {
        settings.notifications.smtp = Some(integration_tests::mail::smtp(smtp.port));
        settings.notifications.publish_interval_ms = 100;
    })
    .await;
    integration_tests::dashboard::serve_dashboard(&mut bed).await;
    let service = bed.start().await;
    let site = format!("http://{}", service.addr);
    bed.put_on_roster(&service, "S9").await;
    bed.publish(
        &incident_with_clinical_detail("INC-MEMBER", vec![staff("M1", "nurse")], CANARY),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "the member's case", |cases| cases.len() == 1)
        .await;
    let case_id = cases[0]["case_id"].as_str().unwrap().to_owned();
    let (status, answer) = bed
        .post(
            &service,
            &format!("/v1/cases/{case_id}/assignment"),
            json!({"supporter_id": "S9"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    let mut member = Browser::start("a_member_follows_their_request").await;
    member
        .sign_in(&site, "care_team_member", "M1", "member")
        .await;
    member.arrive(|h1| h1 == "My support").await;
    // The read model follows the assignment: the page shows it once it has.
    let started = Instant::now();
    while !member.source().await.contains("has been assigned") {
        assert!(
            started.elapsed() < integration_tests::WAIT,
            "never assigned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        member.client.refresh().await.unwrap();
        member.text("h1").await;
    }
    assert!(member
        .text("#request-arrived")
        .await
        .starts_with("Your request arrived on "));
    let supporter = member.text("#request-supporter").await;
    assert!(
        supporter != "Not assigned yet" && !supporter.is_empty(),
        "{supporter}"
    );
    assert!(member.text("#request-due").await.starts_with("By "));
    let page = member.source().await;
    assert!(
        !page.contains(CANARY),
        "nothing of the report on the member's page"
    );
    member.shot("my-support").await;
    member.keyboard_reaches_every_control("my-support").await;

    member
        .click(r#"form[action="/dashboard/my-support/opt-out"] button"#)
        .await;
    member.text("p.notice").await;
    assert!(member
        .text("#outreach-state")
        .await
        .starts_with("You opted out"));
    member.shot("opted-out").await;
    // Opted out, the page offers opting back in instead: Tab reaches that control too.
    member.keyboard_reaches_every_control("opted-out").await;
    member
        .click(r#"form[action="/dashboard/my-support/opt-in"] button"#)
        .await;
    member.text("p.notice").await;
    assert!(member
        .text("#outreach-state")
        .await
        .starts_with("When a safety event report"));

    member.choose("#pref-supporter_gender", "woman").await;
    member.choose("#pref-supporter_language", "es").await;
    member.click("#preferences-form button[type=submit]").await;
    member.arrive(|h1| h1 == "Mi apoyo").await;
    assert_eq!(
        member.text("p.notice").await,
        "Sus preferencias se guardaron."
    );
    assert!(member.source().await.contains(r#"<html lang="es">"#));
    member.shot("mi-apoyo").await;
    // The referral form, reached from "Pedir apoyo", speaks Spanish too, and so do its errors.
    member.click(r#"nav a[href="/dashboard/referral"]"#).await;
    member
        .arrive(|h1| h1 == "Derivar al apoyo entre pares")
        .await;
    member.shot("derivar").await;
    member.keyboard_reaches_every_control("derivar").await;
    member.click("#referral-form button[type=submit]").await;
    member.text("p.field-error").await;
    assert!(
        member
            .text("#referral-member-name-given-error")
            .await
            .contains("Este dato es obligatorio."),
        "{}",
        member.source().await
    );
    member.shot("derivar-rechazada").await;
    member.sign_out().await;
    member.stop().await;

    // The case completes: the invitation reaches the member in Spanish.
    for (what, body) in [
        (
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached"}),
        ),
        ("acceptance", json!({})),
        ("closure", json!({"reason": "completed"})),
    ] {
        let (status, answer) = bed
            .post(&service, &format!("/v1/cases/{case_id}/{what}"), body, None)
            .await;
        assert_eq!(status, 200, "{what}: {answer}");
    }
    let link_start = format!("{site}/feedback/");
    let invitation = integration_tests::eventually(
        "the feedback invitation to arrive",
        || async {
            smtp.messages()
                .into_iter()
                .map(|m| m.replace("=\r\n", "").replace("=\n", ""))
                .find(|m| m.contains(&link_start))
        },
        Option::is_some,
    )
    .await
    .unwrap();
    // In Spanish (the body is quoted-printable: only its ASCII is matched).
    assert!(
        invitation.contains("Gracias por hablar con un compa"),
        "{invitation}"
    );
    let at = invitation.find(&link_start).unwrap();
    let link = invitation[at..at + link_start.len() + 64].to_owned();

    let mut anonymous = Browser::start_in("a_member_gives_feedback_in_spanish", "es").await;
    anonymous.goto(&link).await;
    anonymous
        .arrive(|h1| h1 == "Su opinión sobre el apoyo entre pares")
        .await;
    anonymous.shot("opinion").await;
    assert!(!anonymous.source().await.contains(CANARY));
    anonymous.keyboard_reaches_every_control("opinion").await;
    anonymous
        .click(r#"input[name="helpfulness"][value="4"]"#)
        .await;
    anonymous
        .click(r#"input[name="would_recommend"][value="yes"]"#)
        .await;
    anonymous.click("#feedback-form button[type=submit]").await;
    anonymous.arrive(|h1| h1 == "Gracias").await;
    anonymous.shot("gracias").await;
    anonymous.goto(&link).await;
    anonymous.arrive(|h1| h1 == "Este enlace ya se usó").await;
    anonymous.shot("enlace-usado").await;
    anonymous.stop().await;
    service.stop().await;
}
