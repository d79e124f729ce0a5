-- The notification on every append names the event types appended (comma-separated), so a
-- projection runner whose projection reads none of them stays asleep: at 200 reports/s, three
-- of the eight runners woke on every commit to move their checkpoints over events they never
-- read, and each such write took a transaction id that could hide the next commit from the
-- others. Their poll moves them over those events later. A runner treats an empty payload
-- (the old trigger's) as naming every type.
CREATE OR REPLACE FUNCTION notify_events_appended() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('peer_outreach_events',
                      (SELECT coalesce(string_agg(DISTINCT event_type, ','), '') FROM appended));
    RETURN NULL;
END;
$$;

DROP TRIGGER events_appended ON events;

CREATE TRIGGER events_appended
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT
EXECUTE FUNCTION notify_events_appended();
