-- Whether a case is urgent (opened by an urgent report, or made urgent by one linked to it),
-- for the case list, the case's JSON and the dashboard.
ALTER TABLE outreach_cases ADD COLUMN urgent boolean NOT NULL DEFAULT false;

-- The rows there lack it: the read model is rebuilt from the event store, from the first event,
-- by the service's runner (a missing checkpoint starts at zero).
TRUNCATE outreach_cases, outreach_status_counts;
DELETE FROM projection_checkpoints WHERE projection = 'outreach';
