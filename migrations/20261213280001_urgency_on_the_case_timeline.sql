-- The timeline says when a case is urgent and when first contact became due: on `opened`,
-- whether the report opened it urgent and the deadline it set; on `trigger_linked`, whether the
-- report that joined made the case urgent and, if first contact was still owed, the sooner
-- deadline it moved to (null when nothing moved). Neither is personal or clinical: the urgency
-- policy's one decision, and a time.
ALTER TABLE case_timeline ADD COLUMN urgent boolean;
ALTER TABLE case_timeline ADD COLUMN first_contact_due timestamptz;

-- The rows there lack both: the read model is rebuilt from the event store, from the first
-- event, by the service's runner (a missing checkpoint starts at zero).
TRUNCATE case_timeline;
DELETE FROM projection_checkpoints WHERE projection = 'case-timeline';
