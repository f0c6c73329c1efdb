-- capmail schema, version 8: sender verification (store/senders.c,
-- store/challenges.c, doc/capmailctl.8 "sender", "domain policy").
--
-- Policy: per domain (the organisation), overridable per recipient.
--   open            accept every sender
--   verify-unknown  hold mail from unknown senders (held grants, no
--                   mailbox entry) and challenge the sender
--   known-only      refuse unknown senders at RCPT (550 5.7.1)
ALTER TABLE domains ADD COLUMN sender_policy text NOT NULL
    DEFAULT 'verify-unknown'
    CHECK (sender_policy IN ('open', 'verify-unknown', 'known-only'));
-- NULL: the domain's policy
ALTER TABLE principals ADD COLUMN sender_policy text
    CHECK (sender_policy IN ('open', 'verify-unknown', 'known-only'));

-- What is known of a sender, for one recipient (owner) or for the whole
-- organisation (owner NULL). pattern is an address ("a@example.org") or a
-- whole domain ("@example.org"), lower case. One rule per owner and
-- pattern: the most specific applies (the recipient's own before the
-- organisation's, an address before its domain).
--   verified  the sender confirmed a challenge
--   learned   the owner sent mail to that address (submission)
--   allow     set by the recipient or the admin
--   block     refused at RCPT (550 5.7.1)
CREATE TABLE sender_rules (
    id       bigserial PRIMARY KEY,
    owner    bigint REFERENCES principals(id) ON DELETE CASCADE,
    pattern  text NOT NULL CHECK (pattern = lower(pattern) AND pattern <> ''),
    kind     text NOT NULL
             CHECK (kind IN ('verified', 'learned', 'allow', 'block')),
    created  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sender_rules_key
    ON sender_rules ((coalesce(owner, 0)), pattern);

-- Challenges sent to unknown senders: at most one a sender address a day
-- (day_sent, UTC), whatever the number of messages. Only a hash (SHA-256)
-- of the token is kept: the database cannot make a link.
CREATE TABLE challenges (
    id          bigserial PRIMARY KEY,
    sender      text NOT NULL CHECK (sender = lower(sender) AND sender <> ''),
    recipient   bigint NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created     timestamptz NOT NULL DEFAULT now(),
    expires     timestamptz NOT NULL,
    used        timestamptz,
    day_sent    date NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date,
    UNIQUE (sender, day_sent)
);

-- Held grants are found by sender and grantee, and by age.
CREATE INDEX grants_held ON grants (lower(grantor_address), grantee)
    WHERE state = 'held';
