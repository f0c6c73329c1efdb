"""Sender policy at the gateway (issue: sender verification), on a domain
of its own, verify.test, which keeps the default policy verify-unknown:

- an unknown sender's mail to vera@verify.test is accepted (250) and held:
  one message, a grant in state 'held', no INBOX entry, an empty INBOX over
  IMAP; `capmailctl held release` then puts it in INBOX byte-exact;
- kate@verify.test (user policy known-only) refuses unknown senders at
  RCPT with the exact 550 5.7.1 text naming the postmaster; the null
  sender is held, not refused (bounces of her own mail); postmaster and
  abuse take mail from anyone;
- block rules (the user's address, the organisation's @domain) refuse at
  RCPT with 550 5.7.1; allow rules (address, @domain) deliver to INBOX;
- one message to a held and an accepted recipient is stored once with one
  held and one active grant;
- held mail older than held_max_age is deleted by the gateway itself when
  it starts (and hourly), with a log line per grant, and its message
  collected.
"""

import imaplib
import os
import smtplib
import time

import capfix
import mailutil

DOMAIN = 'verify.test'
USERS = {
    'vera@verify.test': 'vera-Secret-7',
    'kate@verify.test': 'kate-Secret-8',
    'postmaster@verify.test': 'pm-Secret-9',
    'abuse@verify.test': 'abuse-Secret-10',
}
REFUSED = ('Recipient accepts mail only from senders they know; to reach '
           'them, write to <postmaster@verify.test>')


def setup(fx):
    if fx.sql1("SELECT count(*) FROM domains WHERE name = '%s'" % DOMAIN) != '0':
        return
    fx.ctl('domain', 'add', DOMAIN)
    for addr, pw in USERS.items():
        fx.ctl('user', 'add', addr, input=(pw + '\n').encode())
    fx.ctl('user', 'policy', 'kate@verify.test', 'known-only')


def imap(fx, user):
    m = imaplib.IMAP4('127.0.0.1', fx.imap_port, timeout=60)
    m.login(user, USERS[user])
    return m


def message(tag, sender):
    return ('From: <%s>\r\nTo: <vera@verify.test>\r\nSubject: %s\r\n'
            'Message-ID: <%s@far.example>\r\n\r\nHello from %s.\r\n'
            % (sender, tag, tag, sender)).encode()


def transaction(fx, sender, rcpts, data=None):
    """[(code, text)] for each RCPT, then DATA's (code, text) or None."""
    s = fx.smtp()
    try:
        code, msg = s.mail(sender)
        if code != 250:
            raise AssertionError('MAIL FROM:<%s>: %d %r' % (sender, code, msg))
        replies = [s.rcpt(r) for r in rcpts]
        end = None
        if data is not None and any(c == 250 for c, _ in replies):
            end = s.data(mailutil.fix_eols(data))
        else:
            s.rset()
        return replies, end
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def expect(reply, code, text, what):
    got_code, got_text = reply
    got_text = got_text.decode('utf-8', 'replace')
    if got_code != code or not got_text.endswith(text):
        raise AssertionError('%s: got %d %r, want %d ...%r'
                             % (what, got_code, got_text, code, text))


def grant_states(fx, subject):
    return fx.sql("SELECT p.address, g.state FROM grants g"
                  " JOIN principals p ON p.id = g.grantee"
                  " WHERE g.subject = '%s' ORDER BY p.address" % subject)


def inbox_subjects(fx, user):
    m = imap(fx, user)
    try:
        mailutil.check(m.select('INBOX', readonly=True), 'SELECT')
        typ, data = m.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
        out = []
        for d in data:
            if isinstance(d, tuple):
                out.append(d[1].decode().strip().split(': ', 1)[1])
        return out
    finally:
        m.logout()


