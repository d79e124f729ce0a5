-- When the deadline watch noticed that first contact was past due, and how many later triggers
-- joined the case (one member, one open case).
ALTER TABLE outreach_cases
    ADD COLUMN deadline_passed_at timestamptz,
    ADD COLUMN linked_triggers    integer NOT NULL DEFAULT 0;
