-- A dashboard session keeps the provider's access token only sealed (AES-256-GCM) under a key
-- derived from the session cookie's random value, which only the browser holds (the table
-- keeps its SHA-256 to find the session by): a copy of this table, with or without the
-- service's configuration, holds no token anyone can use.
--
-- The sessions there are end: their tokens were kept in the clear. Everyone signs in again.
DELETE FROM dashboard_sessions;
ALTER TABLE dashboard_sessions DROP COLUMN access_token;
ALTER TABLE dashboard_sessions ADD COLUMN sealed_token bytea NOT NULL;