def test_held(fx):
    setup(fx)
    tag = 'held-%d' % os.getpid()
    raw = message(tag, 'stranger@far.example')
    replies, end = transaction(fx, 'stranger@far.example', ['vera@verify.test'], raw)
    expect(replies[0], 250, '2.1.5 Ok', 'RCPT vera')
    if end is None or end[0] != 250:
        raise AssertionError('DATA: %r' % (end,))
    if grant_states(fx, tag) != [['vera@verify.test', 'held']]:
        raise AssertionError('grants: %r' % grant_states(fx, tag))
    n = fx.sql1("SELECT count(*) FROM mailbox_entries e JOIN grants g ON g.id = e.grant_id"
                " WHERE g.subject = '%s'" % tag)
    if n != '0':
        raise AssertionError('a held grant has %s mailbox entries' % n)
    if tag in inbox_subjects(fx, 'vera@verify.test'):
        raise AssertionError('held mail is visible in INBOX')
    log = open(fx.logs['gateway'], 'rb').read()
    if b'to=<vera@verify.test> status=ok held=1' not in log:
        raise AssertionError('no "held=1" RCPT log line')
    if b'held=1 challenge=none reason=not-configured' not in log:
        raise AssertionError('no "challenge=none reason=not-configured" log line')
    # released by the admin: in INBOX, byte-exact after our Received
    out = fx.ctl('held', 'release', 'Stranger@far.example', 'vera@verify.test')
    if out.stdout != b'1 released\n':
        raise AssertionError('held release: %r' % out.stdout)
    m = imap(fx, 'vera@verify.test')
    try:
        uid = mailutil.uids(m)[-1]
        got = mailutil.strip_received(mailutil.fetch(m, uid)['BODY[]'])
    finally:
        m.logout()
    if got != mailutil.fix_eols(raw):
        raise AssertionError('released message differs: %r' % got[:200])
    if grant_states(fx, tag) != [['vera@verify.test', 'active']]:
        raise AssertionError('after release: %r' % grant_states(fx, tag))


def test_known_only(fx):
    setup(fx)
    tag = 'known-only-%d' % os.getpid()
    replies, end = transaction(fx, 'stranger@far.example',
                               ['kate@verify.test', 'postmaster@verify.test',
                                'abuse@verify.test'], message(tag, 'stranger@far.example'))
    expect(replies[0], 550, '5.7.1 <kate@verify.test>: ' + REFUSED, 'RCPT kate')
    expect(replies[1], 250, '2.1.5 Ok', 'RCPT postmaster')
    expect(replies[2], 250, '2.1.5 Ok', 'RCPT abuse')
    if end is None or end[0] != 250:
        raise AssertionError('DATA: %r' % (end,))
    if grant_states(fx, tag) != [['abuse@verify.test', 'active'],
                                 ['postmaster@verify.test', 'active']]:
        raise AssertionError('grants: %r' % grant_states(fx, tag))
    if tag not in inbox_subjects(fx, 'postmaster@verify.test'):
        raise AssertionError('postmaster did not get the message')
    # a bounce (<>) to kate is held, not refused
    tag2 = 'bounce-%d' % os.getpid()
    replies, end = transaction(fx, '', ['kate@verify.test'],
                               message(tag2, 'MAILER-DAEMON@far.example'))
    expect(replies[0], 250, '2.1.5 Ok', 'RCPT kate from <>')
    if grant_states(fx, tag2) != [['kate@verify.test', 'held']]:
        raise AssertionError('bounce grants: %r' % grant_states(fx, tag2))


