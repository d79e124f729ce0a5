//! Least privilege against a real PostgreSQL with both roles, as a hospital deploys them: an
//! owner that is no superuser (`database.migration_url`) creates and migrates, `peer-outreach
//! migrate` grants the runtime role (`database.url`) what `runtime_privileges` lists; the
//! runtime role may append to and read the event store and the access audit, and change
//! neither, nor any table's definition, nor create anything.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use outreach_test_support::{
    drop_database, ensure_owner_role, ensure_runtime_role, owner_role_url, owner_url, runtime_url,
    OWNER_ROLE, RUNTIME_ROLE,
};
use sqlx::{Connection, PgConnection, PgPool};

/// A database owned by the owner role, dropped with this.
struct Deployed {
    name: String,
}

impl Deployed {
    async fn new() -> Deployed {
        ensure_owner_role().await;
        ensure_runtime_role().await;
        let name = format!("least_privilege_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&owner_url("postgres")).await.unwrap();
        sqlx::query(&format!(r#"CREATE DATABASE "{name}" OWNER {OWNER_ROLE}"#))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.ok();
        Deployed { name }
    }

    /// `peer-outreach <args>` with the runtime role's URL, and the owner's if `as_owner_too`,
    /// as an operator runs it.
    fn run(&self, args: &[&str], as_owner_too: bool, extra: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_peer-outreach"));
        command
            .args(args)
            .env("PEER_OUTREACH__DATABASE__URL", runtime_url(&self.name))
            .envs(extra.iter().copied());
        if as_owner_too {
            command.env(
                "PEER_OUTREACH__DATABASE__MIGRATION_URL",
                owner_role_url(&self.name),
            );
        }
        command.output().expect("the binary runs")
    }

    fn migrate(&self) {
        let output = self.run(&["migrate"], true, &[]);
        assert!(
            output.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    async fn runtime(&self) -> PgPool {
        PgPool::connect(&runtime_url(&self.name)).await.unwrap()
    }

    async fn owner(&self) -> PgPool {
        PgPool::connect(&owner_role_url(&self.name)).await.unwrap()
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        drop_database(&self.name);
    }
}

/// Runs `statement` as `pool`'s role; must be refused for want of a privilege.
async fn refused(pool: &PgPool, statement: &str) {
    let error = sqlx::query(statement)
        .execute(pool)
        .await
        .expect_err(statement);
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    // 42501: insufficient_privilege ("permission denied", "must be owner").
    assert_eq!(code.as_deref(), Some("42501"), "{statement}: {error}");
}

#[tokio::test]
async fn the_runtime_role_appends_and_reads_and_can_change_nothing() {
    let deployed = Deployed::new().await;
    deployed.migrate();
    let runtime = deployed.runtime().await;

    // What the service does: append an event, record a read, read both back.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('OutreachCase', 'c-1', 1, 'CaseOpened', '1', '{}', '{}')",
    )
    .execute(&runtime)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO access_audit (subject, reader_roles, endpoint, case_id)
         VALUES ('oidc|pm', '{program_manager}', 'GET /v1/cases', gen_random_uuid())",
    )
    .execute(&runtime)
    .await
    .unwrap();
    let counted: (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM access_audit)")
            .fetch_one(&runtime)
            .await
            .unwrap();
    assert_eq!(counted, (1, 1));

    // A grant of what it does not hold gives nothing (PostgreSQL only warns).
    sqlx::query("GRANT UPDATE, DELETE ON events, access_audit TO PUBLIC")
        .execute(&runtime)
        .await
        .unwrap();
    for statement in [
        "UPDATE events SET payload = '{\"forged\": true}'",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE access_audit SET subject = 'someone else'",
        "DELETE FROM access_audit",
        "TRUNCATE access_audit",
        "ALTER TABLE access_audit DISABLE TRIGGER access_audit_no_change",
        "ALTER TABLE access_audit DISABLE TRIGGER USER",
        "ALTER TABLE events ADD COLUMN note text",
        "DROP TABLE outreach_cases",
        "CREATE TABLE notes (note text)",
        "CREATE INDEX ON events (event_version)",
        "CREATE FUNCTION nothing() RETURNS void LANGUAGE sql AS 'SELECT'",
        "CREATE TRIGGER quiet BEFORE INSERT ON access_audit FOR EACH ROW EXECUTE FUNCTION access_audit_is_append_only()",
        "SELECT grant_runtime_privileges(current_user)",
        "UPDATE member_data_keys SET kek_id = kek_id",
        "UPDATE member_index_key SET kek_id = kek_id",
        "DELETE FROM _sqlx_migrations",
    ] {
        refused(&runtime, statement).await;
    }

    let (superuser, owns): (bool, i64) = sqlx::query_as(
        "SELECT rolsuper, (SELECT count(*) FROM pg_tables WHERE tableowner = current_user)
           FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&runtime)
    .await
    .unwrap();
    assert_eq!((superuser, owns), (false, 0));
}

#[tokio::test]
async fn the_runtime_role_holds_exactly_what_the_migrations_list_and_a_stray_grant_goes() {
    let deployed = Deployed::new().await;
    deployed.migrate();
    let owner = deployed.owner().await;

    // Every table has a decision: a table added without one would be nobody's choice.
    let tables: BTreeSet<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&owner)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let decided: BTreeSet<String> = sqlx::query_scalar("SELECT table_name FROM runtime_privileges")
        .fetch_all(&owner)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        tables, decided,
        "every table, and only tables, in runtime_privileges"
    );

    let listed = || async {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name, trim(privilege)
               FROM runtime_privileges, unnest(string_to_array(privileges, ',')) AS privilege
              WHERE privileges <> ''",
        )
        .fetch_all(&owner)
        .await
        .unwrap();
        rows.into_iter().collect::<BTreeSet<_>>()
    };
    let held = || async {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, privilege_type::text
               FROM information_schema.role_table_grants
              WHERE grantee = $1 AND table_schema = 'public'",
        )
        .bind(RUNTIME_ROLE)
        .fetch_all(&owner)
        .await
        .unwrap();
        rows.into_iter().collect::<BTreeSet<_>>()
    };
    assert_eq!(held().await, listed().await);
    assert!(held()
        .await
        .contains(&("events".to_owned(), "INSERT".to_owned())));
    assert!(!held()
        .await
        .iter()
        .any(
            |(table, privilege)| (table == "events" || table == "access_audit")
                && !["INSERT", "SELECT"].contains(&privilege.as_str())
        ));

    // Someone grants more by hand; the next migrate takes it back.
    sqlx::query(&format!("GRANT UPDATE, DELETE ON events TO {RUNTIME_ROLE}"))
        .execute(&owner)
        .await
        .unwrap();
    assert_ne!(held().await, listed().await);
    deployed.migrate();
    assert_eq!(held().await, listed().await);
    refused(&deployed.runtime().await, "DELETE FROM events").await;
}

