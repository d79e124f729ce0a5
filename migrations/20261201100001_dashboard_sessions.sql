-- The dashboard's sign-in. Not a read model: nothing here is derived from events, and nothing
-- here is personal data of members.
--
-- A session is kept on the server; the browser holds only a random id in an HttpOnly cookie,
-- and the table holds its SHA-256, so the table alone cannot be turned into a cookie. The
-- provider's access token is kept to be checked on every request by the same Authenticator
-- that checks bearer tokens (so expiry, issuer, audience and the provider's key rotation apply
-- to pages exactly as to the API); a session ends when its token expires, and rows past their
-- expiry are deleted at the next sign-in.
CREATE TABLE dashboard_sessions
(
    session_hash bytea PRIMARY KEY,
    access_token text        NOT NULL,
    -- Sent with every form of the session and compared on every POST (synchronizer token).
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- A sign-in under way, between sending the browser to the identity provider and its return:
-- the state it must come back with, the nonce the ID token must carry, the PKCE verifier, and
-- where to go afterwards. Keyed by the SHA-256 of a random id in a short-lived cookie, so the
-- answer is accepted only in the browser that asked; deleted when used, or after ten minutes.
CREATE TABLE dashboard_sign_ins
(
    attempt_hash  bytea PRIMARY KEY,
    state         text        NOT NULL,
    nonce         text        NOT NULL,
    code_verifier text        NOT NULL,
    return_to     text        NOT NULL,
    expires_at    timestamptz NOT NULL
);
