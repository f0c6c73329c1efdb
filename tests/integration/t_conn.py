"""Connections that misbehave at the socket level, against a private
capmail-gateway (same database, its own port, log and short smtp_timeout),
so that the shared daemons are not disturbed and SIGTERM can be tested:

- a client that pipelines commands and never reads the replies is
  throttled: the gateway stops reading its input (the unread bytes stay in
  the gateway's socket receive queue) instead of queueing replies in
  memory without limit;
- such a client is disconnected by the idle timeout although the goodbye
  can never be flushed;
- SIGTERM stops the gateway promptly (exit 0) even with such a client
  connected;
- SIGTERM while a message is being committed (the test holds the
  mailbox's row lock) still gives the client its 250, then 421;
- a client that disconnects while its message is being committed: the
  message is stored once and the gateway goes on;
- SIGTERM sent over and over while the gateway stops never makes it crash;
- smtp_max_sessions bounds the concurrent sessions: one more is told
  421 4.7.0 and closed;
- duplicate RCPTs count against smtp_max_recipients;
- SIGTERM to capmail-imapd tells every session "* BYE" before it exits 0,
  also a session whose command is waiting for the store.
"""

import os
import re
import signal
import socket
import subprocess
import time

import capfix

SANITIZER_RE = re.compile(rb'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'
                          rb'|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer')


class Gateway:
    """A private daemon on its own port: capmail-gateway (proto 'smtp') or
    capmail-imapd (proto 'imap')."""

    def __init__(self, fx, tag, timeout, extra='', proto='smtp'):
        self.fx = fx
        self.port = capfix.free_port()
        self.conf = os.path.join(fx.dir, 'capmail-%s.conf' % tag)
        self.log = os.path.join(fx.dir, '%s-%s.log' % (proto, tag))
        listen, tmo = proto + '_listen', proto + '_timeout'
        with open(fx.conf) as f:
            # the implicit TLS ports belong to the fixture's daemons
            lines = [l for l in f if not l.startswith(
                (listen, tmo, 'submission_listen', 'submissions_listen',
                 'imaps_listen'))]
        lines.append('%s = 127.0.0.1:%d\n' % (listen, self.port))
        lines.append('%s = %d\n' % (tmo, timeout))
        lines.append(extra)
        with open(self.conf, 'w') as f:
            f.writelines(lines)
        os.chmod(self.conf, 0o644)
        binary = fx.gateway if proto == 'smtp' else fx.imapd
        with open(self.log, 'ab') as logf:
            self.proc = subprocess.Popen([binary, '-c', self.conf],
                                         stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT)
        if not fx.wait_listening(self.port, self.proc, 60):
            self.stop()
            raise AssertionError('private gateway did not start:\n' + self.tail())

    def tail(self, n=20):
        with open(self.log, 'rb') as f:
            return '\n'.join(f.read().decode('utf-8', 'replace').splitlines()[-n:])

    def text(self):
        with open(self.log, 'rb') as f:
            return f.read()

    def stop(self, wait=30, signal_it=True):
        """SIGTERM (unless signal_it is false: it was sent already);
        returns the exit status, or None if it did not exit within wait
        seconds (it is then killed)."""
        if signal_it and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def check_clean(self):
        m = SANITIZER_RE.search(self.text())
        if m:
            raise AssertionError('private gateway log has a sanitizer report:\n' + self.tail(40))


def rx_queue(local_port, remote_port):
    """Bytes received but not yet read by the application on the socket
    127.0.0.1:local_port <-> 127.0.0.1:remote_port (from /proc/net/tcp),
    or None when there is no such socket."""
    want_l = '0100007F:%04X' % local_port
    want_r = '0100007F:%04X' % remote_port
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want_l and fields[2] == want_r:
                return int(fields[4].split(':')[1], 16)
    return None


