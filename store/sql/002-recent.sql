-- capmail schema, version 2: RFC 3501 \Recent.
-- A message is recent in exactly one session: the first that has its
-- mailbox selected read-write after it arrived. Each mailbox keeps the
-- lowest uid no such session has claimed yet; a session claims the uids
-- below a bound by raising first_recent_uid in one UPDATE (store/mailbox.c,
-- store_mailbox_recent), so two sessions can never both claim a message.
-- STATUS RECENT counts the entries with uid >= first_recent_uid.

ALTER TABLE mailboxes ADD COLUMN first_recent_uid bigint NOT NULL DEFAULT 1;

-- Mail already stored when this migration runs is not new to anyone.
UPDATE mailboxes SET first_recent_uid = uidnext;
