-- Data keys are stored wrapped (issue 27). Until now each member's data key sat in plain bytes
-- beside the data it seals, under the member's plain staff id: any dump or backup of the
-- database decrypted everything. From here on a row holds the key wrapped (AES-256-GCM) under a
-- key-encryption key (KEK) that comes from configuration and is never stored, the id of that
-- KEK, and a blind index of the staff id (HMAC-SHA256 under the index key) in place of the
-- staff id. The staff id itself is kept only sealed under the member's own data key (the
-- retention purge reads it to know whose key has aged). A purge deletes the row: nothing about
-- the member remains here.
--
-- The keys stored before this cannot be wrapped in SQL (the KEK is not in the database): they
-- are set aside, as they were, in member_data_keys_unwrapped, and `peer-outreach migrate`
-- (which needs privacy.key_encryption_key) wraps them into member_data_keys and deletes them
-- there. The service refuses to start while any remains.
ALTER TABLE member_data_keys RENAME TO member_data_keys_unwrapped;
ALTER INDEX member_data_keys_pkey RENAME TO member_data_keys_unwrapped_pkey;
ALTER INDEX member_data_keys_staff_id_key RENAME TO member_data_keys_unwrapped_staff_id_key;

CREATE TABLE member_data_keys
(
    key_id          uuid PRIMARY KEY,
    -- HMAC-SHA256 of the staff id under the index key: the lookup from staff id to key.
    staff_index     bytea       NOT NULL UNIQUE CHECK (length(staff_index) = 32),
    -- Which KEK wrapped this key (an id derived from the KEK, see privacy/src/kek.rs).
    kek_id          text        NOT NULL,
    -- 12 bytes of nonce, then the 32-byte key and its 16-byte tag, the key id authenticated.
    wrapped         bytea       NOT NULL CHECK (length(wrapped) = 60),
    -- The staff id sealed under this very key: readable only while the key lives.
    staff_id_sealed bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX member_data_keys_kek ON member_data_keys (kek_id);
CREATE INDEX member_data_keys_made ON member_data_keys (created_at);

COMMENT ON TABLE member_data_keys IS
    'Per-member data keys, wrapped under the configured key-encryption key, found by a blind '
    'index of the staff id; deleting a row purges (crypto-shreds) that member''s personal data '
    'everywhere it was sealed.';

-- The index key of the blind index: one row, wrapped under the KEK like the data keys and
-- rewrapped with them, so a KEK rotation changes no index.
CREATE TABLE member_index_key
(
    only_one   boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    kek_id     text        NOT NULL,
    wrapped    bytea       NOT NULL CHECK (length(wrapped) = 60),
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO runtime_privileges (table_name, privileges)
VALUES ('member_index_key', 'SELECT, INSERT'),
       -- Read at start only, to refuse to serve while keys remain unwrapped.
       ('member_data_keys_unwrapped', 'SELECT');

