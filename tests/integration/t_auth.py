"""Authentication and submission against the real daemons:

- SMTP AUTH PLAIN and LOGIN (RFC 4954) on the submission port with exact
  replies: initial response, a 334 challenge, "*" (501 5.7.0), bad base64
  (501 5.5.2), a wrong password (535 5.7.8), AUTH twice (503), AUTH in a
  transaction (503), an unknown mechanism (504); swaks --auth PLAIN and
  LOGIN; smtplib's login();
- submission rules: MAIL before AUTH is 530 5.7.0, a MAIL FROM that is not
  the user's own address (or <>) is 553 5.7.1, an external recipient is
  550 5.7.1 while no relay_host is configured; with relay_host (a private
  gateway) external recipients are queued in the transaction that stores
  the message and grants the local ones;
- local delivery through submission: fetched back over IMAP byte for byte
  (behind the gateway's Received header, "with ESMTPA"), and the grant
  records grantor_auth 'local-auth' and the user as grantor;
- the MX port: AUTH works on loopback but never opens relaying (554 5.7.1);
- with auth_plaintext_loopback = no (a private gateway): no AUTH in
  plaintext (538 5.7.11, not advertised), AUTH after STARTTLS;
- password hashes imported from a Dovecot passwd-file ({SHA512-CRYPT},
  {BLF-CRYPT} made at test time with crypt(3)) log in over IMAP and SMTP;
  {PLAIN} is refused by capmailctl;
- a password-guessing loop against private imapd and gateway instances
  (auth_fail_limit 3, auth_lockout_limit 6, auth_fail_delay 1): the
  attempts past the third are delayed (the daemons log each delay), past
  the sixth the address is refused (IMAP NO [UNAVAILABLE], SMTP 454
  4.7.0) even with the right password, while the right password from
  another address (127.0.0.2) still logs in.
"""

import base64
import email
import imaplib
import os
import re
import smtplib
import socket
import subprocess
import warnings

import capfix
from mailutil import Skip
import t_conn

ALICE = 'alice@example.test'
BOB = 'bob@example.test'
PW = capfix.USERS


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def plain(user, pw, authz=''):
    return b64('%s\0%s\0%s' % (authz, user, pw))


class Dialog:
    """A raw SMTP client: exact reply lines."""

    def __init__(self, port, source='127.0.0.1'):
        self.s = socket.create_connection(('127.0.0.1', port), 30,
                                          source_address=(source, 0))
        self.f = self.s.makefile('rb')
        self.greeting = self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise AssertionError('connection closed; got %r' % lines)
            lines.append(line.decode('utf-8', 'replace').rstrip('\r\n'))
            if len(line) < 4 or line[3:4] != b'-':
                return lines

    def cmd(self, line):
        self.s.sendall(line.encode() + b'\r\n')
        return self.reply()

    def last(self, line):
        return self.cmd(line)[-1]

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def expect(got, want, what):
    if got != want:
        raise AssertionError('%s: expected %r, got %r' % (what, want, got))


def expect_prefix(got, want, what):
    if not got.startswith(want):
        raise AssertionError('%s: expected %r..., got %r' % (what, want, got))


def sub(fx, ehlo=True, source='127.0.0.1'):
    d = Dialog(fx.submission_port, source)
    if ehlo:
        d.cmd('EHLO client.example')
    return d


# ---- SMTP AUTH ----------------------------------------------------------

def test_ehlo_advertises(fx):
    for port in (fx.submission_port, fx.smtp_port):
        d = Dialog(port)
        lines = d.cmd('EHLO client.example')
        d.close()
        if '250-AUTH PLAIN LOGIN' not in lines:
            raise AssertionError('port %d: no AUTH in %r' % (port, lines))


