"""Challenges to unknown senders, the whole way round, real parts only:

- a dnsmasq of our own serves SPF for spf-pass.test (127.0.0.1 may send)
  and forged.test (only 192.0.2.1 may), a DKIM key for dkim.test;
- a private capmail-gateway with that dns_resolver, the fixture's
  secret_key_file and verify_url_base, and relay_host = a second
  capmail-gateway with a database of its own, the MX of spf-pass.test and
  dkim.test, where the senders have their mailboxes;
- capmail-outbound sends the fixture's queue to that relay.

Checked: mail from an SPF-authenticated unknown sender to cleo@challenge.test
(verify-unknown) is held and exactly one challenge is queued (null
envelope sender, to the sender); two more messages the same day queue no
second one; the challenge arrives in the sender's mailbox at the remote
MX over IMAP with Auto-Submitted: auto-replied, In-Reply-To the held
message and a link; a GET of the link releases nothing; headless
Chromium opens it and confirms, while cleo's IMAP session idles in INBOX
and is told "* 3 EXISTS"; then all three messages are in cleo's
INBOX byte-exact, their grants say verified-link, the sender is verified,
and its next message goes straight to INBOX. A DKIM-authenticated sender
(aligned d=) is challenged too. Never challenged (held, no queue item,
the reason in the log): a forged sender (SPF fail), the null sender,
Auto-Submitted: auto-generated, Precedence: bulk, List-Id, an SMTPUTF8
address (capmail-outbound cannot send to one yet).
"""

import atexit
import http.client
import imaplib
import os
import re
import smtplib
import time

import capfix
import mailutil
import t_authres
import t_conn
import t_idle
import t_outbound
import t_verify

DOMAIN = 'challenge.test'
CLEO = 'cleo@challenge.test'
CLEO_PW = 'cleo-Secret-11'
WRITER_PW = 'writer-Secret-12'


class Env:
    def __init__(self, fx):
        self.fx = fx
        self.error = None
        self.started = False
        self.dns = self.gw = self.rgw = self.rimap = self.sender = None
        self.seq = 0

    def start(self):
        if self.error:
            raise self.error
        if not self.started:
            try:
                self._start()
                self.started = True
            except Exception as e:
                self.error = e
                self.stop()
                raise

    def _start(self):
        fx = self.fx
        dnsmasq, self.dkimsign = t_authres.need_tools()
        # stopped by the module's last case; and at exit, for a run whose
        # --only left that case out
        atexit.register(self.stop, False)

        self.key = os.path.join(fx.dir, 'challenge-dkim.key')
        self.dns_port = capfix.free_port()
        zones = [('spf-pass.test', 'v=spf1 ip4:127.0.0.1 -all'),
                 ('forged.test', 'v=spf1 ip4:192.0.2.1 -all'),
                 ('sel._domainkey.dkim.test', t_authres.dkim_key(fx, self.key))]
        self.dns = t_authres.start_dnsmasq(
            dnsmasq, self.dns_port, zones,
            os.path.join(fx.dir, 'dnsmasq-challenge.log'))

        # the senders' side: an MX for spf-pass.test and dkim.test
        fx.sql('DROP DATABASE IF EXISTS capmail_chremote WITH (FORCE)')
        fx.sql('CREATE DATABASE capmail_chremote')
        self.remote_db = re.sub(r'dbname=\S+', 'dbname=capmail_chremote', fx.conninfo)
        self.rctl = [fx.capmailctl, '-d', self.remote_db]
        fx.run(self.rctl + ['db', 'migrate'])
        for d in ('spf-pass.test', 'dkim.test'):
            fx.run(self.rctl + ['domain', 'add', d])
            fx.run(self.rctl + ['domain', 'policy', d, 'open'])
        self.rsmtp, self.rimap_port = capfix.free_port(), capfix.free_port()
        rconf = t_outbound.write_conf(fx, 'chremote', [
            'hostname = mx.spf-pass.test\n',
            'database = %s\n' % self.remote_db,
            'smtp_listen = 127.0.0.1:%d\n' % self.rsmtp,
            'imap_listen = 127.0.0.1:%d\n' % self.rimap_port])
        self.rgw = t_outbound.Proc(fx, 'chremote-gateway', fx.gateway, rconf, self.rsmtp)
        self.rimap = t_outbound.Proc(fx, 'chremote-imapd', fx.imapd, rconf, self.rimap_port)
        sconf = t_outbound.write_conf(fx, 'chsender', [
            'relay_host = 127.0.0.1:%d\n' % self.rsmtp,
            'outbound_retry_min = 1\n', 'outbound_timeout = 30\n',
            'outbound_poll = 3600\n'])
        self.sender = t_outbound.Proc(fx, 'chsender', fx.outbound, sconf)

        # our side: verify-unknown (the default) for cleo
        fx.ctl('domain', 'add', DOMAIN)
        fx.ctl('user', 'add', CLEO, input=(CLEO_PW + '\n').encode())
        self.gw = t_conn.Gateway(fx, 'challenge', 120,
                                 'dns_resolver = 127.0.0.1:%d\n'
                                 'relay_host = 127.0.0.1:%d\n' % (self.dns_port, self.rsmtp))

    def stop(self, check=True):
        """Stop everything; check: the gateway's log must be clean (not at
        exit, when the fixture's folder is gone)."""
        for p in (self.sender, self.rgw, self.rimap):
            if p is not None:
                p.stop()
        if self.gw is not None:
            self.gw.stop()
            if check:
                self.gw.check_clean()
        if self.dns is not None and self.dns.poll() is None:
            self.dns.terminate()
            self.dns.wait(10)
        self.dns = self.gw = self.rgw = self.rimap = self.sender = None

    def writer(self, domain='spf-pass.test'):
        """A new sender with a mailbox at the remote MX."""
        self.seq += 1
        addr = 'writer%d-%d@%s' % (self.seq, os.getpid(), domain)
        self.fx.run(self.rctl + ['user', 'add', addr], input=(WRITER_PW + '\n').encode())
        return addr

    def send(self, mail_from, raw, helo='client.outside.example', options=()):
        """One message to cleo through the private gateway: the expected
        stored bytes (after the trace fields)."""
        wire, expected = mailutil.wire_and_expected(raw)
        s = smtplib.SMTP('127.0.0.1', self.gw.port, timeout=120)
        try:
            s.ehlo(helo)
            code, resp = s.mail(mail_from, list(options))
            if code != 250:
                raise AssertionError('MAIL: %d %r' % (code, resp))
            code, resp = s.rcpt(CLEO)
            if code != 250:
                raise AssertionError('RCPT: %d %r' % (code, resp))
            code, resp = s.data(wire)
            if code != 250:
                raise AssertionError('DATA: %d %r' % (code, resp))
        finally:
            s.quit()
        return expected


