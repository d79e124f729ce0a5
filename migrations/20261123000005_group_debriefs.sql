-- Group debriefs proposed for reports that affect many staff at once (more than 5 people or
-- several departments). Written only by the group-debriefs projection, rebuilt from the event
-- store at will. Counts only: no staff ids, no names, nothing clinical.
CREATE TABLE group_debrief_proposals
(
    report_source text        NOT NULL,
    report_id     text        NOT NULL,
    campus        text        NOT NULL,
    unit          text        NOT NULL,
    -- eligible members the report names, and the distinct departments they come from
    staff         int         NOT NULL,
    departments   int         NOT NULL,
    proposed_at   timestamptz NOT NULL,
    PRIMARY KEY (report_source, report_id)
);

-- The list: newest first, optionally for one campus.
CREATE INDEX group_debrief_proposals_listing ON group_debrief_proposals (proposed_at DESC);
CREATE INDEX group_debrief_proposals_by_campus ON group_debrief_proposals (campus, proposed_at DESC);
