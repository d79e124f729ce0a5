-- Issue 27: the staff ids a report's events name are sealed under each member's data key, so a
-- purge cannot find the rows naming its member by staff id. Each row keeps the member's case
-- (derived under the same key), and the purge drops the rows of its cases.
ALTER TABLE matching_report_staff ADD COLUMN case_id uuid;

-- Rows held before: the case each member's entry on the report names, as the previous code
-- stored it (the staff id in the clear).
UPDATE matching_report_staff s
   SET case_id = (named.member ->> 'case_id')::uuid
  FROM matching_reports r,
       events e,
       json_array_elements(e.payload -> e.event_type -> 'members') AS named(member)
 WHERE e.aggregate_type = 'SafetyReport' AND e.event_type IN ('ReportRecorded', 'StaffAdded')
   AND e.aggregate_id = r.report_aggregate_id::text
   AND (r.report_source, r.report_id) = (s.report_source, s.report_id)
   AND named.member ->> 'staff_id' = s.staff_id;

CREATE INDEX matching_report_staff_by_case ON matching_report_staff (case_id);