#[tokio::test]
async fn without_the_owners_credentials_the_service_refuses_a_schema_that_is_behind() {
    let deployed = Deployed::new().await;
    let issuer_dir = std::env::temp_dir().join(format!("po-lp-{}", uuid::Uuid::new_v4()));
    outreach_auth::DevIssuer::load_or_generate(&issuer_dir).unwrap();
    let jwks = format!(
        "file:{}",
        outreach_auth::DevIssuer::jwks_path(&issuer_dir).display()
    );

    // The runtime role's URL only: the owner's is not the service's to hold.
    let output = deployed.run(
        &["run"],
        false,
        &[
            ("PEER_OUTREACH__DATABASE__MIGRATE_ON_START", "false"),
            ("PEER_OUTREACH__DATABASE__CREATE_DATABASE", "false"),
            (
                "PEER_OUTREACH__AUTH__ISSUER",
                outreach_auth::DevIssuer::ISSUER,
            ),
            (
                "PEER_OUTREACH__AUTH__AUDIENCE",
                outreach_auth::DevIssuer::AUDIENCE,
            ),
            ("PEER_OUTREACH__AUTH__JWKS_URI", &jwks),
            ("PEER_OUTREACH__AUTH__ALLOW_DEVELOPMENT_ISSUER", "true"),
            ("PEER_OUTREACH__HTTP__LISTEN", "127.0.0.1:0"),
            (
                "PEER_OUTREACH__PRIVACY__KEY_ENCRYPTION_KEY",
                outreach_test_support::TEST_KEY_ENCRYPTION_KEY,
            ),
        ],
    );

    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("peer-outreach migrate"), "{said}");
}
