"""The outbound queue and capmail-outbound, against a real relay: a second
capmail-gateway (and capmail-imapd) for the domain remote.test, with its
own database (capmail_remote) in the fixture's cluster. capmail-outbound
runs with relay_host pointing at that gateway and a short retry schedule
(outbound_retry_min = 1, outbound_retry_max = 2) so nothing waits for
minutes; every wait polls the database with a generous deadline.

- a message queued with `capmailctl queue add` arrives at the remote side
  byte-exact (read over IMAP: the relay's Received header, then the
  original bytes);
- relay down: the item stays queued with attempts = 1 and a later
  next_attempt and the connection error recorded, then is delivered once
  the relay is back;
- the relay answers 451 (its database refuses connections): the item
  stays queued with the relay's 451 4.3.0 reply recorded and is delivered
  once the relay's database is back;
- partial failure: of two recipients, the unknown one gets 550 5.1.1, the
  other is delivered; a bounce (multipart/report, RFC 3464) lands in the
  sender's INBOX naming the recipient, Status 5.1.1, the relay's reply and
  the original headers;
- authenticated submission end to end: a local recipient gets a grant,
  the external one at the relay gets the submitted bytes, the unknown one
  a bounce to the sender;
- a null-sender item that fails is not bounced;
- PostgreSQL restarted: the sender reconnects and LISTENs again (with
  outbound_poll = 3600, only the NOTIFY can wake it in time);
- an item older than outbound_max_age that fails again is given up with
  a bounce of Status 4.4.7;
- relay_host empty: items stay queued with a log line; with
  outbound_keep = 0 the finished items are purged at start, with their
  messages (those that have no grant);
- capmail-outbound's log has no sanitizer report and it exits 0 on
  SIGTERM.
"""

import atexit
import email
import imaplib
import os
import re
import signal
import subprocess
import time

import capfix
import mailutil
from t_conn import SANITIZER_RE

REMOTE_DOMAIN = 'remote.test'
DAVE = 'dave@remote.test'
DAVE_PW = 'dave-Secret-4'
ALICE = 'alice@example.test'
BOUNCE_SUBJECT = 'Undelivered Mail Returned to Sender'


class Proc:
    def __init__(self, fx, name, binary, conf, port=None):
        self.fx, self.name, self.binary, self.conf, self.port = fx, name, binary, conf, port
        self.log = os.path.join(fx.dir, 'outbound-%s.log' % name)
        self.proc = None
        self.start()

    def start(self):
        with open(self.log, 'ab') as logf:
            self.proc = subprocess.Popen([self.binary, '-c', self.conf],
                                         stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT)
        if self.port is not None and not self.fx.wait_listening(self.port, self.proc, 60):
            raise AssertionError('%s did not start:\n%s' % (self.name, self.tail()))

    def text(self):
        with open(self.log, 'rb') as f:
            return f.read()

    def tail(self, n=20):
        return '\n'.join(self.text().decode('utf-8', 'replace').splitlines()[-n:])

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            st = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            st = self.proc.wait()
            st = 'killed after SIGTERM timeout'
        self.proc = None
        return st


def write_conf(fx, name, lines):
    path = os.path.join(fx.dir, 'capmail-outbound-%s.conf' % name)
    mine = {l2.split('=')[0].strip() for l2 in lines}
    with open(fx.conf) as f:
        # no listener of the fixture's (their ports are taken): only the
        # ones given here
        base = [l for l in f if l.split('=')[0].strip() not in mine
                and not l.split('=')[0].strip().endswith('_listen')]
    with open(path, 'w') as f:
        f.writelines(base + lines)
    os.chmod(path, 0o644)
    return path