def test_auth_plain(fx):
    d = sub(fx)
    expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE] + 'x')),
           '535 5.7.8 Authentication credentials invalid', 'wrong password')
    expect(d.last('AUTH PLAIN ' + plain('nobody@example.test', 'x')),
           '535 5.7.8 Authentication credentials invalid', 'unknown user')
    expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE], authz=BOB)),
           '535 5.7.8 Authentication credentials invalid', 'other authzid')
    expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE])),
           '235 2.7.0 Authentication successful', 'PLAIN with IR')
    expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE])),
           '503 5.5.1 Error: already authenticated', 'AUTH twice')
    d.close()
    # the challenge path, with authzid = authcid
    d = sub(fx)
    expect(d.last('AUTH PLAIN'), '334 ', 'PLAIN without IR')
    expect(d.last(plain(ALICE, PW[ALICE], authz=ALICE)),
           '235 2.7.0 Authentication successful', 'PLAIN response')
    d.close()


def test_auth_login(fx):
    d = sub(fx)
    expect(d.last('AUTH LOGIN'), '334 VXNlcm5hbWU6', 'LOGIN user prompt')
    expect(d.last(b64(BOB)), '334 UGFzc3dvcmQ6', 'LOGIN password prompt')
    expect(d.last(b64('wrong')), '535 5.7.8 Authentication credentials '
           'invalid', 'LOGIN wrong password')
    expect(d.last('AUTH LOGIN ' + b64(BOB)), '334 UGFzc3dvcmQ6',
           'LOGIN with the user as initial response')
    expect(d.last(b64(PW[BOB])), '235 2.7.0 Authentication successful',
           'LOGIN right password')
    d.close()


def test_auth_errors(fx):
    d = sub(fx, ehlo=False)
    expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE])),
           '503 5.5.1 Error: send HELO/EHLO first', 'AUTH before EHLO')
    d.cmd('EHLO client.example')
    expect(d.last('AUTH PLAIN'), '334 ', 'challenge')
    expect(d.last('*'), '501 5.7.0 Authentication aborted', 'cancel')
    expect(d.last('AUTH LOGIN'), '334 VXNlcm5hbWU6', 'challenge')
    expect(d.last('*'), '501 5.7.0 Authentication aborted', 'cancel LOGIN')
    expect(d.last('AUTH PLAIN not*base64'), '501 5.5.2 Cannot decode '
           'response', 'bad base64 IR')
    expect(d.last('AUTH PLAIN'), '334 ', 'challenge')
    expect(d.last('AB='), '501 5.5.2 Cannot decode response',
           'bad base64 line')
    expect(d.last('AUTH PLAIN ' + b64('no-nuls-here')),
           '501 5.5.2 Invalid authentication response', 'no NULs')
    expect(d.last('AUTH CRAM-MD5'), '504 5.5.4 Unrecognized '
           'authentication type', 'unknown mechanism')
    expect(d.last('AUTH'), '501 5.5.4 Syntax: AUTH mechanism', 'no mechanism')
    # still usable afterwards
    expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE])),
           '235 2.7.0 Authentication successful', 'after the errors')
    d.close()
    # AUTH inside a transaction (MX port: MAIL needs no AUTH there)
    d = Dialog(fx.smtp_port)
    d.cmd('EHLO client.example')
    expect(d.last('MAIL FROM:<someone@outside.example>'), '250 2.1.0 Ok',
           'MAIL')
    expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE])),
           '503 5.5.1 Error: MAIL transaction in progress', 'AUTH in MAIL')
    d.close()


