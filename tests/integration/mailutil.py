"""mailutil: helpers shared by the integration tests: what smtplib puts on
the wire, sending, finding and fetching a message over IMAP, and comparing
the fetched bytes with what was sent."""

import re
import smtplib

import imapval

OUTSIDE = 'sender@outside.example'


class Skip(Exception):
    pass


def fix_eols(data):
    """Every bare LF or bare CR becomes CRLF, as smtplib._fix_eols does for
    str messages (smtplib sends bytes as given, so the tests normalise
    before sending)."""
    return re.sub(rb'(?:\r\n|\n|\r(?!\n))', b'\r\n', data)


def wire_and_expected(raw):
    """(bytes to hand to smtplib, bytes the server must store): smtplib
    appends CRLF when the data does not end with one; dot-stuffing is
    undone by the server."""
    wire = fix_eols(raw)
    expected = wire if wire.endswith(b'\r\n') else wire + b'\r\n'
    return wire, expected


def send(fx, raw, rcpts, sender=OUTSIDE):
    """Send with smtplib; raises on any refusal. Returns expected bytes."""
    wire, expected = wire_and_expected(raw)
    opts = ['BODY=8BITMIME'] if any(b >= 0x80 for b in wire) else []
    s = fx.smtp()
    try:
        refused = s.sendmail(sender, rcpts, wire, mail_options=opts)
        if refused:
            raise AssertionError('recipients refused: %r' % refused)
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
    return expected


def check(resp, what):
    typ, data = resp
    if typ != 'OK':
        raise AssertionError('%s: %s %r' % (what, typ, data))
    return data


def uids(imap, mailbox='INBOX'):
    check(imap.select(mailbox, readonly=True), 'SELECT ' + mailbox)
    data = check(imap.uid('SEARCH', 'ALL'), 'UID SEARCH ALL')
    out = []
    for d in data:
        if d:
            out += [int(x) for x in d.split()]
    return sorted(out)


def fetch(imap, uid, items='(UID RFC822.SIZE BODYSTRUCTURE BODY.PEEK[])'):
    """UID FETCH one message; returns the item dict of the response whose
    UID matches."""
    data = check(imap.uid('FETCH', str(uid), items), 'UID FETCH %d' % uid)
    for resp in imapval.join_imaplib(data):
        _, it = imapval.fetch_items(resp)
        if it.get('UID') == uid:
            return it
    raise AssertionError('UID FETCH %d: no response for that UID in %r'
                         % (uid, data[:3]))


def _field_end(msg, what):
    """The offset after the first field of msg and its folded
    continuation lines."""
    i = msg.find(b'\r\n')
    while i >= 0 and msg[i + 2:i + 3] in (b' ', b'\t'):
        i = msg.find(b'\r\n', i + 2)
    if i < 0:
        raise AssertionError(what + ' field not terminated by CRLF')
    return i + 2


def trace_fields(fetched):
    """capmail's trace fields at the top of a message: (Received field,
    Authentication-Results field or b'' when there is none right below
    it, the rest)."""
    if not fetched.startswith(b'Received:'):
        raise AssertionError('fetched message does not start with Received: %r'
                             % fetched[:80])
    i = _field_end(fetched, 'Received')
    received, rest = fetched[:i], fetched[i:]
    authres = b''
    if rest.startswith(b'Authentication-Results:'):
        j = _field_end(rest, 'Authentication-Results')
        authres, rest = rest[:j], rest[j:]
    return received, authres, rest


def strip_received(fetched):
    """Remove capmail's trace fields (the first field: "Received:" and its
    folded continuation lines; then, for mail from outside, the
    Authentication-Results field right below it) and nothing else."""
    return trace_fields(fetched)[2]


def diff_at(a, b):
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return ('differ at byte %d of %d/%d: expected %r, got %r'
            % (i, len(a), len(b), a[max(0, i - 20):i + 40],
               b[max(0, i - 20):i + 40]))


_CT_RE = re.compile(rb'^content-type[ \t]*:(.*)$', re.I)
_TYPE_RE = re.compile(rb'^[ \t]*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)[ \t]*/[ \t]*'
                      rb'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)[ \t]*(;|\(|$)')


def declared_type(msg):
    """The top-level Content-Type (type, subtype), lower-case, read the way
    lenient MIME parsers (Dovecot's, for one) read it: the first
    Content-Type field anywhere in the header block (up to the first empty
    line), unfolded; when there is none or its value is not type/subtype,
    RFC 2045's default text/plain."""
    lines = msg.split(b'\r\n')
    for i, line in enumerate(lines):
        if line == b'':
            break
        m = _CT_RE.match(line)
        if not m:
            continue
        value = m.group(1)
        for cont in lines[i + 1:]:
            if cont[:1] not in (b' ', b'\t'):
                break
            value += b' ' + cont.strip()
        t = _TYPE_RE.match(value)
        if t:
            return (t.group(1).decode().lower(), t.group(2).decode().lower())
        break
    return ('text', 'plain')


def verify_fetched(it, expected):
    """Check one FETCH result against the bytes that were sent."""
    body = it.get('BODY[]')
    if not isinstance(body, bytes):
        raise AssertionError('no BODY[] in the FETCH response')
    size = it.get('RFC822.SIZE')
    if size != len(body):
        raise AssertionError('RFC822.SIZE %r but BODY[] has %d bytes' % (size, len(body)))
    rest = strip_received(body)
    if rest != expected:
        raise AssertionError('fetched bytes after Received ' + diff_at(expected, rest))
    bs = it.get('BODYSTRUCTURE')
    probs = imapval.check_body(bs, 'BODYSTRUCTURE')
    if probs:
        raise AssertionError('; '.join(probs[:5]))
    want = declared_type(expected)
    got = imapval.top_type(bs)
    if got != want:
        raise AssertionError('BODYSTRUCTURE type %s/%s, Content-Type says %s/%s'
                             % (got + want))