def message(sender, subject, extra=''):
    return ('From: Writer <%s>\r\nTo: <%s>\r\nSubject: %s\r\n'
            'Message-ID: <%s@writer.example>\r\n%s\r\n'
            'Hello, this is %s.\r\n' % (sender, CLEO, subject, subject, extra, sender)).encode()


def challenges_to(fx, addr):
    """Queue items of challenges to addr: [(mail_from, rcpt)]."""
    return fx.sql("SELECT o.mail_from, r.address FROM outbound o"
                  " JOIN outbound_rcpts r ON r.outbound_id = o.id"
                  " WHERE lower(r.address) = lower('%s') ORDER BY o.id" % addr)


def grant_rows(fx, subject):
    return fx.sql("SELECT g.state, g.grantor_auth FROM grants g JOIN principals p"
                  " ON p.id = g.grantee WHERE p.address = '%s' AND g.subject = '%s'"
                  % (CLEO, subject))


def remote_challenge(env, addr, timeout=90):
    """The challenge in addr's INBOX at the remote MX (bytes)."""
    end = time.time() + timeout
    while True:
        m = imaplib.IMAP4('127.0.0.1', env.rimap_port, timeout=60)
        try:
            m.login(addr, WRITER_PW)
            mailutil.check(m.select('INBOX', readonly=True), 'SELECT')
            uids = mailutil.uids(m)
            got = [mailutil.fetch(m, u)['BODY[]'] for u in uids]
        finally:
            m.logout()
        if got or time.time() > end:
            break
        time.sleep(0.3)
    if len(got) != 1:
        raise AssertionError('%s has %d messages at the remote MX; sender log:\n%s'
                             % (addr, len(got), env.sender.tail()))
    return got[0]


