-- capmail schema, version 5: a message carries at most 100 flags.
-- imapd refuses longer keywords (64 bytes) and more than 100 flags in one
-- command, but +FLAGS, APPEND and COPY add to what is there; the limit is
-- a hard one only if the database holds it, for every path at once. A
-- write past it fails with check_violation (23514) on a constraint named
-- *_limit, which the store maps to CM_ETOOBIG, and imapd answers
-- NO [LIMIT], changing nothing.
-- NOT VALID: rows written before this version are left as they are.

ALTER TABLE mailbox_entries ADD CONSTRAINT mailbox_entries_flags_limit
    CHECK (cardinality(flags) <= 100) NOT VALID;
