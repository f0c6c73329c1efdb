"""Held mail seen by the recipient over IMAP (issue: sender verification,
"the recipient's side"), on a domain of its own, held.test, under the
default policy verify-unknown. Mail goes in through SMTP from unknown
senders, so it is held (store/held.h, imapd/cmd-copy.c):

- the summary in Held: its exact header fields, a BODYSTRUCTURE that
  parses as one text/plain part, the sender, decoded subject, date and
  exact size in its body, none of the held message's body; INBOX empty;
- UID MOVE of the summary to INBOX: INBOX has the byte-exact original
  (COPYUID names it), Held is empty, the sender is 'verified' for the
  user, and its next mail goes straight to INBOX;
- STORE \\Deleted + EXPUNGE of a summary: a 'block' rule, the held grant
  and its message gone, and the sender's next RCPT answered 550 5.7.1;
- COPY to Junk: likewise blocked, nothing lands in Junk;
- `capmailctl held release`: the summary leaves Held;
- APPEND and COPY into Held are refused with NO [CANNOT];
- a UID MOVE to INBOX racing `capmailctl held release` of the same held
  mail (both waiting on locks, made to meet by a transaction holding
  INBOX's row): no deadlock, the release prints "1 released", MOVE is OK
  with COPYUID pairing the summary with the one INBOX copy.
"""

import email
import email.policy
import imaplib
import os
import re
import smtplib
import subprocess
import threading
import time

import mailutil

DOMAIN = 'held.test'
USER = 'hana@held.test'
PASSWORD = 'hana-Secret-11'
BLOCKED = ('5.7.1 <hana@held.test>: Recipient does not accept mail from '
           'this sender')


def setup(fx):
    if fx.sql1("SELECT count(*) FROM domains WHERE name = '%s'" % DOMAIN) != '0':
        return
    fx.ctl('domain', 'add', DOMAIN)
    fx.ctl('user', 'add', USER, input=(PASSWORD + '\n').encode())
    fx.ctl('domain', 'policy', DOMAIN, 'verify-unknown')


def imap(fx):
    m = imaplib.IMAP4('127.0.0.1', fx.imap_port, timeout=60)
    mailutil.check(m.login(USER, PASSWORD), 'LOGIN')
    return m


def message(tag, sender, subject=None):
    subject = subject or tag
    return ('From: Some One <%s>\r\nTo: <%s>\r\nSubject: %s\r\n'
            'Date: Mon, 2 Jun 2025 10:00:00 +0200\r\n'
            'Message-ID: <%s@far.example>\r\n\r\n'
            'SECRET-BODY-%s must never show in a summary.\r\n'
            % (sender, USER, subject, tag, tag)).encode()


def rcpt_reply(fx, sender):
    s = fx.smtp()
    try:
        code, _ = s.mail(sender)
        if code != 250:
            raise AssertionError('MAIL FROM:<%s>: %d' % (sender, code))
        return s.rcpt(USER)
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def deliver(fx, tag, sender, subject=None):
    """Send; returns the bytes the store must keep (after our Received)."""
    raw = message(tag, sender, subject)
    mailutil.send(fx, raw, [USER], sender=sender)
    return mailutil.fix_eols(raw)


def held_grant(fx, tag):
    """(grant id, message id, size) of the held grant of tag's message."""
    row = fx.sql("SELECT g.id, m.id, m.size FROM grants g"
                 " JOIN messages m ON m.id = g.message_id"
                 " WHERE g.subject = '%s' AND g.state = 'held'" % tag)
    if len(row) != 1:
        raise AssertionError('held grants for %s: %r' % (tag, row))
    return row[0]


def all_uids(m, mailbox):
    return mailutil.uids(m, mailbox)


def select(m, mailbox):
    mailutil.check(m.select(mailbox), 'SELECT ' + mailbox)


def rule(fx, sender):
    return fx.sql("SELECT r.kind FROM sender_rules r"
                  " JOIN principals p ON p.id = r.owner"
                  " WHERE p.address = '%s' AND r.pattern = '%s'" % (USER, sender))


