-- Amendments and withdrawals that arrived before their report (the stream does not promise
-- order across partitions or producers). Each is kept as intake decoded it - staff ids, and the
-- names and contact details of members it adds; never anything clinical, which intake dropped -
-- until the report is recorded, then applied in the order it arrived and deleted.
CREATE TABLE parked_report_commands
(
    -- arrival order
    id            bigserial PRIMARY KEY,
    report_source text        NOT NULL,
    report_id     text        NOT NULL,
    command       jsonb       NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX parked_report_commands_by_report
    ON parked_report_commands (report_source, report_id, id);
