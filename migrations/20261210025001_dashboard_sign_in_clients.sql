-- Sign-ins under way are capped per client address: starting one deletes the expired ones of
-- everybody and the oldest of this address beyond the cap, so a flood of starts from one
-- address never grows the table past the cap (a real browser's newest attempt always stands).
ALTER TABLE dashboard_sign_ins ADD COLUMN client text NOT NULL DEFAULT '';

CREATE INDEX dashboard_sign_ins_client ON dashboard_sign_ins (client, expires_at);
CREATE INDEX dashboard_sign_ins_expiry ON dashboard_sign_ins (expires_at);
