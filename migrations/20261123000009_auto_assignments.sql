-- Automatic assignment's own record: every case it has considered, once, and what it decided.
-- A case it left for a manager (nobody scored enough) is not considered again: from then on the
-- manager decides. Ids, a score and codes only.
CREATE TABLE auto_assignments
(
    case_id       uuid PRIMARY KEY,
    considered_at timestamptz NOT NULL,
    -- assigned | below-threshold | no-candidate | already-assigned | refused
    outcome       text        NOT NULL CHECK (outcome IN
        ('assigned', 'below-threshold', 'no-candidate', 'already-assigned', 'refused')),
    -- The top candidate, assigned or not, and their score.
    supporter_id  text,
    score         integer,
    -- The rule that refused the assignment, when one did (e.g. supporter-at-capacity).
    rule          text
);
