-- Assignment notices: when a supporter is assigned to a case, they are told whom to reach and
-- how. The outbox now has two channels: Kafka (every message so far) and e-mail (sent through
-- SMTP when the service is configured with it; until then e-mail rows wait, unpublished).
--
-- What the outbox may hold, from now on:
-- - Every kind but the assignment ones: facts only (ids, categories, times). No names, no
--   contact details, no free text, nothing clinical (promise 5: an escalation leaves with its
--   category only).
-- - `assignment` (Kafka) and `assignment-email` (e-mail): the one kind that carries personal
--   data, because telling the supporter how to reach the member is the point of it: the member's
--   name, contact details and preferred channel, and for the e-mail the supporter's own name and
--   address. Never anything clinical (promise 1: "will only be given contact information and no
--   clinical details"); the events they are built from have no clinical field to give.
--   These rows are personal data: a retention purge must clear their payloads (keeping the ids,
--   which a replay relies on to send nothing twice).

ALTER TABLE outbox
    ADD COLUMN channel text NOT NULL DEFAULT 'kafka' CHECK (channel IN ('kafka', 'email'));

COMMENT ON TABLE outbox IS
    'Messages that leave the service, recorded with the change that caused them, published at '
    'least once. Facts only (ids, categories, times), except the assignment kinds, which carry '
    'the member''s name and contact details for the assigned supporter. Never anything clinical.';
COMMENT ON COLUMN outbox.channel IS
    'How the row leaves: kafka (the outbox publisher) or email (the SMTP publisher).';

-- Each publisher reads its own channel, oldest first.
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (channel, created_at) WHERE published_at IS NULL;

-- The assignment-notices projection is new, and a new projection starts from the first event:
-- it would notify every assignment ever made, e-mailing supporters about cases long closed.
-- So it starts where the event store stands now (the same line the runner reads up to: the
-- last event of the transactions older than every running one); events committed later are
-- notified as usual. A fresh database has no events and needs no start line.
INSERT INTO projection_checkpoints (projection, transaction_id, global_position)
SELECT 'assignment-notices', e.transaction_id, e.global_position
  FROM events e
 WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY e.transaction_id DESC, e.global_position DESC
 LIMIT 1
    ON CONFLICT (projection) DO NOTHING;
