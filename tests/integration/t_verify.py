"""capmail-verify, the web service for sender verification links (issue:
sender verification), against the fixture's daemon and, for the rate
limits, a private one.

Held mail comes in the real way: SMTP from an unknown sender to
rita@link.test (domain link.test keeps the default policy
verify-unknown); its link is minted by `capmailctl held link`. Exact
statuses, headers and page text are read with http.client:

- a forged (never issued) or altered link: 404 "This link is not valid";
- GET and HEAD show the page ("SENDER asks to reach rita@link.test.",
  "1 message is waiting.", the form) with the exact security headers, and
  change nothing: the grant stays held, the challenge unused, INBOX empty;
- POST without the form field, with a wrong one, with one from another
  link's page, or with a correct MAC over a stamp older than an hour:
  403, nothing changes;
- POST with the page's field: 200 "Thank you: 1 message was delivered to
  rita@link.test.", the message in INBOX over IMAP byte-exact, the sender
  verified; a second POST 410, GET then 200 "Already confirmed";
- expired links 410: one whose challenge expired in the database, and one
  whose own (MAC-checked) expiry is past;
- 405 with Allow for PUT and DELETE, 404 for other paths, the stylesheet,
  413 for a big form;
- the private daemon's limits: 429 with Retry-After per sender address and
  per client address;
- a recipient with a question (capmailctl user question): the page shows
  it, escaped, as the label of the answer input; POST without an answer,
  with an empty or a wrong one: 403 "That answer is not right; try
  again" with the form again, nothing changes; the right answer in other
  case and spacing: 200 and the message in INBOX; wrong answers count
  against the per-sender limit (429 on the private daemon);
- no log line holds a whole token;
- the round trip in a real browser: headless Chromium driven over
  chromedriver's WebDriver HTTP protocol (urllib, no selenium) opens the
  link, reads the page, clicks the button, reads the result; the message
  is then in INBOX over IMAP; and for the recipient with a question it
  confirms without an answer (the browser keeps the required field from
  being sent), types a wrong one (403 page), then the right one. Without
  chromium and chromedriver it SKIPs.
"""

import base64
import contextlib
import hashlib
import hmac
import http.client
import imaplib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import capfix
import mailutil
from mailutil import Skip

