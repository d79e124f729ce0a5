-- How many cases of the outreach read model stand at each status, kept by the outreach
-- projection in the same transaction as the cases themselves (and so rebuilt with them). The
-- open-cases gauge reads these few rows instead of counting every case: 186 ms at 448,000 open
-- cases, every gauge interval, on the database the steady stream writes to.
CREATE TABLE outreach_status_counts
(
    status text   PRIMARY KEY,
    cases  bigint NOT NULL CHECK (cases >= 0)
);

INSERT INTO outreach_status_counts (status, cases)
SELECT status, count(*) FROM outreach_cases GROUP BY status;
