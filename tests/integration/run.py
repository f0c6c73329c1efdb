#!/usr/bin/env python3
"""The integration suite: Python 3 stdlib plus real clients (swaks, curl,
mutt, mbsync) against a private PostgreSQL cluster and the real
capmail-gateway and capmail-imapd of the build tree (capfix.Fixture).

    python3 tests/integration/run.py [--srcdir DIR] [--builddir DIR] [--keep]
                                     [--only SUBSTRING]

Prints one line per test, "PASS name", "FAIL name: why" or "SKIP name: why",
then "integration: N passed, N failed, N skipped". Exit status 1 when any
test failed. --keep leaves tests/run/integ-PID (cluster, config, logs) in
place for a look. The corpus is ../shared/corpus/dev next to the source
tree, or $CAPMAIL_CORPUS.

Test groups (one module each): t_roundtrip (corpus and tests/integration/
messages through SMTP and back over IMAP and curl), t_storage (one copy of
each object, grants, deduplication), t_errors (exact SMTP reply codes, the
database going away), t_clients (mbsync, mutt), t_transcripts (the
gateway's and imapd's own transcript runners), t_idle (IMAP IDLE woken
by NOTIFY: deliveries, other sessions' STORE and EXPUNGE, a PostgreSQL
restart, on an imapd of its own), t_conn (clients that do
not read their replies, against a private gateway), t_privs (daemons
started as root on ports < 1024 run as the unprivileged `user`; user =
root is refused), t_auth (SMTP AUTH, submission, imported hashes,
password guessing), t_senders (sender policy at RCPT: held, refused,
blocked, allowed; held mail expiry), t_outbound (capmail-outbound delivers the outbound
queue to a second capmail-gateway as relay: byte-exact, retries, bounces),
t_verify (capmail-verify: the verification link's page, statuses and
headers, confirm releasing held mail into INBOX, rate limits, and the
round trip in headless Chromium over WebDriver),
t_authres (SPF, DKIM, DMARC against a dnsmasq of its own: the exact
Authentication-Results field, grantor_auth and auth_results),
t_challenge (the challenge's whole round trip: SPF/DKIM-authenticated
senders challenged once, via capmail-outbound to their own MX, confirmed
in Chromium; never forged, <>, automated or list mail), t_held (held mail over IMAP: summaries in Held, MOVE to INBOX
releases, EXPUNGE or Junk blocks), t_tls (STARTTLS and implicit TLS with openssl s_client,
swaks, curl, Python's ssl; certificate reload on SIGHUP: last, as it
replaces the fixture's certificate). Last come the sanitizer
checks of the daemons' logs, after they were stopped.
"""

import argparse
import os
import re
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import capfix                      # noqa: E402
from mailutil import Skip          # noqa: E402
import t_roundtrip                 # noqa: E402
import t_storage                   # noqa: E402
import t_errors                    # noqa: E402
import t_clients                   # noqa: E402
import t_transcripts               # noqa: E402
import t_idle                      # noqa: E402
import t_conn                      # noqa: E402
import t_auth                      # noqa: E402
import t_privs                     # noqa: E402
import t_senders                   # noqa: E402
import t_held                      # noqa: E402
import t_outbound                  # noqa: E402
import t_verify                    # noqa: E402
import t_authres                   # noqa: E402
import t_challenge                 # noqa: E402
import t_tls                       # noqa: E402

MODULES = [t_roundtrip, t_storage, t_errors, t_clients, t_transcripts, t_idle,
           t_conn, t_privs, t_auth, t_senders, t_held, t_outbound, t_authres,
           t_verify, t_challenge, t_tls]

SANITIZER_RE = re.compile(rb'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'
                          rb'|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer')


class Counts:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def run(self, name, fn):
        t0 = time.time()
        try:
            fn()
        except Skip as e:
            self.skipped += 1
            print('SKIP %s: %s' % (name, e))
            return
        except Exception as e:          # a failed assertion or any error
            self.failed += 1
            msg = str(e) or type(e).__name__
            if not isinstance(e, AssertionError):
                msg = '%s: %s' % (type(e).__name__, msg)
                if os.environ.get('CAPMAIL_INTEG_TRACE'):
                    traceback.print_exc()
            print('FAIL %s: %s' % (name, msg.replace('\n', '\n    ')))
            return
        self.passed += 1
        dt = time.time() - t0
        print('PASS %s%s' % (name, ' (%.1fs)' % dt if dt >= 2 else ''))


def sanitizer_check(fx, name):
    def fn():
        ex = fx.exits.get(name)
        with open(fx.logs[name], 'rb') as f:
            log = f.read()
        m = SANITIZER_RE.search(log)
        if m:
            start = max(0, log.rfind(b'\n', 0, m.start()))
            raise AssertionError('%s.log has a sanitizer report:\n%s' % (
                name, log[start:start + 1500].decode('utf-8', 'replace')))
        if isinstance(ex, str):
            raise AssertionError('%s: %s' % (name, ex))
        if ex is None:
            raise AssertionError('%s was not running at the end' % name)
        if ex not in (0, -15):
            raise AssertionError('%s exited with status %r after SIGTERM; log tail:\n%s'
                                 % (name, ex, fx.log_tail(name, 15)))
    return fn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--srcdir', default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument('--builddir', default=None)
    ap.add_argument('--keep', action='store_true')
    ap.add_argument('--only', default=None)
    args = ap.parse_args()
    builddir = args.builddir or args.srcdir

    counts = Counts()
    fx = capfix.Fixture(args.srcdir, builddir, keep=args.keep)
    t0 = time.time()
    try:
        fx.start()
    except Exception as e:
        counts.failed += 1
        print('FAIL fixture: %s' % e)
        fx.stop()
        print('fixture folder kept: %s' % fx.dir)
        print('integration: %d passed, %d failed, %d skipped'
              % (counts.passed, counts.failed, counts.skipped))
        return 1
    print('fixture: PostgreSQL %s, SMTP 127.0.0.1:%d, IMAP 127.0.0.1:%d, ready in %.1fs'
          % (fx.pgdir, fx.smtp_port, fx.imap_port, time.time() - t0))
    try:
        for mod in MODULES:
            for name, fn in mod.cases(fx):
                if args.only and args.only not in name:
                    continue
                counts.run(name, fn)
                for dname, status, tail in fx.restart_dead():
                    counts.failed += 1
                    print('FAIL daemon: capmail-%s exited with status %s during "%s" '
                          '(restarted); log tail:\n    %s' % (
                              dname, status, name,
                              tail.replace('\n', '\n    ')))
    finally:
        fx.stop()
    for name in ('gateway', 'imapd', 'verify'):
        counts.run('sanitizers: %s log clean, exit after SIGTERM' % name,
                   sanitizer_check(fx, name))
    if counts.failed:
        print('logs kept in %s' % fx.dir)
    else:
        fx.cleanup()
    print('integration time: %.0fs' % (time.time() - t0))
    print('integration: %d passed, %d failed, %d skipped'
          % (counts.passed, counts.failed, counts.skipped))
    return 1 if counts.failed else 0


if __name__ == '__main__':
    sys.exit(main())
