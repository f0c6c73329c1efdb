"""IMAP IDLE (RFC 2177) woken by PostgreSQL NOTIFY, against a capmail-imapd
of its own (on the fixture's database, its log idle-imapd.log) started with
imap_idle_poll = 3600: the fallback poll never runs within a test, so
whatever an idling session is told came through LISTEN/NOTIFY (or, after
a reconnect, the poll of every idling session).

imaplib (3.11) has no IDLE: the idling session is a raw socket that sends
the command and reads lines, with WAIT seconds as the bound for a line to
arrive (a failure bound, not a speed check).

- mail delivered over SMTP to the idling user is announced as
  "* n EXISTS" and "* r RECENT" (counts one above SELECT's); DONE answers
  "tag OK IDLE terminated";
- 40 sessions idling in the same INBOX each get the EXISTS; exactly one
  of them the RECENT (\\Recent belongs to one session);
- another session's STORE +FLAGS (\\Flagged) shows as "* n FETCH (UID u
  FLAGS (...))" with the new flags; its STORE \\Deleted and EXPUNGE as the
  FETCH, then "* n EXPUNGE"; and the session goes on with NOOP after DONE;
- PostgreSQL stopped and started while a session idles: imapd logs the
  lost LISTEN connection and listening again, and the next delivery still
  reaches the idling session;
- imap_timeout still applies in IDLE (an imapd with imap_timeout = 2:
  "* BYE Idle timeout, closing", then the connection is closed);
- the imapds exit 0 on SIGTERM and their logs have no sanitizer report.
"""

import atexit
import os
import re
import signal
import smtplib
import socket
import subprocess
import time

import capfix
import mailutil
from t_conn import SANITIZER_RE

WAIT = 20          # seconds a line may take to arrive before the test fails
USER = 'carol@example.test'


class Imapd:
    def __init__(self, fx, name='idle', extra=()):
        self.fx = fx
        self.port = capfix.free_port()
        self.log = os.path.join(fx.dir, '%s-imapd.log' % name)
        self.conf = os.path.join(fx.dir, 'capmail-%s.conf' % name)
        with open(fx.conf) as f:
            base = [l for l in f if not l.split('=')[0].strip().endswith('_listen')]
        with open(self.conf, 'w') as f:
            f.writelines(base + ['imap_listen = 127.0.0.1:%d\n' % self.port,
                                 'imap_idle_poll = 3600\n'] + list(extra))
        os.chmod(self.conf, 0o644)
        with open(self.log, 'ab') as logf:
            self.proc = subprocess.Popen([fx.imapd, '-c', self.conf],
                                         stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT)
        # stopped by test_clean; also when --only left that out
        atexit.register(self.stop)
        if not fx.wait_listening(self.port, self.proc, 60):
            raise AssertionError('imapd did not start:\n' + self.tail())
        self.wait_log(rb'imap notify listening', 1, 'the first LISTEN')

    def text(self):
        with open(self.log, 'rb') as f:
            return f.read()

    def tail(self, n=20):
        return '\n'.join(self.text().decode('utf-8', 'replace').splitlines()[-n:])

    def wait_log(self, pattern, count, what):
        end = time.time() + 60
        while len(re.findall(pattern, self.text())) < count:
            if time.time() > end:
                raise AssertionError('imapd log: no %s:\n%s' % (what, self.tail()))
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return 'killed after SIGTERM timeout'