def test_swaks(fx):
    for mech in ('PLAIN', 'LOGIN'):
        p = subprocess.run(
            ['swaks', '--server', '127.0.0.1', '--port',
             str(fx.submission_port), '--auth', mech, '--auth-user', ALICE,
             '--auth-password', PW[ALICE], '--from', ALICE, '--to', BOB,
             '--header', 'Subject: swaks %s submission' % mech,
             '--body', 'via swaks'], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode('utf-8', 'replace')
        if p.returncode != 0 or '235 2.7.0' not in out or \
                not re.search(r'<[-~]  250 2\.0\.0 Ok: queued as', out):
            raise AssertionError('swaks --auth %s exited %d:\n%s'
                                 % (mech, p.returncode, out[-1500:]))
        p = subprocess.run(
            ['swaks', '--server', '127.0.0.1', '--port',
             str(fx.submission_port), '--auth', mech, '--auth-user', ALICE,
             '--auth-password', 'wrong', '--from', ALICE, '--to', BOB],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode('utf-8', 'replace')
        if p.returncode == 0 or \
                '535 5.7.8 Authentication credentials invalid' not in out:
            raise AssertionError('swaks wrong password exited %d:\n%s'
                                 % (p.returncode, out[-1500:]))


# ---- submission rules ---------------------------------------------------

def test_submission_requires_auth(fx):
    d = sub(fx)
    expect(d.last('MAIL FROM:<%s>' % ALICE), '530 5.7.0 Authentication '
           'required', 'MAIL before AUTH')
    expect(d.last('RCPT TO:<%s>' % BOB), '503 5.5.1 Error: need MAIL '
           'command', 'RCPT before MAIL')
    d.close()


def test_submission_sender(fx):
    d = sub(fx)
    d.cmd('AUTH PLAIN ' + plain(ALICE, PW[ALICE]))
    expect(d.last('MAIL FROM:<%s>' % BOB), '553 5.7.1 Sender address '
           'rejected: not owned by the authenticated user', 'other user')
    expect(d.last('MAIL FROM:<>'), '553 5.7.1 Sender address rejected: '
           'not owned by the authenticated user', 'null sender')
    expect(d.last('MAIL FROM:<alice@outside.example>'), '553 5.7.1 Sender '
           'address rejected: not owned by the authenticated user',
           'foreign domain')
    expect(d.last('MAIL FROM:<Alice@Example.TEST>'), '250 2.1.0 Ok',
           'own address, other case')
    expect(d.last('RCPT TO:<someone@outside.example>'), '550 5.7.1 '
           '<someone@outside.example>: relaying not configured',
           'external recipient')
    expect(d.last('RCPT TO:<nobody@example.test>'), '550 5.1.1 '
           '<nobody@example.test>: Recipient address rejected: User '
           'unknown', 'unknown local recipient')
    d.close()


def fetch_by_subject(fx, user, subject):
    m = fx.imap(user)
    try:
        m.select('INBOX')
        typ, data = m.uid('SEARCH', None, 'HEADER', 'Subject', '"%s"' % subject)
        uids = data[0].split()
        if len(uids) != 1:
            raise AssertionError('%s: %d messages with subject %r'
                                 % (user, len(uids), subject))
        typ, data = m.uid('FETCH', uids[0], '(BODY.PEEK[])')
        return data[0][1]
    finally:
        m.logout()


def test_submission_local_delivery(fx):
    subject = 'submission byte-exact %d' % os.getpid()
    body = ('From: Alice <%s>\r\nTo: <%s>\r\nSubject: %s\r\n'
            'Message-ID: <sub-%d@example.test>\r\n\r\n'
            'Hello Bob,\r\n.leading dot\r\n\xe9t\xe9 in UTF-8\r\n'
            % (ALICE, BOB, subject, os.getpid())).encode('utf-8')
    s = smtplib.SMTP('127.0.0.1', fx.submission_port, timeout=60)
    s.ehlo('client.example')
    s.login(ALICE, PW[ALICE])
    refused = s.sendmail(ALICE, [BOB, ALICE], body)
    s.quit()
    if refused:
        raise AssertionError('refused: %r' % refused)
    for user in (BOB, ALICE):
        got = fetch_by_subject(fx, user, subject)
        if not got.endswith(body):
            raise AssertionError('%s: fetched message does not end with '
                                 'what was sent:\n%r' % (user, got[-300:]))
        head = got[:len(got) - len(body)]
        if not head.startswith(b'Received: ') or \
                not re.search(rb'with\s+ESMTPA ', head):
            raise AssertionError('%s: unexpected trace header %r'
                                 % (user, head))
    rows = fx.sql("SELECT p.address, g.grantor_address, g.grantor_auth "
                  "FROM grants g JOIN principals p ON p.id = g.grantee "
                  "WHERE g.subject = '%s' ORDER BY p.address" % subject)
    expect(rows, [[ALICE, ALICE, 'local-auth'], [BOB, ALICE, 'local-auth']],
           'grants')
    n = fx.sql1("SELECT count(DISTINCT message_id) FROM grants "
                "WHERE subject = '%s'" % subject)
    expect(n, '1', 'messages stored')


def test_submission_external(fx):
    """With relay_host set, external recipients of submission are queued
    for capmail-outbound in the transaction that grants the local ones:
    the message is stored once, the queue item refers to it."""
    port = capfix.free_port()
    gw = t_conn.Gateway(fx, 'subrelay', 120,
                        'relay_host = 127.0.0.1:9\n'
                        'submission_listen = 127.0.0.1:%d\n' % port)
    tag = 'sub-relay-%d' % os.getpid()
    try:
        for only_external in (False, True):
            subject = '%s-%d' % (tag, only_external)
            d = Dialog(port)
            d.cmd('EHLO client.example')
            d.cmd('AUTH PLAIN ' + plain(ALICE, PW[ALICE]))
            expect(d.last('MAIL FROM:<%s>' % ALICE), '250 2.1.0 Ok', 'MAIL')
            if not only_external:
                expect(d.last('RCPT TO:<%s>' % BOB), '250 2.1.5 Ok', 'local')
            expect(d.last('RCPT TO:<friend@outside.example>'),
                   '250 2.1.5 Ok', 'external')
            expect(d.last('RCPT TO:<Friend@outside.example>'),
                   '250 2.1.5 Ok', 'external, again')
            expect(d.last('RCPT TO:<other@far.example>'), '250 2.1.5 Ok',
                   'second external')
            expect(d.last('DATA'), '354 End data with <CR><LF>.<CR><LF>',
                   'DATA')
            r = d.last('From: <%s>\r\nSubject: %s\r\n\r\nhello\r\n.'
                       % (ALICE, subject))
            expect_prefix(r, '250 2.0.0 Ok: queued as ', 'end of DATA')
            d.cmd('QUIT')
            d.close()
            item = fx.sql("SELECT o.id, o.message_id, o.mail_from, p.address, "
                          "o.state FROM outbound o JOIN principals p "
                          "ON p.id = o.owner JOIN messages m "
                          "ON m.id = o.message_id "
                          "WHERE o.mail_from = '%s' ORDER BY o.id DESC LIMIT 1"
                          % ALICE)
            if len(item) != 1:
                raise AssertionError('no queue item: %r' % item)
            oid, mid, mfrom, owner, state = item[0]
            expect((mfrom, owner, state), (ALICE, ALICE, 'queued'),
                   'queue item')
            rcpts = fx.sql("SELECT address FROM outbound_rcpts WHERE "
                           "outbound_id = %s ORDER BY address" % oid)
            expect(rcpts, [['friend@outside.example'], ['other@far.example']],
                   'queued recipients')
            grants = fx.sql("SELECT message_id, grantor_auth FROM grants "
                            "WHERE subject = '%s'" % subject)
            if only_external:
                expect(grants, [], 'no grants for an external-only message')
            else:
                expect(grants, [[mid, 'local-auth']],
                       'one grant, on the queued message')
    finally:
        status = gw.stop()
    if status != 0:
        raise AssertionError('private gateway exited %r' % status)
    if t_conn.SANITIZER_RE.search(gw.text()):
        raise AssertionError('sanitizer report:\n' + gw.tail(40))


def test_mx_port(fx):
    d = Dialog(fx.smtp_port)
    d.cmd('EHLO client.example')
    expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE] + 'x')),
           '535 5.7.8 Authentication credentials invalid', 'MX wrong password')
    expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE])),
           '235 2.7.0 Authentication successful', 'MX AUTH')
    expect(d.last('MAIL FROM:<%s>' % ALICE), '250 2.1.0 Ok', 'MAIL')
    expect(d.last('RCPT TO:<someone@outside.example>'),
           '554 5.7.1 <someone@outside.example>: Relay access denied',
           'MX never relays')
    d.close()


