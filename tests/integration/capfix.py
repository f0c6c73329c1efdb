"""capfix: the integration suite's fixture. Real parts only.

Fixture(srcdir, builddir).start():
  - a private PostgreSQL cluster in tests/run/integ-PID/pg (tests/pgcluster,
    Unix socket only), migrated by `capmailctl db migrate`;
  - domain example.test; users alice, bob, carol @example.test with the
    passwords in USERS;
  - a self-signed certificate for HOSTNAME (make_cert(): cert.pem, key.pem
    mode 0600, owned by the `capmail` user when run as root, so that a
    SIGHUP reload after the privilege drop can read it);
  - tests/run/integ-PID/capmail.conf naming the database and five free
    loopback ports: SMTP and IMAP (STARTTLS offered), submission (AUTH,
    STARTTLS), submissions (submission over implicit TLS) and imaps;
    auth_plaintext_loopback = yes so that plain LOGIN and AUTH over
    loopback work; failed-login throttling out of the way (t_auth tests it
    on private daemons);
  - the real capmail-gateway and capmail-imapd from the build tree, logging
    to gateway.log / imapd.log in that folder, started as the current user
    (as root they drop to the `capmail` system user, created when missing).
stop() ends the daemons with SIGTERM (SIGKILL after 20 s) and the cluster.
Helpers: sql() (psql on the database), ctl() (capmailctl), pg_stop() /
pg_start(), smtp(), imap(), wait_listening().
"""

import os
import shutil
import signal
import smtplib
import imaplib
import socket
import subprocess
import time

DOMAIN = 'example.test'
USERS = {
    'alice@example.test': 'alice-Secret-1',
    'bob@example.test': 'bob-Secret-2',
    'carol@example.test': 'carol-Secret-3',
}
HOSTNAME = 'mx.example.test'


