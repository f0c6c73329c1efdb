-- capmail schema, version 1.
-- Applied by capmailctl db migrate inside one transaction; the version
-- table records it. Never edit a migration that has shipped: add a new one.

CREATE TABLE domains (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name = lower(name) AND name <> ''),
    created     timestamptz NOT NULL DEFAULT now()
);

-- Users, groups and external senders. A local user has a domain and a
-- password hash (crypt(3) format: yescrypt "$y$...", or an imported
-- "$6$..."/"$2y$..." hash).
CREATE TABLE principals (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('user', 'group', 'external')),
    address       text NOT NULL UNIQUE CHECK (address = lower(address)),
    domain_id     bigint REFERENCES domains(id) ON DELETE RESTRICT,
    password_hash text,
    created       timestamptz NOT NULL DEFAULT now()
);

-- Content-addressed, immutable, shared byte strings.
CREATE TABLE objects (
    hash        bytea PRIMARY KEY CHECK (length(hash) = 32),  -- SHA-256
    size        bigint NOT NULL CHECK (size >= 0),
    data        bytea NOT NULL,
    created     timestamptz NOT NULL DEFAULT now()
);

-- A message is the concatenation of its segments, in order.
-- envelope/bodystructure/body are the IMAP renderings computed once at
-- ingest; header_len is the size of the top-level header block including
-- the blank line that ends it.
CREATE TABLE messages (
    id            bigserial PRIMARY KEY,
    size          bigint NOT NULL,
    sha256        bytea NOT NULL,
    header_len    bigint NOT NULL,
    date          timestamptz,
    envelope      text NOT NULL,
    bodystructure text NOT NULL,
    body          text NOT NULL,
    received      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE message_segments (
    message_id  bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq         int NOT NULL,
    object_hash bytea NOT NULL REFERENCES objects(hash),
    PRIMARY KEY (message_id, seq)
);

-- Byte offsets of each MIME part, by IMAP section path ("1", "2.1", ...).
-- [hdr_off, body_off) is the part's MIME header, [body_off, end_off) its
-- body. For a message/rfc822 part, inner_body_off is where the
-- encapsulated message's body starts, so [body_off, inner_body_off) is
-- its header (section "N.HEADER") and [inner_body_off, end_off) its text.
CREATE TABLE message_parts (
    message_id     bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    path           text NOT NULL,
    hdr_off        bigint NOT NULL,
    body_off       bigint NOT NULL,
    end_off        bigint NOT NULL,
    inner_body_off bigint,
    PRIMARY KEY (message_id, path)
);

-- The capability: a grant of rights on a message to a grantee.
CREATE TABLE grants (
    id              bigserial PRIMARY KEY,
    token           bytea NOT NULL UNIQUE CHECK (length(token) = 16),
    message_id      bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    grantee         bigint NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    grantor_address text NOT NULL,            -- envelope sender, '' = null sender
    grantor_auth    text NOT NULL DEFAULT 'none'
                    CHECK (grantor_auth IN ('none', 'spf', 'dkim', 'verified-link',
                                            'local-auth', 'local-append')),
    subject         text NOT NULL DEFAULT '',
    rights          text NOT NULL DEFAULT 'read',
    parent_id       bigint REFERENCES grants(id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'active'
                    CHECK (state IN ('held', 'active', 'revoked')),
    created         timestamptz NOT NULL DEFAULT now(),
    expires         timestamptz,
    uses_left       int,
    revoked_at      timestamptz
);
CREATE INDEX grants_grantee ON grants(grantee);
CREATE INDEX grants_message ON grants(message_id);

CREATE TABLE mailboxes (
    id            bigserial PRIMARY KEY,
    owner         bigint NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    name          text NOT NULL,
    uidvalidity   bigint NOT NULL,
    uidnext       bigint NOT NULL DEFAULT 1,
    highestmodseq bigint NOT NULL DEFAULT 1,
    special_use   text,
    subscribed    boolean NOT NULL DEFAULT true,
    UNIQUE (owner, name)
);

CREATE TABLE mailbox_entries (
    mailbox_id   bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid          bigint NOT NULL,
    grant_id     bigint NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    flags        text[] NOT NULL DEFAULT '{}',
    modseq       bigint NOT NULL DEFAULT 1,
    internaldate timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX mailbox_entries_grant ON mailbox_entries(grant_id);