class Env:
    """The remote side and the sender, started once for the module."""

    def __init__(self, fx):
        self.fx = fx
        self.started = False

    def start(self):
        fx = self.fx
        # stopped by the module's last case; and at exit, for a run whose
        # --only left that case out
        atexit.register(self.stop)
        fx.sql('DROP DATABASE IF EXISTS capmail_remote WITH (FORCE)')
        fx.sql('CREATE DATABASE capmail_remote')
        self.remote_db = re.sub(r'dbname=\S+', 'dbname=capmail_remote', fx.conninfo)
        ctl = [fx.capmailctl, '-d', self.remote_db]
        fx.run(ctl + ['db', 'migrate'])
        fx.run(ctl + ['domain', 'add', REMOTE_DOMAIN])
        fx.run(ctl + ['domain', 'policy', REMOTE_DOMAIN, 'open'])
        fx.run(ctl + ['user', 'add', DAVE], input=(DAVE_PW + '\n').encode())
        self.smtp_port = capfix.free_port()
        self.imap_port = capfix.free_port()
        rconf = write_conf(fx, 'remote', [
            'hostname = mx.remote.test\n',
            'database = %s\n' % self.remote_db,
            'smtp_listen = 127.0.0.1:%d\n' % self.smtp_port,
            'imap_listen = 127.0.0.1:%d\n' % self.imap_port])
        self.rgw = Proc(fx, 'remote-gateway', fx.gateway, rconf, self.smtp_port)
        self.rimap = Proc(fx, 'remote-imapd', fx.imapd, rconf, self.imap_port)
        self.conf = write_conf(fx, 'sender', [
            'relay_host = 127.0.0.1:%d\n' % self.smtp_port,
            'outbound_retry_min = 1\n',
            'outbound_retry_max = 2\n',
            'outbound_timeout = 30\n',
            # only NOTIFY (or a due retry) wakes it within a test's time
            'outbound_poll = 3600\n'])
        self.sender = Proc(fx, 'sender', fx.outbound, self.conf)
        self.started = True
        # items other modules left queued (t_auth's, to outside domains)
        # are answered by the relay first: 554, failed, bounced
        end = time.time() + 90
        while fx.sql1("SELECT count(*) FROM outbound WHERE state = 'queued'") != '0':
            if time.time() > end:
                raise AssertionError('earlier queue items not done:\n' + self.sender.tail())
            time.sleep(0.2)

    def stop(self):
        out = {}
        for p in ('sender', 'rgw', 'rimap'):
            if hasattr(self, p):
                out[p] = getattr(self, p).stop()
        return out

    def queue(self, sender, rcpts, msg):
        p = self.fx.ctl('queue', 'add', sender, *rcpts, input=msg)
        return int(p.stdout.decode().strip())

    def wait_item(self, item, cond, what, timeout=90):
        """Poll until SELECT cond FROM outbound WHERE id = item is true."""
        end = time.time() + timeout
        while time.time() < end:
            if self.fx.sql1('SELECT (%s)::text FROM outbound WHERE id = %d'
                            % (cond, item)) == 'true':
                return
            time.sleep(0.2)
        raise AssertionError('queue item %d: %s not reached in %ds: %r\nsender log:\n%s' % (
            item, what, timeout,
            self.fx.sql('SELECT o.state, o.attempts, r.address, r.state, r.last_error'
                        ' FROM outbound o JOIN outbound_rcpts r ON r.outbound_id = o.id'
                        ' WHERE o.id = %d' % item),
            self.sender.tail()))

    def remote_fetch(self, subject):
        m = imaplib.IMAP4('127.0.0.1', self.imap_port, timeout=60)
        try:
            m.login(DAVE, DAVE_PW)
            m.select('INBOX', readonly=True)
            typ, data = m.search(None, 'SUBJECT', '"%s"' % subject)
            nums = data[0].split()
            out = []
            for n in nums:
                typ, d = m.fetch(n, '(BODY.PEEK[])')
                out.append(d[0][1])
            return out
        finally:
            m.logout()


def local_fetch(fx, user, subject):
    m = fx.imap(user)
    try:
        m.select('INBOX', readonly=True)
        typ, data = m.search(None, 'SUBJECT', '"%s"' % subject)
        out = []
        for n in data[0].split():
            typ, d = m.fetch(n, '(BODY.PEEK[])')
            out.append(d[0][1])
        return out
    finally:
        m.logout()


def message(subject, sender=ALICE, to=DAVE, body=None):
    body = body or ('Line one.\r\n.leading dot stays\r\nline three\r\n')
    return ('From: Alice <%s>\r\nTo: %s\r\nSubject: %s\r\n'
            'Message-ID: <%s@example.test>\r\n\r\n%s'
            % (sender, to, subject, subject.replace(' ', '.'), body)).encode()