class Raw:
    """One IMAP session on a socket, line by line."""

    def __init__(self, port, user=USER, password=None):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=WAIT)
        self.buf = b''
        self.ntag = 0
        self.line()                         # greeting
        self.cmd('LOGIN "%s" "%s"' % (user, password or capfix.USERS[user]))

    def send(self, text):
        self.sock.sendall(text.encode() + b'\r\n')

    def line(self):
        while b'\r\n' not in self.buf:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError('no line from imapd within %d s (buffered %r)'
                                     % (WAIT, self.buf))
            if not data:
                raise AssertionError('imapd closed the connection (buffered %r)' % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line.decode('utf-8', 'replace')

    def expect(self, want):
        got = self.line()
        if got != want:
            raise AssertionError('expected %r, got %r' % (want, got))

    def cmd(self, text):
        """Send a command; the untagged lines before its OK."""
        self.ntag += 1
        tag = 'r%d' % self.ntag
        self.send('%s %s' % (tag, text))
        lines = []
        while True:
            got = self.line()
            if got.startswith(tag + ' '):
                if not got.startswith(tag + ' OK '):
                    raise AssertionError('%s: %r' % (text, got))
                return lines
            lines.append(got)

    def select(self, mailbox='INBOX'):
        """SELECT; (EXISTS, RECENT)."""
        exists = recent = None
        for l in self.cmd('SELECT ' + mailbox):
            m = re.fullmatch(r'\* (\d+) (EXISTS|RECENT)', l)
            if m and m.group(2) == 'EXISTS':
                exists = int(m.group(1))
            elif m:
                recent = int(m.group(1))
        if exists is None or recent is None:
            raise AssertionError('SELECT without EXISTS or RECENT')
        return exists, recent

    def idle(self):
        self.ntag += 1
        self.idle_tag = 'r%d' % self.ntag
        self.send(self.idle_tag + ' IDLE')
        self.expect('+ idling')

    def done(self):
        self.send('DONE')
        self.expect(self.idle_tag + ' OK IDLE terminated')

    def close(self):
        try:
            self.send('r0 LOGOUT')
        except OSError:
            pass
        self.sock.close()


def deliver(fx, subject, tries=1):
    raw = ('From: sender@outside.example\r\nTo: %s\r\nSubject: %s\r\n\r\n'
           'IDLE test.\r\n' % (USER, subject)).encode()
    for i in range(tries):
        try:
            mailutil.send(fx, raw, [USER])
            return
        except (smtplib.SMTPException, AssertionError, OSError):
            # after a PostgreSQL restart the gateway may answer 451 once
            if i == tries - 1:
                raise
            time.sleep(0.5)


def test_exists(fx, d):
    r = Raw(d.port)
    try:
        exists, recent = r.select()
        r.idle()
        deliver(fx, 'idle exists %d' % os.getpid())
        r.expect('* %d EXISTS' % (exists + 1))
        r.expect('* %d RECENT' % (recent + 1))
        r.done()
        # the view moved on: NOOP has nothing more to say
        if r.cmd('NOOP') != []:
            raise AssertionError('NOOP after IDLE reported changes again')
    finally:
        r.close()


def test_many(fx, d, n=40):
    sessions = []
    try:
        for i in range(n):
            r = Raw(d.port)
            sessions.append((r,) + r.select())
            r.idle()
        deliver(fx, 'idle many %d' % os.getpid())
        recent = 0
        for r, exists, rec in sessions:
            r.expect('* %d EXISTS' % (exists + 1))
            r.send('DONE')
            got = r.line()
            if got == '* %d RECENT' % (rec + 1):
                recent += 1
                got = r.line()
            if got != r.idle_tag + ' OK IDLE terminated':
                raise AssertionError('after EXISTS: %r' % got)
        # \Recent goes to exactly one session (RFC 3501 2.3.2)
        if recent != 1:
            raise AssertionError('%d of %d sessions were told the message is recent'
                                 % (recent, n))
    finally:
        for r, _, _ in sessions:
            r.close()


def test_flags_expunge(fx, d):
    deliver(fx, 'idle flags %d' % os.getpid())
    r = Raw(d.port)
    other = fx.imap(USER)
    try:
        exists, _ = r.select()
        # the newest message: its uid and flags as the idling session sees them
        fetched = r.cmd('FETCH %d (UID FLAGS)' % exists)
        m = re.fullmatch(r'\* %d FETCH \(UID (\d+) FLAGS \((.*)\)\)' % exists,
                         fetched[0] if len(fetched) == 1 else '')
        if not m:
            raise AssertionError('FETCH: %r' % fetched)
        uid, flags = int(m.group(1)), m.group(2).split()
        recent = '\\Recent' in flags
        stored = [f for f in flags if f != '\\Recent']

        def shown(fl):
            return '* %d FETCH (UID %d FLAGS (%s))' % (
                exists, uid, ' '.join(fl + (['\\Recent'] if recent else [])))

        r.idle()
        mailutil.check(other.select('INBOX'), 'SELECT INBOX')
        mailutil.check(other.uid('STORE', str(uid), '+FLAGS', '(\\Flagged)'), 'STORE')
        r.expect(shown(stored + ['\\Flagged']))
        mailutil.check(other.uid('STORE', str(uid), '+FLAGS.SILENT', '(\\Deleted)'), 'STORE')
        r.expect(shown(stored + ['\\Flagged', '\\Deleted']))
        mailutil.check(other.expunge(), 'EXPUNGE')
        r.expect('* %d EXPUNGE' % exists)
        r.done()
        if r.cmd('NOOP') != []:
            raise AssertionError('NOOP after IDLE reported changes again')
    finally:
        r.close()
        try:
            other.logout()
        except Exception:
            pass


def test_pg_restart(fx, d):
    lost = len(re.findall(rb'imap notify connection lost', d.text()))
    listening = len(re.findall(rb'imap notify listening', d.text()))
    r = Raw(d.port)
    try:
        exists, recent = r.select()
        r.idle()
        fx.pg_stop()
        try:
            d.wait_log(rb'imap notify connection lost', lost + 1,
                       'line about the lost LISTEN connection')
            time.sleep(1)
        finally:
            fx.pg_start()
        d.wait_log(rb'imap notify listening', listening + 1, 'LISTEN again')
        deliver(fx, 'idle after restart %d' % os.getpid(), tries=20)
        r.expect('* %d EXISTS' % (exists + 1))
        r.expect('* %d RECENT' % (recent + 1))
        r.done()
    finally:
        r.close()


def test_timeout(fx, d):
    t = Imapd(fx, 'idle-timeout', ['imap_timeout = 2\n'])
    try:
        r = Raw(t.port)
        r.select()
        r.idle()
        r.expect('* BYE Idle timeout, closing')
        try:
            data = r.sock.recv(100)
        except socket.timeout:
            raise AssertionError('still open after the BYE')
        if data != b'':
            raise AssertionError('after the BYE: %r' % data)
        r.sock.close()
    finally:
        st = t.stop()
    if st != 0 or SANITIZER_RE.search(t.text()):
        raise AssertionError('imapd (imap_timeout = 2) exit status %r, log:\n%s'
                             % (st, t.tail(40)))


def test_clean(fx, d):
    st = d.stop()
    if st != 0:
        raise AssertionError('imapd exit status %r after SIGTERM:\n%s' % (st, d.tail()))
    if SANITIZER_RE.search(d.text()):
        raise AssertionError('imapd log has a sanitizer report:\n' + d.tail(40))


def cases(fx):
    state = {}

    def run(fn):
        def go():
            if 'd' not in state:
                state['d'] = Imapd(fx)
            fn(fx, state['d'])
        return go
    return [('idle: a delivery over SMTP reaches an idling session as EXISTS, RECENT; '
             'DONE is OK', run(test_exists)),
            ('idle: 40 sessions idling in one INBOX each get EXISTS, one RECENT',
             run(test_many)),
            ('idle: another session\'s STORE shows as FETCH FLAGS, its EXPUNGE as EXPUNGE',
             run(test_flags_expunge)),
            ('idle: PostgreSQL restarted: LISTEN again, the idling session gets the '
             'next delivery', run(test_pg_restart)),
            ('idle: imap_timeout applies while idling (2 s: BYE, closed)',
             run(test_timeout)),
            ('idle: its imapd exits 0 on SIGTERM, log without sanitizer reports',
             run(test_clean))]
