#!/usr/bin/env python3
"""Throw random command sequences and garbage at a running capmail-imapd.

usage: stress-sessions.py SEED SECONDS PORT

Many short sessions on 127.0.0.1:PORT, each a random mix of valid
commands (as alice@example.org / secret: adjust toks for another user),
protocol fragments and random bytes, abandoned mid-command. Run it
against a sanitizer build and check the daemon's log stays clean and the
daemon stays up; it asserts nothing itself.
"""
import socket, random, time, sys
random.seed(int(sys.argv[1]))
toks = [b"a LOGIN alice@example.org secret\r\n", b"b SELECT INBOX\r\n", b"b2 SELECT Trash\r\n", b"b3 EXAMINE INBOX\r\n", b"c FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)] BODY[1.MIME] BODYSTRUCTURE)\r\n",
 b"d UID FETCH 1:* BODY[]<0.10>\r\n", b"e SEARCH OR FROM a NOT (TEXT b)\r\n", b"f STORE 1:* +FLAGS (\\Seen)\r\n", b"f2 STORE 1:2 +FLAGS (\\Deleted)\r\n", b"g APPEND INBOX {5+}\r\nhello\r\n",
 b"h APPEND INBOX {5}\r\n", b"hello\r\n", b"{", b"(", b")", b"\"", b"\r\n", b"*", b"[", b"]", b" ", b"NIL", b"i LIST \"\" *\r\n", b"j EXPUNGE\r\n",
 b"k AUTHENTICATE PLAIN\r\n", b"=\r\n", b"l NOOP\r\n", b"m COPY 1:* Trash\r\n", b"n CLOSE\r\n", b"\x00", b"\xff", b"o UID EXPUNGE 1:*\r\n", b"p STATUS INBOX (MESSAGES UNSEEN)\r\n",
 b"q CREATE fz/a\r\n", b"r RENAME fz fz2\r\n", b"s DELETE fz2/a\r\n", b"t LSUB \"\" *\r\n", b"u UNSELECT\r\n", b"v FETCH * RFC822\r\n", b"w UID STORE 1:* -FLAGS.SILENT (\\Deleted)\r\n"]
n=0
t0=time.time()
while time.time()-t0 < float(sys.argv[2]):
    s=socket.create_connection(('127.0.0.1',int(sys.argv[3]))); s.settimeout(0.1)
    for i in range(random.randint(1,40)):
        try:
            s.sendall(random.choice(toks) if random.random()<0.85 else bytes(random.getrandbits(8) for _ in range(random.randint(1,20))))
        except Exception: break
    try:
        while s.recv(65536): pass
    except Exception: pass
    s.close(); n+=1
print(n, "sessions")
