#!/usr/bin/env python3
"""End-to-end checks of capmail-imapd with Python's imaplib (a real client).

usage: test-imaplib.py HOST PORT USER PASSWORD [CONNINFO]

Checks: APPEND then FETCH BODY[] byte-exact (small, 8-bit, 1 MB),
RFC822.SIZE and BODYSTRUCTURE, partial fetches, two sessions on one
mailbox seeing each other's changes as unsolicited EXISTS / FETCH /
EXPUNGE (and no EXPUNGE during a plain FETCH), \\Recent going to the
first session only, COPY, the line limit.
With CONNINFO (libpq string; psql must be installed), also revokes a
grant in the database and checks that a session that had the message
selected can no longer fetch its bytes, and then sees it expunged.
Exit status 0 when every check passed.
"""
import imaplib
import re
import secrets
import subprocess
import sys

failures = 0


def check(cond, what):
    global failures
    if cond:
        print("ok   %s" % what)
    else:
        failures += 1
        print("FAIL %s" % what)


def connect(host, port, user, password):
    m = imaplib.IMAP4(host, port)
    m.login(user, password)
    return m


def fetch_one(m, num, item):
    typ, data = m.fetch(num, item)
    if typ != "OK" or not data or not isinstance(data[0], tuple):
        return typ, None
    return typ, data[0][1]


def untagged(m, name):
    return m.untagged_responses.pop(name, [])