def test_rules(fx):
    setup(fx)
    fx.ctl('sender', 'block', '--user', 'vera@verify.test', 'pest@far.example')
    fx.ctl('sender', 'block', '@spam.example')
    fx.ctl('sender', 'allow', '--user', 'vera@verify.test', 'friend@far.example')
    fx.ctl('sender', 'allow', '--user', 'vera@verify.test', '@friends.example')
    blocked = '5.7.1 <vera@verify.test>: Recipient does not accept mail from this sender'
    replies, _ = transaction(fx, 'Pest@far.example', ['vera@verify.test'])
    expect(replies[0], 550, blocked, 'RCPT from a blocked address')
    replies, _ = transaction(fx, 'anyone@spam.example', ['vera@verify.test'])
    expect(replies[0], 550, blocked, 'RCPT from a blocked domain')
    # the organisation's block applies to kate too; postmaster still takes it
    replies, _ = transaction(fx, 'anyone@spam.example',
                             ['kate@verify.test', 'postmaster@verify.test'])
    expect(replies[0], 550, '5.7.1 <kate@verify.test>: Recipient does not accept '
           'mail from this sender', 'RCPT kate from a blocked domain')
    expect(replies[1], 250, '2.1.5 Ok', 'RCPT postmaster from a blocked domain')
    for sender in ('friend@far.example', 'someone@friends.example'):
        tag = 'allowed-%s-%d' % (sender.split('@')[0], os.getpid())
        replies, end = transaction(fx, sender, ['vera@verify.test'], message(tag, sender))
        expect(replies[0], 250, '2.1.5 Ok', 'RCPT from allowed %s' % sender)
        if grant_states(fx, tag) != [['vera@verify.test', 'active']]:
            raise AssertionError('%s: grants %r' % (sender, grant_states(fx, tag)))
        if tag not in inbox_subjects(fx, 'vera@verify.test'):
            raise AssertionError('%s: not in INBOX' % sender)


def test_mixed(fx):
    setup(fx)
    tag = 'mixed-%d' % os.getpid()
    # held mail also gets a summary message (store/held.h): not counted
    count = ('SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1'
             ' FROM grants g WHERE g.message_id = m.id AND g.summary_of IS NOT NULL)')
    msgs = int(fx.sql1(count))
    replies, end = transaction(fx, 'other@far.example',
                               ['vera@verify.test', 'alice@example.test'],
                               message(tag, 'other@far.example'))
    if [c for c, _ in replies] != [250, 250] or end[0] != 250:
        raise AssertionError('replies %r %r' % (replies, end))
    if int(fx.sql1(count)) != msgs + 1:
        raise AssertionError('not stored exactly once')
    if grant_states(fx, tag) != [['alice@example.test', 'active'],
                                 ['vera@verify.test', 'held']]:
        raise AssertionError('grants: %r' % grant_states(fx, tag))


def test_expiry(fx):
    """held_max_age: the gateway deletes held mail at start (then hourly)."""
    import t_conn
    setup(fx)
    tag = 'expiring-%d' % os.getpid()
    transaction(fx, 'late@far.example', ['vera@verify.test'], message(tag, 'late@far.example'))
    gid = fx.sql1("SELECT id FROM grants WHERE subject = '%s'" % tag)
    mid = fx.sql1("SELECT message_id FROM grants WHERE id = %s" % gid)
    fx.sql("UPDATE grants SET created = now() - interval '15 days' WHERE id = %s" % gid)
    gw = t_conn.Gateway(fx, 'expiry', 60)
    try:
        end = time.time() + 30
        while time.time() < end and b'held-expiry expired=' not in gw.text():
            time.sleep(0.2)
    finally:
        st = gw.stop()
    if st != 0:
        raise AssertionError('gateway exit %r:\n%s' % (st, gw.tail()))
    line = ('smtp held expired grant=%s to=vera@verify.test from=<late@far.example>'
            % gid).encode()
    if line not in gw.text():
        raise AssertionError('no line %r:\n%s' % (line, gw.tail()))
    if fx.sql1("SELECT count(*) FROM grants WHERE id = %s" % gid) != '0':
        raise AssertionError('the expired grant is still there')
    if fx.sql1("SELECT count(*) FROM messages WHERE id = %s" % mid) != '0':
        raise AssertionError('the expired message was not collected')


def cases(fx):
    return [
        ('senders: unknown sender under verify-unknown: 250, held, released by capmailctl',
         lambda: test_held(fx)),
        ('senders: known-only refuses with 550 5.7.1; <>, postmaster and abuse accepted',
         lambda: test_known_only(fx)),
        ('senders: block rules refuse at RCPT, allow rules deliver', lambda: test_rules(fx)),
        ('senders: a held and an active grant on one stored message', lambda: test_mixed(fx)),
        ('senders: the gateway expires held mail after held_max_age', lambda: test_expiry(fx)),
    ]