def check_arrived(env, subject, msg):
    got = env.remote_fetch(subject)
    if len(got) != 1:
        raise AssertionError('%d messages with subject %r at the remote side, expected 1'
                             % (len(got), subject))
    raw = got[0]
    if not raw.endswith(msg):
        raise AssertionError('the remote copy does not end with the original bytes:\n%r'
                             % raw[-400:])
    prefix = raw[:len(raw) - len(msg)]
    received, authres, rest = mailutil.trace_fields(raw)
    if rest != msg or not received.startswith(b'Received: ') or \
            not authres.startswith(b'Authentication-Results: mx.remote.test;'):
        raise AssertionError('before the original bytes there is more than the relay\'s'
                             ' Received and Authentication-Results fields: %r' % prefix)


def test_delivered(env):
    subject = 'outbound plain %d' % os.getpid()
    msg = message(subject)
    item = env.queue(ALICE, [DAVE], msg)
    env.wait_item(item, "state = 'sent'", 'state sent')
    n = env.fx.sql1("SELECT attempts FROM outbound WHERE id = %d" % item)
    if n != '1':
        raise AssertionError('attempts = %s, expected 1' % n)
    check_arrived(env, subject, msg)
    if not re.search(rb'ob%d outbound to=dave@remote.test status=sent attempt=1'
                     rb' relay=127.0.0.1:\d+ reply=250 2.0.0 Ok' % item, env.sender.text()):
        raise AssertionError('no "status=sent" log line:\n' + env.sender.tail())


def test_relay_down(env):
    fx = env.fx
    subject = 'outbound retry %d' % os.getpid()
    msg = message(subject)
    st = env.rgw.stop()
    if st != 0:
        raise AssertionError('remote gateway exit %r' % st)
    try:
        item = env.queue(ALICE, [DAVE], msg)
        env.wait_item(item, "attempts >= 1", 'a first attempt')
        row = fx.sql("SELECT o.state, o.attempts, o.next_attempt > o.created,"
                     " r.state, r.attempts, r.last_error FROM outbound o"
                     " JOIN outbound_rcpts r ON r.outbound_id = o.id WHERE o.id = %d" % item)[0]
        if row[0] != 'queued' or row[2] != 't' or row[3] != 'queued':
            raise AssertionError('after a failed connection: %r' % row)
        if not row[5].startswith('connect to 127.0.0.1:%d: ' % env.smtp_port):
            raise AssertionError('last_error %r' % row[5])
        if not re.search(rb'ob%d outbound to=dave@remote.test status=deferred attempt=1'
                         % item, env.sender.text()):
            raise AssertionError('no "status=deferred" log line:\n' + env.sender.tail())
        # the queue as capmailctl shows it
        out = fx.ctl('queue', 'list').stdout.decode()
        if not re.search(r'(?m)^%d\t\S+\tqueued\t[1-9]\d*\t\S+\t%d\t%s\t%s$'
                         % (item, len(msg), ALICE, ALICE), out):
            raise AssertionError('queue list:\n' + out)
    finally:
        env.rgw.start()
    env.wait_item(item, "state = 'sent'", 'state sent after the relay came back')
    check_arrived(env, subject, msg)


def test_relay_451(env):
    fx = env.fx
    subject = 'outbound 451 %d' % os.getpid()
    msg = message(subject)
    # the relay's database goes away: its RCPT lookups answer 451 4.3.0
    fx.sql('ALTER DATABASE capmail_remote ALLOW_CONNECTIONS false')
    fx.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
           " WHERE datname = 'capmail_remote'")
    try:
        item = env.queue(ALICE, [DAVE], msg)
        env.wait_item(item, "attempts >= 2", 'two attempts')
        row = fx.sql("SELECT o.state, r.state, r.last_error FROM outbound o"
                     " JOIN outbound_rcpts r ON r.outbound_id = o.id WHERE o.id = %d" % item)[0]
        if row[:2] != ['queued', 'queued'] or \
                not row[2].startswith('451 4.3.0 <dave@remote.test>: '):
            raise AssertionError('after 451 replies: %r' % row)
    finally:
        fx.sql('ALTER DATABASE capmail_remote ALLOW_CONNECTIONS true')
    env.wait_item(item, "state = 'sent'", 'state sent after the relay recovered')
    check_arrived(env, subject, msg)


