-- A tamper-evident access audit: every entry carries the SHA-256 of the entry before it
-- (previous_hash) and of itself (entry_hash = SHA-256(previous_hash || its text)), so an entry
-- altered, removed or put in out of place breaks the chain at that point, whoever did it (the
-- service's own role cannot: it may only insert and read; an owner or a superuser can, and the
-- chain shows it). `peer-outreach access-audit verify` walks the whole chain; the API checks
-- what is new since the last verified entry (access_audit_verified).
--
-- The first entry follows 32 zero bytes. An entry's text is
--   jsonb_build_array(entry_id, read_at in microseconds since the epoch, subject,
--                     reader_staff_id, reader_roles, reader_relation, endpoint, case_id,
--                     member_id)::text
-- (jsonb's text form is the same whatever the session's settings). The verifier computes it
-- with its own copy of this expression, not with access_audit_entry_text below.

-- A care team member reading their own record is recorded as such, without their subject or
-- staff id: who they are is personal data of a member, which the retention purge must be able
-- to forget, and "self" with the member's record says it all.
ALTER TABLE access_audit ALTER COLUMN subject DROP NOT NULL;
ALTER TABLE access_audit ADD COLUMN reader_relation text CHECK (reader_relation IN ('self'));
ALTER TABLE access_audit ADD CHECK (subject IS NOT NULL OR reader_relation = 'self');

-- Entry ids are given in chain order, under the chain's lock (below), not by a sequence ahead
-- of it: so the chain's order is the ids' order, and a reader paging by id never skips an
-- entry that committed late.
ALTER TABLE access_audit ALTER COLUMN entry_id DROP IDENTITY;
ALTER TABLE access_audit ADD COLUMN previous_hash bytea;
ALTER TABLE access_audit ADD COLUMN entry_hash bytea;

CREATE FUNCTION access_audit_entry_text(entry access_audit) RETURNS text
    LANGUAGE sql STABLE AS
$$
SELECT jsonb_build_array(entry.entry_id,
                         (extract(epoch FROM entry.read_at) * 1000000)::bigint,
                         entry.subject, entry.reader_staff_id, entry.reader_roles,
                         entry.reader_relation, entry.endpoint, entry.case_id,
                         entry.member_id)::text
$$;

-- The entries there are, chained in id order.
ALTER TABLE access_audit DISABLE TRIGGER access_audit_no_change;
DO
$$
    DECLARE
        entry    access_audit;
        previous bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    BEGIN
        FOR entry IN SELECT * FROM access_audit ORDER BY entry_id
            LOOP
                entry.previous_hash := previous;
                previous := sha256(previous || convert_to(access_audit_entry_text(entry), 'UTF8'));
                UPDATE access_audit
                SET previous_hash = entry.previous_hash,
                    entry_hash    = previous
                WHERE entry_id = entry.entry_id;
            END LOOP;
    END
$$;
ALTER TABLE access_audit ENABLE TRIGGER access_audit_no_change;
ALTER TABLE access_audit ALTER COLUMN previous_hash SET NOT NULL;
ALTER TABLE access_audit ALTER COLUMN entry_hash SET NOT NULL;

-- Each new entry is chained to the last one. Writers take turns: the advisory lock is held to
-- the end of the writer's transaction, and is released only once that transaction's entry is
-- visible. The query for the last entry runs after the lock is taken, and in READ COMMITTED a
-- VOLATILE function's every query takes a fresh snapshot, so it sees the entry the previous
-- writer committed; in REPEATABLE READ or SERIALIZABLE it would see the transaction's older
-- snapshot and fork the chain, so those are refused. The primary key refuses a fork anyway.
CREATE FUNCTION access_audit_chain() RETURNS trigger
    LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    last_id   bigint;
    last_hash bytea;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'the access audit is written in READ COMMITTED transactions only (this is %)',
            current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('peer-outreach access audit chain', 0));
    SELECT entry_id, entry_hash INTO last_id, last_hash
    FROM access_audit
    ORDER BY entry_id DESC
    LIMIT 1;
    NEW.entry_id := COALESCE(last_id, 0) + 1;
    NEW.previous_hash := COALESCE(last_hash,
        '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    NEW.entry_hash := sha256(NEW.previous_hash || convert_to(access_audit_entry_text(NEW), 'UTF8'));
    RETURN NEW;
END
$$;

CREATE TRIGGER access_audit_chained
    BEFORE INSERT ON access_audit
    FOR EACH ROW EXECUTE FUNCTION access_audit_chain();

-- What was last found of the chain. entry_id and entry_hash: the newest entry found chained
-- intact, from which the API checks what is new, after checking that this entry still has this
-- hash. full_walk_at: when the whole chain was last walked (the service does so at start and
-- every six hours, `peer-outreach access-audit verify` on demand); broken_entry_id and
-- break_reason: the first break that walk found, if any. One row.
CREATE TABLE access_audit_verified
(
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    entry_id        bigint,
    entry_hash      bytea,
    verified_at     timestamptz,
    full_walk_at    timestamptz,
    broken_entry_id bigint,
    break_reason    text
);

INSERT INTO runtime_privileges (table_name, privileges)
VALUES ('access_audit_verified', 'SELECT, INSERT, UPDATE');
