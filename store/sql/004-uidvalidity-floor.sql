-- capmail schema, version 4: a UIDVALIDITY is never handed out twice.
-- A new mailbox gets uidvalidity = max(now in seconds, the largest the
-- user has + 1, uidvalidity_floor + 1). DELETE takes the mailbox's row
-- with it, so it raises the owner's uidvalidity_floor to the deleted
-- mailbox's uidvalidity (store/mailbox.c); without that, a mailbox deleted
-- and created again within the same second got the same UIDVALIDITY and
-- its uids started again at 1 (RFC 3501 2.3.1.1).

ALTER TABLE principals ADD COLUMN uidvalidity_floor bigint NOT NULL DEFAULT 0;