def main():
    if len(sys.argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    host, port, user, password = sys.argv[1], int(sys.argv[2]), \
        sys.argv[3], sys.argv[4]
    conninfo = sys.argv[5] if len(sys.argv) > 5 else None
    box = "py" + secrets.token_hex(4)

    a = connect(host, port, user, password)
    check(a.create(box)[0] == "OK", "CREATE %s" % box)

    # RFC 3501 2.3.1.1: a mailbox deleted and created again under the
    # same name gets a greater UIDVALIDITY, even within the same second
    # (its uids start at 1 again).
    seen, grows = [], True
    for _ in range(3):
        a.create(box + "-re")
        typ, data = a.status(box + "-re", "(UIDVALIDITY)")
        mo = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
        v = int(mo.group(1)) if typ == "OK" and mo else 0
        grows = grows and v > 0 and all(v > w for w in seen)
        seen.append(v)
        a.delete(box + "-re")
    check(grows, "DELETE + CREATE: UIDVALIDITY grows %s" % seen)

    msg1 = (b"From: Alice <a@example.org>\r\nTo: b@example.org\r\n"
            b"Subject: caf\xc3\xa9\r\nContent-Type: text/plain; charset=utf-8"
            b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\n.\r\n..\r\nend\r\n")
    typ, data = a.append(box, r"(\Seen)", None, msg1)
    check(typ == "OK" and b"APPENDUID" in data[0], "APPEND 8-bit message")
    typ, _ = a.select(box)
    check(typ == "OK", "SELECT")
    check(untagged(a, "RECENT") == [b"1"], "SELECT: 1 RECENT")
    typ, body = fetch_one(a, "1", "(BODY.PEEK[])")
    check(body == msg1, "FETCH BODY[] is byte-exact (8-bit)")
    typ, data = a.fetch("1", "(RFC822.SIZE BODYSTRUCTURE)")
    line = data[0] if isinstance(data[0], bytes) else data[0][0]
    check(b"RFC822.SIZE %d" % len(msg1) in line, "RFC822.SIZE")
    text = msg1[msg1.index(b"\r\n\r\n") + 4:]
    check(re.search(rb'BODYSTRUCTURE \("TEXT" "PLAIN" \("charset" "utf-8"\)'
                    rb' NIL NIL "8BIT" %d %d ' % (len(text),
                                                  text.count(b"\r\n")),
                    line) is not None,
          "BODYSTRUCTURE text/plain, 8bit, size and lines")

    big = (b"Subject: big\r\n\r\n" +
           b"".join(b"line %07d abcdefghijklmnopqrstuvwxyz\r\n" % i
                    for i in range(25000)))
    typ, data = a.append(box, None, None, big)
    check(typ == "OK", "APPEND 1 MB message (%d bytes)" % len(big))
    a.noop()
    check(untagged(a, "RECENT") == [b"2"], "NOOP after APPEND: 2 RECENT")
    typ, body = fetch_one(a, "2", "(BODY.PEEK[])")
    check(body == big, "FETCH BODY[] of 1 MB is byte-exact")
    typ, body = fetch_one(a, "2", "(BODY.PEEK[TEXT]<1000.50>)")
    check(body == big[16 + 1000:16 + 1050], "partial BODY[TEXT]<1000.50>")

    # a second session on the same mailbox
    b = connect(host, port, user, password)
    b.select(box)
    untagged(b, "EXISTS")
    check(untagged(b, "RECENT") == [b"0"],
          "other session: SELECT shows 0 RECENT (the first claimed them)")
    a.append(box, None, None, b"Subject: third\r\n\r\nthree\r\n")
    b.noop()
    check(untagged(b, "EXISTS") == [b"3"], "other session: EXISTS on NOOP")
    check(untagged(b, "RECENT") == [], "other session: no RECENT on NOOP")
    typ, data = b.fetch("3", "(FLAGS)")
    check(typ == "OK" and b"\\Recent" not in data[0],
          "other session: no \\Recent in FLAGS")
    typ, data = a.fetch("3", "(FLAGS)")
    check(typ == "OK" and b"\\Recent" in data[0],
          "appending session: \\Recent in FLAGS")
    a.store("1", "+FLAGS", r"(\Flagged)")
    b.noop()
    fl = untagged(b, "FETCH")
    check(any(b"\\Flagged" in x for x in fl if isinstance(x, bytes)),
          "other session: FETCH FLAGS on NOOP")
    a.store("3", "+FLAGS", r"(\Deleted)")
    a.expunge()
    # a plain FETCH must not announce the expunge (sequence numbers)
    typ, data = b.fetch("1", "(FLAGS)")
    check(untagged(b, "EXPUNGE") == [], "no EXPUNGE during FETCH")
    b.noop()
    check(untagged(b, "EXPUNGE") == [b"3"], "other session: EXPUNGE on NOOP")

    typ, data = a.copy("1:2", "Trash")
    check(typ == "OK" and b"COPYUID" in data[0], "COPY with COPYUID")

    if conninfo:
        # revoke the grant behind message 1 of the mailbox
        sql = ("UPDATE grants SET state = 'revoked', revoked_at = now()"
               " WHERE id = (SELECT e.grant_id FROM mailbox_entries e"
               " JOIN mailboxes m ON m.id = e.mailbox_id"
               " WHERE m.name = '%s' AND e.uid = 1)" % box)
        r = subprocess.run(["psql", "-q", "-d", conninfo, "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check(r.returncode == 0, "revoke grant in the database")
        typ, data = b.fetch("1", "(BODY.PEEK[])")
        served = any(isinstance(x, tuple) and x[1] == msg1 for x in data)
        check(typ == "NO" and not served,
              "revoked grant: FETCH answers NO, bytes not served")
        typ, data = b.copy("1:2", "Trash")
        check(typ == "NO", "revoked grant: COPY refused (nothing copied)")
        typ, data = b.uid("SEARCH", "ALL")
        check(typ == "OK" and data[0].split()[:1] != [b"1"],
              "revoked grant: not found by SEARCH")
        b.noop()
        check(untagged(b, "EXPUNGE") == [b"1"],
              "revoked grant: announced as EXPUNGE")
        typ, data = b.uid("FETCH", "1", "(FLAGS)")
        check(typ == "OK" and data == [None], "revoked grant: UID FETCH empty")

    # the command line limit
    typ = None
    try:
        typ, data = a._simple_command("NOOP", "x" * 70000)
    except imaplib.IMAP4.error as e:
        typ = "BAD" if "BAD" in str(e) or "too long" in str(e) else str(e)
    check(typ == "BAD", "line over imap_max_line answers BAD")
    check(a.noop()[0] == "OK", "session usable after BAD")

    for m in (a, b):
        m.logout()
    print("%s: %d failure(s)" % (sys.argv[0], failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
