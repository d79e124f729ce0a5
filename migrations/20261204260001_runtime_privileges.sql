-- Least privilege. Two roles: the owner, which runs these migrations and owns every table, and
-- the runtime role the service connects as (database.url), which owns nothing and holds only
-- what this table grants it. `peer-outreach migrate` runs grant_runtime_privileges for the
-- runtime role after the migrations: whatever that role held before is revoked, and exactly
-- these privileges are granted. No DDL, no ownership: the runtime role cannot alter a table,
-- disable a trigger, or create anything.
--
-- Each migration that creates a table says here what the runtime role may do with it; a test
-- (services/peer-outreach/tests/least_privilege.rs) fails for a table nobody decided on.
CREATE TABLE runtime_privileges
(
    table_name text PRIMARY KEY,
    -- Spliced into GRANT: so only these words, comma-separated; '' for nothing at all.
    privileges text NOT NULL
        CHECK (privileges = ''
            OR privileges ~ '^(SELECT|INSERT|UPDATE|DELETE|TRUNCATE)(, (SELECT|INSERT|UPDATE|DELETE|TRUNCATE))*$')
);

INSERT INTO runtime_privileges (table_name, privileges)
VALUES
    -- The event store and the access audit: appended to and read, never changed.
    ('events', 'SELECT, INSERT'),
    ('access_audit', 'SELECT, INSERT'),
    -- postgres-es's snapshot table: no snapshots are kept (they would hold personal data).
    ('snapshots', ''),
    ('_sqlx_migrations', 'SELECT'),
    ('runtime_privileges', ''),
    ('projection_checkpoints', 'SELECT, INSERT, UPDATE'),
    -- Read models: written only by projections, emptied for a rebuild.
    ('outreach_cases', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('outreach_status_counts', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('case_timeline', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('group_debrief_proposals', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('matching_reports', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('matching_report_staff', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('matching_preferences', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('matching_cases', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('matching_case_reports', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('roster_supporters', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('roster_caseload', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('statistics_counts', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    ('statistics_first_contact', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
    -- Reactions' records: what was sent stays recorded (the purge empties or deletes what
    -- carried personal data).
    ('outbox', 'SELECT, INSERT, UPDATE, DELETE'),
    ('auto_assignments', 'SELECT, INSERT'),
    ('statistics_publications', 'SELECT, INSERT'),
    ('feedback_tokens', 'SELECT, INSERT, UPDATE'),
    ('feedback', 'SELECT, INSERT'),
    ('parked_report_commands', 'SELECT, INSERT, DELETE'),
    -- The retention purge destroys a member's key by deleting its row.
    ('member_data_keys', 'SELECT, INSERT, DELETE'),
    ('dashboard_sessions', 'SELECT, INSERT, DELETE'),
    ('dashboard_sign_ins', 'SELECT, INSERT, DELETE');

-- Run by the owner (it grants on the owner's tables). Revokes everything the runtime role held
-- in this schema, then grants what runtime_privileges says, in one transaction with the call.
CREATE FUNCTION grant_runtime_privileges(runtime name) RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    entry record;
BEGIN
    IF runtime = current_user THEN
        RAISE EXCEPTION 'the runtime role % is the role that runs the migrations: give the service a role of its own', runtime
            USING ERRCODE = 'invalid_grant_operation';
    END IF;
    IF EXISTS (SELECT FROM pg_tables WHERE schemaname = 'public' AND tableowner = runtime) THEN
        RAISE EXCEPTION 'the runtime role % owns tables of the service: it must own nothing', runtime
            USING ERRCODE = 'invalid_grant_operation';
    END IF;
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', runtime);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I', runtime);
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM %I', runtime);
    EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', runtime);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', runtime);
    FOR entry IN SELECT table_name, privileges FROM runtime_privileges WHERE privileges <> '' LOOP
        EXECUTE format('GRANT %s ON TABLE %I TO %I', entry.privileges, entry.table_name, runtime);
    END LOOP;
    -- A serial column's sequence, for the tables it may insert into (nextval only: USAGE).
    FOR entry IN
        SELECT pg_get_serial_sequence(format('%I', p.table_name), a.attname) AS sequence
        FROM runtime_privileges p
                 JOIN pg_attribute a ON a.attrelid = to_regclass(format('%I', p.table_name))
        WHERE p.privileges LIKE '%INSERT%'
          AND a.attnum > 0
          AND NOT a.attisdropped
        LOOP
            IF entry.sequence IS NOT NULL THEN
                EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', entry.sequence, runtime);
            END IF;
        END LOOP;
END
$$;

REVOKE ALL ON FUNCTION grant_runtime_privileges(name) FROM PUBLIC;