def test_summary_and_move(fx):
    setup(fx)
    tag = 'held-move-%d' % os.getpid()
    sender = 'newcomer-%d@far.example' % os.getpid()
    subject = '=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= %s' % tag
    original = deliver(fx, tag, sender, subject)
    gid, _, size = held_grant(fx, subject)
    # the fixture's dns_resolver answers nothing: every check temperror
    auth = fx.sql1("SELECT auth_results FROM grants WHERE id = %s" % gid)
    if auth != 'spf=temperror dkim=none dmarc=temperror':
        raise AssertionError('auth_results %r' % auth)
    m = imap(fx)
    try:
        if all_uids(m, 'INBOX') != []:
            raise AssertionError('INBOX is not empty')
        uids = all_uids(m, 'Held')
        if len(uids) != 1:
            raise AssertionError('Held: %r' % uids)
        it = mailutil.fetch(m, uids[0])
        body = it['BODY[]']
        head, _, text = body.partition(b'\r\n\r\n')
        fields = head.split(b'\r\n')
        date = [f for f in fields if f.startswith(b'Date: ')]
        want = [b'From: Held mail <MAILER-DAEMON@held.test>',
                b'To: <hana@held.test>',
                b'Subject: Held: ' + subject.encode()] + date + [
                b'Message-ID: <held.%s@held.test>' % gid.encode(),
                b'Auto-Submitted: auto-generated',
                b'MIME-Version: 1.0',
                b'Content-Type: text/plain; charset=utf-8',
                b'Content-Transfer-Encoding: 8bit']
        if fields != want:
            raise AssertionError('summary header %r, want %r' % (fields, want))
        if not re.fullmatch(rb'Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000',
                            date[0]):
            raise AssertionError('summary Date %r' % date)
        for line in ('From:     Some One <%s>' % sender,
                     'Sender:   <%s>' % sender,
                     'Subject:  Grüße %s' % tag,
                     'Date:     Mon, 2 Jun 2025 10:00:00 +0200',
                     'Size:     %s bytes' % size,
                     'Checked:  ' + auth):
            if ('\r\n' + line + '\r\n').encode() not in text:
                raise AssertionError('summary body lacks %r:\n%s'
                                     % (line, text.decode()))
        if b'SECRET-BODY' in body:
            raise AssertionError('the summary shows the held message body')
        bs = it['BODYSTRUCTURE']
        want_bs = [b'TEXT', b'PLAIN', [b'charset', b'utf-8'], None, None, b'8BIT',
                   len(text), text.count(b'\r\n'), None, None, None, None]
        if bs != want_bs:
            raise AssertionError('BODYSTRUCTURE %r, want %r...' % (bs, want_bs))
        got = email.message_from_bytes(body, policy=email.policy.default)
        if got['Subject'] != 'Held: Grüße %s' % tag:
            raise AssertionError('Subject decodes to %r' % got['Subject'])

        # moved to INBOX: the held message itself arrives, the summary goes
        select(m, 'Held')
        typ, data = m.uid('MOVE', str(uids[0]), 'INBOX')
        if typ != 'OK':
            raise AssertionError('UID MOVE: %s %r' % (typ, data))
        inbox = all_uids(m, 'INBOX')
        if len(inbox) != 1:
            raise AssertionError('INBOX after move: %r' % inbox)
        got = mailutil.strip_received(mailutil.fetch(m, inbox[0])['BODY[]'])
        if got != original:
            raise AssertionError('released message differs: %r' % got[:200])
        if all_uids(m, 'Held') != []:
            raise AssertionError('the summary is still in Held')
    finally:
        m.logout()
    if rule(fx, sender) != [['verified']]:
        raise AssertionError('sender rule %r' % rule(fx, sender))
    if fx.sql("SELECT state FROM grants WHERE id = %s" % gid) != [['active']]:
        raise AssertionError('the held grant was not released')
    if fx.sql1("SELECT count(*) FROM grants WHERE summary_of = %s" % gid) != '0':
        raise AssertionError('the summary grant is still there')
    # the sender is known now: straight to INBOX
    tag2 = tag + '-again'
    deliver(fx, tag2, sender)
    if fx.sql("SELECT state FROM grants WHERE subject = '%s'" % tag2) != [['active']]:
        raise AssertionError('next mail from a verified sender is not active')
    m = imap(fx)
    try:
        if len(all_uids(m, 'INBOX')) != 2 or all_uids(m, 'Held') != []:
            raise AssertionError('next mail not in INBOX alone')
    finally:
        m.logout()