def test_plaintext_needs_tls(fx):
    """auth_plaintext_loopback = no: no AUTH in plaintext, even from
    loopback (538 5.7.11); after STARTTLS it is offered and works."""
    import ssl
    port = capfix.free_port()
    gw = t_conn.Gateway(fx, 'authtls', 120,
                        'auth_plaintext_loopback = no\n'
                        'submission_listen = 127.0.0.1:%d\n' % port)
    try:
        d = Dialog(port)
        lines = d.cmd('EHLO client.example')
        if any('AUTH' in l for l in lines) or '250-STARTTLS' not in lines:
            raise AssertionError('plaintext EHLO: %r' % lines)
        expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE])),
               '538 5.7.11 Encryption required for requested '
               'authentication mechanism', 'AUTH without TLS')
        expect(d.last('MAIL FROM:<%s>' % ALICE),
               '530 5.7.0 Authentication required', 'MAIL without AUTH')
        expect(d.last('STARTTLS'), '220 2.0.0 Ready to start TLS', 'STARTTLS')
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(fx.cert)
        d.s = ctx.wrap_socket(d.s, server_hostname=capfix.HOSTNAME)
        d.f = d.s.makefile('rb')
        lines = d.cmd('EHLO client.example')
        if '250-AUTH PLAIN LOGIN' not in lines:
            raise AssertionError('EHLO inside TLS: %r' % lines)
        expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE])),
               '235 2.7.0 Authentication successful', 'AUTH inside TLS')
        expect(d.last('MAIL FROM:<%s>' % ALICE), '250 2.1.0 Ok', 'MAIL')
        d.cmd('QUIT')
        d.close()
    finally:
        status = gw.stop()
    if status != 0:
        raise AssertionError('private gateway exited %r' % status)
    if t_conn.SANITIZER_RE.search(gw.text()):
        raise AssertionError('sanitizer report:\n' + gw.tail(40))


