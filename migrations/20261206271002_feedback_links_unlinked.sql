-- Feedback cannot be joined to its invitation. Until now each sent link had a `feedback_tokens`
-- row whose id was the invitation e-mail's outbox id (whose key is the case id), written in the
-- invitation's transaction: the token, and so the answer it gave, led back to the case.
--
-- Now a link's token is a random nonce and its MAC under the key below, recognised without being
-- stored (see `outreach_projections::feedback_links`). Nothing is written when a link is sent; an
-- answer writes the SHA-256 of its token, used, so that a second answer is refused (410). The
-- rows have no id, nothing of the case, member or time, and their order is that of answers.
--
-- The key: 32 bytes, the SHA-256 of two v4 UUIDs from PostgreSQL's generator (244 random bits).
CREATE TABLE feedback_link_key
(
    only_one boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    key      bytea   NOT NULL CHECK (length(key) = 32)
);

INSERT INTO feedback_link_key (key)
VALUES (sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));

COMMENT ON TABLE feedback_link_key IS
    'The key feedback link tokens are MACed with: tokens are recognised without being stored.';

-- Links sent before keep working once: their hashes move to a table without the id, in an
-- order a sort cannot tie to the invitations (a random one), and the old table goes.
CREATE TABLE feedback_link_hashes
(
    -- sha256 of a link's token (64 hex characters); never the token.
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    -- False only for links sent before this migration and not answered yet.
    used       boolean NOT NULL
);

INSERT INTO feedback_link_hashes (token_hash, used)
SELECT token_hash, used
  FROM feedback_tokens
 ORDER BY random();

DROP TABLE feedback_tokens;
ALTER TABLE feedback_link_hashes RENAME TO feedback_tokens;
ALTER TABLE feedback_tokens RENAME CONSTRAINT feedback_link_hashes_pkey TO feedback_tokens_pkey;

COMMENT ON TABLE feedback_tokens IS
    'The SHA-256 of each feedback link token that was answered (and of links sent before tokens '
    'were MACed, answered or not). No id, case, member or time; never the token itself.';

-- An invitation's outbox row is emptied once sent: the e-mail publisher does so as it marks it
-- published. Those sent already are emptied here.
UPDATE outbox
   SET payload = '{"sent": true}'::jsonb
 WHERE kind = 'feedback-invitation'
   AND published_at IS NOT NULL;

-- The runtime role reads the key; only a migration makes or changes it.
INSERT INTO runtime_privileges (table_name, privileges)
VALUES ('feedback_link_key', 'SELECT');