def block_checks(fx, tag, sender, gid, mid):
    if rule(fx, sender) != [['block']]:
        raise AssertionError('sender rule %r' % rule(fx, sender))
    if fx.sql1("SELECT count(*) FROM grants WHERE id = %s OR summary_of = %s"
               % (gid, gid)) != '0':
        raise AssertionError('the held grant or its summary is still there')
    if fx.sql1("SELECT count(*) FROM messages WHERE id = %s" % mid) != '0':
        raise AssertionError('the held message was not collected')
    code, text = rcpt_reply(fx, sender)
    text = text.decode()
    if code != 550 or not text.endswith(BLOCKED):
        raise AssertionError('RCPT after block: %d %r' % (code, text))


def clear_inbox(m):
    select(m, 'INBOX')
    m.store('1:*', '+FLAGS', '(\\Deleted)')
    m.expunge()


def test_expunge_blocks(fx):
    setup(fx)
    tag = 'held-expunge-%d' % os.getpid()
    sender = 'pest-%d@far.example' % os.getpid()
    deliver(fx, tag, sender)
    gid, mid, _ = held_grant(fx, tag)
    m = imap(fx)
    try:
        uids = all_uids(m, 'Held')
        if len(uids) != 1:
            raise AssertionError('Held: %r' % uids)
        select(m, 'Held')
        mailutil.check(m.uid('STORE', str(uids[0]), '+FLAGS', '(\\Deleted)'), 'STORE')
        mailutil.check(m.expunge(), 'EXPUNGE')
        if all_uids(m, 'Held') != []:
            raise AssertionError('the summary is still in Held')
    finally:
        m.logout()
    block_checks(fx, tag, sender, gid, mid)


def test_junk_blocks(fx):
    setup(fx)
    tag = 'held-junk-%d' % os.getpid()
    sender = 'spammer-%d@far.example' % os.getpid()
    deliver(fx, tag, sender)
    gid, mid, _ = held_grant(fx, tag)
    m = imap(fx)
    try:
        junk = all_uids(m, 'Junk')
        uids = all_uids(m, 'Held')
        select(m, 'Held')
        typ, data = m.uid('COPY', str(uids[0]), 'Junk')
        if typ != 'OK':
            raise AssertionError('UID COPY to Junk: %s %r' % (typ, data))
        if all_uids(m, 'Held') != [] or all_uids(m, 'Junk') != junk:
            raise AssertionError('Held or Junk not as expected')
    finally:
        m.logout()
    block_checks(fx, tag, sender, gid, mid)


def test_move_trash_blocks(fx):
    """MOVE to Trash is how clients delete: it refuses the sender."""
    setup(fx)
    tag = 'held-trash-%d' % os.getpid()
    sender = 'binned-%d@far.example' % os.getpid()
    deliver(fx, tag, sender)
    gid, mid, _ = held_grant(fx, tag)
    m = imap(fx)
    try:
        m.create('Trash')
        uids = all_uids(m, 'Held')
        select(m, 'Held')
        typ, data = m.uid('MOVE', str(uids[0]), 'Trash')
        if typ != 'OK':
            raise AssertionError('UID MOVE to Trash: %s %r' % (typ, data))
        if all_uids(m, 'Held') != [] or all_uids(m, 'Trash') != []:
            raise AssertionError('Held or Trash not empty')
    finally:
        m.logout()
    block_checks(fx, tag, sender, gid, mid)


