-- Issue 27: the staff id in a member's own events is sealed under their data key, so a purge
-- (which names no one) cannot be told whose preferences to drop by staff id any more. Each
-- member's preferences carry the member's record id (derived under the same key), and the
-- purge drops them by it.
ALTER TABLE matching_preferences ADD COLUMN member_id text;

-- Preferences held before: the member record that last stated them, as the previous code
-- stored it (the staff id in the clear).
UPDATE matching_preferences p
   SET member_id = stated.aggregate_id
  FROM (SELECT DISTINCT ON (payload -> 'PreferencesStated' ->> 'staff_id')
               aggregate_id, payload -> 'PreferencesStated' ->> 'staff_id' AS staff_id
          FROM events
         WHERE aggregate_type = 'CareTeamMember' AND event_type = 'PreferencesStated'
         ORDER BY payload -> 'PreferencesStated' ->> 'staff_id', global_position DESC) stated
 WHERE stated.staff_id = p.staff_id;

CREATE INDEX matching_preferences_by_member ON matching_preferences (member_id);
