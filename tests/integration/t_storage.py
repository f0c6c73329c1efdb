"""Storage: what one SMTP transaction leaves in the database, read with psql.

- one message to alice, bob and carol: exactly 1 new messages row, 3 new
  grants (one per recipient, sender recorded), 3 new INBOX entries, and only
  that message's segment objects added, each once; the segments concatenate
  to the bytes each recipient fetches over IMAP.
- two different messages carrying the same 20 KB attachment: the
  attachment's body is one object, referenced by both messages, stored once.
"""

import base64
import hashlib
import random

import mailutil

RCPTS = ['alice@example.test', 'bob@example.test', 'carol@example.test']


def hashes(fx):
    return set(r[0] for r in fx.sql("SELECT encode(hash, 'hex') FROM objects"))


def count(fx, table):
    return int(fx.sql1('SELECT count(*) FROM %s' % table))


def last_message(fx):
    return int(fx.sql1('SELECT max(id) FROM messages'))


def segments(fx, mid):
    """[(hash hex, size)] in order."""
    rows = fx.sql("SELECT encode(s.object_hash, 'hex'), o.size FROM message_segments s "
                  "JOIN objects o ON o.hash = s.object_hash "
                  "WHERE s.message_id = %d ORDER BY s.seq" % mid)
    return [(r[0], int(r[1])) for r in rows]


def message_bytes(fx, mid):
    hexed = fx.sql1("SELECT encode(string_agg(o.data, ''::bytea ORDER BY s.seq), 'hex') "
                    "FROM message_segments s JOIN objects o ON o.hash = s.object_hash "
                    "WHERE s.message_id = %d" % mid)
    return bytes.fromhex(hexed)


def test_three_recipients(fx):
    token = '%016x' % random.getrandbits(64)
    raw = ('From: Sender <sender@outside.example>\r\n'
           'To: alice@example.test, bob@example.test, carol@example.test\r\n'
           'Subject: to three %s\r\n'
           'Message-ID: <three-%s@outside.example>\r\n\r\n'
           'One message, three grants. %s\r\n' % (token, token, token)).encode()
    before = {t: count(fx, t) for t in ('messages', 'grants', 'mailbox_entries')}
    objs_before = hashes(fx)
    expected = mailutil.send(fx, raw, RCPTS)
    after = {t: count(fx, t) for t in ('messages', 'grants', 'mailbox_entries')}
    for t, n in (('messages', 1), ('grants', 3), ('mailbox_entries', 3)):
        if after[t] - before[t] != n:
            raise AssertionError('%s: %d new rows, expected %d'
                                 % (t, after[t] - before[t], n))
    mid = last_message(fx)
    rows = fx.sql("SELECT p.address, g.grantor_address, g.state FROM grants g "
                  "JOIN principals p ON p.id = g.grantee WHERE g.message_id = %d "
                  "ORDER BY p.address" % mid)
    want = [[a, mailutil.OUTSIDE, 'active'] for a in RCPTS]
    if rows != want:
        raise AssertionError('grants of message %d: %r, expected %r' % (mid, rows, want))
    rows = fx.sql("SELECT p.address, m.name FROM mailbox_entries e "
                  "JOIN grants g ON g.id = e.grant_id JOIN mailboxes m ON m.id = e.mailbox_id "
                  "JOIN principals p ON p.id = m.owner WHERE g.message_id = %d "
                  "ORDER BY p.address" % mid)
    if rows != [[a, 'INBOX'] for a in RCPTS]:
        raise AssertionError('mailbox entries of message %d: %r' % (mid, rows))
    segs = segments(fx, mid)
    objs_after = hashes(fx)
    added = objs_after - objs_before
    seghashes = set(h for h, _ in segs)
    if not segs:
        raise AssertionError('message %d has no segments' % mid)
    if added != seghashes - objs_before:
        raise AssertionError('objects added %d, expected the message\'s %d new segments'
                             % (len(added), len(seghashes - objs_before)))
    stored = message_bytes(fx, mid)
    sizes = fx.sql("SELECT size, encode(sha256, 'hex') FROM messages WHERE id = %d" % mid)
    if sizes != [[str(len(stored)), hashlib.sha256(stored).hexdigest()]]:
        raise AssertionError('messages.size/sha256 %r do not match the segments (%d bytes)'
                             % (sizes, len(stored)))
    if mailutil.strip_received(stored) != expected:
        raise AssertionError('stored bytes ' + mailutil.diff_at(
            expected, mailutil.strip_received(stored)))
    for user in RCPTS:
        m = fx.imap(user)
        try:
            uids = mailutil.uids(m)
            it = mailutil.fetch(m, uids[-1])
        finally:
            m.logout()
        if it['BODY[]'] != stored:
            raise AssertionError('%s fetched ' % user + mailutil.diff_at(stored, it['BODY[]']))