DOMAIN = 'link.test'
RITA = 'rita@link.test'
RITA_PW = 'rita-Secret-11'
QUINN = 'quinn@link.test'
QUINN_PW = 'quinn-Secret-12'
ZOE = 'zoe@link.test'
ZOE_PW = 'zoe-Secret-13'
QUESTION = 'What is <b>&"our" dog\'s name?'
QUESTION_HTML = 'What is &lt;b&gt;&amp;&quot;our&quot; dog&#39;s name?'
WRONG = '<h1>That answer is not right; try again</h1>'
CSP = ("default-src 'none'; style-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HTML = 'text/html; charset=utf-8'
NOT_VALID = '<h1>This link is not valid</h1>'
EXPIRED = '<h1>This link has expired</h1>'
FORM_BAD = '<h1>This confirmation is not valid</h1>'
USED = '<h1>Already confirmed</h1>'
FORM_RE = re.compile(r'<input type="hidden" name="form" value="([0-9]+\.[a-z2-7]{26})">')

_seq = [0]
_tokens = []        # every token used, for the log check
_looked = []        # a token whose page was shown (GET 200)


def setup(fx):
    if fx.sql1("SELECT count(*) FROM domains WHERE name = '%s'" % DOMAIN) != '0':
        return
    fx.ctl('domain', 'add', DOMAIN)
    fx.ctl('user', 'add', RITA, input=(RITA_PW + '\n').encode())
    fx.ctl('user', 'add', QUINN, input=(QUINN_PW + '\n').encode())
    fx.ctl('user', 'add', ZOE, input=(ZOE_PW + '\n').encode())
    fx.ctl('user', 'question', QUINN, input=(QUESTION + '\nRex\nBig Rex\n').encode())


def new_sender():
    _seq[0] += 1
    return 'writer%d-%d@far.example' % (_seq[0], os.getpid())


def held_mail(fx, sender, tag, to=RITA):
    """Send one message from sender to rita (or to) (held); (expected
    bytes, link, token)."""
    raw = ('From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n'
           'Message-ID: <%s@far.example>\r\n\r\nHello from %s.\r\n'
           % (sender, to, tag, tag, sender)).encode()
    expected = mailutil.send(fx, raw, [to], sender=sender)
    if grant_state(fx, tag) != 'held':
        raise AssertionError('the mail from %s is not held: %r' % (sender, grant_state(fx, tag)))
    out = fx.ctl('held', 'link', to, sender).stdout.decode()
    m = re.fullmatch(r'http://127\.0\.0\.1:%d/v/([a-z2-7]{60})\n' % fx.verify_port, out)
    if not m:
        raise AssertionError('held link printed %r' % out)
    _tokens.append(m.group(1))
    return expected, out.strip(), m.group(1)


def grant_state(fx, tag):
    rows = fx.sql("SELECT state FROM grants WHERE subject = '%s'" % tag)
    return rows[0][0] if len(rows) == 1 else rows


def challenge_used(fx, sender):
    return fx.sql1("SELECT count(*) FROM challenges WHERE sender = '%s'"
                   " AND used IS NOT NULL" % sender)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode('utf-8', 'replace')

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        if len(vals) != 1:
            raise AssertionError('header %s: %r' % (name, vals))
        return vals[0]


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        c.close()


def post_form(port, token, fields):
    body = urllib.parse.urlencode(fields).encode() if fields is not None else b''
    hdrs = {'Content-Type': 'application/x-www-form-urlencoded'} if fields is not None else {}
    return request(port, 'POST', '/v/' + token, body, hdrs)


def expect(r, status, text, what, ctype=HTML):
    if r.status != status:
        raise AssertionError('%s: status %d, want %d; body %r' % (what, r.status, status, r.text[:300]))
    if text is not None and text not in r.text:
        raise AssertionError('%s: %r not in the page:\n%s' % (what, text, r.text[:1200]))
    fixed = [('Content-Type', ctype), ('Content-Security-Policy', CSP),
             ('X-Content-Type-Options', 'nosniff'), ('Referrer-Policy', 'no-referrer'),
             ('Cache-Control', 'no-store')]
    for name, want in fixed:
        got = r.header(name)
        if got != want:
            raise AssertionError('%s: %s: %r, want %r' % (what, name, got, want))


def form_field(r):
    m = FORM_RE.search(r.text)
    if not m:
        raise AssertionError('no form field in the page:\n%s' % r.text[:1200])
    return m.group(1)


def imap_rita(user=RITA, pw=RITA_PW):
    m = imaplib.IMAP4('127.0.0.1', _fx[0].imap_port, timeout=60)
    m.login(user, pw)
    return m


_fx = [None]


def inbox_has(fx, tag, user=RITA, pw=RITA_PW):
    """The INBOX message with Subject tag: its bytes after Received, or
    None."""
    m = imap_rita(user, pw)
    try:
        mailutil.check(m.select('INBOX', readonly=True), 'SELECT')
        data = mailutil.check(m.uid('SEARCH', 'HEADER', 'Subject', tag), 'SEARCH')
        uids = [int(x) for d in data if d for x in d.split()]
        if not uids:
            return None
        if len(uids) != 1:
            raise AssertionError('%d messages with subject %s' % (len(uids), tag))
        return mailutil.strip_received(mailutil.fetch(m, uids[0])['BODY[]'])
    finally:
        m.logout()


def key_bytes(fx):
    with open(fx.secret_key, 'rb') as f:
        return f.read()


def make_token(key, expires):
    """A token made as lib/captoken.c makes one: kind 'v', 128 random
    bits, the expiry big-endian, then HMAC-SHA256 of those 21 bytes cut to
    16; base32 lower case without padding."""
    raw = b'v' + os.urandom(16) + struct.pack('>I', expires)
    raw += hmac.new(key, raw, hashlib.sha256).digest()[:16]
    return base64.b32encode(raw).decode().lower().rstrip('=')


def make_form(key, token, stamp):
    """The form field as verify/formtoken.c makes it."""
    s = str(stamp).encode()
    mac = hmac.new(key, b'capmail-verify-form\0' + token.encode() + b'\0' + s,
                   hashlib.sha256).digest()[:16]
    return '%d.%s' % (stamp, base64.b32encode(mac).decode().lower().rstrip('='))


# ---- the cases ----------------------------------------------------------

def test_forged(fx):
    setup(fx)
    port = fx.verify_port
    key = key_bytes(fx)
    _, _, token = held_mail(fx, new_sender(), 'forged-%d' % os.getpid())
    # every kind of wrong link: a character changed, cut, one more, upper
    # case, a token under another key, a made-up word
    flip = token[:20] + ('a' if token[20] != 'a' else 'b') + token[21:]
    other = make_token(b'another key, 32 bytes or more...', int(time.time()) + 3600)
    for bad in (flip, token[:-1], token + 'a', token.upper(), other, 'hello', ''):
        r = request(port, 'GET', '/v/' + bad)
        expect(r, 404, NOT_VALID, 'GET /v/%s' % bad[:12])
    # a well-made token (our key) the database never heard of: 404 too
    r = request(port, 'GET', '/v/' + make_token(key, int(time.time()) + 3600))
    expect(r, 404, NOT_VALID, 'GET of an unknown token')
    r = post_form(port, flip, {'form': make_form(key, flip, int(time.time()))})
    expect(r, 404, NOT_VALID, 'POST to an altered link')


def test_get_changes_nothing(fx):
    setup(fx)
    port = fx.verify_port
    sender = new_sender()
    tag = 'look-%d' % os.getpid()
    _, _, token = held_mail(fx, sender, tag)
    _looked.append(token)
    r = request(port, 'GET', '/v/' + token)
    expect(r, 200, '<p>%s asks to reach %s.</p>\n<p>1 message is waiting.</p>' % (sender, RITA),
           'GET the link')
    for want in ('<html lang="en">', '<title>Confirm that you sent this mail</title>',
                 '<link rel="stylesheet" href="../verify.css">', '<form method="post">',
                 '<button type="submit">Confirm: I sent this mail</button>'):
        if want not in r.text:
            raise AssertionError('%r not in the page' % want)
    if '<script' in r.text or 'style=' in r.text or 'http' in r.text:
        raise AssertionError('script, inline style or an outside address in the page')
    form_field(r)
    h = request(port, 'HEAD', '/v/' + token)
    expect(h, 200, None, 'HEAD the link')
    if h.body != b'':
        raise AssertionError('HEAD has a body: %r' % h.body[:80])
    # a link scanner's GETs: again, and with a query
    request(port, 'GET', '/v/' + token + '?utm_source=scanner')
    if grant_state(fx, tag) != 'held':
        raise AssertionError('after GET the grant is %r' % grant_state(fx, tag))
    if challenge_used(fx, sender) != '0':
        raise AssertionError('after GET the challenge is used')
    if fx.sql1("SELECT count(*) FROM sender_rules WHERE pattern = '%s'" % sender) != '0':
        raise AssertionError('after GET the sender has a rule')
    if inbox_has(fx, tag) is not None:
        raise AssertionError('after GET the message is in INBOX')


def test_form_refused(fx):
    setup(fx)
    port = fx.verify_port
    key = key_bytes(fx)
    sender = new_sender()
    tag = 'forms-%d' % os.getpid()
    _, _, token = held_mail(fx, sender, tag)
    _, _, token2 = held_mail(fx, new_sender(), 'forms2-%d' % os.getpid())
    good = form_field(request(port, 'GET', '/v/' + token))
    other = form_field(request(port, 'GET', '/v/' + token2))
    stale = make_form(key, token, int(time.time()) - 3700)
    wrong_mac = good[:-3] + ('aaa' if good[-3:] != 'aaa' else 'bba')
    cases = [
        ('no body', None),
        ('no form field', {'other': 'x'}),
        ('an empty field', {'form': ''}),
        ('a wrong MAC', {'form': wrong_mac}),
        ('the field of another link', {'form': other}),
        ('a page older than an hour', {'form': stale}),
        ('garbage', {'form': '<script>'}),
    ]
    for what, fields in cases:
        r = post_form(port, token, fields)
        expect(r, 403, FORM_BAD, 'POST with %s' % what)
    # the field twice (the good one among them) is refused too
    r = request(port, 'POST', '/v/' + token,
                ('form=%s&form=%s' % (good, good)).encode(),
                {'Content-Type': 'application/x-www-form-urlencoded'})
    expect(r, 403, FORM_BAD, 'POST with the field twice')
    # a multipart form is not what the page sends: no field
    r = request(port, 'POST', '/v/' + token,
                b'--b\r\nContent-Disposition: form-data; name="form"\r\n\r\n' +
                good.encode() + b'\r\n--b--\r\n',
                {'Content-Type': 'multipart/form-data; boundary=b'})
    expect(r, 403, FORM_BAD, 'POST multipart')
    if grant_state(fx, tag) != 'held' or challenge_used(fx, sender) != '0':
        raise AssertionError('a refused POST changed something')
    if inbox_has(fx, tag) is not None:
        raise AssertionError('a refused POST delivered the message')


def test_confirm(fx):
    setup(fx)
    port = fx.verify_port
    sender = new_sender()
    tag = 'confirm-%d' % os.getpid()
    expected, _, token = held_mail(fx, sender, tag)
    field = form_field(request(port, 'GET', '/v/' + token))
    r = post_form(port, token, {'form': field})
    expect(r, 200, '<p>Thank you: 1 message was delivered to %s.</p>' % RITA, 'POST confirm')
    if grant_state(fx, tag) != 'active':
        raise AssertionError('after confirm the grant is %r' % grant_state(fx, tag))
    got = inbox_has(fx, tag)
    if got != expected:
        raise AssertionError('INBOX: ' + (mailutil.diff_at(expected, got) if got else 'missing'))
    rule = fx.sql("SELECT p.address, r.kind FROM sender_rules r JOIN principals p"
                  " ON p.id = r.owner WHERE r.pattern = '%s'" % sender)
    if rule != [[RITA, 'verified']]:
        raise AssertionError('sender rules: %r' % rule)
    r = post_form(port, token, {'form': field})
    expect(r, 410, USED, 'a second POST')
    r = request(port, 'GET', '/v/' + token)
    expect(r, 200, USED, 'GET after confirm')
    if 'name="form"' in r.text:
        raise AssertionError('a used link still shows the form')
    # the sender's next mail goes straight to INBOX
    tag2 = 'after-%d' % os.getpid()
    raw = ('From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nAgain.\r\n'
           % (sender, RITA, tag2)).encode()
    mailutil.send(fx, raw, [RITA], sender=sender)
    if grant_state(fx, tag2) != 'active':
        raise AssertionError('the verified sender\'s next mail is %r' % grant_state(fx, tag2))


def states(fx, tag):
    return fx.sql("SELECT p.address, g.state FROM grants g JOIN principals p"
                  " ON p.id = g.grantee WHERE g.subject = '%s' ORDER BY 1" % tag)


def rules(fx, sender):
    return fx.sql("SELECT coalesce(p.address, '*'), r.kind FROM sender_rules r"
                  " LEFT JOIN principals p ON p.id = r.owner"
                  " WHERE r.pattern = '%s' ORDER BY 1" % sender)


def test_confirm_scope(fx):
    """Whom a confirmation speaks for: one message from a new sender to
    rita, quinn (who has a question) and zoe (who blocked the sender
    after the mail was held). rita's link, confirmed without an answer
    (rita has no question), releases rita's copy only: quinn's stays held
    until quinn's question is answered, zoe's stays held and zoe's block
    stays. And a sender whose domain the organisation blocked after the
    mail was held: the POST is 410 and nothing changes."""
    setup(fx)
    port = fx.verify_port
    sender = new_sender()
    tag = 'scope-%d' % os.getpid()
    raw = ('From: <%s>\r\nTo: <%s>, <%s>, <%s>\r\nSubject: %s\r\n\r\nTo three.\r\n'
           % (sender, RITA, QUINN, ZOE, tag)).encode()
    mailutil.send(fx, raw, [RITA, QUINN, ZOE], sender=sender)
    held3 = [[QUINN, 'held'], [RITA, 'held'], [ZOE, 'held']]
    if states(fx, tag) != held3:
        raise AssertionError('grants: %r' % states(fx, tag))
    fx.ctl('sender', 'block', '--user', ZOE, sender)
    out = fx.ctl('held', 'link', RITA, sender).stdout.decode().strip()
    token = out.rsplit('/', 1)[1]
    _tokens.append(token)
    field = form_field(request(port, 'GET', '/v/' + token))
    r = post_form(port, token, {'form': field})
    expect(r, 200, '<p>Thank you: 1 message was delivered to %s.</p>' % RITA,
           'POST confirm of a message to three')
    got = states(fx, tag)
    if got != [[QUINN, 'held'], [RITA, 'active'], [ZOE, 'held']]:
        raise AssertionError('after rita\'s confirm the grants are %r' % got)
    if rules(fx, sender) != [[RITA, 'verified'], [ZOE, 'block']]:
        raise AssertionError('sender rules: %r' % rules(fx, sender))

    # the organisation blocks the whole domain while the mail is held
    dom = 'blocked%d.example' % os.getpid()
    sender2 = 'someone@' + dom
    tag2 = 'scope-block-%d' % os.getpid()
    _, _, token2 = held_mail(fx, sender2, tag2)
    fx.ctl('sender', 'block', '@' + dom)
    field = form_field(request(port, 'GET', '/v/' + token2))
    r = post_form(port, token2, {'form': field})
    expect(r, 410, EXPIRED, 'POST confirm of a sender blocked since')
    if states(fx, tag2) != [[RITA, 'held']]:
        raise AssertionError('after a blocked confirm the grants are %r' % states(fx, tag2))
    if rules(fx, sender2) != [] or challenge_used(fx, sender2) != '0':
        raise AssertionError('a blocked confirm left rules %r, used %s'
                             % (rules(fx, sender2), challenge_used(fx, sender2)))
    fx.ctl('sender', 'forget', '@' + dom)


def test_question(fx):
    setup(fx)
    port = fx.verify_port
    sender = new_sender()
    tag = 'question-%d' % os.getpid()
    expected, _, token = held_mail(fx, sender, tag, to=QUINN)
    r = request(port, 'GET', '/v/' + token)
    expect(r, 200, '<p>%s asks to reach %s.</p>\n<p>1 message is waiting.</p>' % (sender, QUINN),
           'GET the link of a recipient with a question')
    field = form_field(r)
    want = ('<input type="hidden" name="form" value="%s">\n'
            '<label for="answer">%s</label>\n'
            '<input type="text" id="answer" name="answer" required autocomplete="off">\n'
            '<button type="submit">Confirm: I sent this mail</button>\n</form>'
            % (field, QUESTION_HTML))
    if want not in r.text:
        raise AssertionError('the question is not in the form as %r:\n%s' % (want, r.text))
    if 'rex' in r.text.lower():
        raise AssertionError('an answer is in the page')
    # rita's page has no question
    _, _, rtoken = held_mail(fx, new_sender(), 'noquestion-%d' % os.getpid())
    if 'answer' in request(port, 'GET', '/v/' + rtoken).text:
        raise AssertionError('a recipient without a question gets an answer field')
    refused = [('no answer', {'form': field}),
               ('an empty answer', {'form': field, 'answer': ''}),
               ('white space', {'form': field, 'answer': '  \t '}),
               ('a wrong answer', {'form': field, 'answer': 'Fido'}),
               ('a part of an answer', {'form': field, 'answer': 'Re'}),
               ('an answer with more', {'form': field, 'answer': 'Rex!'}),
               ('a long answer', {'form': field, 'answer': 'rex ' * 300}),
               ('a NUL in the answer', {'form': field, 'answer': 'Rex\0'})]
    for what, fields in refused:
        r = post_form(port, token, fields)
        expect(r, 403, WRONG, 'POST with %s' % what)
        if '<title>That answer is not right; try again</title>' not in r.text:
            raise AssertionError('%s: the title does not say so' % what)
        # the form again, with a fresh field, the error next to the input
        again = form_field(r)
        want = ('<input type="hidden" name="form" value="%s">\n'
                '<p id="answer-error" class="error">That answer is not right; try again.</p>\n'
                '<label for="answer">%s</label>\n'
                '<input type="text" id="answer" name="answer" required autocomplete="off" '
                'aria-invalid="true" aria-describedby="answer-error">\n'
                '<button type="submit">' % (again, QUESTION_HTML))
        if want not in r.text:
            raise AssertionError('%s: the form is not shown again as %r:\n%s' % (what, want, r.text))
        if grant_state(fx, tag) != 'held' or challenge_used(fx, sender) != '0':
            raise AssertionError('%s changed something' % what)
    # the answer twice, the right one among them: refused too
    r = request(port, 'POST', '/v/' + token,
                ('form=%s&answer=Rex&answer=Rex' % field).encode(),
                {'Content-Type': 'application/x-www-form-urlencoded'})
    expect(r, 403, WRONG, 'POST with the answer twice')
    # the form field rules come first: a right answer with a bad field
    r = post_form(port, token, {'form': 'x', 'answer': 'Rex'})
    expect(r, 403, FORM_BAD, 'POST with the right answer and a bad field')
    if grant_state(fx, tag) != 'held' or challenge_used(fx, sender) != '0':
        raise AssertionError('a refused POST changed something')
    if fx.sql1("SELECT count(*) FROM sender_rules WHERE pattern = '%s'" % sender) != '0':
        raise AssertionError('a refused POST gave the sender a rule')
    if inbox_has(fx, tag, QUINN, QUINN_PW) is not None:
        raise AssertionError('a refused POST delivered the message')
    r = post_form(port, token, {'form': again, 'answer': '  big   REX '})
    expect(r, 200, '<p>Thank you: 1 message was delivered to %s.</p>' % QUINN,
           'POST with the right answer')
    got = inbox_has(fx, tag, QUINN, QUINN_PW)
    if got != expected:
        raise AssertionError('INBOX: ' + (mailutil.diff_at(expected, got) if got else 'missing'))
    r = post_form(port, token, {'form': again, 'answer': 'Rex'})
    expect(r, 410, USED, 'a second POST')
    log = open(fx.logs['verify'], 'rb').read().decode('utf-8', 'replace')
    if 'verify wrong answer sender=%s recipient=%s' % (sender, QUINN) not in log:
        raise AssertionError('no "verify wrong answer" line in verify.log')
    if 'Fido' in log:
        raise AssertionError('a given answer is in verify.log')


def test_expired(fx):
    setup(fx)
    port = fx.verify_port
    sender = new_sender()
    tag = 'expired-%d' % os.getpid()
    _, _, token = held_mail(fx, sender, tag)
    field = form_field(request(port, 'GET', '/v/' + token))
    fx.sql("UPDATE challenges SET expires = now() - interval '1 minute'"
           " WHERE sender = '%s'" % sender)
    r = request(port, 'GET', '/v/' + token)
    expect(r, 410, EXPIRED, 'GET of a link expired in the database')
    r = post_form(port, token, {'form': field})
    expect(r, 410, EXPIRED, 'POST to a link expired in the database')
    if grant_state(fx, tag) != 'held' or challenge_used(fx, sender) != '0':
        raise AssertionError('an expired link changed something')
    # a link whose own expiry (under the MAC) is past
    old = make_token(key_bytes(fx), int(time.time()) - 60)
    r = request(port, 'GET', '/v/' + old)
    expect(r, 410, EXPIRED, 'GET of a link past its own expiry')


def test_methods(fx):
    setup(fx)
    port = fx.verify_port
    _, _, token = held_mail(fx, new_sender(), 'methods-%d' % os.getpid())
    for method in ('PUT', 'DELETE', 'PATCH', 'OPTIONS'):
        r = request(port, method, '/v/' + token, b'x' if method == 'PUT' else None)
        expect(r, 405, '<h1>Method not allowed</h1>', method)
        if r.header('Allow') != 'GET, HEAD, POST':
            raise AssertionError('%s: Allow %r' % (method, r.header('Allow')))
    r = request(port, 'POST', '/verify.css')
    expect(r, 405, None, 'POST /verify.css')
    if r.header('Allow') != 'GET, HEAD':
        raise AssertionError('POST /verify.css: Allow %r' % r.header('Allow'))
    for path in ('/', '/v', '/x/' + token, '/verify.css/x', '/v/../verify.css2'):
        r = request(port, 'GET', path)
        expect(r, 404, None, 'GET %s' % path)
    r = request(port, 'GET', '/verify.css')
    expect(r, 200, 'body{', 'GET /verify.css', ctype='text/css; charset=utf-8')
    # a form over 4096 bytes, with its Content-Length: refused before it
    # is read
    r = request(port, 'POST', '/v/' + token, b'form=' + b'a' * 5000,
                {'Content-Type': 'application/x-www-form-urlencoded'})
    expect(r, 413, '<h1>Request too large</h1>', 'POST of 5 kB')
    # chunked, so the size shows only while it comes: the connection is
    # closed
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    try:
        c.putrequest('POST', '/v/' + token)
        c.putheader('Content-Type', 'application/x-www-form-urlencoded')
        c.putheader('Transfer-Encoding', 'chunked')
        c.endheaders()
        try:
            for _ in range(10):
                c.send(b'400\r\n' + b'a' * 1024 + b'\r\n')
            c.send(b'0\r\n\r\n')
            status = c.getresponse().status
        except (ConnectionError, http.client.RemoteDisconnected):
            status = None
    finally:
        c.close()
    if status is not None:
        raise AssertionError('a 10 kB chunked form got %r, not a closed connection' % status)


def test_rate_limits(fx):
    """A private capmail-verify with verify_rate_ip = 9 and
    verify_rate_sender = 2 a minute: the third request for one sender's
    link (a look and a wrong answer, then the right answer; then three
    looks at another) is 429, other links go on until the address's ninth
    request; then 429 for everything from 127.0.0.1, with Retry-After."""
    setup(fx)
    port = capfix.free_port()
    conf = os.path.join(fx.dir, 'verify-rate.conf')
    with open(fx.conf) as f:
        base = [l for l in f if l.split('=')[0].strip() not in ('verify_listen',)]
    with open(conf, 'w') as f:
        f.writelines(base + ['verify_listen = 127.0.0.1:%d\n' % port,
                             'verify_rate_ip = 9\n', 'verify_rate_sender = 2\n'])
    _, _, token = held_mail(fx, new_sender(), 'rate-%d' % os.getpid())
    qtag = 'rate-question-%d' % os.getpid()
    _, _, qtoken = held_mail(fx, new_sender(), qtag, to=QUINN)
    log = os.path.join(fx.dir, 'verify-rate.log')
    with open(log, 'ab') as lf:
        p = subprocess.Popen([fx.verify, '-c', conf], stdin=subprocess.DEVNULL,
                             stdout=lf, stderr=subprocess.STDOUT)
    try:
        if not fx.wait_listening(port, p, 60, greets=False):
            raise AssertionError('private capmail-verify did not start')
        # guessing the answer is bounded by the sender's limit: the
        # right answer after a page and a wrong guess is too many
        qfield = form_field(request(port, 'GET', '/v/' + qtoken))
        r = post_form(port, qtoken, {'form': qfield, 'answer': 'Fido'})
        expect(r, 403, WRONG, 'a wrong guess')
        r = post_form(port, qtoken, {'form': form_field(r), 'answer': 'Rex'})
        expect(r, 429, '<h1>Too many requests</h1>', 'a guess over the sender limit')
        if grant_state(fx, qtag) != 'held':
            raise AssertionError('a guess over the limit released the mail')
        expect(request(port, 'GET', '/v/' + token), 200, None, 'look 1')
        expect(request(port, 'GET', '/v/' + token), 200, None, 'look 2')
        r = request(port, 'GET', '/v/' + token)
        expect(r, 429, '<h1>Too many requests</h1>', 'look 3 (sender limit)')
        ra = int(r.header('Retry-After'))
        if not 1 <= ra <= 60:
            raise AssertionError('Retry-After %d' % ra)
        # requests 7 to 9 of this address: forged links, 404
        for i in range(3):
            expect(request(port, 'GET', '/v/forged%d' % i), 404, NOT_VALID, 'forged %d' % i)
        r = request(port, 'GET', '/v/forged')
        expect(r, 429, '<h1>Too many requests</h1>', 'request 10 (address limit)')
        if not 1 <= int(r.header('Retry-After')) <= 60:
            raise AssertionError('Retry-After %r' % r.header('Retry-After'))
        r = post_form(port, token, {'form': 'x'})
        expect(r, 429, None, 'a POST over the address limit')
    finally:
        p.send_signal(signal.SIGTERM)
        st = p.wait(30)
    if st != 0:
        raise AssertionError('private capmail-verify exited %r' % st)
    text = open(log, 'rb').read()
    if re.search(rb'ERROR: (Address|Leak)Sanitizer|runtime error:', text):
        raise AssertionError('sanitizer report in verify-rate.log')


def test_log(fx):
    """Every request is one line with method, path (token cut), status and
    address; no whole token appears anywhere in the log."""
    text = open(fx.logs['verify'], 'rb').read().decode('utf-8', 'replace')
    if not _tokens:
        raise Skip('no token was used (the other cases did not run)')
    for t in _tokens:
        if t in text:
            raise AssertionError('a whole token is in verify.log')
        if t[:30] in text:
            raise AssertionError('30 characters of a token are in verify.log')
    if not _looked:
        raise Skip('no page was shown (the other cases did not run)')
    t = _looked[0]
    want = 'http request method=GET path=/v/%s... status=200 address=127.0.0.1' % t[:8]
    if want not in text:
        raise AssertionError('no line %r in verify.log' % want)
    if not re.search(r'http request method=POST path=/v/[a-z2-7]{8}\.\.\. status=403 '
                     r'address=127\.0\.0\.1', text):
        raise AssertionError('no POST 403 line in verify.log')


# ---- the browser -----------------------------------------------------------

ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'


class WebDriver:
    """chromedriver's W3C WebDriver protocol over HTTP with urllib."""

    def __init__(self, port):
        self.base = 'http://127.0.0.1:%d' % port
        self.sid = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read().decode())['value']
        except urllib.error.HTTPError as e:
            raise AssertionError('WebDriver %s %s: %d %s' % (
                method, path, e.code, e.read().decode('utf-8', 'replace')[:800]))

    def session(self, path=''):
        return '/session/%s%s' % (self.sid, path)

    def start(self, profile):
        args = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                '--disable-background-networking', '--disable-component-update',
                '--disable-sync', '--disable-dev-shm-usage',
                '--user-data-dir=' + profile]
        v = self.call('POST', '/session', {'capabilities': {'alwaysMatch': {
            'browserName': 'chrome',
            'goog:chromeOptions': {'binary': '/usr/bin/chromium', 'args': args},
            'goog:loggingPrefs': {'browser': 'ALL'}}}})
        self.sid = v['sessionId']

    def go(self, url):
        self.call('POST', self.session('/url'), {'url': url})

    def find(self, css):
        return self.call('POST', self.session('/element'),
                         {'using': 'css selector', 'value': css})[ELEMENT]

    def text(self, css):
        return self.call('GET', self.session('/element/%s/text' % self.find(css)))

    def click(self, css):
        self.call('POST', self.session('/element/%s/click' % self.find(css)), {})

    def type(self, css, text):
        self.call('POST', self.session('/element/%s/value' % self.find(css)), {'text': text})

    def title(self):
        return self.call('GET', self.session('/title'))

    def url(self):
        return self.call('GET', self.session('/url'))

    def script(self, js):
        return self.call('POST', self.session('/execute/sync'), {'script': js, 'args': []})

    def console(self):
        return self.call('POST', self.session('/se/log'), {'type': 'browser'})

    def quit(self):
        if self.sid is not None:
            try:
                self.call('DELETE', self.session())
            except (AssertionError, OSError):
                pass
            self.sid = None


