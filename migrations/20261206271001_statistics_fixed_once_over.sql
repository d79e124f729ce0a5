-- What the safety office reads, and what is published, fixed once a quarter is over: the first
-- read or publication of a quarter that is over computes it (with its months, where those are
-- served, suppressed together as linked tables) and stores it here; every later read and the
-- publication serve what is stored. Counts that change afterwards (an encounter recorded late
-- for a day of the quarter) would otherwise let a reader difference two reads of one quarter
-- and see that one case.
CREATE TABLE statistics_snapshots
(
    -- `2026-Q3`, or a month of it (`2026-07`) where months are served
    period   text PRIMARY KEY,
    -- The quarter it was fixed with.
    quarter  text        NOT NULL,
    -- The statistics document, as `GET /v1/statistics` serves it.
    document jsonb       NOT NULL,
    taken_at timestamptz NOT NULL
);

COMMENT ON TABLE statistics_snapshots IS
    'Statistics of quarters that are over (and their months where served), fixed at the first '
    'read or publication: counts only, small cells suppressed. No member, case or supporter.';

-- The runtime role fixes a quarter and reads it; a fixed quarter is never changed or removed.
INSERT INTO runtime_privileges (table_name, privileges)
VALUES ('statistics_snapshots', 'SELECT, INSERT');