def attachment_message(subject, text, b64):
    return ('From: Sender <sender@outside.example>\r\n'
            'To: alice@example.test\r\n'
            'Subject: %s\r\n'
            'MIME-Version: 1.0\r\n'
            'Content-Type: multipart/mixed; boundary="dedupe-boundary"\r\n\r\n'
            '--dedupe-boundary\r\n'
            'Content-Type: text/plain; charset=us-ascii\r\n\r\n'
            '%s\r\n'
            '--dedupe-boundary\r\n'
            'Content-Type: application/octet-stream; name="report.bin"\r\n'
            'Content-Disposition: attachment; filename="report.bin"\r\n'
            'Content-Transfer-Encoding: base64\r\n\r\n'
            '%s'
            '--dedupe-boundary--\r\n' % (subject, text, b64)).encode()


def test_dedupe(fx):
    rnd = random.Random()
    blob = bytes(rnd.getrandbits(8) for _ in range(20 * 1024))
    b64 = base64.encodebytes(blob).decode().replace('\n', '\r\n')
    m1 = attachment_message('report, first send', 'Here is the report.', b64)
    m2 = attachment_message('report, again', 'The same report, sent again\r\nwith other text.', b64)
    before = hashes(fx)
    mailutil.send(fx, m1, ['alice@example.test'])
    id1 = last_message(fx)
    mid = hashes(fx)
    mailutil.send(fx, m2, ['alice@example.test'])
    id2 = last_message(fx)
    after = hashes(fx)
    if id1 == id2:
        raise AssertionError('second message not stored')
    s1, s2 = segments(fx, id1), segments(fx, id2)
    big1 = set(h for h, n in s1 if n >= 20 * 1024)
    big2 = set(h for h, n in s2 if n >= 20 * 1024)
    if len(big1) != 1:
        raise AssertionError('first message: %d segments of 20 KB or more, expected 1 '
                             '(the attachment); segments %r' % (len(big1), s1))
    if big1 != big2:
        raise AssertionError('the attachment is not shared: %r vs %r' % (big1, big2))
    h = next(iter(big1))
    if h in before:
        raise AssertionError('attachment object existed before the first send')
    if int(fx.sql1("SELECT count(*) FROM objects WHERE hash = decode('%s', 'hex')" % h)) != 1:
        raise AssertionError('attachment object not stored exactly once')
    data = bytes.fromhex(fx.sql1("SELECT encode(data, 'hex') FROM objects "
                                 "WHERE hash = decode('%s', 'hex')" % h))
    if b64.split('\r\n')[0].encode() not in data or hashlib.sha256(data).hexdigest() != h:
        raise AssertionError('attachment object does not hold the attachment body')
    new2 = after - mid
    want2 = set(x for x, _ in s2) - mid
    if new2 != want2 or h in new2:
        raise AssertionError('second message added %d objects, expected %d (its own, '
                             'not the attachment)' % (len(new2), len(want2)))
    if len(mid - before) > len(set(x for x, _ in s1)):
        raise AssertionError('first message added more objects than it has segments')


def cases(fx):
    return [('storage: one message to three recipients is stored once', lambda: test_three_recipients(fx)),
            ('storage: a 20 KB attachment in two messages is one object', lambda: test_dedupe(fx))]
