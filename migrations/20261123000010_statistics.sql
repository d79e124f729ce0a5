-- The statistics read model: cumulative counts for the safety office, by month, campus and
-- discipline. Written only by the statistics projection, rebuilt at will. Counts and durations
-- only: no column can hold a member, supporter or case identifier, a name or a date finer than
-- the month (a test inspects the schema and the data). What is published from it is aggregated
-- further and small cells are suppressed on the way out, never here.

-- How many of each thing happened. `measure` names it: `opened:<trigger>`, `reached`,
-- `accepted`, `declined`, `unreachable`, `opted_out`, `encounters:<individual|group>`,
-- `tier3_referrals`, `escalations:<category>`. `campus` and `discipline` are those of the case's
-- member when the case opened (`unknown` where the event does not say).
CREATE TABLE statistics_counts
(
    month      date   NOT NULL CHECK (extract(day FROM month) = 1),
    measure    text   NOT NULL,
    campus     text   NOT NULL,
    discipline text   NOT NULL,
    count      bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (month, measure, campus, discipline)
);

-- Time from a case's opening to its first contact attempt, in working seconds of the program's
-- calendar, one row per first contact, and whether it was within the case's deadline. The rows
-- carry no key that leads back to a case; only medians, percentiles and shares of groups large
-- enough to publish leave the service.
CREATE TABLE statistics_first_contact
(
    month           date    NOT NULL CHECK (extract(day FROM month) = 1),
    campus          text    NOT NULL,
    discipline      text    NOT NULL,
    working_seconds bigint  NOT NULL CHECK (working_seconds >= 0),
    within_deadline boolean NOT NULL
);

CREATE INDEX statistics_first_contact_by_month ON statistics_first_contact (month);
