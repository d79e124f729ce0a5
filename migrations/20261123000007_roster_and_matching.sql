-- What matching reads: the roster of peer supporters with the cases they hold, and for each case
-- the facts that decide who may support its member. Written only by the matching projection,
-- rebuilt from the event store at will. Facts of people's work, plus the few personal columns
-- (marked) that can be purged with the events they came from; nothing clinical.

-- The roster as matching sees it: one row per supporter.
CREATE TABLE roster_supporters
(
    -- The PeerSupporter aggregate id (derived from the staff id).
    supporter_id    uuid PRIMARY KEY,
    -- Supporters are staff too: compared with members' and reports' staff ids.
    staff_id        text        NOT NULL UNIQUE,
    campus          text        NOT NULL,
    department      text        NOT NULL,
    discipline      text        NOT NULL,
    specialty       text,
    seniority       text        NOT NULL,
    languages       text[]      NOT NULL,
    interests       text[]      NOT NULL,
    training_status text        NOT NULL,
    trained_on      date,
    -- The most cases held at once.
    capacity        integer     NOT NULL,
    -- The events' Availability as JSON: weekly hours and on-call weeks, read whole by matching.
    availability    jsonb       NOT NULL,
    -- Takes no new cases while paused; keeps the ones held.
    paused          boolean     NOT NULL DEFAULT false,
    -- Cases held: CaseTaken minus CaseReleased, i.e. the supporter's rows in roster_caseload.
    open_cases      integer     NOT NULL DEFAULT 0,
    -- personal data (purgeable)
    given_name      text,
    family_name     text,
    email           text,
    phone           text,
    gender          text,
    joined_at       timestamptz NOT NULL,
    -- When the profile was last replaced (the joining, until a manager changes it).
    changed_at      timestamptz NOT NULL,
    -- the aggregate sequence of the last event applied
    version         bigint      NOT NULL
);

-- The cases each supporter holds a slot for. Kept apart from the cases' own assignment because the
-- two are recorded by different aggregates and can disagree for a while (a failed assignment, a
-- reassignment); the caseload keeper looks for rows the cases no longer justify.
CREATE TABLE roster_caseload
(
    supporter_id uuid        NOT NULL,
    case_id      uuid        NOT NULL,
    taken_at     timestamptz NOT NULL,
    PRIMARY KEY (supporter_id, case_id)
);

-- The keeper and the case view start from the case: who holds a slot for it.
CREATE INDEX roster_caseload_by_case ON roster_caseload (case_id);

-- Each case as matching needs it: the member's facts (no name, no contact details), who supports
-- them, and whether the case still runs.
CREATE TABLE matching_cases
(
    case_id           uuid PRIMARY KEY,
    member_staff_id   text        NOT NULL,
    campus            text        NOT NULL,
    department        text        NOT NULL,
    discipline        text        NOT NULL,
    seniority         text,
    role              text        NOT NULL,
    involvement       text        NOT NULL,
    first_contact_due timestamptz,
    opened_at         timestamptz NOT NULL,
    -- The assigned supporter's staff id (as the case's events name them), and since when.
    supporter_id      text,
    assigned_at       timestamptz,
    -- Closed, merged or cancelled; NULL again when reopened.
    ended_at          timestamptz,
    -- the aggregate sequence of the last event applied
    version           bigint      NOT NULL
);

-- Cases awaiting assignment, oldest first.
CREATE INDEX matching_cases_awaiting ON matching_cases (opened_at)
    WHERE supporter_id IS NULL AND ended_at IS NULL;
-- The cases a supporter is assigned to and still running (their current load, the keeper).
CREATE INDEX matching_cases_by_supporter ON matching_cases (supporter_id)
    WHERE ended_at IS NULL;

-- The reports behind each case: the one that opened it and every trigger linked to it since.
-- A supporter named in any of them worked alongside the member in what happened.
CREATE TABLE matching_case_reports
(
    case_id       uuid NOT NULL,
    report_source text NOT NULL,
    report_id     text NOT NULL,
    PRIMARY KEY (case_id, report_source, report_id)
);

-- The staff each report names, eligible for outreach or not. An amendment that removes someone
-- removes their row; a withdrawn report keeps its rows: the colleagues still know each other.
CREATE TABLE matching_report_staff
(
    report_source text NOT NULL,
    report_id     text NOT NULL,
    staff_id      text NOT NULL,
    PRIMARY KEY (report_source, report_id, staff_id)
);

-- The report each SafetyReport aggregate is: its amendments name only the aggregate, not the
-- report, so the projection looks the report up here. For the projection's own use.
CREATE TABLE matching_reports
(
    report_aggregate_id uuid PRIMARY KEY,
    report_source       text   NOT NULL,
    report_id           text   NOT NULL,
    -- the aggregate sequence of the last event applied
    version             bigint NOT NULL
);

-- The member's Preferences as JSON (personal data, purgeable): who they would rather talk to.
CREATE TABLE matching_preferences
(
    staff_id    text PRIMARY KEY,
    preferences jsonb NOT NULL
);