def flood(port, total):
    """Connect, read nothing, send `total` bytes of HELP commands (fewer if
    the gateway stops taking them). Returns (socket, bytes sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(('127.0.0.1', port))
    s.settimeout(3)
    chunk = b'HELP\r\n' * 4096
    sent = 0
    try:
        while sent < total:
            sent += s.send(chunk[:total - sent])
    except socket.timeout:
        pass
    return s, sent


def test_no_reader_throttled(fx):
    gw = Gateway(fx, 'throttle', 120)
    s = None
    try:
        # Each 6-byte HELP is answered with about 80 bytes: 1 MB of input
        # is about 14 MB of replies nobody reads.
        s, sent = flood(gw.port, 1 << 20)
        cport = s.getsockname()[1]
        time.sleep(6)
        q = rx_queue(gw.port, cport)
        if q is None:
            raise AssertionError('the gateway dropped the connection:\n' + gw.tail())
        if q == 0:
            raise AssertionError('the gateway read all %d bytes of commands from a client '
                                 'that reads no replies (replies queued without limit)' % sent)
        t0 = time.time()
        status = gw.stop(wait=30)
        if status is None:
            raise AssertionError('SIGTERM with a client that reads nothing: the gateway '
                                 'did not exit within 30 s')
        if status != 0:
            raise AssertionError('gateway exit status %r after SIGTERM:\n%s' % (status, gw.tail()))
        if time.time() - t0 > 15:
            raise AssertionError('SIGTERM took %.0f s with a stuck client' % (time.time() - t0))
        gw.check_clean()
    finally:
        if s is not None:
            s.close()
        gw.stop()


def test_no_reader_timeout(fx):
    gw = Gateway(fx, 'timeout', 2)
    s = None
    try:
        s, sent = flood(gw.port, 1 << 20)
        end = time.time() + 20
        while time.time() < end:
            if b'reason=timeout' in gw.text():
                break
            time.sleep(0.5)
        else:
            raise AssertionError('a client that reads nothing was not disconnected by '
                                 'smtp_timeout = 2 within 20 s:\n' + gw.tail())
        status = gw.stop()
        if status != 0:
            raise AssertionError('gateway exit status %r after SIGTERM:\n%s' % (status, gw.tail()))
        gw.check_clean()
    finally:
        if s is not None:
            s.close()
        gw.stop()


class MailboxLock:
    """Hold alice's INBOX row lock from a psql session, so that a delivery
    to alice waits inside its transaction until release()."""

    def __init__(self, fx):
        self.p = subprocess.Popen([fx.pgcluster, 'psql', fx.pgdir, str(fx.pgport),
                                   '-qAt', '-v', 'ON_ERROR_STOP=1'],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.p.stdin.write(b"BEGIN;\nSELECT 'locked' FROM mailboxes m JOIN principals p"
                           b" ON p.id = m.owner WHERE p.address = 'alice@example.test'"
                           b" AND m.name = 'INBOX' FOR UPDATE;\n")
        self.p.stdin.flush()
        if self.p.stdout.readline().strip() != b'locked':
            raise AssertionError('could not lock the mailbox row')

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.write(b'ROLLBACK;\n')
            self.p.stdin.close()
            self.p.wait(30)


def wait_log(gw, text, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if text in gw.text():
            return True
        time.sleep(0.2)
    return False


def send_until_dot(port, subject):
    s = socket.create_connection(('127.0.0.1', port), timeout=60)
    s.sendall(b'EHLO client.example\r\nMAIL FROM:<a@outside.example>\r\n'
              b'RCPT TO:<alice@example.test>\r\nDATA\r\n')
    got = b''
    # 220, the EHLO lines (one more, STARTTLS, with a certificate), 250,
    # 250, then 354 last
    while not (got.endswith(b'\r\n') and (got.startswith(b'354 ') or
                                          b'\r\n354 ' in got)):
        d = s.recv(4096)
        if not d:
            raise AssertionError('connection closed before 354: %r' % got)
        got += d
    if not got.rstrip().endswith(b'354 End data with <CR><LF>.<CR><LF>'):
        raise AssertionError('no 354 after the pipelined group: %r' % got)
    s.sendall(b'Subject: ' + subject.encode() + b'\r\n\r\nbody\r\n.\r\n')
    return s


def count_subject(fx, subject):
    return int(fx.sql1("SELECT count(*) FROM grants WHERE subject = '%s'" % subject))


def test_sigterm_while_committing(fx):
    """SIGTERM while the store commits a message: the commit finishes, the
    client gets its 250 and then 421, the gateway exits 0."""
    subject = 'sigterm-pending-%d' % os.getpid()
    gw = Gateway(fx, 'sigterm', 120)
    lock = MailboxLock(fx)
    s = None
    try:
        s = send_until_dot(gw.port, subject)
        time.sleep(1)               # the delivery now waits for the lock
        gw.proc.send_signal(signal.SIGTERM)
        if not wait_log(gw, b'smtp stopping'):
            raise AssertionError('no "smtp stopping" in the log')
        time.sleep(1)
        if gw.proc.poll() is not None:
            raise AssertionError('the gateway exited with a delivery pending')
        lock.release()
        s.settimeout(30)
        got = b''
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
        if not (got.startswith(b'250 2.0.0 Ok: queued as ') and
                b'\r\n421 4.3.2 ' in got):
            raise AssertionError('after SIGTERM the client got %r, expected 250 then 421' % got)
        status = gw.stop(signal_it=False)
        if status != 0:
            raise AssertionError('gateway exit status %r:\n%s' % (status, gw.tail()))
        if count_subject(fx, subject) != 1:
            raise AssertionError('%d grants stored, expected 1' % count_subject(fx, subject))
        gw.check_clean()
    finally:
        lock.release()
        if s is not None:
            s.close()
        gw.stop()


def test_disconnect_while_committing(fx):
    """The client goes away while its message is committed: the message is
    stored once, the session is freed, the gateway goes on serving."""
    subject = 'disconnect-pending-%d' % os.getpid()
    gw = Gateway(fx, 'disconnect', 120)
    lock = MailboxLock(fx)
    try:
        s = send_until_dot(gw.port, subject)
        time.sleep(1)
        s.close()
        time.sleep(0.5)
        lock.release()
        if not wait_log(gw, b'smtp delivered'):
            raise AssertionError('no delivery logged:\n' + gw.tail())
        if not wait_log(gw, b'reason=disconnected'):
            raise AssertionError('the session was not closed:\n' + gw.tail())
        if count_subject(fx, subject) != 1:
            raise AssertionError('%d grants stored, expected 1' % count_subject(fx, subject))
        s = send_until_dot(gw.port, subject + '-after')
        s.settimeout(30)
        got = s.recv(4096)
        s.close()
        if not got.startswith(b'250 2.0.0 Ok: queued as '):
            raise AssertionError('the next session got %r' % got)
        status = gw.stop()
        if status != 0:
            raise AssertionError('gateway exit status %r:\n%s' % (status, gw.tail()))
        gw.check_clean()
    finally:
        lock.release()
        gw.stop()


def test_repeated_sigterm(fx):
    """SIGTERM sent again and again until the gateway is gone (an impatient
    supervisor): it exits 0, or by the signal once it stopped handling it,
    never by a crash while it tears down."""
    for round in range(5):
        gw = Gateway(fx, 'sigterm2', 120)
        try:
            s = socket.create_connection(('127.0.0.1', gw.port), timeout=10)
            s.recv(1000)
            n = 0
            while gw.proc.poll() is None and n < 20000:
                gw.proc.send_signal(signal.SIGTERM)
                n += 1
                time.sleep(0.0005)
            s.close()
            status = gw.stop(signal_it=False)
            if status not in (0, -signal.SIGTERM):
                raise AssertionError('round %d: after %d SIGTERMs the gateway exit status '
                                     'is %r:\n%s' % (round, n, status, gw.tail()))
            gw.check_clean()
        finally:
            gw.stop()


def greeting(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    got = b''
    while not got.endswith(b'\r\n'):
        d = s.recv(1000)
        if not d:
            break
        got += d
    return s, got


def test_max_sessions(fx):
    """smtp_max_sessions = 2: a third connection is answered 421 4.7.0 and
    closed; once one of the two goes, a new one is greeted."""
    gw = Gateway(fx, 'maxsess', 120, 'smtp_max_sessions = 2\n')
    socks = []
    try:
        time.sleep(0.5)             # wait_listening's probe is gone
        for i in range(2):
            s, got = greeting(gw.port)
            socks.append(s)
            if not got.startswith(b'220 '):
                raise AssertionError('session %d greeted %r' % (i + 1, got))
        s, got = greeting(gw.port)
        socks.append(s)
        if not got.startswith(b'421 4.7.0 '):
            raise AssertionError('third session greeted %r, expected 421 4.7.0' % got)
        if s.recv(1000) != b'':
            raise AssertionError('the refused session was not closed')
        socks[0].sendall(b'QUIT\r\n')
        socks[0].recv(1000)
        time.sleep(0.5)
        s, got = greeting(gw.port)
        socks.append(s)
        if not got.startswith(b'220 '):
            raise AssertionError('after a QUIT a new session got %r' % got)
        status = gw.stop()
        if status != 0:
            raise AssertionError('gateway exit status %r:\n%s' % (status, gw.tail()))
        gw.check_clean()
    finally:
        for s in socks:
            s.close()
        gw.stop()


def test_duplicate_rcpts_limited(fx):
    """smtp_max_recipients counts every RCPT answered 250, duplicates too
    (each one costs a database lookup): with a limit of 3, a fourth RCPT
    of the same address gets 452 4.5.3."""
    gw = Gateway(fx, 'duprcpt', 120, 'smtp_max_recipients = 3\n')
    try:
        s = socket.create_connection(('127.0.0.1', gw.port), timeout=30)
        f = s.makefile('rb')

        def reply():
            lines = [f.readline()]
            while lines[-1][3:4] == b'-':
                lines.append(f.readline())
            return lines[-1]

        reply()
        s.sendall(b'EHLO client.example\r\n')
        reply()
        s.sendall(b'MAIL FROM:<a@outside.example>\r\n')
        reply()
        got = []
        for i in range(5):
            s.sendall(b'RCPT TO:<alice@example.test>\r\n')
            got.append(reply()[:9])
        want = [b'250 2.1.5'] * 3 + [b'452 4.5.3'] * 2
        if got != want:
            raise AssertionError('five RCPTs of one address under a limit of 3 got %r' % got)
        s.sendall(b'QUIT\r\n')
        reply()
        s.close()
        status = gw.stop()
        if status != 0:
            raise AssertionError('gateway exit status %r:\n%s' % (status, gw.tail()))
        gw.check_clean()
    finally:
        gw.stop()


def test_imapd_sigterm_bye(fx):
    """Two logged-in sessions, one of them waiting for the store (its
    mailbox row is locked from psql): SIGTERM gives both '* BYE', and the
    daemon exits 0."""
    im = Gateway(fx, 'imapbye', 120, proto='imap')
    user = 'alice@example.test'
    socks = []
    lock = None
    try:
        for _ in range(2):
            s = socket.create_connection(('127.0.0.1', im.port), timeout=20)
            s.recv(4096)
            s.sendall(b'a LOGIN %s %s\r\n' % (user.encode(), capfix.USERS[user].encode()))
            buf = b''
            while b'a OK' not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise AssertionError('LOGIN: connection closed: %r' % buf)
                buf += chunk
            socks.append(s)
        # hold the INBOX row so that the second session's SELECT (which
        # claims \Recent with an UPDATE) waits inside the store
        lock = subprocess.Popen(
            [fx.pgcluster, 'psql', fx.pgdir, str(fx.pgport), '-q', '-c',
             "BEGIN; SELECT 1 FROM mailboxes m JOIN principals p ON p.id = m.owner"
             " WHERE p.address = '%s' AND m.name = 'INBOX' FOR UPDATE;"
             " SELECT pg_sleep(8); COMMIT;" % user],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        socks[1].sendall(b'b SELECT INBOX\r\n')
        time.sleep(0.5)
        im.proc.send_signal(signal.SIGTERM)
        for i, s in enumerate(socks):
            got = b''
            deadline = time.time() + 15
            while b'* BYE Server shutting down' not in got and time.time() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            if b'* BYE Server shutting down' not in got:
                raise AssertionError('session %d got no BYE: %r' % (i, got))
        status = im.stop(wait=20, signal_it=False)
        if status != 0:
            raise AssertionError('imapd exit status %r:\n%s' % (status, im.tail()))
        im.check_clean()
    finally:
        for s in socks:
            s.close()
        if lock is not None:
            lock.wait(30)
        im.stop()


def cases(fx):
    return [('conn: a client that reads no replies is throttled; SIGTERM still exits',
             lambda: test_no_reader_throttled(fx)),
            ('conn: a client that reads no replies is dropped at smtp_timeout',
             lambda: test_no_reader_timeout(fx)),
            ('conn: SIGTERM while a message is committed: 250, then 421, exit 0',
             lambda: test_sigterm_while_committing(fx)),
            ('conn: client gone while its message is committed: stored once',
             lambda: test_disconnect_while_committing(fx)),
            ('conn: repeated SIGTERM during the stop exits cleanly',
             lambda: test_repeated_sigterm(fx)),
            ('conn: smtp_max_sessions bounds concurrent sessions (421 4.7.0)',
             lambda: test_max_sessions(fx)),
            ('conn: duplicate RCPTs count against smtp_max_recipients',
             lambda: test_duplicate_rcpts_limited(fx)),
            ('conn: SIGTERM to imapd says BYE to every session, exit 0',
             lambda: test_imapd_sigterm_bye(fx))]