class FixtureError(Exception):
    pass


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Fixture:
    def __init__(self, srcdir, builddir, keep=False):
        self.srcdir = os.path.abspath(srcdir)
        self.builddir = os.path.abspath(builddir)
        self.keep = keep
        self.dir = os.path.join(self.builddir, 'tests', 'run',
                                'integ-%d' % os.getpid())
        self.pgdir = os.path.join(self.dir, 'pg')
        self.pgport = int(os.environ.get('CAPMAIL_INTEG_PGPORT',
                                         20000 + os.getpid() % 10000))
        self.pgcluster = os.path.join(self.srcdir, 'tests', 'pgcluster')
        self.gateway = os.path.join(self.builddir, 'gateway', 'capmail-gateway')
        self.imapd = os.path.join(self.builddir, 'imapd', 'capmail-imapd')
        self.capmailctl = os.path.join(self.builddir, 'store', 'capmailctl')
        self.outbound = os.path.join(self.builddir, 'outbound', 'capmail-outbound')
        self.conf = os.path.join(self.dir, 'capmail.conf')
        self.procs = {}
        self.logs = {}
        self.exits = {}
        self.smtp_port = None
        self.imap_port = None
        self.smtps_port = None
        self.imaps_port = None
        self.cert = os.path.join(self.dir, 'cert.pem')
        self.key = os.path.join(self.dir, 'key.pem')
        self.submission_port = None
        self.conninfo = None

    # ---- processes -------------------------------------------------------

    def run(self, argv, input=None, check=True, timeout=120):
        p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if check and p.returncode != 0:
            raise FixtureError('%s exited %d: %s' % (
                ' '.join(argv), p.returncode,
                p.stderr.decode('utf-8', 'replace').strip()[-2000:]))
        return p

    def ctl(self, *args, input=None, check=True):
        return self.run([self.capmailctl, '-c', self.conf] + list(args),
                        input=input, check=check)

    def sql(self, query):
        """Run one query; rows as lists of str (tab-separated output)."""
        p = self.run([self.pgcluster, 'psql', self.pgdir, str(self.pgport),
                      '-qAt', '-F', '\t', '-v', 'ON_ERROR_STOP=1',
                      '-c', query])
        out = p.stdout.decode('utf-8', 'replace')
        return [line.split('\t') for line in out.splitlines()]

    def sql1(self, query):
        rows = self.sql(query)
        if len(rows) != 1 or len(rows[0]) != 1:
            raise FixtureError('expected one value from %r, got %r' % (query, rows))
        return rows[0][0]

    def pg_start(self):
        self.run([self.pgcluster, 'start', self.pgdir, str(self.pgport)])

    def pg_stop(self):
        self.run([self.pgcluster, 'stop', self.pgdir])

    def start(self):
        for b in (self.gateway, self.imapd, self.capmailctl, self.outbound):
            if not os.access(b, os.X_OK):
                raise FixtureError('%s is not built' % b)
        if os.path.exists(self.dir):
            self.run([self.pgcluster, 'destroy', self.pgdir], check=False)
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.dirname(self.dir), 0o755)
        if os.getuid() == 0:
            if subprocess.run(['id', 'capmail'], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode != 0:
                self.run(['useradd', '-r', '-M', '-d', '/nonexistent',
                          '-s', '/usr/sbin/nologin', 'capmail'])
        self.pg_start()
        self.conninfo = self.run([self.pgcluster, 'conninfo', self.pgdir,
                                  str(self.pgport)]).stdout.decode().strip()
        ports = []
        while len(ports) < 5:
            p = free_port()
            if p not in ports:
                ports.append(p)
        (self.smtp_port, self.imap_port, self.smtps_port, self.imaps_port,
         self.submission_port) = ports
        self.make_cert(self.cert, self.key, HOSTNAME)
        with open(self.conf, 'w') as f:
            f.write('# written by tests/integration/capfix.py\n'
                    'hostname = %s\n'
                    'database = %s\n'
                    'smtp_listen = 127.0.0.1:%d\n'
                    'imap_listen = 127.0.0.1:%d\n'
                    'submission_listen = 127.0.0.1:%d\n'
                    'submissions_listen = 127.0.0.1:%d\n'
                    'imaps_listen = 127.0.0.1:%d\n'
                    'tls_cert_file = %s\n'
                    'tls_key_file = %s\n'
                    'auth_plaintext_loopback = yes\n'
                    # wrong passwords in many tests, all from 127.0.0.1:
                    # throttling is tested on private daemons (t_auth)
                    'auth_fail_limit = 1000\n'
                    'auth_lockout_limit = 100000\n'
                    'log_level = debug\n'
                    % (HOSTNAME, self.conninfo, self.smtp_port, self.imap_port,
                       self.submission_port, self.smtps_port, self.imaps_port,
                       self.cert, self.key))
        os.chmod(self.conf, 0o644)
        self.ctl('db', 'migrate')
        self.ctl('domain', 'add', DOMAIN)
        # Most tests send from addresses nobody verified: the domain takes
        # mail from anyone. Sender verification (verify-unknown, the
        # default) is tested on users and domains of its own (t_held ...).
        self.ctl('domain', 'policy', DOMAIN, 'open')
        for addr, pw in USERS.items():
            self.ctl('user', 'add', addr, input=(pw + '\n').encode())
        self.start_daemon('gateway', self.gateway, self.smtp_port)
        self.start_daemon('imapd', self.imapd, self.imap_port)

    def make_cert(self, cert, key, cn, days=30):
        """A self-signed certificate for cn (EC P-256) into cert and key
        (the key mode 0600, owned by the daemons' user when root); the
        files are replaced in place (rename), as an operator would."""
        tmpc, tmpk = cert + '.new', key + '.new'
        self.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                  'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', tmpk,
                  '-out', tmpc, '-days', str(days), '-subj', '/CN=' + cn,
                  '-addext', 'subjectAltName=DNS:' + cn])
        os.chmod(tmpk, 0o600)
        os.chmod(tmpc, 0o644)
        if os.getuid() == 0:
            shutil.chown(tmpk, 'capmail')
        os.rename(tmpc, cert)
        os.rename(tmpk, key)

    def restart_dead(self):
        """Start again each daemon that exited; returns [(name, status,
        its log's tail before the restart)]."""
        dead = []
        for name, p in list(self.procs.items()):
            if p.poll() is not None:
                dead.append((name, p.returncode, self.log_tail(name, 8)))
                path, port = ((self.gateway, self.smtp_port) if name == 'gateway'
                              else (self.imapd, self.imap_port))
                self.start_daemon(name, path, port)
        return dead

    def start_daemon(self, name, path, port):
        log = os.path.join(self.dir, name + '.log')
        self.logs[name] = log
        f = open(log, 'ab')
        self.procs[name] = subprocess.Popen([path, '-c', self.conf],
                                            stdin=subprocess.DEVNULL,
                                            stdout=f, stderr=subprocess.STDOUT)
        f.close()
        if not self.wait_listening(port, self.procs[name], 60):
            raise FixtureError('%s did not listen on port %d; log tail:\n%s' % (
                name, port, self.log_tail(name)))

    def wait_listening(self, port, proc, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if proc.poll() is not None:
                return False
            try:
                with socket.create_connection(('127.0.0.1', port), 1) as s:
                    s.settimeout(10)
                    if s.recv(100):
                        return True
            except OSError:
                time.sleep(0.1)
        return False

    def log_tail(self, name, n=30):
        try:
            with open(self.logs[name], 'rb') as f:
                lines = f.read().decode('utf-8', 'replace').splitlines()
            return '\n'.join(lines[-n:])
        except OSError:
            return '(no log)'

    def stop(self):
        for name, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs.items():
            try:
                p.wait(20)
                self.exits[name] = p.returncode
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.exits[name] = 'killed after SIGTERM timeout'
        self.procs = {}
        self.run([self.pgcluster, 'stop', self.pgdir], check=False)

    def cleanup(self):
        if not self.keep and os.path.isdir(self.dir):
            self.run([self.pgcluster, 'destroy', self.pgdir], check=False)
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- clients ---------------------------------------------------------

    def smtp(self):
        s = smtplib.SMTP('127.0.0.1', self.smtp_port, timeout=60)
        s.ehlo('client.outside.example')
        return s

    def imap(self, user='alice@example.test'):
        m = imaplib.IMAP4('127.0.0.1', self.imap_port, timeout=60)
        m.login(user, USERS[user])
        return m