def test_move_elsewhere_refused(fx):
    """MOVE of a summary to an archive folder is refused with the places
    it can go; nothing changes. COPY there (and to Trash) copies it."""
    setup(fx)
    tag = 'held-archive-%d' % os.getpid()
    sender = 'keeper-%d@far.example' % os.getpid()
    deliver(fx, tag, sender)
    gid, _, _ = held_grant(fx, tag)
    m = imap(fx)
    try:
        m.create('Archive')
        m.create('Trash')
        uids = all_uids(m, 'Held')
        select(m, 'Held')
        typ, data = m.uid('MOVE', str(uids[0]), 'Archive')
        want = (b'[CANNOT] Held mail summaries move to INBOX (to receive the'
                b' message) or to Junk or Trash (to refuse the sender)')
        if typ != 'NO' or data != [want]:
            raise AssertionError('UID MOVE to Archive: %s %r' % (typ, data))
        if all_uids(m, 'Held') != uids or all_uids(m, 'Archive') != []:
            raise AssertionError('the refused MOVE changed something')
        for box in ('Archive', 'Trash'):
            select(m, 'Held')
            typ, data = m.uid('COPY', str(uids[0]), box)
            if typ != 'OK' or len(all_uids(m, box)) != 1:
                raise AssertionError('UID COPY to %s: %s %r' % (box, typ, data))
        if all_uids(m, 'Held') != uids:
            raise AssertionError('COPY took the summary out of Held')
    finally:
        m.logout()
    if fx.sql1("SELECT state FROM grants WHERE id = %s" % gid) != 'held':
        raise AssertionError('the held grant changed')
    if rule(fx, sender) != []:
        raise AssertionError('a rule was set: %r' % rule(fx, sender))
    # leave Held empty for the next cases
    if fx.ctl('held', 'release', sender, USER).stdout != b'1 released\n':
        raise AssertionError('held release after the test')


def test_ctl_release(fx):
    setup(fx)
    tag = 'held-ctl-%d' % os.getpid()
    sender = 'late-%d@far.example' % os.getpid()
    original = deliver(fx, tag, sender)
    m = imap(fx)
    try:
        clear_inbox(m)
        if len(all_uids(m, 'Held')) != 1:
            raise AssertionError('no summary in Held')
        # a session with Held selected sees the summary go
        select(m, 'Held')
        out = fx.ctl('held', 'release', sender, USER)
        if out.stdout != b'1 released\n':
            raise AssertionError('held release: %r' % out.stdout)
        typ, data = m.noop()
        if typ != 'OK' or m.untagged_responses.get('EXPUNGE') != [b'1']:
            raise AssertionError('NOOP after release: %r' % m.untagged_responses)
        if all_uids(m, 'Held') != []:
            raise AssertionError('the summary is still in Held')
        inbox = all_uids(m, 'INBOX')
        got = mailutil.strip_received(mailutil.fetch(m, inbox[-1])['BODY[]'])
        if got != original:
            raise AssertionError('released message differs')
    finally:
        m.logout()


def test_held_refuses(fx):
    setup(fx)
    m = imap(fx)
    try:
        typ, data = m.append('Held', None, None, b'Subject: x\r\n\r\nx\r\n')
        if typ != 'NO' or not data[0].startswith(b'[CANNOT]'):
            raise AssertionError('APPEND Held: %s %r' % (typ, data))
        m.append('INBOX', None, None, b'Subject: mine\r\n\r\nx\r\n')
        select(m, 'INBOX')
        typ, data = m.copy('1', 'Held')
        if typ != 'NO' or not data[0].startswith(b'[CANNOT]'):
            raise AssertionError('COPY to Held: %s %r' % (typ, data))
    finally:
        m.logout()


def lock_waiters(fx, like):
    return int(fx.sql1("SELECT count(*) FROM pg_stat_activity"
                       " WHERE wait_event_type = 'Lock'"
                       " AND query LIKE '%s'" % like))


def wait_for(what, cond):
    """Wait for a state (not a timed assertion: the deadline only stops
    a hung test)."""
    deadline = time.monotonic() + 60
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError('never happened: ' + what)
        time.sleep(0.05)


