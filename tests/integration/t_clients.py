"""Real mail clients against the fixture's daemons.

- swaks sends to bob; bob's newest message carries swaks's subject and body.
- curl sends a CRLF message to carol over smtp://; carol fetches it back
  byte-equal after the Received field.
- mbsync pulls alice's INBOX into a Maildir (config written here): no
  error, one file per message of the INBOX, each byte-equal to the IMAP
  BODY[] of its UID (mbsync stores Maildir files with LF line ends and
  adds an X-TUID field, which the comparison removes).
- mutt (in a pseudo-terminal made by script(1)) opens alice's INBOX over
  IMAP and pipes the first message to a file: it must be that message.
"""

import os
import random
import re
import shutil
import subprocess

import capfix
import mailutil
from mailutil import Skip


def need(prog):
    if shutil.which(prog) is None:
        raise AssertionError('%s is not installed (contrib/install-deps --test)' % prog)


def run(argv, timeout=300, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, **kw)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def newest(fx, user):
    m = fx.imap(user)
    try:
        uids = mailutil.uids(m)
        if not uids:
            raise AssertionError('%s: INBOX is empty' % user)
        return mailutil.fetch(m, uids[-1])
    finally:
        m.logout()


def test_swaks(fx):
    need('swaks')
    token = '%016x' % random.getrandbits(64)
    rc, out, err = run(['swaks', '--server', '127.0.0.1:%d' % fx.smtp_port,
                        '--helo', 'client.outside.example',
                        '--from', mailutil.OUTSIDE, '--to', 'bob@example.test',
                        '--header', 'Subject: via swaks %s' % token,
                        '--body', 'swaks body %s' % token])
    if rc != 0:
        raise AssertionError('swaks exited %d:\n%s' % (rc, (out + err)[-1500:]))
    body = newest(fx, 'bob@example.test')['BODY[]']
    for want in (b'Subject: via swaks ' + token.encode(), b'\r\n\r\nswaks body ' + token.encode()):
        if want not in body:
            raise AssertionError('bob\'s newest message lacks %r' % want)


def test_curl_smtp(fx):
    need('curl')
    token = '%016x' % random.getrandbits(64)
    msg = ('From: sender@outside.example\r\nTo: carol@example.test\r\n'
           'Subject: via curl %s\r\n\r\n.leading dot\r\ncurl body %s\r\n' % (token, token)).encode()
    path = os.path.join(fx.dir, 'curl-msg.eml')
    with open(path, 'wb') as f:
        f.write(msg)
    rc, out, err = run(['curl', '-sS', '--max-time', '60',
                        '--url', 'smtp://127.0.0.1:%d' % fx.smtp_port,
                        '--mail-from', mailutil.OUTSIDE, '--mail-rcpt', 'carol@example.test',
                        '-T', path])
    if rc != 0:
        raise AssertionError('curl exited %d: %s' % (rc, err.strip()))
    it = newest(fx, 'carol@example.test')
    mailutil.verify_fetched(it, msg)


def all_messages(fx, user):
    m = fx.imap(user)
    try:
        return {u: mailutil.fetch(m, u, '(UID BODY.PEEK[])')['BODY[]']
                for u in mailutil.uids(m)}
    finally:
        m.logout()


