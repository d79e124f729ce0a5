-- The access audit: who read which case's (or member's) personal data, when, through which
-- endpoint. Append-only: the triggers refuse every UPDATE, DELETE and TRUNCATE, whoever runs
-- them through the service's own database role (an owner is not bound by REVOKE; a trigger
-- binds everyone short of a superuser disabling it, which the database's own log records).
CREATE TABLE access_audit
(
    entry_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    read_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    subject         text        NOT NULL,
    reader_staff_id text,
    reader_roles    text[]      NOT NULL,
    endpoint        text        NOT NULL,
    case_id         uuid,
    member_id       uuid,
    CHECK (case_id IS NOT NULL OR member_id IS NOT NULL)
);

CREATE INDEX access_audit_by_case ON access_audit (case_id, entry_id) WHERE case_id IS NOT NULL;

CREATE FUNCTION access_audit_is_append_only() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'the access audit is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER access_audit_no_change
    BEFORE UPDATE OR DELETE ON access_audit
    FOR EACH ROW EXECUTE FUNCTION access_audit_is_append_only();

CREATE TRIGGER access_audit_no_truncate
    BEFORE TRUNCATE ON access_audit
    FOR EACH STATEMENT EXECUTE FUNCTION access_audit_is_append_only();
