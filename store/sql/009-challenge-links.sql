-- capmail schema, version 9: challenges minted by an administrator
-- (capmailctl held link) rather than mailed by the gateway. Such a link
-- is not mailed, so it does not count against the one mailed challenge a
-- sender a day: its day_sent is NULL (UNIQUE does not compare NULLs).
ALTER TABLE challenges ALTER COLUMN day_sent DROP NOT NULL;
