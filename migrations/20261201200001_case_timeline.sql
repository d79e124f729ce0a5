-- Each case's steps in time order, one row per event of the case: what happened, when, and the
-- codes that say how (channel, outcome, modality, reason...). Written only by the case-timeline
-- projection, rebuilt from the event store at will. No column holds free text, nor anything of
-- the member's: a purge has nothing here to drop (the member's name lives in outreach_cases).
CREATE TABLE case_timeline
(
    case_id             uuid        NOT NULL,
    -- the event's sequence in the case's stream: the order of steps recorded at the same instant
    sequence            bigint      NOT NULL,
    at                  timestamptz NOT NULL,
    step                text        NOT NULL,
    -- opened, trigger_linked: the report and its kind of trigger
    report_source       text,
    report_id           text,
    trigger_kind        text,
    -- supporter_assigned
    supporter_id        text,
    -- contact_attempted
    channel             text,
    outcome             text,
    -- support_declined
    resource_sheet_sent boolean,
    -- encounter_recorded
    held_on             date,
    modality            text,
    format              text,
    duration            text,
    -- referred_to_professional_help
    service             text,
    -- escalation_recorded
    category            text,
    -- cancelled, closed: why; merged_into for a case that joined another
    reason              text,
    merged_into         uuid,
    PRIMARY KEY (case_id, sequence)
);
