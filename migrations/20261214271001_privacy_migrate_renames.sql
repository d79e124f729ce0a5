-- `peer-outreach privacy migrate` renames the cases and member records stored before issue 27
-- (their ids were UUID v5 of staff ids, which anyone who knows whom a report named recomputes)
-- and rewrites those ids wherever they are held, the access audit included. The audit's rows are
-- hash-chained: the command verifies the chain before it rewrites anything, re-chains it once
-- every id is rewritten, and appends one entry of its own naming the head it replaced. That
-- entry names no case and no member, which the audit did not allow until now.
ALTER TABLE access_audit DROP CONSTRAINT access_audit_check;
ALTER TABLE access_audit ADD CONSTRAINT access_audit_names_what_was_read
    CHECK (case_id IS NOT NULL OR member_id IS NOT NULL
           OR endpoint LIKE 'peer-outreach privacy migrate:%');

-- A rewrite of the audit under way: the head the chain had, verified, before the first batch
-- rewrote an entry. While this row is here the chain is broken by the command's own rewrites
-- (between batches, after a kill), and a rerun completes it rather than refusing it; the row
-- goes in the transaction that re-chains the audit. The owner's only: the runtime role neither
-- reads nor writes it.
CREATE TABLE privacy_migrate_audit_rewrite
(
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    old_entries   bigint      NOT NULL,
    old_head_id   bigint,
    old_head_hash text,
    begun_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO runtime_privileges (table_name, privileges)
VALUES ('privacy_migrate_audit_rewrite', '');