def test_partial_bounce(env):
    fx = env.fx
    subject = 'outbound partial %d' % os.getpid()
    msg = message(subject, to='%s, nobody@remote.test' % DAVE)
    item = env.queue(ALICE, [DAVE, 'nobody@remote.test'], msg)
    env.wait_item(item, "state <> 'queued'", 'a final state')
    rows = fx.sql("SELECT o.state, r.address, r.state, r.attempts, r.last_error"
                  " FROM outbound o JOIN outbound_rcpts r ON r.outbound_id = o.id"
                  " WHERE o.id = %d ORDER BY r.id" % item)
    if [r[:4] for r in rows] != [['failed', DAVE, 'sent', '1'],
                                 ['failed', 'nobody@remote.test', 'failed', '1']]:
        raise AssertionError('outcomes %r' % rows)
    if not rows[1][4].startswith('550 5.1.1 <nobody@remote.test>'):
        raise AssertionError('last_error %r' % rows[1][4])
    check_arrived(env, subject, msg)
    end = time.time() + 30
    while True:
        bounces = [b for b in local_fetch(fx, ALICE, BOUNCE_SUBJECT)
                   if b'partial %d' % os.getpid() in b]
        if bounces or time.time() > end:
            break
        time.sleep(0.3)
    if len(bounces) != 1:
        raise AssertionError('%d bounces in alice\'s INBOX, expected 1' % len(bounces))
    b = bounces[0]
    parsed = email.message_from_bytes(b)
    if parsed.get_content_type() != 'multipart/report' or \
            parsed.get_param('report-type') != 'delivery-status':
        raise AssertionError('bounce Content-Type %r' % parsed['Content-Type'])
    if parsed['Auto-Submitted'] != 'auto-replied':
        raise AssertionError('Auto-Submitted %r' % parsed['Auto-Submitted'])
    parts = [p.get_content_type() for p in parsed.get_payload()]
    if parts != ['text/plain', 'message/delivery-status', 'text/rfc822-headers']:
        raise AssertionError('bounce parts %r' % parts)
    for want in (b'\r\nFinal-Recipient: rfc822; nobody@remote.test\r\nAction: failed\r\n'
                 b'Status: 5.1.1\r\n',
                 b'\r\nDiagnostic-Code: smtp; 550 5.1.1 <nobody@remote.test>',
                 b'\r\nReporting-MTA: dns; %s\r\n' % capfix.HOSTNAME.encode(),
                 b'\r\nSubject: %s\r\n' % subject.encode()):
        if want not in b:
            raise AssertionError('bounce lacks %r:\n%s' % (want, b.decode('utf-8', 'replace')))
    if b'dave@remote.test\r\nAction' in b:
        raise AssertionError('the delivered recipient is reported as failed')
    # the bounce was granted by the null sender, stored once
    g = fx.sql("SELECT g.grantor_address, g.state FROM grants g JOIN principals p"
               " ON p.id = g.grantee WHERE p.address = '%s' AND g.subject = '%s'"
               % (ALICE, BOUNCE_SUBJECT))
    if ['', 'active'] not in g:
        raise AssertionError('bounce grants %r' % g)


def bounce_count(fx):
    return int(fx.sql1("SELECT count(*) FROM grants g JOIN principals p ON p.id = g.grantee"
                       " WHERE p.address = '%s' AND g.subject = '%s'" % (ALICE, BOUNCE_SUBJECT)))


