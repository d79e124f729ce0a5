-- Anonymous feedback (seed 004: "quarterly usage stats and anonymous feedback"). When a case
-- closes as completed, the member is sent a one-time link; what they answer through it is kept
-- with nothing that leads back to them, the case or the link.
--
-- Two tables, deliberately unconnected:
--
-- - `feedback_tokens`: one per invitation sent. The link's token itself is never stored, only
--   its SHA-256, so a copy of this table cannot be used to answer for anyone. No case, member,
--   campus or time: the id is the invitation e-mail's outbox id (derived from the closing event,
--   so a replay of the feedback-invitations projection finds the row and sends nothing again).
-- - `feedback`: one row per answer. Two ratings and the month the answer was given (of the
--   program's calendar), nothing else: no key, no token, no time finer than the month, no campus
--   (it would narrow who it was, and feedback is not reported by campus).
--
-- Nothing joins them, and the API keeps PostgreSQL's own bookkeeping from doing it either: the
-- transaction that marks a token used and records the answer also rewrites every other used
-- token, so a token row's `xmin` (the id of the transaction that last wrote it) is the same for
-- all used tokens and never singles out the one whose answer a `feedback` row holds.
--
-- What remains: the invitation's outbox row holds the member's address and the link until a
-- retention purge clears its payload; while it does, it links the token row to the member, but
-- still not to an answer. A `used` flag tells that the member answered, never what.

CREATE TABLE feedback_tokens
(
    -- The `feedback-invitation` outbox row's id (uuid v5 of the closing event).
    id         uuid PRIMARY KEY,
    -- sha256 of the link's token (64 hex characters, 244 random bits); never the token.
    token_hash bytea   NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    used       boolean NOT NULL DEFAULT false
);

COMMENT ON TABLE feedback_tokens IS
    'One-time feedback links sent to members of completed cases: the SHA-256 of each token and '
    'whether it was used. No case, member or time; never the token itself.';

CREATE TABLE feedback
(
    -- The first day of the month the answer was given, in the program's calendar.
    month           date     NOT NULL CHECK (extract(day FROM month) = 1),
    helpfulness     smallint NOT NULL CHECK (helpfulness BETWEEN 1 AND 5),
    would_recommend boolean  NOT NULL
);

CREATE INDEX feedback_by_month ON feedback (month);

COMMENT ON TABLE feedback IS
    'Anonymous answers to feedback links: two ratings and the month answered. No key, token, '
    'case, member, campus or time finer than the month. Published only as suppressed counts.';

-- The outbox may now hold a third kind with personal data: `feedback-invitation` (e-mail), the
-- member's name and address and their one-time link. Like the assignment kinds, a retention
-- purge must clear its payload (keeping the id).
COMMENT ON TABLE outbox IS
    'Messages that leave the service, recorded with the change that caused them, published at '
    'least once. Facts only (ids, categories, times), except the assignment kinds, which carry '
    'the member''s name and contact details for the assigned supporter, and feedback-invitation, '
    'which carries the member''s name, address and one-time feedback link. Never anything '
    'clinical.';

-- The feedback-invitations projection is new, and a new projection starts from the first event:
-- it would invite every member whose case was ever completed. So, like assignment-notices, it
-- starts where the event store stands now; cases completed later are invited as usual. A fresh
-- database has no events and needs no start line.
INSERT INTO projection_checkpoints (projection, transaction_id, global_position)
SELECT 'feedback-invitations', e.transaction_id, e.global_position
  FROM events e
 WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY e.transaction_id DESC, e.global_position DESC
 LIMIT 1
    ON CONFLICT (projection) DO NOTHING;
