//! The service's binary, started as an operator starts it: only the configuration a test gives
//! it, nothing from the environment the tests run in.

#![allow(dead_code)] // Each test file uses its own part.

use std::process::{Command, Output};

use outreach_test_support::{TestDatabase, TEST_KEY_ENCRYPTION_KEY};

/// The binary with no `PEER_OUTREACH*` setting from the caller's environment, so nothing there
/// decides the outcome.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_peer-outreach"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PEER_OUTREACH") {
            command.env_remove(key);
        }
    }
    command
}

/// The binary configured for `db` as its operator runs the one-off commands: the runtime and
/// owner connections and the test key-encryption key (a later `.env` replaces any of them).
pub fn operator(db: &TestDatabase) -> Command {
    let mut command = binary();
    command
        .env("PEER_OUTREACH__DATABASE__URL", &db.url)
        .env("PEER_OUTREACH__DATABASE__MIGRATION_URL", &db.owner_url)
        .env(
            "PEER_OUTREACH__PRIVACY__KEY_ENCRYPTION_KEY",
            TEST_KEY_ENCRYPTION_KEY,
        );
    command
}

/// What a command that must succeed printed on standard output; its output if it failed.
pub fn succeeded(output: &Output) -> String {
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    said
}
