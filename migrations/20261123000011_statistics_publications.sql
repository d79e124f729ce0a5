-- Every period whose statistics were published, once: the row and the outbox message it
-- caused are written in one transaction, so a period is published at most once however often
-- the quarter's end is noticed or the director asks.
CREATE TABLE statistics_publications
(
    -- `2026-Q3` or `2026-07`
    period       text PRIMARY KEY,
    -- The CloudEvent's id (and the outbox row's): derived from the period.
    event_id     uuid        NOT NULL UNIQUE,
    published_at timestamptz NOT NULL,
    -- `schedule` (the quarter's end) or `director` (on demand)
    requested_by text        NOT NULL CHECK (requested_by IN ('schedule', 'director'))
);