def held_no_challenge(env, mail_from, raw, subject, reason, auth='none',
                      options=()):
    fx = env.fx
    before = len(env.gw.text())
    env.send(mail_from, raw, options=options)
    if grant_rows(fx, subject) != [['held', auth]]:
        raise AssertionError('grants %r' % grant_rows(fx, subject))
    if mail_from and challenges_to(fx, mail_from) != []:
        raise AssertionError('a challenge was queued for %s' % mail_from)
    line = env.gw.text()[before:]
    if ('held=1 challenge=none reason=%s' % reason).encode() not in line:
        raise AssertionError('no "challenge=none reason=%s" line:\n%s'
                             % (reason, line.decode('utf-8', 'replace')))


def test_round_trip(env):
    env.start()
    fx = env.fx
    writer = env.writer()
    tags = ['challenged-%d-%d' % (i, os.getpid()) for i in range(3)]
    raws = [message(writer, t) for t in tags]
    expected = [env.send(writer, r) for r in raws]
    for t in tags:
        if grant_rows(fx, t) != [['held', 'spf']]:
            raise AssertionError('%s: grants %r' % (t, grant_rows(fx, t)))
    # one challenge, whatever the number of messages
    if challenges_to(fx, writer) != [['', writer]]:
        raise AssertionError('queued challenges %r' % challenges_to(fx, writer))
    log = env.gw.text()
    if log.count(b'held=1 challenge=sent') < 1 or b'challenge=none reason=sent-today' not in log:
        raise AssertionError('verify log lines:\n%s' % env.gw.tail())
    fx.ctl('queue', 'flush')
    ch = remote_challenge(env, writer)
    head, _, body = ch.partition(b'\r\n\r\n')
    for want in (b'\r\nFrom: Mail verification <postmaster@challenge.test>\r\n',
                 b'\r\nTo: <%s>\r\n' % writer.encode(),
                 b'\r\nSubject: Auto: please confirm your message to cleo@challenge.test\r\n',
                 b'\r\nIn-Reply-To: <%s@writer.example>\r\n' % tags[0].encode(),
                 b'\r\nAuto-Submitted: auto-replied\r\n'):
        if want not in head:
            raise AssertionError('challenge header lacks %r:\n%s' % (want, head.decode()))
    m = re.search(rb'\r\n  (http://127\.0\.0\.1:%d/v/([a-z2-7]{60}))\r\n' % fx.verify_port, body)
    if not m:
        raise AssertionError('no link in the challenge:\n%s' % body.decode())
    link, token = m.group(1).decode(), m.group(2).decode()
    # the relay saw the null envelope sender: its Received says so
    if fx.sql1("SELECT mail_from FROM outbound o JOIN outbound_rcpts r ON r.outbound_id = o.id"
               " WHERE r.address = '%s'" % writer) != '':
        raise AssertionError('the challenge has an envelope sender')
    # a link scanner's GET releases nothing
    c = http.client.HTTPConnection('127.0.0.1', fx.verify_port, timeout=30)
    c.request('GET', '/v/' + token)
    r = c.getresponse()
    page = r.read().decode()
    c.close()
    if r.status != 200 or '3 messages are waiting.' not in page:
        raise AssertionError('GET: %d %r' % (r.status, page[:500]))
    if grant_rows(fx, tags[0]) != [['held', 'spf']]:
        raise AssertionError('the GET released the mail')
    # cleo's client idles in INBOX (empty: the mail is held) and sees the
    # release the moment it is committed
    idler = t_idle.Raw(fx.imap_port, CLEO, CLEO_PW)
    try:
        if idler.select() != (0, 0):
            raise AssertionError('INBOX is not empty before the confirmation')
        idler.idle()
        browser_confirm(fx, link, writer)
        idler.expect('* 3 EXISTS')
        idler.expect('* 3 RECENT')
        idler.done()
    finally:
        idler.close()
    for t, e in zip(tags, expected):
        got = inbox(fx, t)
        if got != e:
            raise AssertionError('%s in INBOX: %s' % (t, mailutil.diff_at(e, got) if got else 'missing'))
        if grant_rows(fx, t) != [['active', 'verified-link']]:
            raise AssertionError('%s after confirming: %r' % (t, grant_rows(fx, t)))
    rule = fx.sql("SELECT r.kind FROM sender_rules r JOIN principals p ON p.id = r.owner"
                  " WHERE p.address = '%s' AND r.pattern = '%s'" % (CLEO, writer))
    if rule != [['verified']]:
        raise AssertionError('rule %r' % rule)
    # verified: the next one is not held
    tag = 'after-%d' % os.getpid()
    e = env.send(writer, message(writer, tag))
    if grant_rows(fx, tag) != [['active', 'spf']] or inbox(fx, tag) != e:
        raise AssertionError('after verification: %r' % grant_rows(fx, tag))