def test_submission(env):
    fx = env.fx
    import smtplib
    import t_conn
    port = capfix.free_port()
    gw = t_conn.Gateway(fx, 'outsub', 120,
                        'relay_host = 127.0.0.1:%d\n'
                        'submission_listen = 127.0.0.1:%d\n' % (env.smtp_port, port))
    subject = 'outbound submitted %d' % os.getpid()
    msg = message(subject, to='%s, nobody@remote.test, bob@example.test' % DAVE)
    try:
        s = smtplib.SMTP('127.0.0.1', port, timeout=60)
        try:
            s.ehlo('client.example')
            s.login(ALICE, capfix.USERS[ALICE])
            refused = s.sendmail(ALICE, [DAVE, 'nobody@remote.test', 'bob@example.test'],
                                 msg)
            if refused:
                raise AssertionError('refused at submission: %r' % refused)
        finally:
            s.quit()
    finally:
        st = gw.stop()
    if st != 0:
        raise AssertionError('submission gateway exit %r:\n%s' % (st, gw.tail()))
    gw.check_clean()
    item = int(fx.sql1("SELECT o.id FROM outbound o JOIN grants g ON g.message_id = o.message_id"
                       " WHERE g.subject = '%s'" % subject))
    env.wait_item(item, "state <> 'queued'", 'a final state')
    rows = fx.sql("SELECT r.address, r.state FROM outbound_rcpts r"
                  " WHERE r.outbound_id = %d ORDER BY r.address" % item)
    if rows != [[DAVE, 'sent'], ['nobody@remote.test', 'failed']]:
        raise AssertionError('outcomes %r' % rows)
    got = env.remote_fetch(subject)
    if len(got) != 1 or not got[0].endswith(msg):
        raise AssertionError('at the remote side: %r' % [g[-300:] for g in got])
    end = time.time() + 30
    while True:
        b = [x for x in local_fetch(fx, ALICE, BOUNCE_SUBJECT) if subject.encode() in x]
        if b or time.time() > end:
            break
        time.sleep(0.3)
    if len(b) != 1 or b'\r\nFinal-Recipient: rfc822; nobody@remote.test\r\n' not in b[0]:
        raise AssertionError('bounce for the submitted message: %r' % b)
    if len(local_fetch(fx, 'bob@example.test', subject)) != 1:
        raise AssertionError('the local recipient did not get the message')
    # the external recipients became known senders for alice (learned)
    learned = fx.sql("SELECT r.pattern, r.kind FROM sender_rules r"
                     " JOIN principals p ON p.id = r.owner"
                     " WHERE p.address = '%s' AND r.pattern LIKE '%%@remote.test'"
                     " ORDER BY r.pattern" % ALICE)
    if learned != [[DAVE, 'learned'], ['nobody@remote.test', 'learned']]:
        raise AssertionError('rules learned from submission: %r' % learned)


def test_null_sender_no_bounce(env):
    fx = env.fx
    before = bounce_count(fx)
    subject = 'outbound null %d' % os.getpid()
    item = env.queue('', ['nobody@remote.test'], message(subject, sender='MAILER-DAEMON@example.test'))
    env.wait_item(item, "state = 'failed'", 'state failed')
    if not re.search(rb'ob%d outbound failed=1, no bounce \(null sender\)' % item,
                     env.sender.text()):
        raise AssertionError('no "no bounce (null sender)" log line:\n' + env.sender.tail())
    if bounce_count(fx) != before:
        raise AssertionError('a null-sender item was bounced')


def test_db_restart(env):
    fx = env.fx
    fx.pg_stop()
    time.sleep(1)
    fx.pg_start()
    subject = 'outbound after restart %d' % os.getpid()
    msg = message(subject)
    end = time.time() + 60
    while True:     # capmailctl itself needs the server up
        p = fx.ctl('queue', 'add', ALICE, DAVE, input=msg, check=False)
        if p.returncode == 0 or time.time() > end:
            break
        time.sleep(0.5)
    if p.returncode != 0:
        raise AssertionError('queue add after the restart: %s' % p.stderr.decode())
    item = int(p.stdout.decode().strip())
    env.wait_item(item, "state = 'sent'", 'sent after a PostgreSQL restart')
    check_arrived(env, subject, msg)


