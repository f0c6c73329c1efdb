#!/usr/bin/env python3
"""capmail benchmark: speed, storage and memory figures for the real
daemons of a build tree against a private PostgreSQL cluster (the
integration suite's fixture, tests/integration/capfix.py). Not a test:
it prints figures and asserts only that every message was accepted and
read back in full. Python 3 stdlib only.

    python3 tests/bench/bench.py [--srcdir DIR] [--builddir DIR] [--keep]
    make bench                       (the same, for this build tree)

Build without sanitizers first (contrib/build); a sanitizer build is
reported on the first line, and its figures mean little.

The fixture's capmail.conf is used with log_level = info (the default of
a real installation) instead of the suite's debug. Each figure is one
line `name: value unit (parameters)`. In order:

  1. storage (on the near-empty database first, so page-granular sizes
     are not blurred by other traffic): the sum of pg_total_relation_size
     of every table of the public schema (indexes, TOAST included)
     before and after
       - one message with a 1 MiB attachment (random, base64) to 1
         recipient, then another with a different 1 MiB attachment to 50
         recipients (users bench01..bench50, made with capmailctl);
       - 20 distinct messages carrying the same new 1 MiB attachment,
         against 20 times the bytes the first message added.
  2. SMTP ingest with a raw client (pipelined MAIL/RCPT/DATA, one
     transaction after another on a connection); a message counts when
     its 250 arrives after the final dot. 500 unique 4 KB messages over
     1 connection, 500 over 4 concurrent connections, 1000 more over 4
     to fill bob's INBOX to 2000, then 20 unique 5 MB messages to carol
     over 1 connection. messages/s, MB/s (MB = 10^6 bytes of message
     data as sent) and the latency from the final dot being handed to
     the kernel to the 250 (p50/p99).
  3. IMAP with a raw client on bob's 2000-message INBOX: SELECT, UID
     FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE) (median of 3 each), UID
     FETCH 1:* BODY.PEEK[] (MB/s of literal bytes), and the same BODY.PEEK[]
     over carol's 20 x 5 MB. All of it twice: right after the ingest
     ("stats stale": the planner still has the statistics of the near-empty
     tables, as a client meets it until autovacuum analyses), and after
     an explicit ANALYZE ("after ANALYZE", the steady state).
  4. peak RSS (VmHWM in /proc/PID/status) of capmail-gateway and
     capmail-imapd after all of the above, and their RSS at that point.
"""

import argparse
import base64
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import capfix                      # noqa: E402

SENDER = 'bench@outside.example'
MB = 1e6


class BenchError(Exception):
    pass


class Fixture(capfix.Fixture):
    """capfix.Fixture with log_level = info in the configuration, written
    just before the first daemon starts."""

    def start_daemon(self, name, path, port, greets=True):
        with open(self.conf) as f:
            text = f.read()
        text = re.sub(r'(?m)^log_level = .*$', 'log_level = info', text)
        with open(self.conf, 'w') as f:
            f.write(text)
        super().start_daemon(name, path, port, greets)


# ---- message makers -------------------------------------------------------

def b64_lines(data):
    enc = base64.b64encode(data)
    return b'\r\n'.join(enc[i:i + 76] for i in range(0, len(enc), 76)) + b'\r\n'


def small_message(n, size=4096):
    """A unique single-part text message of exactly `size` bytes."""
    tag = '%d-%016x' % (n, random.getrandbits(64))
    head = ('From: Bench <%s>\r\nTo: bob@example.test\r\n'
            'Subject: bench small %s\r\nMessage-ID: <small-%s@outside.example>\r\n'
            'Date: Thu, 03 Dec 2026 12:00:00 +0000\r\n'
            'Content-Type: text/plain; charset=us-ascii\r\n\r\n' % (SENDER, tag, tag)).encode()
    line = ('bench line %s ' % tag).encode()
    body = bytearray()
    while len(head) + len(body) < size:
        body += line + b'x' * (70 - len(line)) + b'\r\n'
    msg = head + bytes(body)
    return msg[:size - 2] + b'\r\n'


