-- A colleague referred by someone outside the program's staff, with nothing on record, has a
-- case whose contact details are the referrer's suggestion: held for the program's staff to
-- confirm, never in `email`, `phone` or `mobile` (which hold only where the member is reached).
-- The suggestion is personal data: the member's purge clears it with the rest.
ALTER TABLE outreach_cases
    ADD COLUMN contact_to_confirm boolean NOT NULL DEFAULT false,
    ADD COLUMN suggested_contact jsonb;
