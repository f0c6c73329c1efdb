"""Round trip: each message of tests/integration/messages/*.eml and of the
corpus (../shared/corpus/dev beside the source tree, or $CAPMAIL_CORPUS)
is sent to alice with smtplib and fetched back with imaplib (UID FETCH
BODY.PEEK[] RFC822.SIZE BODYSTRUCTURE). The fetched bytes must be exactly
the bytes sent (line endings made CRLF, a final CRLF added, as on the wire)
preceded by capmail's Received field only; RFC822.SIZE must be their
length; BODYSTRUCTURE must parse and have the top type the Content-Type
declares. A few are fetched again with curl (imap://.../INBOX;UID=n) and
must be byte-equal to what imaplib got. One test per message."""

import glob
import imaplib
import os
import subprocess

import capfix
import mailutil
from mailutil import Skip

ALICE = 'alice@example.test'


class Session:
    """One IMAP connection for alice, reopened after an error."""

    def __init__(self, fx):
        self.fx = fx
        self.m = None

    def get(self):
        if self.m is None:
            self.m = self.fx.imap(ALICE)
        return self.m

    def drop(self):
        if self.m is not None:
            try:
                self.m.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
        self.m = None


def corpus_dir(fx):
    env = os.environ.get('CAPMAIL_CORPUS')
    if env:
        return env
    return os.path.join(os.path.dirname(fx.srcdir), 'shared', 'corpus', 'dev')


def roundtrip_case(fx, sess, path, results):
    def fn():
        with open(path, 'rb') as f:
            raw = f.read()
        try:
            m = sess.get()
            before = set(mailutil.uids(m))
            expected = mailutil.send(fx, raw, [ALICE])
            after = mailutil.uids(m)
            new = [u for u in after if u not in before]
            if len(new) != 1:
                raise AssertionError('expected 1 new message in INBOX, found %d' % len(new))
            it = mailutil.fetch(m, new[0])
        except (imaplib.IMAP4.error, OSError):
            sess.drop()
            raise
        mailutil.verify_fetched(it, expected)
        results[path] = (new[0], it['BODY[]'])
    return fn


def curl_case(fx, path, results):
    def fn():
        if path not in results:
            raise AssertionError('its round trip failed')
        uid, body = results[path]
        url = 'imap://127.0.0.1:%d/INBOX;UID=%d' % (fx.imap_port, uid)
        p = subprocess.run(['curl', '-sS', '--max-time', '60', '--url', url,
                            '-u', '%s:%s' % (ALICE, capfix.USERS[ALICE])],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise AssertionError('curl exited %d: %s' % (
                p.returncode, p.stderr.decode('utf-8', 'replace').strip()))
        if p.stdout != body:
            raise AssertionError('curl output ' + mailutil.diff_at(body, p.stdout))
    return fn


def cases(fx):
    sess = Session(fx)
    results = {}
    out = []
    own = sorted(glob.glob(os.path.join(os.path.dirname(__file__), 'messages', '*.eml')))
    for p in own:
        out.append(('roundtrip messages/%s' % os.path.basename(p),
                    roundtrip_case(fx, sess, p, results)))
    cdir = corpus_dir(fx)
    corpus = []
    if os.path.isdir(cdir):
        corpus = sorted(p for p in glob.glob(os.path.join(cdir, '*'))
                        if os.path.isfile(p))
        for p in corpus:
            out.append(('roundtrip corpus/%s' % os.path.basename(p),
                        roundtrip_case(fx, sess, p, results)))
    else:
        print('skipped: corpus not found (%s)' % cdir)

        def skip():
            raise Skip('corpus not found (%s)' % cdir)
        out.append(('roundtrip corpus', skip))
    # curl: a few of our own, and corpus messages with odd line endings,
    # a large one and an 8-bit one.
    picks = own[:3]
    for want in ('sisimai-mac-lhost-outlook-01', 'spamscope-mail_outlook_1',
                 'nodemailer-large_text', 'rubymail-japanese', 'dovecot-malformed-000'):
        picks += [p for p in corpus if os.path.basename(p).startswith(want)][:1]
    for p in picks:
        out.append(('curl fetch %s' % os.path.basename(p), curl_case(fx, p, results)))
    return out
