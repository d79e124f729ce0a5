-- Issue 27: a case opening's member profile (staff id, role, department, discipline, seniority,
-- involvement) is sealed under the member's data key, so a rebuild after the member's purge can
-- no longer read the discipline the case was counted under. Statistics count it when the case
-- opens and keep it per case while the case lives; at the purge the case's counts move into a
-- ledger that rebuilds start from, and its events count no more (see the statistics projection).

-- Each live case's facts as statistics break its events down: kept until the member's purge.
CREATE TABLE statistics_cases
(
    case_id           uuid PRIMARY KEY,
    campus            text        NOT NULL,
    discipline        text        NOT NULL,
    opened_at         timestamptz NOT NULL,
    first_contact_due timestamptz
);

-- What the cases of purged members counted: never emptied by a rebuild, which starts from it.
CREATE TABLE statistics_retired_counts
(
    month      date   NOT NULL CHECK (extract(day FROM month) = 1),
    measure    text   NOT NULL,
    campus     text   NOT NULL,
    discipline text   NOT NULL,
    count      bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (month, measure, campus, discipline)
);

CREATE TABLE statistics_retired_first_contact
(
    month           date    NOT NULL CHECK (extract(day FROM month) = 1),
    campus          text    NOT NULL,
    discipline      text    NOT NULL,
    working_seconds bigint  NOT NULL CHECK (working_seconds >= 0),
    within_deadline boolean NOT NULL
);

-- The retired cases, by id alone: their events are not counted again.
CREATE TABLE statistics_retired_cases
(
    case_id uuid PRIMARY KEY
);

COMMENT ON TABLE statistics_cases IS
    'Campus, discipline and opening times of each case whose member was not purged, for '
    'statistics; a case''s row goes at the purge.';
COMMENT ON TABLE statistics_retired_counts IS
    'Counts of the cases of purged members: no member, case or supporter.';

-- The cases opened before this migration, from their openings as the previous code stored
-- them (the profile in the clear), except those whose member was purged since: those keep
-- being counted from their plain openings, which still tell the discipline.
INSERT INTO statistics_cases (case_id, campus, discipline, opened_at, first_contact_due)
SELECT o.aggregate_id::uuid,
       o.payload -> 'CaseOpened' -> 'facts' ->> 'campus',
       o.payload -> 'CaseOpened' -> 'facts' -> 'member' ->> 'discipline',
       (o.payload -> 'CaseOpened' -> 'facts' ->> 'opened_at')::timestamptz,
       (o.payload -> 'CaseOpened' -> 'facts' ->> 'first_contact_due')::timestamptz
  FROM events o
 WHERE o.aggregate_type = 'OutreachCase'
   AND o.event_type = 'CaseOpened'
   AND o.payload -> 'CaseOpened' -> 'facts' -> 'member' ->> 'discipline' IS NOT NULL
   AND NOT EXISTS (
       SELECT 1
         FROM events s
         JOIN events p
           ON p.aggregate_type = 'CareTeamMember' AND p.aggregate_id = s.aggregate_id
          AND p.event_type = 'PersonalDataPurged' AND p.sequence > s.sequence
        WHERE s.aggregate_type = 'CareTeamMember' AND s.event_type = 'CaseStarted'
          AND s.payload -> 'CaseStarted' ->> 'case_id' = o.aggregate_id)
ON CONFLICT DO NOTHING;

INSERT INTO runtime_privileges (table_name, privileges)
VALUES ('statistics_cases', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
       -- Added to at each purge, read by each rebuild; never emptied.
       ('statistics_retired_counts', 'SELECT, INSERT, UPDATE'),
       ('statistics_retired_first_contact', 'SELECT, INSERT'),
       ('statistics_retired_cases', 'SELECT, INSERT');
