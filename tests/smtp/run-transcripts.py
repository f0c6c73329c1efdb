#!/usr/bin/env python3
"""Run SMTP transcript files against a running capmail-gateway.

usage: run-transcripts.py [--db CONNINFO] HOST:PORT [FILE.txt ...]
       run-transcripts.py [--db CONNINFO] --host HOST --port PORT [FILE ...]

Without FILEs, runs every tests/smtp/*.txt next to this script. Prints
"ok NAME" or "FAIL NAME: why" per file and exits 1 if any failed. The
database defaults to $CAPMAIL_TEST_DB. The transcripts expect the test
fixture's setup: local domain example.test with users alice@, bob@ and
carol@example.test, no postmaster user, and the default limits of
capmail.conf(5) (smtp_max_message_size 52428800, smtp_max_line 2048,
smtp_max_errors 20).

A transcript is one case, one directive per line ('#' lines and blank
lines are ignored). Consecutive C:/R: lines are sent in ONE write (that
is how pipelining is tested); the S:/N:/E:/B: lines after them are then
checked in order.

  C: text     send text + CRLF
  R: text     send text raw (no CRLF added)
  S: prefix   read one reply (all its lines); its first line, with the
              continuation '-' read as ' ', must start with prefix
  N:          no reply arrives within one second
  K: text     the last reply has a line whose text (after "NNN-" or
              "NNN ") starts with text (EHLO keywords)
  E:          the server closes the connection (after any pending reply)
  B: bytes    the message last answered "250 ... queued as ID" is stored
              in the database (--db) and, without its Received header,
              is exactly these bytes (needs psql; skipped without --db)
  G: n        that message has exactly n grants (--db)

Every reply is also checked for an enhanced status code (RFC 2034) that
matches its class, except the greeting, the answers to HELO/EHLO, 354 and
the 334 AUTH challenges (RFC 4954: base64 text, no status code).

In C:, R: and B: text, \\r \\n \\t \\\\ \\xHH are escapes and {X*N}
stands for the string X repeated N times (for long lines and big data).
"""
import os
import re
import socket
import subprocess
import sys
import time

TIMEOUT = 10.0


class Fail(Exception):
    pass


def expand(text):
    def rep(m):
        return m.group(1) * int(m.group(2))
    text = re.sub(r'\{([^{}*]*)\*(\d+)\}', rep, text)
    out = bytearray()
    i = 0
    raw = text.encode('utf-8')
    while i < len(raw):
        c = raw[i:i + 1]
        if c == b'\\' and i + 1 < len(raw):
            n = raw[i + 1:i + 2]
            if n == b'r':
                out += b'\r'
            elif n == b'n':
                out += b'\n'
            elif n == b't':
                out += b'\t'
            elif n == b'\\':
                out += b'\\'
            elif n == b'x':
                out.append(int(raw[i + 2:i + 4], 16))
                i += 2
            else:
                raise Fail('bad escape \\%s' % n.decode())
            i += 2
        else:
            out += c
            i += 1
    return bytes(out)


class Client:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = b''
        self.closed = False

    def fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b''
        if not data:
            self.closed = True
            return False
        self.buf += data
        return True

    def line(self):
        deadline = time.time() + TIMEOUT
        while b'\r\n' not in self.buf:
            if self.closed or time.time() > deadline:
                raise Fail('no reply (connection %s)' %
                           ('closed' if self.closed else 'timed out'))
            self.fill(max(0.1, deadline - time.time()))
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line.decode('utf-8', 'replace')

    def reply(self):
        lines = [self.line()]
        while len(lines[-1]) >= 4 and lines[-1][3] == '-':
            lines.append(self.line())
        return lines


def stored_message(conninfo, msgid):
    sql = ("SELECT encode(string_agg(o.data, ''::bytea ORDER BY s.seq), "
           "'hex') FROM message_segments s JOIN objects o "
           "ON o.hash = s.object_hash WHERE s.message_id = ("
           "SELECT s2.message_id FROM message_segments s2 JOIN objects o2 "
           "ON o2.hash = s2.object_hash WHERE s2.seq = 0 AND "
           "position(convert_to($$%s$$, 'UTF8') in o2.data) > 0 "
           "ORDER BY s2.message_id DESC LIMIT 1)" % msgid)
    out = subprocess.run(['psql', '-d', conninfo, '-Atc', sql],
                         capture_output=True, text=True, check=True).stdout
    return bytes.fromhex(out.strip())