# ---- imported hashes ----------------------------------------------------

def crypt_hash(pw, salt):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            import crypt
        except ImportError:
            crypt = None
    if crypt is not None:
        h = crypt.crypt(pw, salt)
        if h and h.startswith(salt[:3]):
            return h
    raise Skip('no crypt(3) in this Python to make %s hashes' % salt[:3])


def test_imported_hashes(fx):
    fx.ctl('domain', 'add', 'import.test')
    fx.ctl('domain', 'policy', 'import.test', 'open')
    users = {
        'dave@import.test': ('dave-Imported-6',
                             '{SHA512-CRYPT}' + crypt_hash(
                                 'dave-Imported-6', '$6$capmailSalt6$')),
        'erin@import.test': ('erin-Imported-2y',
                             '{BLF-CRYPT}' + crypt_hash(
                                 'erin-Imported-2y',
                                 '$2y$05$abcdefghijklmnopqrstuu')),
    }
    for addr, (pw, h) in users.items():
        fx.ctl('user', 'import-hash', addr, input=(h + '\n').encode())
        stored = fx.sql1("SELECT password_hash FROM principals "
                         "WHERE address = '%s'" % addr)
        expect(stored, h[h.index('}') + 1:], 'stored hash of ' + addr)
        m = imaplib.IMAP4('127.0.0.1', fx.imap_port, timeout=60)
        try:
            try:
                m.login(addr, pw + 'x')
                raise AssertionError('%s: wrong password accepted' % addr)
            except imaplib.IMAP4.error as e:
                if 'AUTHENTICATIONFAILED' not in str(e):
                    raise AssertionError('%s: %s' % (addr, e))
            typ, data = m.login(addr, pw)
            expect(typ, 'OK', 'IMAP LOGIN ' + addr)
            typ, data = m.select('INBOX')
            expect(typ, 'OK', 'SELECT for ' + addr)
        finally:
            m.logout()
        d = sub(fx)
        expect(d.last('AUTH PLAIN ' + plain(addr, pw)),
               '235 2.7.0 Authentication successful', 'SMTP AUTH ' + addr)
        d.close()
    # {CRYPT} with a $5$ hash replaces an existing user's password
    h5 = crypt_hash('dave-Again-5', '$5$capmailSalt5$')
    fx.ctl('user', 'import-hash', 'dave@import.test',
           input=('{CRYPT}' + h5 + '\n').encode())
    m = imaplib.IMAP4('127.0.0.1', fx.imap_port, timeout=60)
    expect(m.login('dave@import.test', 'dave-Again-5')[0], 'OK', '{CRYPT}')
    m.logout()
    for bad, why in (('{PLAIN}secret', 'unsupported scheme'),
                     ('{MD5}$1$abc$def', 'unsupported scheme'),
                     ('{SHA512-CRYPT}$2y$05$abcdefghijklmnopqrstuu',
                      'does not match its scheme prefix'),
                     ('{SHA512-CRYPT}$6$', "crypt(3) can verify")):
        p = fx.ctl('user', 'import-hash', 'frank@import.test',
                   input=(bad + '\n').encode(), check=False)
        err = p.stderr.decode()
        if p.returncode != 1 or why not in err:
            raise AssertionError('%r: exit %d, %r' % (bad, p.returncode, err))
    n = fx.sql1("SELECT count(*) FROM principals "
                "WHERE address = 'frank@import.test'")
    expect(n, '0', 'no user made from a refused hash')


