#!/usr/bin/env python3
"""Run IMAP protocol transcripts against a running capmail-imapd.

usage: run-transcripts.py HOST PORT USER PASSWORD [FILE...]

Without FILEs, runs every tests/imap/*.txt next to this script. Each file
is one session (one connection), its lines in order:

  # comment                     ignored, as are blank lines
  C: text                       send text + CRLF
  S: text                       the next line from the server must equal
                                text exactly (without its CRLF)
  S~ regex                      the next line must match regex (fullmatch)
  CLOSED                        the server must have closed the connection
  C2: / S2: / S2~               the same for a second session (connection),
                                opened at its first line (expect its
                                greeting with S2~), to test what one
                                session sees of another's commands; C3:
                                ... likewise, up to 9

In C:, S: and S~ lines these are replaced first: $USER, $PASS, $PLAIN
(base64 of NUL user NUL password), $RUN (a random token, fresh for each
file, to name mailboxes so that runs do not collide); in S~ lines they
are replaced by their regex-escaped values. Server literals are compared
line by line like any other bytes. Exit status 0 when every transcript
passed.
"""
import base64
import os
import re
import secrets
import socket
import sys

TIMEOUT = 10


class Session:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = b""

    def send(self, text):
        self.sock.sendall(text.encode("utf-8") + b"\r\n")

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed by server")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def closed(self):
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False


def run(path, host, port, user, password):
    run_id = secrets.token_hex(4)
    plain = base64.b64encode(
        b"\0" + user.encode() + b"\0" + password.encode()).decode()
    subst = {"$USER": user, "$PASS": password, "$PLAIN": plain,
             "$RUN": run_id}

    def expand(s, regex=False):
        for k, v in subst.items():
            s = s.replace(k, re.escape(v) if regex else v)
        return s

    sessions = {"": Session(host, port)}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for n, raw in enumerate(lines, 1):
        if raw == "" or raw.startswith("#"):
            continue
        where = "%s:%d" % (os.path.basename(path), n)
        # "C2: ..." is "C: ..." on session 2
        m = re.match(r"([CS])([2-9])([:~])", raw)
        sid = ""
        if m:
            sid = m.group(2)
            raw = m.group(1) + m.group(3) + raw[3:]
        try:
            if sid not in sessions:
                sessions[sid] = Session(host, port)
            s = sessions[sid]
            if raw.startswith("C: ") or raw == "C:":
                s.send(expand(raw[3:]))
            elif raw.startswith("S: ") or raw == "S:":
                want = expand(raw[3:])
                got = s.line()
                if got != want:
                    return "%s: expected %r\n%s: got      %r" % (
                        where, want, where, got)
            elif raw.startswith("S~ "):
                want = expand(raw[3:], regex=True)
                got = s.line()
                if not re.fullmatch(want, got):
                    return "%s: expected /%s/\n%s: got %r" % (
                        where, want, where, got)
            elif raw == "CLOSED":
                if not s.closed():
                    return "%s: connection still open" % where
            else:
                return "%s: bad transcript line %r" % (where, raw)
        except (EOFError, OSError) as e:
            return "%s: %s" % (where, e)
    return None


def main():
    if len(sys.argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    host, port, user, password = sys.argv[1], int(sys.argv[2]), \
        sys.argv[3], sys.argv[4]
    files = sys.argv[5:]
    if not files:
        d = os.path.dirname(os.path.abspath(__file__))
        files = sorted(os.path.join(d, f) for f in os.listdir(d)
                       if f.endswith(".txt"))
    failed = 0
    for path in files:
        err = run(path, host, port, user, password)
        if err:
            failed += 1
            print("FAIL %s\n%s" % (os.path.basename(path), err))
        else:
            print("PASS %s" % os.path.basename(path))
    print("%d of %d transcripts passed" % (len(files) - failed, len(files)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
