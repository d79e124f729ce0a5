-- The cqrs-es event store (postgres-es 0.5 writes these columns), plus what projections need
-- to read it in a gap-free order.
--
-- Sequence numbers alone are not safe to follow: two transactions can take positions 7 and 8,
-- and 8 can commit first; a reader that saw 8 and moved its checkpoint past it would never see 7.
-- So every event also records the id of the transaction that wrote it, and readers only read
-- events whose transaction is older than the oldest transaction still running
-- (pg_snapshot_xmin(pg_current_snapshot())): nothing can ever appear below that line again.
CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         json                         NOT NULL,
    metadata        json                         NOT NULL,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    global_position bigint      NOT NULL GENERATED ALWAYS AS IDENTITY,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE INDEX events_in_commit_order ON events (transaction_id, global_position);

-- Needed by postgres-es only when snapshots are used; created so either store works.
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Wakes projection runners as soon as events commit (NOTIFY is delivered at commit);
-- runners also poll, so a lost notification only costs latency.
CREATE FUNCTION notify_events_appended() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('peer_outreach_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_appended
    AFTER INSERT ON events
    FOR EACH STATEMENT
EXECUTE FUNCTION notify_events_appended();

-- Where each projection stands in the event store. Updated in the same transaction as the
-- read-model rows, so a crash can never apply an event twice or skip one.
CREATE TABLE projection_checkpoints
(
    projection      text PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    global_position bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
