-- The runtime role reads the feedback link key: the API recognises a link's token by its MAC
-- (GET /feedback/{token} and POST /v1/feedback/{token}), and the feedback-invitations projection
-- issues tokens with it. The migration that made the key left it out of runtime_privileges.
INSERT INTO runtime_privileges (table_name, privileges)
VALUES ('feedback_link_key', 'SELECT')
ON CONFLICT (table_name) DO NOTHING;
