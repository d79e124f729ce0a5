-- Crypto-shredding (issue 7). Members' personal data inside events (names, contact details,
-- preferences) and in parked report commands is stored sealed with AES-256-GCM under a data key
-- of the member's own, kept here and nowhere else. When the retention period after a member's
-- last case is over, the member's key is deleted: every copy of their personal data in the event
-- store, in backups of it and in replicas becomes unreadable at once, while the facts that
-- statistics are built from stay as they were.
--
-- One live key per member (staff_id is unique): a purge deletes the row, and personal data
-- recorded afterwards gets a new key. Nothing else may hold key material.
CREATE TABLE member_data_keys
(
    key_id     uuid PRIMARY KEY,
    staff_id   text        NOT NULL UNIQUE,
    -- 32 bytes of AES-256 key, drawn from the operating system's generator.
    key        bytea       NOT NULL CHECK (length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE member_data_keys IS
    'Per-member data keys that seal personal data in events and parked commands; deleting a row '
    'purges (crypto-shreds) that member''s personal data everywhere it was sealed.';