def browser_confirm(fx, link, writer):
    with t_verify.browser(fx, 'chromedriver-challenge.log') as wd:
        wd.go(link)
        main = wd.text('main')
        for want in ('%s asks to reach %s.' % (writer, CLEO), '3 messages are waiting.'):
            if want not in main:
                raise AssertionError('%r not in the page text %r' % (want, main))
        wd.click('button')
        t_verify.wait_for(lambda: wd.title() == 'Thank you', 'the result page')
        want = 'Thank you: 3 messages were delivered to %s.' % CLEO
        if want not in wd.text('main'):
            raise AssertionError('%r not in %r' % (want, wd.text('main')))


def inbox(fx, subject):
    m = imaplib.IMAP4('127.0.0.1', fx.imap_port, timeout=60)
    m.login(CLEO, CLEO_PW)
    try:
        mailutil.check(m.select('INBOX', readonly=True), 'SELECT')
        data = mailutil.check(m.uid('SEARCH', 'HEADER', 'Subject', subject), 'SEARCH')
        uids = [int(x) for d in data if d for x in d.split()]
        if len(uids) != 1:
            return None
        raw = mailutil.fetch(m, uids[0])['BODY[]']
    finally:
        m.logout()
    _, _, rest = mailutil.trace_fields(raw)
    return rest


def test_dkim(env):
    env.start()
    fx = env.fx
    writer = env.writer('dkim.test')
    tag = 'dkim-challenged-%d' % os.getpid()
    raw = mailutil.fix_eols(message(writer, tag))
    signed = env.fx.run([env.dkimsign, 'sel', 'dkim.test', env.key], input=raw).stdout
    # MAIL FROM with a capital: the challenge goes to it as given
    mail_from = writer[0].upper() + writer[1:]
    env.send(mail_from, signed)
    if grant_rows(fx, tag) != [['held', 'dkim']]:
        raise AssertionError('grants %r' % grant_rows(fx, tag))
    if challenges_to(fx, writer) != [['', mail_from]]:
        raise AssertionError('queued challenges %r' % challenges_to(fx, writer))


def test_never(env):
    env.start()
    w = 'someone-%d@forged.test' % os.getpid()
    held_no_challenge(env, w, message(w, 'forged-%d' % os.getpid()),
                      'forged-%d' % os.getpid(), 'sender-not-authenticated')
    held_no_challenge(env, '', message('daemon@spf-pass.test', 'bounce-%d' % os.getpid()),
                      'bounce-%d' % os.getpid(), 'sender-not-authenticated')
    for hdr, name in (('Auto-Submitted: auto-generated\r\n', 'auto'),
                      ('Precedence: bulk\r\n', 'bulk'),
                      ('List-Id: <news.spf-pass.test>\r\n', 'list')):
        w = env.writer()
        tag = '%s-%d' % (name, os.getpid())
        # authenticated (SPF pass), and still not answered
        held_no_challenge(env, w, message(w, tag, hdr), tag, 'automated-or-list', 'spf')
    # an internationalised address (SMTPUTF8), SPF-authenticated: the
    # outbound side cannot send to it yet, so it is held without one
    w = 'j\u00f6rg-%d@spf-pass.test' % os.getpid()
    tag = 'utf8-%d' % os.getpid()
    held_no_challenge(env, w, message(w, tag), tag, 'address-not-ascii', 'spf',
                      options=('SMTPUTF8', 'BODY=8BITMIME'))


def cases(fx):
    env = Env(fx)
    return [
        ('challenge: SPF-authenticated sender: one challenge for 3 messages, via '
         'capmail-outbound to its MX, confirmed in Chromium, all 3 in INBOX (IDLE sees them)',
         lambda: test_round_trip(env)),
        ('challenge: aligned DKIM sender is challenged (at MAIL FROM as given)',
         lambda: test_dkim(env)),
        ('challenge: never for a forged sender, <>, auto-generated, bulk, list mail,'
         ' a UTF-8 address',
         lambda: test_never(env)),
        ('challenge: private daemons and dnsmasq stopped clean', env.stop),
    ]