# ---- password guessing --------------------------------------------------

LIMITS = ('auth_fail_limit = 3\nauth_lockout_limit = 6\n'
          'auth_fail_delay = 1\nauth_lockout_time = 600\n')


def imap_try(port, user, pw, source='127.0.0.1'):
    s = socket.create_connection(('127.0.0.1', port), 60,
                                 source_address=(source, 0))
    f = s.makefile('rb')
    f.readline()
    s.sendall(b'a LOGIN "%s" "%s"\r\n' % (user.encode(), pw.encode()))
    while True:
        line = f.readline().decode().rstrip('\r\n')
        if line.startswith('a ') or not line:
            break
    s.close()
    return line


def count_lines(daemon, pattern):
    return len(re.findall(pattern, daemon.text()))


def test_guessing_imap(fx):
    im = t_conn.Gateway(fx, 'authlimit', 120, LIMITS, proto='imap')
    try:
        bad = 'a NO [AUTHENTICATIONFAILED] Authentication failed'
        refused = ('a NO [UNAVAILABLE] Temporary authentication failure, '
                   'try again later')
        for i in range(6):
            expect(imap_try(im.port, BOB, 'guess%d' % i), bad, 'guess %d' % i)
        expect(count_lines(im, rb'imap login delay=1000ms'), 3,
               'delayed guesses (4th to 6th)')
        expect(imap_try(im.port, BOB, 'guess7'), refused, '7th guess')
        expect(imap_try(im.port, BOB, PW[BOB]), refused,
               'right password from the locked address')
        expect(imap_try(im.port, ALICE, PW[ALICE]), refused,
               'other account from the locked address')
        expect(count_lines(im, rb'imap login refused reason=lockout'), 3,
               'refusals logged')
        # the real user elsewhere: delayed (the account is under attack),
        # not locked out
        expect(imap_try(im.port, BOB, PW[BOB], '127.0.0.2'),
               'a OK [CAPABILITY %s] Logged in' % capability(fx),
               'right password from 127.0.0.2')
        expect(count_lines(im, rb'imap login delay=1000ms'), 4,
               'the account delay')
    finally:
        status = im.stop()
    if status != 0:
        raise AssertionError('private imapd exited %r' % status)
    if t_conn.SANITIZER_RE.search(im.text()):
        raise AssertionError('sanitizer report:\n' + im.tail(40))


def capability(fx):
    m = imaplib.IMAP4('127.0.0.1', fx.imap_port, timeout=60)
    typ, data = m.login(ALICE, PW[ALICE])
    m.logout()
    mm = re.match(r'\[CAPABILITY (.*)\] Logged in', data[0].decode())
    return mm.group(1)


