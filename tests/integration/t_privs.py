"""Privileges (issue 4): daemons started as root bind their ports, then
drop to the configured `user` and never run as root again.

As root only (skipped otherwise):
- capmail-gateway and capmail-imapd, each with a private config binding a
  port below 1024 on loopback with user = capmail, serve (a message is
  delivered over SMTP and read back over IMAP, so the PostgreSQL
  connection, made after the drop over the cluster's Unix socket, works);
  /proc/PID/status shows real, effective, saved and filesystem uid and gid
  of the capmail user and no group 0 (nor any other supplementary group
  than its own);
- capmail-verify likewise (it read the root-owned 0600 secret key before
  the drop): a link unknown to the database gets 404, not 503, so its
  database connection works after the drop;
- a daemon configured with user = root exits 1 with the log line
  "refusing to run with uid 0" and never serves; so does one named a user
  that does not exist.
"""

import os
import pwd
import random
import socket
import subprocess
import time

import capfix
import t_conn
from mailutil import Skip

UNPRIV = 'capmail'


def low_port():
    """A free loopback TCP port below 1024 (only root can bind it)."""
    ports = list(range(600, 1024))
    random.shuffle(ports)
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('127.0.0.1', p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError('no free port below 1024 on 127.0.0.1')


class Daemon:
    def __init__(self, fx, tag, proto, user):
        self.fx = fx
        self.port = low_port()
        self.conf = os.path.join(fx.dir, 'capmail-privs-%s.conf' % tag)
        self.log = os.path.join(fx.dir, 'privs-%s.log' % tag)
        listen = proto + '_listen'
        with open(fx.conf) as f:
            # the implicit TLS ports belong to the fixture's daemons
            lines = [l for l in f if not l.startswith(
                (listen, 'user', 'submission_listen', 'submissions_listen',
                 'imaps_listen'))]
        lines.append('%s = 127.0.0.1:%d\n' % (listen, self.port))
        lines.append('user = %s\n' % user)
        with open(self.conf, 'w') as f:
            f.writelines(lines)
        os.chmod(self.conf, 0o644)
        binary = {'smtp': fx.gateway, 'imap': fx.imapd, 'verify': fx.verify}[proto]
        with open(self.log, 'ab') as logf:
            self.proc = subprocess.Popen([binary, '-c', self.conf],
                                         stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def tail(self, n=20):
        return '\n'.join(self.text().splitlines()[-n:])

    def check_clean(self):
        if t_conn.SANITIZER_RE.search(self.text().encode()):
            raise AssertionError('sanitizer report in the log:\n' + self.tail(40))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def need_root():
    if os.geteuid() != 0:
        raise Skip('not running as root: privileges can only be dropped by root')
    try:
        return pwd.getpwnam(UNPRIV)
    except KeyError:
        subprocess.run(['useradd', '-r', '-M', '-d', '/nonexistent',
                        '-s', '/usr/sbin/nologin', UNPRIV], check=True)
        return pwd.getpwnam(UNPRIV)


def proc_ids(pid):
    """{'Uid': [r, e, s, fs], 'Gid': [...], 'Groups': [...]} of pid."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            key, _, val = line.partition(':')
            if key in ('Uid', 'Gid', 'Groups'):
                out[key] = [int(v) for v in val.split()]
    return out


def check_ids(d, pw):
    ids = proc_ids(d.proc.pid)
    want_u = [pw.pw_uid] * 4
    want_g = [pw.pw_gid] * 4
    if ids['Uid'] != want_u:
        raise AssertionError('Uid (real, effective, saved, fs) %r, expected %r'
                             % (ids['Uid'], want_u))
    if ids['Gid'] != want_g:
        raise AssertionError('Gid (real, effective, saved, fs) %r, expected %r'
                             % (ids['Gid'], want_g))
    if 0 in ids['Groups'] or ids['Groups'] not in ([pw.pw_gid], []):
        raise AssertionError('supplementary Groups %r, expected [%d]'
                             % (ids['Groups'], pw.pw_gid))
    if ('dropped privileges user=%s uid=%d gid=%d'
            % (UNPRIV, pw.pw_uid, pw.pw_gid)) not in d.text():
        raise AssertionError('no "dropped privileges" log line:\n' + d.tail())


def test_gateway(fx):
    pw = need_root()
    d = Daemon(fx, 'smtp', 'smtp', UNPRIV)
    try:
        if not fx.wait_listening(d.port, d.proc, 60):
            raise AssertionError('gateway did not listen on port %d:\n%s'
                                 % (d.port, d.tail()))
        check_ids(d, pw)
        subject = 'privs %d %d' % (os.getpid(), d.port)
        import smtplib
        s = smtplib.SMTP('127.0.0.1', d.port, timeout=60)
        try:
            s.ehlo('client.outside.example')
            s.mail('someone@outside.example')
            code, _ = s.rcpt('bob@example.test')
            if code != 250:
                raise AssertionError('RCPT answered %d' % code)
            code, msg = s.data(('Subject: %s\r\nFrom: someone@outside.example\r\n'
                                '\r\nhello\r\n' % subject).encode())
            if code != 250:
                raise AssertionError('DATA answered %d %r (the store after the drop?)'
                                     % (code, msg))
        finally:
            s.quit()
        n = fx.sql1("SELECT count(*) FROM grants g JOIN principals p ON p.id = g.grantee"
                    " WHERE p.address = 'bob@example.test' AND g.subject = '%s'" % subject)
        if n != '1':
            raise AssertionError('%s grants stored for the message, expected 1' % n)
        check_ids(d, pw)
        st = d.stop()
        if st != 0:
            raise AssertionError('exit status %r after SIGTERM:\n%s' % (st, d.tail()))
        d.check_clean()
    finally:
        d.stop()


def test_imapd(fx):
    pw = need_root()
    d = Daemon(fx, 'imap', 'imap', UNPRIV)
    try:
        if not fx.wait_listening(d.port, d.proc, 60):
            raise AssertionError('imapd did not listen on port %d:\n%s'
                                 % (d.port, d.tail()))
        check_ids(d, pw)
        import imaplib
        m = imaplib.IMAP4('127.0.0.1', d.port, timeout=60)
        try:
            typ, _ = m.login('alice@example.test', capfix.USERS['alice@example.test'])
            if typ != 'OK':
                raise AssertionError('LOGIN: %s' % typ)
            typ, data = m.select('INBOX')
            if typ != 'OK':
                raise AssertionError('SELECT INBOX: %s %r' % (typ, data))
        finally:
            m.logout()
        check_ids(d, pw)
        st = d.stop()
        if st != 0:
            raise AssertionError('exit status %r after SIGTERM:\n%s' % (st, d.tail()))
        d.check_clean()
    finally:
        d.stop()


def test_verify(fx):
    import http.client
    import t_verify
    pw = need_root()
    d = Daemon(fx, 'verify', 'verify', UNPRIV)
    try:
        if not fx.wait_listening(d.port, d.proc, 60, greets=False):
            raise AssertionError('capmail-verify did not listen on port %d:\n%s'
                                 % (d.port, d.tail()))
        check_ids(d, pw)
        token = t_verify.make_token(t_verify.key_bytes(fx), int(time.time()) + 3600)
        c = http.client.HTTPConnection('127.0.0.1', d.port, timeout=30)
        try:
            c.request('GET', '/v/' + token)
            r = c.getresponse()
            r.read()
        finally:
            c.close()
        if r.status != 404:
            raise AssertionError('GET of an unknown link: %d, want 404 (the store '
                                 'after the drop?)\n%s' % (r.status, d.tail()))
        check_ids(d, pw)
        st = d.stop()
        if st != 0:
            raise AssertionError('exit status %r after SIGTERM:\n%s' % (st, d.tail()))
        d.check_clean()
    finally:
        d.stop()


def refuses(fx, proto, user, text):
    need_root()
    d = Daemon(fx, '%s-%s' % (proto, user.replace('-', '')), proto, user)
    try:
        try:
            st = d.proc.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError('capmail with user = %s still runs after 60 s' % user)
        if st != 1:
            raise AssertionError('exit status %r, expected 1:\n%s' % (st, d.tail()))
        if text not in d.text():
            raise AssertionError('no log line "%s":\n%s' % (text, d.tail()))
        if 'started' in d.text():
            raise AssertionError('it served before exiting:\n' + d.tail())
    finally:
        d.stop()


def cases(fx):
    return [('privs: gateway on a port < 1024 runs as capmail (uid, gid, groups), '
             'delivers after the drop', lambda: test_gateway(fx)),
            ('privs: imapd on a port < 1024 runs as capmail, logs in after the drop',
             lambda: test_imapd(fx)),
            ('privs: capmail-verify on a port < 1024 runs as capmail, reads the store '
             'after the drop', lambda: test_verify(fx)),
            ('privs: capmail-verify with user = root refuses to run (exit 1)',
             lambda: refuses(fx, 'verify', 'root', 'user root: refusing to run with uid 0')),
            ('privs: gateway with user = root refuses to run (exit 1)',
             lambda: refuses(fx, 'smtp', 'root', 'user root: refusing to run with uid 0')),
            ('privs: imapd with user = root refuses to run (exit 1)',
             lambda: refuses(fx, 'imap', 'root', 'user root: refusing to run with uid 0')),
            ('privs: gateway with an unknown user refuses to run (exit 1)',
             lambda: refuses(fx, 'smtp', 'no-such-capmail-user',
                             'user no-such-capmail-user: no such user'))]
