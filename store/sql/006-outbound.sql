-- capmail schema, version 6: the outbound queue, for mail that capmail
-- itself sends (bounces, challenges, notices) and external recipients of
-- authenticated submission. capmail-outbound delivers it to the relay
-- host (store/outbound.c, outbound/).
--
-- An item refers to a stored message (messages/segments): the bytes are
-- never copied. A message queued without local recipients has no grant;
-- it is kept while a queue item refers to it.

CREATE TABLE outbound (
    id           bigserial PRIMARY KEY,
    message_id   bigint NOT NULL REFERENCES messages(id) ON DELETE RESTRICT,
    mail_from    text NOT NULL DEFAULT '',   -- envelope sender, '' = <>
    -- the local user told of a permanent failure (a bounce in INBOX);
    -- NULL: nobody (null sender, or capmail's own mail)
    owner        bigint REFERENCES principals(id) ON DELETE SET NULL,
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'sent', 'failed')),
    attempts     int NOT NULL DEFAULT 0,
    created      timestamptz NOT NULL DEFAULT now(),
    -- when the item is due; a sender that claims it moves this forward by
    -- its lease, so an item whose sender died becomes due again
    next_attempt timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_due ON outbound(next_attempt) WHERE state = 'queued';
CREATE INDEX outbound_message ON outbound(message_id);

-- One row per recipient, with its own state: after a partial failure only
-- the recipients still queued are tried again.
CREATE TABLE outbound_rcpts (
    id           bigserial PRIMARY KEY,
    outbound_id  bigint NOT NULL REFERENCES outbound(id) ON DELETE CASCADE,
    address      text NOT NULL CHECK (address <> ''),
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'sent', 'failed')),
    attempts     int NOT NULL DEFAULT 0,
    last_error   text NOT NULL DEFAULT '',   -- the relay's reply, one line
    updated      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (outbound_id, address)
);