def test_mbsync(fx):
    need('mbsync')
    user = 'alice@example.test'
    base = os.path.join(fx.dir, 'mbsync')
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(os.path.join(base, 'state'))
    os.makedirs(os.path.join(base, 'mail'))
    rc_path = os.path.join(base, 'mbsyncrc')
    with open(rc_path, 'w') as f:
        f.write('IMAPAccount alice\nHost 127.0.0.1\nPort %d\nUser %s\nPass %s\n'
                'SSLType None\nAuthMechs LOGIN\n\n'
                'IMAPStore alice-far\nAccount alice\n\n'
                'MaildirStore alice-near\nPath %s/mail/\nInbox %s/mail/INBOX\n\n'
                'Channel alice\nFar :alice-far:\nNear :alice-near:\nPatterns INBOX\n'
                'Create Near\nSync Pull\nSyncState %s/state/\n'
                % (fx.imap_port, user, capfix.USERS[user], base, base, base))
    msgs = all_messages(fx, user)
    rc, out, err = run(['mbsync', '-c', rc_path, '-V', 'alice'],
                       env=dict(os.environ, HOME=base))
    if rc != 0:
        raise AssertionError('mbsync exited %d:\n%s' % (rc, (out + err)[-2000:]))
    for line in (out + err).splitlines():
        if 'sent in the clear' in line:    # no TLS yet: expected on loopback
            continue
        if 'error' in line.lower() or 'warning' in line.lower():
            raise AssertionError('mbsync printed: %s' % line)
    files = {}
    for sub in ('new', 'cur'):
        d = os.path.join(base, 'mail', 'INBOX', sub)
        for name in os.listdir(d):
            files[name] = os.path.join(d, name)
    if len(files) != len(msgs):
        raise AssertionError('Maildir has %d messages, INBOX %d' % (len(files), len(msgs)))
    bad = []
    for name, path in files.items():
        uid = None
        for part in name.split(':')[0].split(','):
            if part.startswith('U='):
                uid = int(part[2:])
        if uid not in msgs:
            bad.append('%s: no UID' % name)
            continue
        with open(path, 'rb') as f:
            data = f.read()
        want = msgs[uid]
        # mbsync adds its own tracking field at the end of the header.
        data = re.sub(rb'(?m)^X-TUID: [!-~]+\r?\n', b'', data, count=1)
        if data != want and data != want.replace(b'\r\n', b'\n'):
            bad.append('UID %d: ' % uid + mailutil.diff_at(want.replace(b'\r\n', b'\n'), data))
    if bad:
        raise AssertionError('%d of %d Maildir files differ: %s'
                             % (len(bad), len(files), '; '.join(bad[:3])))


def test_mutt(fx):
    need('mutt')
    need('script')
    user = 'alice@example.test'
    base = os.path.join(fx.dir, 'mutt')
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(os.path.join(base, 'Mail'))     # else mutt asks to create ~/Mail
    out = os.path.join(base, 'piped.eml')
    muttrc = os.path.join(base, 'muttrc')
    with open(muttrc, 'w') as f:
        f.write('set imap_user="%s"\nset imap_pass="%s"\n'
                'set ssl_starttls=no\nset ssl_force_tls=no\n'
                'set header_cache=""\nset message_cachedir=""\n'
                'set wait_key=no\nset pipe_decode=no\nset confirmappend=no\n'
                'set quit=yes\nset sort=mailbox-order\nset mail_check=0\n'
                'set imap_passive=yes\nset timeout=30\n'
                % (user, capfix.USERS[user]))
    url = 'imap://%s@127.0.0.1:%d/INBOX' % (user.replace('@', '%40'), fx.imap_port)
    push = os.path.join(base, 'push.rc')
    with open(push, 'w') as f:
        f.write('push "<first-entry><pipe-message>cat > %s<enter><quit>"\n' % out)
    cmd = "mutt -n -F %s -f %s -e 'source %s'" % (muttrc, url, push)
    m = fx.imap(user)
    try:
        if not mailutil.uids(m):    # run alone (--only clients): give it one
            mailutil.send(fx, b'From: <x@outside.example>\r\nSubject: for mutt\r\n'
                          b'\r\nRead me.\r\n', [user])
        first = mailutil.fetch(m, mailutil.uids(m)[0], '(UID BODY.PEEK[])')['BODY[]']
    finally:
        m.logout()
    rc, sout, serr = run(['script', '-qec', cmd, '/dev/null'], timeout=120,
                         env=dict(os.environ, TERM='xterm', HOME=base, COLUMNS='120', LINES='40'),
                         stdin=subprocess.DEVNULL)
    if rc != 0:
        raise AssertionError('mutt exited %d: %s' % (rc, (sout + serr)[-800:]))
    if not os.path.exists(out):
        raise AssertionError('mutt piped nothing; screen: %s' % sout[-800:])
    with open(out, 'rb') as f:
        data = f.read().replace(b'\r\n', b'\n')
    # mutt pipes the message as it read it over IMAP (LF line ends).
    want = first.replace(b'\r\n', b'\n')
    if data != want:
        raise AssertionError('mutt piped ' + mailutil.diff_at(want, data))


def cases(fx):
    return [('clients: swaks sends to bob', lambda: test_swaks(fx)),
            ('clients: curl sends to carol over smtp://', lambda: test_curl_smtp(fx)),
            ('clients: mbsync pulls alice\'s INBOX byte-equal', lambda: test_mbsync(fx)),
            ('clients: mutt reads alice\'s first message', lambda: test_mutt(fx))]
