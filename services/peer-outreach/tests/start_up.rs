//! An operator cannot trust a development key by accident: the binary, started as an operator
//! would start it, refuses the development issuer without the opt-in, refuses to serve beyond
//! loopback with it, and the development issuer refuses to serve beyond loopback at all.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use outreach_auth::DevIssuer;

mod operator;
use operator::binary;

/// A development issuer's key files, as `dev-issuer init` makes them.
fn dev_issuer() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("po-start-up-{}", uuid::Uuid::new_v4()));
    DevIssuer::load_or_generate(&dir).unwrap();
    dir
}

/// `peer-outreach run` with the development issuer's settings, `extra` on top; no database
/// or broker is reachable, so only a refusal before them ends it quickly.
fn run_with(dir: &std::path::Path, extra: &[(&str, &str)]) -> (Output, Duration) {
    let started = Instant::now();
    let output = binary()
        .arg("run")
        .env("PEER_OUTREACH__AUTH__ISSUER", DevIssuer::ISSUER)
        .env("PEER_OUTREACH__AUTH__AUDIENCE", DevIssuer::AUDIENCE)
        .env(
            "PEER_OUTREACH__AUTH__JWKS_URI",
            format!("file:{}", DevIssuer::jwks_path(dir).display()),
        )
        .env(
            "PEER_OUTREACH__DATABASE__URL",
            "postgres://nobody@127.0.0.1:1/nowhere",
        )
        .envs(extra.iter().copied())
        .output()
        .expect("the binary runs");
    (output, started.elapsed())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_development_issuer_is_refused_without_the_opt_in() {
    let dir = dev_issuer();

    let (output, took) = run_with(&dir, &[]);

    assert!(!output.status.success());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let said = stderr(&output);
    assert!(said.contains("auth.allow_development_issuer"), "{said}");
}

#[test]
fn with_the_opt_in_it_serves_on_loopback_only() {
    let dir = dev_issuer();

    let (output, took) = run_with(
        &dir,
        &[
            ("PEER_OUTREACH__AUTH__ALLOW_DEVELOPMENT_ISSUER", "true"),
            ("PEER_OUTREACH__HTTP__LISTEN", "0.0.0.0:0"),
        ],
    );

    assert!(!output.status.success());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let said = stderr(&output);
    assert!(said.contains("loopback"), "{said}");
    assert!(said.contains("http.listen"), "{said}");
}

#[test]
fn with_the_opt_in_it_warns_at_start() {
    let dir = dev_issuer();

    // No key-encryption key: start-up ends at that check, after the opt-in's.
    let (output, _) = run_with(
        &dir,
        &[("PEER_OUTREACH__AUTH__ALLOW_DEVELOPMENT_ISSUER", "true")],
    );

    let said = stderr(&output);
    let warning = said
        .lines()
        .find(|line| line.contains("auth.allow_development_issuer is set"))
        .unwrap_or_else(|| panic!("no warning: {said}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("never set it in production"), "{warning}");
}

#[test]
fn without_a_key_encryption_key_the_service_refuses_to_start() {
    let dir = dev_issuer();

    let (output, took) = run_with(
        &dir,
        &[("PEER_OUTREACH__AUTH__ALLOW_DEVELOPMENT_ISSUER", "true")],
    );

    assert!(!output.status.success());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let said = stderr(&output);
    assert!(said.contains("no key-encryption key"), "{said}");
    assert!(said.contains("privacy.key_encryption_key"), "{said}");
}

#[test]
fn keys_over_plain_http_from_another_host_are_refused_even_with_the_opt_in() {
    let dir = dev_issuer();

    let (output, _) = run_with(
        &dir,
        &[
            ("PEER_OUTREACH__AUTH__ALLOW_DEVELOPMENT_ISSUER", "true"),
            (
                "PEER_OUTREACH__AUTH__JWKS_URI",
                "http://keys.hospital.example/jwks.json",
            ),
        ],
    );

    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(said.contains("auth.jwks_uri"), "{said}");
}

#[test]
fn the_development_issuer_serves_on_loopback_only() {
    let dir = dev_issuer();
    let started = Instant::now();

    let output = binary()
        .args(["dev-issuer", "--dir"])
        .arg(&dir)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .expect("the binary runs");

    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    let said = stderr(&output);
    assert!(said.contains("loopback"), "{said}");
}
