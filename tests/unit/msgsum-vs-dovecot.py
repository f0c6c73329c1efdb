#!/usr/bin/env python3
"""Compare msgsum with Dovecot, message by message (a developer's tool, not
part of `make check`: it needs Dovecot's imap binary, Debian's
dovecot-imapd, and runs it as an unprivileged user in preauth mode on a
private Maildir; nothing listens on the network).

    tests/unit/msgsum-vs-dovecot.py [-v] FILE.eml...

Each message is first given CRLF line endings (Dovecot counts sizes as if
bare LFs were CRLF; msgsum counts the bytes as stored). For each message it
compares ENVELOPE, BODYSTRUCTURE and BODY (case-insensitively: msgsum
writes type, subtype and encoding in upper case), BODY[HEADER], and for
every part BODY[n] and BODY[n.MIME] with the bytes at msgsum's offsets.
Prints OK or DIFF per message and a total. Run from the build folder
(it uses ./tests/unit/test-msgsum-corpus --dump-parts).

Known differences on the shared corpus: Dovecot's more lenient address
parser (obsolete RFC 5322 syntax), its collapsing of folding white space
in Subject, NUL sent as 0x80 inside bodies, and a few broken Content-Type
values."""
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_sexp  # noqa: E402

IMAP = '/usr/lib/dovecot/imap'
USER = 'nobody'


class Atom(bytes):
    pass


class FetchParser(imap_sexp.Parser):
    """imap_sexp's parser, plus the atoms of a FETCH response."""
    ATOM = re.compile(rb'[A-Za-z][^ ()"{\x00-\x1f\x7f]*(\[[^\]]*\](<\d+>)?)?')

    def value(self):
        m = self.ATOM.match(self.d, self.i)
        if self.peek() not in (b'(', b'"', b'{') and m and m.group(0) != b'NIL':
            self.i = m.end()
            return Atom(m.group(0))
        return super().value()


def crlf(b):
    return re.sub(rb'(?<!\r)\n', b'\r\n', b)


def fold(v):
    if isinstance(v, list):
        return [fold(x) for x in v]
    return v.lower() if isinstance(v, bytes) else v


def ours(path):
    out = subprocess.run(['./tests/unit/test-msgsum-corpus', '--dump-parts',
                          path], capture_output=True, check=True).stdout
    res, parts, i = {}, [], 0
    while i < len(out):
        j = out.index(b' ', i)
        key = out[i:j].decode()
        if key in ('ENVELOPE', 'BODYSTRUCTURE', 'BODY'):
            p = imap_sexp.Parser(out)
            p.i = j + 1
            res[key] = p.value()
            i = p.i + 1
            continue
        e = out.index(b'\n', i)
        f = out[i:e].split()
        i = e + 1
        if key == 'HEADER':
            res['HEADER'] = int(f[1])
        elif key == 'PART':
            parts.append((f[1].decode(), int(f[2]), int(f[3]), int(f[4]),
                          int(f[5])))
    return res, parts


def dovecot(home, data, items):
    md = os.path.join(home, 'Maildir')
    shutil.rmtree(md, ignore_errors=True)
    for d in ('cur', 'new', 'tmp'):
        os.makedirs(os.path.join(md, d))
    with open(os.path.join(md, 'cur', '1.msg:2,'), 'wb') as f:
        f.write(data)
    pw = pwd.getpwnam(USER)
    for root, dirs, files in os.walk(home):
        for n in dirs + files:
            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    cmd = ('a select INBOX\r\nb fetch 1 (%s)\r\nc logout\r\n' % items).encode()
    out = subprocess.run(['runuser', '-u', USER, '--', 'env', 'USER=' + USER,
                          'HOME=' + home, IMAP, '-c',
                          os.path.join(home, 'dovecot.conf')],
                         input=cmd, capture_output=True, check=True).stdout
    s = out.index(b'* 1 FETCH ') + len(b'* 1 FETCH ')
    p = FetchParser(out)
    p.i = s
    v = p.value()
    return {bytes(v[k]).decode(): v[k + 1] for k in range(0, len(v), 2)}


def main():
    verbose = '-v' in sys.argv[1:]
    files = [a for a in sys.argv[1:] if a != '-v']
    if not os.path.exists(IMAP) or os.geteuid() != 0:
        print('needs root and %s (apt-get install dovecot-imapd)' % IMAP)
        return 77
    home = tempfile.mkdtemp(prefix='msgsum-dovecot-')
    os.chmod(home, 0o755)
    with open(os.path.join(home, 'dovecot.conf'), 'w') as f:
        f.write('mail_location = maildir:%s/Maildir\nssl = no\n'
                'log_path = /dev/null\nbase_dir = %s/run\n'
                'protocols = imap\n' % (home, home))
    os.makedirs(os.path.join(home, 'run'))
    msg = os.path.join(home, 'msg.eml')
    bad = 0
    try:
        for path in files:
            data = crlf(open(path, 'rb').read())
            with open(msg, 'wb') as f:
                f.write(data)
            res, parts = ours(msg)
            items = ['BODYSTRUCTURE', 'ENVELOPE', 'BODY', 'BODY.PEEK[HEADER]']
            for (pth, kind, h, b, e) in parts[:60]:
                items += ['BODY.PEEK[%s]' % pth, 'BODY.PEEK[%s.MIME]' % pth]
            dc = dovecot(home, data, ' '.join(items))
            diffs = [k for k in ('ENVELOPE', 'BODYSTRUCTURE', 'BODY')
                     if fold(res[k]) != fold(dc[k])]
            if dc['BODY[HEADER]'] != data[:res['HEADER']]:
                diffs.append('HEADER')
            for (pth, kind, h, b, e) in parts[:60]:
                if dc.get('BODY[%s]' % pth, data[b:e]) != data[b:e]:
                    diffs.append('BODY[%s]' % pth)
                # Dovecot has no MIME header for a top-level part 1
                if h > 0 and dc.get('BODY[%s.MIME]' % pth, data[h:b]) != data[h:b]:
                    diffs.append('BODY[%s.MIME]' % pth)
            print('%s %s %s' % ('DIFF' if diffs else 'OK  ',
                                os.path.basename(path), ' '.join(diffs)))
            if diffs:
                bad += 1
                if verbose:
                    for k in ('ENVELOPE', 'BODYSTRUCTURE'):
                        if k in diffs:
                            print('  msgsum ', res[k])
                            print('  dovecot', dc[k])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print('%d passed, %d failed' % (len(files) - bad, bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