def test_expired(env):
    fx = env.fx
    subject = 'outbound expired %d' % os.getpid()
    st = env.rgw.stop()
    if st != 0:
        raise AssertionError('remote gateway exit %r' % st)
    try:
        before = bounce_count(fx)
        item = env.queue(ALICE, [DAVE], message(subject))
        env.wait_item(item, "attempts >= 1", 'a first attempt')
        fx.sql("UPDATE outbound SET created = now() - interval '6 days' WHERE id = %d" % item)
        fx.ctl('queue', 'flush', str(item), check=False)
        env.wait_item(item, "state = 'failed'", 'given up')
        err = fx.sql1("SELECT last_error FROM outbound_rcpts WHERE outbound_id = %d" % item)
        if not err.startswith('delivery time expired after '):
            raise AssertionError('last_error %r' % err)
        if bounce_count(fx) != before + 1:
            raise AssertionError('no bounce for the expired item')
        b = [x for x in local_fetch(fx, ALICE, BOUNCE_SUBJECT) if subject.encode() in x]
        if len(b) != 1 or b'\r\nStatus: 4.4.7\r\n' not in b[0]:
            raise AssertionError('expiry bounce: %r' % b)
    finally:
        env.rgw.start()


def test_no_relay(env):
    fx = env.fx
    st = env.sender.stop()
    if st != 0:
        raise AssertionError('capmail-outbound exit %r after SIGTERM:\n%s' % (st, env.sender.tail()))
    finished = int(fx.sql1("SELECT count(*) FROM outbound WHERE state <> 'queued'"))
    idle = Proc(fx, 'norelay', fx.outbound, write_conf(fx, 'norelay', [
        'relay_host = \n', 'outbound_keep = 0\n']))
    try:
        end = time.time() + 30
        while b'outbound purged items=%d older_than=0s' % finished not in idle.text():
            if time.time() > end:
                raise AssertionError('no purge of %d finished items:\n%s'
                                     % (finished, idle.tail()))
            time.sleep(0.2)
        left = fx.sql("SELECT (SELECT count(*) FROM outbound WHERE state <> 'queued'),"
                      " (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1"
                      "  FROM grants g WHERE g.message_id = m.id) AND NOT EXISTS"
                      "  (SELECT 1 FROM outbound o WHERE o.message_id = m.id))")
        if left != [['0', '0']]:
            raise AssertionError('after the purge (finished items, orphan messages): %r'
                                 % left)
        subject = 'outbound norelay %d' % os.getpid()
        item = env.queue(ALICE, [DAVE], message(subject))
        end = time.time() + 30
        while b'relay_host is empty: queued mail waits' not in idle.text():
            if time.time() > end:
                raise AssertionError('no log line about the empty relay_host:\n' + idle.tail())
            time.sleep(0.2)
        row = fx.sql("SELECT state, attempts FROM outbound WHERE id = %d" % item)
        if row != [['queued', '0']]:
            raise AssertionError('with no relay_host: %r' % row)
    finally:
        st = idle.stop()
        env.sender.start()
    if st != 0:
        raise AssertionError('exit %r' % st)
    env.wait_item(item, "state = 'sent'", 'sent once a relay is configured')


def test_clean(env):
    res = env.stop()
    for name, st in res.items():
        if st != 0:
            raise AssertionError('%s exit status %r after SIGTERM' % (name, st))
    for p in (env.sender, env.rgw, env.rimap):
        if SANITIZER_RE.search(p.text()):
            raise AssertionError('%s log has a sanitizer report:\n%s' % (p.name, p.tail(40)))


def cases(fx):
    env = Env(fx)

    def run(fn):
        def go():
            if not env.started:
                env.start()
            fn(env)
        return go
    return [('outbound: queued mail reaches the relay, byte-exact at the remote side',
             run(test_delivered)),
            ('outbound: relay down: queued, attempts 1, later next_attempt; sent when back',
             run(test_relay_down)),
            ('outbound: the relay answers 451: still queued with its reply; sent later',
             run(test_relay_451)),
            ('outbound: 550 for one of two recipients: the other sent, bounce (5.1.1) '
             'to the sender', run(test_partial_bounce)),
            ('outbound: submission: local grant, relayed byte-exact, bounce for the '
             'unknown recipient', run(test_submission)),
            ('outbound: a null-sender item that fails is not bounced',
             run(test_null_sender_no_bounce)),
            ('outbound: PostgreSQL restarted: the sender reconnects, NOTIFY wakes it',
             run(test_db_restart)),
            ('outbound: past outbound_max_age: given up, bounce with 4.4.7',
             run(test_expired)),
            ('outbound: relay_host empty: mail stays queued with a log line; purge',
             run(test_no_relay)),
            ('outbound: sender and relay exit 0 on SIGTERM, logs clean',
             run(test_clean))]