def wait_for(cond, what, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError('timed out waiting for %s' % what)


def need_browser():
    for b in ('/usr/bin/chromium', '/usr/bin/chromedriver'):
        if not os.access(b, os.X_OK):
            raise Skip('%s is not installed (Debian packages chromium, '
                       'chromium-driver; contrib/install-deps --test)' % b)


@contextlib.contextmanager
def browser(fx, log='chromedriver.log'):
    """Headless Chromium driven through chromedriver, with a fresh
    profile: yields the WebDriver session, and ends both afterwards."""
    need_browser()
    profile = tempfile.mkdtemp(prefix='capmail-chromium-')
    port = capfix.free_port()
    with open(os.path.join(fx.dir, log), 'ab') as lf:
        drv = subprocess.Popen(['/usr/bin/chromedriver', '--port=%d' % port],
                               stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT)
    wd = WebDriver(port)
    try:
        def ready():
            try:
                return wd.call('GET', '/status').get('ready')
            except (OSError, AssertionError):
                return False
        wait_for(ready, 'chromedriver')
        wd.start(profile)
        yield wd
    finally:
        wd.quit()
        drv.terminate()
        try:
            drv.wait(30)
        except subprocess.TimeoutExpired:
            drv.kill()
            drv.wait()
        shutil.rmtree(profile, ignore_errors=True)


def test_browser(fx):
    need_browser()
    setup(fx)
    sender = new_sender()
    tag = 'browser-%d' % os.getpid()
    expected, link, _ = held_mail(fx, sender, tag)
    with browser(fx) as wd:
        wd.go(link)
        if wd.title() != 'Confirm that you sent this mail':
            raise AssertionError('page title %r' % wd.title())
        main = wd.text('main')
        for want in ('%s asks to reach %s.' % (sender, RITA), '1 message is waiting.'):
            if want not in main:
                raise AssertionError('%r not in the page text %r' % (want, main))
        if wd.text('button') != 'Confirm: I sent this mail':
            raise AssertionError('button text %r' % wd.text('button'))
        # the stylesheet loaded under the CSP (style-src 'self')
        bg = wd.script("return getComputedStyle(document.querySelector('button'))"
                       ".backgroundColor")
        if bg != 'rgb(17, 34, 68)':
            raise AssertionError('button background %r: the stylesheet did not apply' % bg)
        if grant_state(fx, tag) != 'held':
            raise AssertionError('opening the page released the mail')
        wd.click('button')
        wait_for(lambda: wd.title() == 'Thank you', 'the result page')
        main = wd.text('main')
        want = 'Thank you: 1 message was delivered to %s.' % RITA
        if want not in main:
            raise AssertionError('%r not in the result page %r' % (want, main))
        if wd.url() != link:
            raise AssertionError('the result page is at %r, not the link' % wd.url())
        # a recipient with a question: the answer typed into its field
        qsender = new_sender()
        qtag = 'browser-question-%d' % os.getpid()
        qexpected, qlink, _ = held_mail(fx, qsender, qtag, to=QUINN)
        wd.go(qlink)
        if wd.title() != 'Confirm that you sent this mail':
            raise AssertionError('page title %r' % wd.title())
        if wd.text('label[for="answer"]') != QUESTION:
            raise AssertionError('label text %r' % wd.text('label[for="answer"]'))
        # the label is the input's accessible name, and the field is
        # required: the browser will not send the form empty
        if wd.script("var i = document.getElementById('answer');"
                     " return [i.labels.length, i.labels[0].textContent,"
                     " i.validity.valueMissing, i.form.checkValidity()]") != [
                         1, QUESTION, True, False]:
            raise AssertionError('the answer input is not labelled and required')
        wd.type('#answer', 'Fido')
        wd.click('button')
        wait_for(lambda: wd.title() == 'That answer is not right; try again',
                 'the wrong-answer page')
        if wd.text('#answer-error') != 'That answer is not right; try again.':
            raise AssertionError('error text %r' % wd.text('#answer-error'))
        if wd.script("return document.getElementById('answer')"
                     ".getAttribute('aria-describedby')") != 'answer-error':
            raise AssertionError('the input is not described by the error')
        if grant_state(fx, qtag) != 'held':
            raise AssertionError('a wrong answer in the browser released the mail')
        wd.type('#answer', '  rEx ')
        wd.click('button')
        wait_for(lambda: wd.title() == 'Thank you', 'the result page after the answer')
        want = 'Thank you: 1 message was delivered to %s.' % QUINN
        if want not in wd.text('main'):
            raise AssertionError('%r not in the result page %r' % (want, wd.text('main')))
        msgs = [e for e in wd.console() if 'Content Security Policy' in e.get('message', '')]
        if msgs:
            raise AssertionError('CSP violations in the console: %r' % msgs)
    got = inbox_has(fx, tag)
    if got != expected:
        raise AssertionError('INBOX after the browser: ' +
                             (mailutil.diff_at(expected, got) if got else 'missing'))
    got = inbox_has(fx, qtag, QUINN, QUINN_PW)
    if got != qexpected:
        raise AssertionError('INBOX after the browser\'s answer: ' +
                             (mailutil.diff_at(qexpected, got) if got else 'missing'))


def cases(fx):
    _fx[0] = fx
    return [
        ('verify: forged, altered and unknown links get 404 "not valid"',
         lambda: test_forged(fx)),
        ('verify: GET and HEAD show the page with the security headers and change nothing',
         lambda: test_get_changes_nothing(fx)),
        ('verify: POST without, with a wrong, another link\'s or a stale form field: 403',
         lambda: test_form_refused(fx)),
        ('verify: POST confirms: INBOX byte-exact, sender verified; reuse 410, GET 200',
         lambda: test_confirm(fx)),
        ('verify: a confirmation releases no copy held for a recipient with a question '
         'or a block set since; an organisation\'s block since: 410',
         lambda: test_confirm_scope(fx)),
        ('verify: a recipient\'s question: shown escaped; no or wrong answer 403, nothing '
         'changes; the right one in other case and spacing confirms',
         lambda: test_question(fx)),
        ('verify: expired links (database, own expiry) 410', lambda: test_expired(fx)),
        ('verify: 405 with Allow, 404 other paths, the stylesheet, 413',
         lambda: test_methods(fx)),
        ('verify: rate limits per sender and per address: 429 with Retry-After',
         lambda: test_rate_limits(fx)),
        ('verify: headless Chromium opens the link, confirms (and answers a question); '
         'the mail is in INBOX',
         lambda: test_browser(fx)),
        ('verify: one log line a request, never a whole token', lambda: test_log(fx)),
    ]
