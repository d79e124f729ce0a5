-- When a member's key last sealed something. The retention purge needs it for a member who has
-- a key but nothing on their own record: a key made for a report that named them and then was
-- refused (the key is made before the report is decided), or for reports that opened them no
-- case. Their member aggregate has no change to date the retention period from, so before this
-- such a key was never purged. Now it is, once it has sealed nothing for the retention period.
--
-- A table of its own, not a column of `member_data_keys`: the runtime role may not update that
-- table (it would rewrite wrapped keys). The row goes with the key (ON DELETE CASCADE).
CREATE TABLE member_key_sealings
(
    key_id         uuid PRIMARY KEY REFERENCES member_data_keys (key_id) ON DELETE CASCADE,
    -- Moved at most once a day (the purge allows the day), so intake writes a member's row
    -- once a day at most, not with every message.
    last_sealed_at timestamptz NOT NULL
);

-- Keys made before this table: when they last sealed is not known, so the retention period of
-- a member without a record runs from the upgrade.
INSERT INTO member_key_sealings (key_id, last_sealed_at)
SELECT key_id, now()
  FROM member_data_keys;

COMMENT ON TABLE member_key_sealings IS
    'When each member data key last sealed personal data (to the day): the retention period of a '
    'member with a key and no record of their own runs from it.';

INSERT INTO runtime_privileges (table_name, privileges)
VALUES ('member_key_sealings', 'SELECT, INSERT, UPDATE');
