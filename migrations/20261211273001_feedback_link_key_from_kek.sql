-- The feedback link key leaves the database. It was a row here (`feedback_link_key`), so a dump
-- of the database, or any backup of it, verified and forged links. The service now derives the
-- key from its key-encryption key, which is configuration (see
-- `outreach_projections::feedback_links`), and the row goes.
--
-- Links already in members' mailboxes were MACed under the row's key and are stored nowhere:
-- they are refused from now on as unknown, and the feedback page says that a link sent before
-- the program changed its keys no longer works. Invitations not sent yet keep their link
-- honest: the SHA-256 of its token is stored unused, as links from before MACs were (it takes
-- one answer), in an order a sort cannot tie to the invitations.
INSERT INTO feedback_tokens (token_hash, used)
SELECT sha256(convert_to(token, 'UTF8')), false
  FROM (SELECT substring(payload ->> 'body' FROM '/([0-9a-f]{64})(?:\s|$)') AS token
          FROM outbox
         WHERE kind = 'feedback-invitation'
           AND published_at IS NULL) AS unsent
 WHERE token IS NOT NULL
 ORDER BY random()
    ON CONFLICT (token_hash) DO NOTHING;

DROP TABLE feedback_link_key;

DELETE FROM runtime_privileges WHERE table_name = 'feedback_link_key';

COMMENT ON TABLE feedback_tokens IS
    'The SHA-256 of each feedback link token that was answered (and of links sent before tokens '
    'were MACed under a key derived from the key-encryption key, answered or not). No id, case, '
    'member or time; never the token itself.';
