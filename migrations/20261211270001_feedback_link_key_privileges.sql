-- 20261206271002 created feedback_link_key without saying what the runtime role may do with it,
-- so the runtime role could not read the key that feedback links are MACed with (every
-- projection test that sent an invitation failed with "permission denied"). Projections and
-- the feedback form only read it. ON CONFLICT: a fix of the same elsewhere does not clash.
INSERT INTO runtime_privileges (table_name, privileges)
VALUES ('feedback_link_key', 'SELECT')
ON CONFLICT (table_name) DO NOTHING;
