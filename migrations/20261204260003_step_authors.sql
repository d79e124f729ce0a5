-- Who did each step of a case, from the metadata of the event that recorded it (see
-- outreach_events::author): for the program director's view of the timeline only.
--
-- Program staff (director, program manager, peer supporter, an automated service client) are
-- named: subject, staff id, role. A caller acting only as a care team member is not: their role
-- and relation to the member (self, colleague, supervisor) only, since who they are is
-- personal data the retention purge must be able to forget. Steps the service took itself
-- (intake, a deadline watch, automatic assignment) name that source and no person.
ALTER TABLE case_timeline ADD COLUMN author_source text;
ALTER TABLE case_timeline ADD COLUMN author_role text;
ALTER TABLE case_timeline ADD COLUMN author_subject text;
ALTER TABLE case_timeline ADD COLUMN author_staff_id text;
ALTER TABLE case_timeline ADD COLUMN author_relation text;

-- The rows there are lack their authors: the read model is rebuilt from the event store, from
-- the first event, by the service's runner (a missing checkpoint starts at zero).
TRUNCATE case_timeline;
DELETE FROM projection_checkpoints WHERE projection = 'case-timeline';