def test_guessing_smtp(fx):
    port = capfix.free_port()
    gw = t_conn.Gateway(fx, 'authlimit', 120, LIMITS +
                        'submission_listen = 127.0.0.1:%d\n' % port)
    try:
        bad = '535 5.7.8 Authentication credentials invalid'
        refused = '454 4.7.0 Temporary authentication failure'
        d = Dialog(port)
        d.cmd('EHLO attacker.example')
        for i in range(6):
            expect(d.last('AUTH PLAIN ' + plain(BOB, 'guess%d' % i)), bad,
                   'guess %d' % i)
        expect(count_lines(gw, rb'smtp auth delay=1000ms'), 3,
               'delayed guesses (4th to 6th)')
        expect(d.last('AUTH PLAIN ' + plain(BOB, 'guess7')), refused,
               '7th guess')
        expect(d.last('AUTH LOGIN'), '334 VXNlcm5hbWU6', 'LOGIN')
        expect(d.last(b64(BOB)), '334 UGFzc3dvcmQ6', 'LOGIN')
        expect(d.last(b64(PW[BOB])), refused,
               'right password from the locked address')
        d.close()
        d = Dialog(port)
        d.cmd('EHLO attacker.example')
        expect(d.last('AUTH PLAIN ' + plain(ALICE, PW[ALICE])), refused,
               'new session, other account, locked address')
        d.close()
        d = Dialog(port, '127.0.0.2')
        d.cmd('EHLO real-user.example')
        expect(d.last('AUTH PLAIN ' + plain(BOB, PW[BOB])),
               '235 2.7.0 Authentication successful',
               'right password from 127.0.0.2')
        expect(d.last('MAIL FROM:<%s>' % BOB), '250 2.1.0 Ok', 'MAIL')
        d.close()
        expect(count_lines(gw, rb'smtp auth delay=1000ms'), 4,
               'the account delay')
    finally:
        status = gw.stop()
    if status != 0:
        raise AssertionError('private gateway exited %r' % status)
    if t_conn.SANITIZER_RE.search(gw.text()):
        raise AssertionError('sanitizer report:\n' + gw.tail(40))


def cases(fx):
    return [
        ('auth: EHLO advertises AUTH PLAIN LOGIN on loopback',
         lambda: test_ehlo_advertises(fx)),
        ('auth: SMTP AUTH PLAIN (IR, challenge, wrong password 535 5.7.8, 503 after success)',
         lambda: test_auth_plain(fx)),
        ('auth: SMTP AUTH LOGIN', lambda: test_auth_login(fx)),
        ('auth: SMTP AUTH errors (cancel 501, base64 501 5.5.2, 504, 503)',
         lambda: test_auth_errors(fx)),
        ('auth: swaks --auth PLAIN and LOGIN on the submission port',
         lambda: test_swaks(fx)),
        ('auth: submission MAIL before AUTH is 530 5.7.0',
         lambda: test_submission_requires_auth(fx)),
        ('auth: submission MAIL FROM must be the user (553 5.7.1); no relay (550 5.7.1)',
         lambda: test_submission_sender(fx)),
        ('auth: submission to local users: byte-exact over IMAP, grants local-auth',
         lambda: test_submission_local_delivery(fx)),
        ('auth: submission with relay_host queues external recipients with the local grants',
         lambda: test_submission_external(fx)),
        ('auth: AUTH on the MX port never opens relaying',
         lambda: test_mx_port(fx)),
        ('auth: without auth_plaintext_loopback, AUTH only after STARTTLS (538 5.7.11 before)',
         lambda: test_plaintext_needs_tls(fx)),
        ('auth: imported {SHA512-CRYPT} {BLF-CRYPT} {CRYPT} hashes log in; {PLAIN} refused',
         lambda: test_imported_hashes(fx)),
        ('auth: IMAP password guessing: delays, lockout, 127.0.0.2 still logs in',
         lambda: test_guessing_imap(fx)),
        ('auth: SMTP password guessing: delays, 454 4.7.0, 127.0.0.2 still logs in',
         lambda: test_guessing_smtp(fx)),
    ]