def grant_count(conninfo, msgid):
    sql = ("SELECT count(*) FROM grants WHERE message_id = ("
           "SELECT s2.message_id FROM message_segments s2 JOIN objects o2 "
           "ON o2.hash = s2.object_hash WHERE s2.seq = 0 AND "
           "position(convert_to($$%s$$, 'UTF8') in o2.data) > 0 "
           "ORDER BY s2.message_id DESC LIMIT 1)" % msgid)
    out = subprocess.run(['psql', '-d', conninfo, '-Atc', sql],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def strip_received(msg):
    """Remove capmail's trace fields: Received, then the
    Authentication-Results field below it (mail from outside)."""
    m = re.match(rb'Received:[^\r]*\r\n(\t[^\r]*\r\n)*'
                 rb'(Authentication-Results:[^\r]*\r\n(\t[^\r]*\r\n)*)?', msg)
    if not m:
        raise Fail('stored message does not start with Received')
    return msg[m.end():]


ENHANCED = re.compile(r'^(\d)\d\d[ -]([245])\.\d{1,3}\.\d{1,3}( |$)')


def check_enhanced(got, state):
    """The RFC 2034 rule, as capmail applies it: every reply but the
    greeting, HELO/EHLO answers, 354 and 334 has a code of its own class."""
    if state['replies'] == 0:
        state['replies'] += 1
        return None
    state['replies'] += 1
    m = ENHANCED.match(got[0])
    if m:
        if m.group(1) != m.group(2):
            return 'enhanced code class differs: "%s"' % got[0]
        return None
    if got[0].startswith('354') or got[0].startswith('334 '):
        return None
    if got[0][:3] == '250' and state['helo_owed'] > 0:
        state['helo_owed'] -= 1
        return None
    return 'no enhanced status code: "%s"' % got[0]


def run(path, host, port, db):
    client = Client(host, port)
    pending = b''
    last_id = None
    last_reply = []
    state = {'replies': 0, 'helo_owed': 0}
    notes = []
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().split('\n')
        for lineno, text in enumerate(lines, 1):
            if text == '' or text.startswith('#'):
                continue
            kind, _, arg = text.partition(':')
            arg = arg[1:] if arg.startswith(' ') else arg
            where = '%s:%d' % (os.path.basename(path), lineno)
            if kind in ('C', 'R'):
                if kind == 'C' and re.match(r'(?i)(ehlo|helo) ', arg):
                    state['helo_owed'] += 1
                pending += expand(arg) + (b'\r\n' if kind == 'C' else b'')
                continue
            if pending:
                try:
                    client.sock.sendall(pending)
                except OSError as e:
                    raise Fail('%s: send failed: %s' % (where, e))
                pending = b''
            if kind == 'S':
                try:
                    got = client.reply()
                except Fail as e:
                    raise Fail('%s: expected "%s": %s' % (where, arg, e))
                last_reply = got
                why = check_enhanced(got, state)
                if why:
                    raise Fail('%s: %s' % (where, why))
                first = got[0][:3] + ' ' + got[0][4:] if len(got) > 1 \
                    else got[0]
                if not first.startswith(arg):
                    raise Fail('%s: expected "%s", got "%s"' %
                               (where, arg, ' | '.join(got)))
                m = re.match(r'250 .*queued as (\S+)', got[0])
                if m:
                    last_id = m.group(1)
            elif kind == 'N':
                if client.buf or client.fill(1.0):
                    raise Fail('%s: unexpected reply "%s"' %
                               (where, client.buf.decode('utf-8',
                                                         'replace')))
            elif kind == 'E':
                deadline = time.time() + TIMEOUT
                while not client.closed and time.time() < deadline:
                    client.fill(0.5)
                if not client.closed:
                    raise Fail('%s: connection still open' % where)
                if client.buf:
                    raise Fail('%s: unexpected reply before close: %s' %
                               (where, client.buf.decode()))
            elif kind == 'K':
                if not any(l[4:].startswith(arg) for l in last_reply):
                    raise Fail('%s: no "%s" in "%s"' %
                               (where, arg, ' | '.join(last_reply)))
            elif kind == 'G':
                if db is None:
                    notes.append('grants not checked: no --db')
                    continue
                if last_id is None:
                    raise Fail('%s: no "queued as" reply seen' % where)
                n = grant_count(db, last_id)
                if n != int(arg):
                    raise Fail('%s: %d grants, expected %s' % (where, n, arg))
            elif kind == 'B':
                if db is None:
                    notes.append('stored bytes not checked: no --db')
                    continue
                if last_id is None:
                    raise Fail('%s: no "queued as" reply seen' % where)
                want = expand(arg)
                got = strip_received(stored_message(db, last_id))
                if got != want:
                    raise Fail('%s: stored %r, expected %r' %
                               (where, got, want))
            else:
                raise Fail('%s: unknown directive "%s"' % (where, kind))
    finally:
        client.sock.close()
    return notes


def main(argv):
    db = os.environ.get('CAPMAIL_TEST_DB')
    host = port = None
    rest = []
    while argv:
        if argv[0] in ('--db', '--host', '--port') and len(argv) >= 2:
            if argv[0] == '--db':
                db = argv[1]
            elif argv[0] == '--host':
                host = argv[1]
            else:
                port = argv[1]
            argv = argv[2:]
        else:
            rest.append(argv[0])
            argv = argv[1:]
    if host is None and rest and ':' in rest[0]:
        host, _, port = rest.pop(0).rpartition(':')
    if host is None or port is None:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    files = rest
    if not files:
        here = os.path.dirname(os.path.abspath(__file__))
        files = sorted(os.path.join(here, f) for f in os.listdir(here)
                       if f.endswith('.txt'))
    failed = 0
    for path in files:
        name = os.path.basename(path)
        try:
            notes = run(path, host, int(port), db)
            print('ok %s%s' % (name, (' (%s)' % '; '.join(notes))
                               if notes else ''))
        except (Fail, OSError, subprocess.CalledProcessError) as e:
            failed += 1
            print('FAIL %s: %s' % (name, e))
    print('%d of %d transcripts failed' % (failed, len(files)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
