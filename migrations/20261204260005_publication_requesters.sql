-- Who asked for a publication on demand: the director, or a service client (a scheduler of the
-- hospital's), named as the program's staff are (subject and staff id), beside the role. The
-- quarter's own schedule stays `schedule`, with no one named.
ALTER TABLE statistics_publications DROP CONSTRAINT statistics_publications_requested_by_check;
ALTER TABLE statistics_publications
    ADD CHECK (requested_by IN ('schedule', 'director', 'service'));
ALTER TABLE statistics_publications ADD COLUMN requested_by_subject text;
ALTER TABLE statistics_publications ADD COLUMN requested_by_staff_id text;