def big_message(n, size=5 * 1000 * 1000, to='carol@example.test'):
    """A unique message of about `size` bytes: text plus a base64 part."""
    tag = '%d-%016x' % (n, random.getrandbits(64))
    raw = os.urandom(size * 3 // 4 - 1000)
    return attach_message(tag, 'big %s' % tag, raw, to)


def attach_message(tag, text, attachment, to):
    return (('From: Bench <%s>\r\nTo: %s\r\nSubject: bench %s\r\n'
             'Message-ID: <att-%s@outside.example>\r\n'
             'Date: Thu, 03 Dec 2026 12:00:00 +0000\r\n'
             'MIME-Version: 1.0\r\n'
             'Content-Type: multipart/mixed; boundary="=b=%s"\r\n\r\n'
             '--=b=%s\r\nContent-Type: text/plain\r\n\r\n%s\r\n'
             '--=b=%s\r\nContent-Type: application/octet-stream\r\n'
             'Content-Transfer-Encoding: base64\r\n'
             'Content-Disposition: attachment; filename="a.bin"\r\n\r\n'
             % (SENDER, to, tag, tag, tag, tag, text, tag)).encode()
            + b64_lines(attachment)
            + ('--=b=%s--\r\n' % tag).encode())


# ---- raw SMTP client ------------------------------------------------------

class Smtp:
    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), 30)
        self.sock.settimeout(120)
        self.f = self.sock.makefile('rb')
        self.expect(220, 'greeting')
        self.sock.sendall(b'EHLO client.outside.example\r\n')
        self.expect(250, 'EHLO')

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise BenchError('SMTP connection closed; so far %r' % lines)
            lines.append(line)
            if line[3:4] != b'-':
                return int(line[:3]), lines

    def expect(self, code, what):
        got, lines = self.reply()
        if got != code:
            raise BenchError('%s: %d expected, got %r' % (what, code, lines))

    def send(self, rcpts, data):
        """One transaction; returns seconds from the final dot to the 250."""
        if any(line.startswith(b'.') for line in data.split(b'\r\n')):
            raise BenchError('bench message needs dot-stuffing')
        cmds = b'MAIL FROM:<%s>\r\n' % SENDER.encode()
        cmds += b''.join(b'RCPT TO:<%s>\r\n' % r.encode() for r in rcpts)
        self.sock.sendall(cmds + b'DATA\r\n')
        self.expect(250, 'MAIL')
        for r in rcpts:
            self.expect(250, 'RCPT ' + r)
        self.expect(354, 'DATA')
        self.sock.sendall(data + b'.\r\n')
        t0 = time.perf_counter()
        self.expect(250, 'end of DATA')
        return time.perf_counter() - t0

    def close(self):
        try:
            self.sock.sendall(b'QUIT\r\n')
            self.reply()
        except (OSError, BenchError):
            pass
        self.sock.close()


def send_one(fx, rcpts, data):
    s = Smtp(fx.smtp_port)
    try:
        s.send(rcpts, data)
    finally:
        s.close()


