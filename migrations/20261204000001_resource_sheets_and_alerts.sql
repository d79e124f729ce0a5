-- Reaching people: resource sheets e-mailed to members, pages to the supporter on call, and
-- alerts to program managers and the director.
--
-- The outbox gets a third channel: `webhook`, the paging integration (PagerDuty Events API v2
-- shape; `dedup_key` = the case id). What the outbox may now hold, beside what it held before:
-- - `resource-sheet` (e-mail): the program's resource sheet, to the member's address. Personal
--   data (the address): a retention purge deletes the row if unsent and empties its payload if
--   sent, like the assignment and feedback e-mails.
-- - `page` and `page-resolve` (webhook), `page-sms` (e-mail, to the on-call supporter's SMS
--   gateway address), `urgent-unstaffed-alert`, `deadline-passed-alert`, `unassigned-alert`
--   (e-mail, to the program managers), `first-contact-reminder` (e-mail, to the assigned
--   supporter), `escalation-email` (e-mail, to the director): a case link, the campus, times and
--   a category's name. No member's name or contact detail, nothing clinical.

ALTER TABLE outbox DROP CONSTRAINT outbox_channel_check;
ALTER TABLE outbox
    ADD CONSTRAINT outbox_channel_check CHECK (channel IN ('kafka', 'email', 'webhook'));

COMMENT ON TABLE outbox IS
    'Messages that leave the service, recorded with the change that caused them, published at '
    'least once. Facts only (ids, categories, times, a case link, a campus), except the '
    'assignment kinds and resource sheets, which carry a member''s contact details (purged with '
    'the member). Never anything clinical.';
COMMENT ON COLUMN outbox.channel IS
    'How the row leaves: kafka (the outbox publisher), email (the SMTP publisher) or webhook '
    '(the paging publisher).';

-- A case's rows of a kind: whether a case was paged (to resolve the page), and what a member's
-- purge clears, are found by their key instead of by reading the whole outbox.
CREATE INDEX outbox_by_kind_and_key ON outbox (kind, topic_key);

-- Both reactions are new, and a new projection starts from the first event: it would send a
-- sheet for every decline ever recorded and page for every past urgent case. So each starts
-- where the event store stands now (as the assignment notices did); a fresh database has no
-- events and needs no start line.
INSERT INTO projection_checkpoints (projection, transaction_id, global_position)
SELECT p.projection, e.transaction_id, e.global_position
  FROM (VALUES ('resource-sheets'), ('program-alerts')) AS p(projection)
 CROSS JOIN (SELECT transaction_id, global_position
               FROM events
              WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY transaction_id DESC, global_position DESC
              LIMIT 1) AS e
    ON CONFLICT (projection) DO NOTHING;
