-- capmail schema, version 11: the recipient's view of held mail
-- (store/held.c, store/held-summary.c).
--
-- A held grant has no mailbox entry (008). For each one the recipient
-- gets a short summary message (sender, subject, date, size,
-- authentication results; never the held message's content) stored as an
-- ordinary message with an active grant in the recipient's "Held"
-- mailbox; summary_of points that grant at the held grant it describes.
-- Releasing or deleting the held grant removes its summary (ON DELETE
-- CASCADE covers the deletions; releases remove it explicitly).
-- A summary copied to another mailbox gets a new grant without
-- summary_of: that copy is an ordinary message.
ALTER TABLE grants ADD COLUMN summary_of bigint
    REFERENCES grants(id) ON DELETE CASCADE;
CREATE INDEX grants_summary_of ON grants (summary_of)
    WHERE summary_of IS NOT NULL;