def ingest(fx, msgs, conns, rcpt):
    """Send msgs over `conns` concurrent connections (round-robin split).
    Returns (wall seconds, [latencies])."""
    parts = [msgs[i::conns] for i in range(conns)]
    lat = [[] for _ in range(conns)]
    errors = []
    clients = [Smtp(fx.smtp_port) for _ in range(conns)]
    barrier = threading.Barrier(conns + 1)

    def worker(i):
        try:
            barrier.wait()
            for m in parts[i]:
                lat[i].append(clients[i].send([rcpt], m))
        except Exception as e:          # reported after the join
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for c in clients:
        c.close()
    if errors:
        raise BenchError('ingest failed: %r' % errors[0])
    return wall, [x for li in lat for x in li]


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def report_ingest(name, msgs, conns, wall, lat):
    n = len(msgs)
    size = sum(len(m) for m in msgs)
    print('%s: %.0f messages/s, %.2f MB/s (%d messages of %s bytes, %d connection%s, '
          '%.2f s)' % (name, n / wall, size / MB / wall, n,
                       '%d' % len(msgs[0]) if len(set(map(len, msgs))) == 1
                       else '~%d' % (size // n), conns, '' if conns == 1 else 's', wall))
    print('%s latency final dot -> 250: p50 %.2f ms, p99 %.2f ms, max %.2f ms'
          % (name, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, max(lat) * 1e3))
    sys.stdout.flush()


# ---- raw IMAP client ------------------------------------------------------

LITERAL_RE = re.compile(rb'\{(\d+)\}\r\n$')


class Imap:
    def __init__(self, port, user, password):
        self.sock = socket.create_connection(('127.0.0.1', port), 30)
        self.sock.settimeout(300)
        self.f = self.sock.makefile('rb')
        self.n = 0
        if not self.f.readline().startswith(b'* OK'):
            raise BenchError('no IMAP greeting')
        self.cmd('LOGIN "%s" "%s"' % (user, password))

    def cmd(self, text):
        """Run one command; returns (untagged lines without literals, literal
        byte count). Raises unless the tagged answer is OK."""
        self.n += 1
        tag = b'b%d' % self.n
        self.sock.sendall(tag + b' ' + text.encode() + b'\r\n')
        lines, lit = [], 0
        cur = b''
        while True:
            line = self.f.readline()
            if not line:
                raise BenchError('IMAP connection closed during %s' % text)
            m = LITERAL_RE.search(line)
            if m:
                size = int(m.group(1))
                got = len(self.f.read(size))
                if got != size:
                    raise BenchError('short literal during %s' % text)
                lit += size
                cur += line[:m.start()] + b'{}'
                continue
            cur += line
            if cur.startswith(tag + b' '):
                if not cur.startswith(tag + b' OK'):
                    raise BenchError('%s: %r' % (text, cur))
                return lines, lit
            lines.append(cur)
            cur = b''

    def close(self):
        try:
            self.cmd('LOGOUT')
        except (OSError, BenchError):
            pass
        self.sock.close()


def timed(fn, repeat=1):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], out


def bench_imap(fx, user, nexpect, tag, meta=True):
    im = Imap(fx.imap_port, user, capfix.USERS.get(user, ''))
    try:
        t, (lines, _) = timed(lambda: im.cmd('SELECT INBOX'), 3 if meta else 1)
        exists = [ln for ln in lines if re.match(rb'\* \d+ EXISTS', ln)]
        if not exists or int(exists[0].split()[1]) != nexpect:
            raise BenchError('%s INBOX: %r, expected %d EXISTS' % (user, exists, nexpect))
        if meta:
            print('imap %s SELECT INBOX: %.1f ms (%d messages, median of 3)'
                  % (tag, t * 1e3, nexpect))
            t, (lines, _) = timed(
                lambda: im.cmd('UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)'), 3)
            nf = sum(1 for ln in lines if b' FETCH ' in ln)
            if nf != nexpect:
                raise BenchError('UID FETCH metadata: %d responses, expected %d'
                                 % (nf, nexpect))
            print('imap %s UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE): %.1f ms '
                  '(%d messages, %.0f messages/s, median of 3)'
                  % (tag, t * 1e3, nexpect, nexpect / t))
        t, (lines, lit) = timed(lambda: im.cmd('UID FETCH 1:* BODY.PEEK[]'))
        nf = sum(1 for ln in lines if b' FETCH ' in ln)
        if nf != nexpect:
            raise BenchError('UID FETCH BODY.PEEK[]: %d responses' % nf)
        print('imap %s UID FETCH 1:* BODY.PEEK[]: %.2f MB/s, %.0f messages/s '
              '(%d messages, %.1f MB, %.2f s)'
              % (tag, lit / MB / t, nexpect / t, nexpect, lit / MB, t))
        sys.stdout.flush()
        return lit
    finally:
        im.close()


# ---- storage ---------------------------------------------------------------

TABLES_SQL = ("SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
              "JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1")


def db_sizes(fx):
    return {r[0]: int(r[1]) for r in fx.sql(TABLES_SQL)}


def delta(before, after):
    d = {t: after.get(t, 0) - before.get(t, 0) for t in after}
    return sum(d.values()), {t: v for t, v in d.items() if v}


LOGICAL_SQL = ("SELECT (SELECT count(*) FROM objects), (SELECT coalesce(sum(size), 0) "
               "FROM objects), (SELECT count(*) FROM messages), "
               "(SELECT count(*) FROM grants)")


def logical(fx):
    return [int(x) for x in fx.sql(LOGICAL_SQL)[0]]


def fmt_logical(before, after):
    d = [a - b for a, b in zip(after, before)]
    return ('+%d objects holding %d bytes, +%d messages, +%d grants'
            % (d[0], d[1], d[2], d[3]))


def fmt_delta(parts):
    return ', '.join('%s %+d' % (t, v) for t, v in sorted(parts.items()))


def bench_storage(fx):
    users = ['bench%02d@example.test' % i for i in range(1, 51)]
    for u in users:
        fx.ctl('user', 'add', u, input=b'bench-Secret-0\n')
    att = 1 << 20
    # Warm-up: every table and index gets its first pages, so the figures
    # below are growth, not first allocation.
    for i in range(2):
        send_one(fx, users[:2], attach_message('warm-%d-%x' % (i, random.getrandbits(64)),
                                               'warm-up', os.urandom(4096), users[0]))

    m1 = attach_message('one-%x' % random.getrandbits(64), 'one recipient',
                        os.urandom(att), users[0])
    b, lb = db_sizes(fx), logical(fx)
    send_one(fx, users[:1], m1)
    one, parts = delta(b, db_sizes(fx))
    print('storage 1 MiB attachment to 1 recipient: %d bytes added (message %d bytes; '
          '%s; by table: %s)' % (one, len(m1), fmt_logical(lb, logical(fx)),
                                 fmt_delta(parts)))

    m50 = attach_message('fifty-%x' % random.getrandbits(64), 'fifty recipients',
                         os.urandom(att), ', '.join(users))
    b, lb = db_sizes(fx), logical(fx)
    send_one(fx, users, m50)
    fifty, parts = delta(b, db_sizes(fx))
    print('storage 1 MiB attachment to 50 recipients: %d bytes added, %.2fx the '
          '1-recipient figure, vs %d for 50 copies (message %d bytes; %s; by table: %s)'
          % (fifty, fifty / one, 50 * one, len(m50), fmt_logical(lb, logical(fx)),
             fmt_delta(parts)))

    shared = os.urandom(att)
    b, lb = db_sizes(fx), logical(fx)
    total_msg = 0
    for i in range(20):
        m = attach_message('shared-%d-%x' % (i, random.getrandbits(64)),
                           'distinct message %d sharing one attachment' % i,
                           shared, users[1])
        total_msg += len(m)
        send_one(fx, users[1:2], m)
    twenty, parts = delta(b, db_sizes(fx))
    nobj = int(fx.sql1("SELECT count(*) FROM objects WHERE size >= %d" % att))
    print('storage 20 distinct messages sharing one 1 MiB attachment: %d bytes added '
          '= %.2fx one message\'s, vs %d for 20x (%.1f%%) (messages %d bytes in all; '
          '%s; %d objects >= 1 MiB in the store for the 3 attachments sent; by table: %s)'
          % (twenty, twenty / one, 20 * one, 100.0 * twenty / (20 * one), total_msg,
             fmt_logical(lb, logical(fx)), nobj, fmt_delta(parts)))
    sys.stdout.flush()


# ---- main ------------------------------------------------------------------

def vm(pid, field):
    """A /proc/PID/status field in kB (VmHWM: peak RSS, VmRSS: now)."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise BenchError('no %s for pid %d' % (field, pid))


def sanitized(builddir):
    try:
        out = subprocess.run([os.path.join(builddir, 'config.status'), '--config'],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        return b'enable-sanitizers' in out
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    top = os.path.dirname(os.path.dirname(HERE))
    ap.add_argument('--srcdir', default=top)
    ap.add_argument('--builddir', default=top)
    ap.add_argument('--keep', action='store_true')
    args = ap.parse_args()

    t_start = time.time()
    print('capmail bench %s, %d CPUs, %s build, log_level = info'
          % (time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), os.cpu_count(),
             'SANITIZER (figures not representative)' if sanitized(args.builddir)
             else 'plain'))
    sys.stdout.flush()
    fx = Fixture(args.srcdir, args.builddir, keep=args.keep)
    try:
        fx.start()
        bench_storage(fx)

        msgs = [small_message(i) for i in range(500)]
        wall, lat = ingest(fx, msgs, 1, 'bob@example.test')
        report_ingest('smtp 4KB x500 1 conn', msgs, 1, wall, lat)
        msgs = [small_message(500 + i) for i in range(500)]
        wall, lat = ingest(fx, msgs, 4, 'bob@example.test')
        report_ingest('smtp 4KB x500 4 conns', msgs, 4, wall, lat)
        msgs = [small_message(1000 + i) for i in range(1000)]
        wall, lat = ingest(fx, msgs, 4, 'bob@example.test')
        report_ingest('smtp 4KB x1000 4 conns (fill)', msgs, 4, wall, lat)
        msgs = [big_message(i) for i in range(20)]
        wall, lat = ingest(fx, msgs, 1, 'carol@example.test')
        report_ingest('smtp 5MB x20 1 conn', msgs, 1, wall, lat)
        del msgs

        # First as a client meets it right after delivery (planner statistics
        # from before the ingest; autovacuum has not analysed yet), then
        # after an explicit ANALYZE (the steady state).
        bench_imap(fx, 'bob@example.test', 2000, 'bob 2000 x 4KB, stats stale')
        bench_imap(fx, 'carol@example.test', 20, 'carol 20 x 5MB, stats stale', meta=False)
        fx.sql('ANALYZE')
        bench_imap(fx, 'bob@example.test', 2000, 'bob 2000 x 4KB, after ANALYZE')
        bench_imap(fx, 'carol@example.test', 20, 'carol 20 x 5MB, after ANALYZE', meta=False)

        for name in ('gateway', 'imapd'):
            p = fx.procs[name]
            if p.poll() is not None:
                raise BenchError('capmail-%s exited %s' % (name, p.returncode))
            hwm, rss = vm(p.pid, 'VmHWM'), vm(p.pid, 'VmRSS')
            print('memory capmail-%s peak RSS (VmHWM): %.1f MiB (%d kB) after all runs; '
                  'RSS now %.1f MiB' % (name, hwm / 1024.0, hwm, rss / 1024.0))
        print('bench total: %.0f s' % (time.time() - t_start))
        return 0
    except (BenchError, capfix.FixtureError, OSError) as e:
        print('bench FAILED: %s' % e)
        for name in fx.logs:
            print('--- %s log tail ---\n%s' % (name, fx.log_tail(name, 15)))
        return 1
    finally:
        fx.stop()
        fx.cleanup()


if __name__ == '__main__':
    sys.exit(main())
