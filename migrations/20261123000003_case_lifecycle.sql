-- The outreach read model follows a case through its lifecycle: who supports the member, when
-- first contact is due and whether it happened, the member's decision, and counts of what
-- followed. Facts and counts only: there is no column for what was said.
ALTER TABLE outreach_cases DROP CONSTRAINT outreach_cases_status_check;
ALTER TABLE outreach_cases ADD CONSTRAINT outreach_cases_status_check
    CHECK (status IN ('open', 'assigned', 'reached', 'accepted', 'declined', 'closed', 'cancelled'));

ALTER TABLE outreach_cases
    ADD COLUMN supporter_id       text,
    ADD COLUMN first_contact_due  timestamptz,
    ADD COLUMN first_contacted_at timestamptz,
    ADD COLUMN reached_at         timestamptz,
    ADD COLUMN decision           text CHECK (decision IN ('accepted', 'declined')),
    ADD COLUMN decided_at         timestamptz,
    ADD COLUMN contact_attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN encounters         integer NOT NULL DEFAULT 0,
    ADD COLUMN resources_sent     integer NOT NULL DEFAULT 0,
    ADD COLUMN referrals          integer NOT NULL DEFAULT 0,
    ADD COLUMN escalations        integer NOT NULL DEFAULT 0;

-- Overdue: first contact due and not yet attempted, on a case still being worked.
CREATE INDEX outreach_cases_awaiting_first_contact ON outreach_cases (first_contact_due)
    WHERE first_contacted_at IS NULL AND status IN ('open', 'assigned');
