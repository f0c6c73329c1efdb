"""The gateway's and imapd's own protocol transcript runners
(tests/smtp/run-transcripts.py, tests/imap/run-transcripts.py) and imapd's
imaplib end-to-end checks (tests/imap/test-imaplib.py: sessions seeing each
other's changes, revocation of a selected message), run against the
fixture's daemons when present. Each runner is one test here; it passes
when the runner exits 0. The fixture's addresses and users are passed as
options and in the environment (CAPMAIL_SMTP_PORT, CAPMAIL_IMAP_PORT,
CAPMAIL_TEST_DB, CAPMAIL_CONF, CAPMAIL_TEST_USERS="addr:password ...")."""

import os
import subprocess
import sys

import capfix
from mailutil import Skip


def runner_case(fx, proto, port, script='run-transcripts.py'):
    path = os.path.join(fx.srcdir, 'tests', proto, script)

    def fn():
        if not os.path.exists(path):
            raise Skip('%s not present' % os.path.relpath(path, fx.srcdir))
        env = dict(os.environ,
                   CAPMAIL_SMTP_PORT=str(fx.smtp_port),
                   CAPMAIL_IMAP_PORT=str(fx.imap_port),
                   CAPMAIL_TEST_DB=fx.conninfo,
                   CAPMAIL_CONF=fx.conf,
                   CAPMAIL_TEST_USERS=' '.join('%s:%s' % kv for kv in capfix.USERS.items()))
        if proto == 'smtp':
            # usage: run-transcripts.py [--db CONNINFO] --host HOST --port PORT
            argv = [sys.executable, path, '--db', fx.conninfo,
                    '--host', '127.0.0.1', '--port', str(port)]
        elif script == 'test-imaplib.py':
            # usage: test-imaplib.py HOST PORT USER PASSWORD [CONNINFO]
            user = 'bob@example.test'
            argv = [sys.executable, path, '127.0.0.1', str(port), user, capfix.USERS[user],
                    fx.conninfo]
        else:
            # usage: run-transcripts.py HOST PORT USER PASSWORD
            user = 'alice@example.test'
            argv = [sys.executable, path, '127.0.0.1', str(port), user, capfix.USERS[user]]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, timeout=600)
        out = p.stdout.decode('utf-8', 'replace')
        for line in out.splitlines():
            print('    ' + line)
        if p.returncode != 0:
            raise AssertionError('%s exited %d' % (os.path.basename(path), p.returncode))
    return fn


def cases(fx):
    return [('transcripts: tests/smtp against capmail-gateway', runner_case(fx, 'smtp', fx.smtp_port)),
            ('transcripts: tests/imap against capmail-imapd', runner_case(fx, 'imap', fx.imap_port)),
            ('imaplib: tests/imap/test-imaplib.py against capmail-imapd',
             runner_case(fx, 'imap', fx.imap_port, 'test-imaplib.py'))]
