-- The outreach read model: where each case stands. Written only by the outreach projection,
-- rebuilt from the event store at will. No column can hold clinical detail.
CREATE TABLE outreach_cases
(
    case_id           uuid PRIMARY KEY,
    report_source     text        NOT NULL,
    report_id         text        NOT NULL,
    trigger_kind      text        NOT NULL,
    campus            text        NOT NULL,
    unit              text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('open', 'cancelled')),
    opened_at         timestamptz NOT NULL,
    closed_at         timestamptz,
    close_reason      text,
    -- the member: facts
    staff_id          text        NOT NULL,
    role              text        NOT NULL,
    discipline        text        NOT NULL,
    department        text        NOT NULL,
    seniority         text,
    involvement       text        NOT NULL,
    -- the member: personal data (purgeable)
    given_name        text,
    family_name       text,
    email             text,
    phone             text,
    mobile            text,
    preferred_channel text,
    -- the aggregate sequence of the last event applied
    version           bigint      NOT NULL
);

-- The case list: newest first, filtered by status and campus.
CREATE INDEX outreach_cases_listing ON outreach_cases (opened_at DESC, case_id DESC);
CREATE INDEX outreach_cases_by_status_campus ON outreach_cases (status, campus, opened_at DESC);