def release_waiting_for_inbox(fx, sender):
    """A psql transaction holding the row of the user's INBOX, and
    `capmailctl held release SENDER USER` started and waiting for it
    (holding the held grants by then): (psql, ctl)."""
    psql = subprocess.Popen(
        [fx.pgcluster, 'psql', fx.pgdir, str(fx.pgport), '-qAt',
         '-v', 'ON_ERROR_STOP=1'], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    psql.stdin.write("BEGIN;\nSELECT 'locked' FROM mailboxes m"
                     " JOIN principals p ON p.id = m.owner"
                     " WHERE p.address = '%s' AND m.name = 'INBOX'"
                     " FOR UPDATE OF m;\n" % USER)
    psql.stdin.flush()
    if psql.stdout.readline() != 'locked\n':
        raise AssertionError('psql did not lock INBOX')
    ctl = subprocess.Popen([fx.capmailctl, '-c', fx.conf, 'held',
                            'release', sender, USER],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for('the release waits for INBOX', lambda: lock_waiters(
        fx, '%uidnext = uidnext + 1%') == 1)
    return psql, ctl


def let_release_go(psql, ctl):
    """Commit the psql transaction; the release's (stdout, stderr)."""
    psql.stdin.write('COMMIT;\n')
    psql.stdin.close()
    psql.wait(timeout=60)
    return ctl.communicate(timeout=60)


def test_move_races_release(fx):
    setup(fx)
    tag = 'held-race-%d' % os.getpid()
    sender = 'racer-%d@far.example' % os.getpid()
    original = deliver(fx, tag, sender)
    gid, _, _ = held_grant(fx, tag)
    m = imap(fx)
    psql = ctl = None
    try:
        clear_inbox(m)
        uids = all_uids(m, 'Held')
        if len(uids) != 1:
            raise AssertionError('Held: %r' % uids)
        select(m, 'Held')
        uidvalidity = int(fx.sql1(
            "SELECT m.uidvalidity FROM mailboxes m JOIN principals p"
            " ON p.id = m.owner WHERE p.address = '%s'"
            " AND m.name = 'INBOX'" % USER))
        # a transaction holding INBOX's row: the release stops there,
        # holding the held grant
        psql, ctl = release_waiting_for_inbox(fx, sender)
        # the MOVE, in a thread: it waits for the held grant
        result = {}

        def move():
            try:
                result['move'] = m.uid('MOVE', str(uids[0]), 'INBOX')
                result['copyuid'] = m.untagged_responses.get('COPYUID')
                result['expunge'] = m.untagged_responses.get('EXPUNGE')
            except Exception as e:  # reported below
                result['move'] = ('EXC', [repr(e)])
        t = threading.Thread(target=move)
        t.start()
        wait_for('the MOVE waits for the held grant', lambda: lock_waiters(
            fx, '%ORDER BY g.grantee, g.id FOR UPDATE%') == 1)
        out, err = let_release_go(psql, ctl)
        t.join(60)
        if ctl.returncode != 0 or out != b'1 released\n':
            raise AssertionError('held release: %d %r %r'
                                 % (ctl.returncode, out, err))
        typ, data = result.get('move', ('none', []))
        if typ != 'OK' or result['expunge'] != [b'1']:
            raise AssertionError('UID MOVE: %s %r %r' % (typ, data, result))
        inbox = all_uids(m, 'INBOX')
        if len(inbox) != 1:
            raise AssertionError('INBOX after the race: %r' % inbox)
        copyuid = result['copyuid']
        want = [('%d %d %d' % (uidvalidity, uids[0], inbox[0])).encode()]
        if copyuid != want:
            raise AssertionError('COPYUID %r, want %r' % (copyuid, want))
        got = mailutil.strip_received(mailutil.fetch(m, inbox[0])['BODY[]'])
        if got != original:
            raise AssertionError('released message differs')
        if all_uids(m, 'Held') != []:
            raise AssertionError('the summary is still in Held')
    finally:
        for p in (psql, ctl):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        m.logout()
    if fx.sql("SELECT state FROM grants WHERE id = %s" % gid) != [['active']]:
        raise AssertionError('the held grant was not released')
    if rule(fx, sender) != [['verified']]:
        raise AssertionError('sender rule %r' % rule(fx, sender))


def test_expunge_races_release(fx):
    """EXPUNGE of a summary while `capmailctl held release` of the same
    held mail waits: both finish (no deadlock), the release wins, the
    summary is gone, the message is in INBOX, and the sender is neither
    blocked (the EXPUNGE came too late to refuse it) nor verified (an
    admin's release does not verify)."""
    setup(fx)
    tag = 'held-xrace-%d' % os.getpid()
    sender = 'xracer-%d@far.example' % os.getpid()
    original = deliver(fx, tag, sender)
    gid, _, _ = held_grant(fx, tag)
    m = imap(fx)
    psql = ctl = None
    try:
        clear_inbox(m)
        uids = all_uids(m, 'Held')
        if len(uids) != 1:
            raise AssertionError('Held: %r' % uids)
        select(m, 'Held')
        mailutil.check(m.uid('STORE', str(uids[0]), '+FLAGS.SILENT', '(\\Deleted)'),
                       'STORE')
        psql, ctl = release_waiting_for_inbox(fx, sender)
        result = {}

        def expunge():
            try:
                result['expunge'] = m.expunge()
            except Exception as e:  # reported below
                result['expunge'] = ('EXC', [repr(e)])
        t = threading.Thread(target=expunge)
        t.start()
        # whatever statement it waits in: the release and the EXPUNGE
        wait_for('the EXPUNGE waits too', lambda: lock_waiters(fx, '%') == 2)
        out, err = let_release_go(psql, ctl)
        t.join(60)
        if ctl.returncode != 0 or out != b'1 released\n':
            raise AssertionError('held release: %d %r %r'
                                 % (ctl.returncode, out, err))
        typ, data = result.get('expunge', ('none', []))
        if typ != 'OK':
            raise AssertionError('EXPUNGE: %s %r' % (typ, data))
        if all_uids(m, 'Held') != []:
            raise AssertionError('the summary is still in Held')
        inbox = all_uids(m, 'INBOX')
        if len(inbox) != 1:
            raise AssertionError('INBOX after the race: %r' % inbox)
        got = mailutil.strip_received(mailutil.fetch(m, inbox[0])['BODY[]'])
        if got != original:
            raise AssertionError('released message differs')
    finally:
        for p in (psql, ctl):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        m.logout()
    if fx.sql("SELECT state FROM grants WHERE id = %s" % gid) != [['active']]:
        raise AssertionError('the held grant was not released')
    if rule(fx, sender) != []:
        raise AssertionError('sender rule %r' % rule(fx, sender))


def cases(fx):
    return [
        ('held: a summary in Held; UID MOVE to INBOX releases and verifies',
         lambda: test_summary_and_move(fx)),
        ('held: EXPUNGE of a summary blocks the sender (550 5.7.1 after)',
         lambda: test_expunge_blocks(fx)),
        ('held: COPY of a summary to Junk blocks the sender',
         lambda: test_junk_blocks(fx)),
        ('held: MOVE of a summary to Trash blocks the sender',
         lambda: test_move_trash_blocks(fx)),
        ('held: MOVE of a summary elsewhere is refused (NO [CANNOT]); COPY copies',
         lambda: test_move_elsewhere_refused(fx)),
        ('held: capmailctl held release removes the summary (EXPUNGE seen)',
         lambda: test_ctl_release(fx)),
        ('held: APPEND and COPY into Held are refused', lambda: test_held_refuses(fx)),
        ('held: UID MOVE to INBOX racing capmailctl held release: no'
         ' deadlock, one copy, COPYUID', lambda: test_move_races_release(fx)),
        ('held: EXPUNGE of a summary racing capmailctl held release: no'
         ' deadlock, released, not blocked', lambda: test_expunge_races_release(fx)),
    ]
