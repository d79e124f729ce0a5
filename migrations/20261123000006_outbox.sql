-- The outbox: every message that leaves the service, recorded first, in the same transaction as
-- the change that caused it (architecture rule 4), then published at least once by a publisher
-- that marks it published only after the broker acknowledged it.
--
-- A row holds facts only: ids, categories, times. No names, no contact details, no free text,
-- nothing clinical (promise 5: an escalation leaves with its category only).
CREATE TABLE outbox
(
    -- The idempotency key, sent with the message; consumers dedupe on it. Derived from the
    -- causing event (uuid v5 of aggregate_type/aggregate_id/sequence, in a namespace per kind),
    -- so recording the same reaction twice (a rebuild) finds the row already there.
    id           uuid PRIMARY KEY,
    -- What the message is (`escalation`), sent as the `notice-kind` header.
    kind         text        NOT NULL,
    -- The Kafka key: the case id, so one case's messages share a partition.
    topic_key    text        NOT NULL,
    payload      jsonb       NOT NULL,
    -- When the causing event was stored (not the clock at insert: a rebuild derives the same).
    created_at   timestamptz NOT NULL,
    published_at timestamptz,
    -- Failed publishing attempts; the row stays unpublished and is tried again.
    attempts     int         NOT NULL DEFAULT 0
);

-- What the publisher reads, oldest first; small because published rows leave it.
CREATE INDEX outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;

-- Wakes publishers as soon as a row commits (NOTIFY is delivered at commit); publishers also
-- poll, so a lost notification only costs latency.
CREATE FUNCTION notify_outbox_filled() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('peer_outreach_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_filled
    AFTER INSERT ON outbox
    FOR EACH STATEMENT
EXECUTE FUNCTION notify_outbox_filled();
