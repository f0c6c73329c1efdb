"""Error paths of the gateway, with exact reply codes.

- RCPT to an unknown local user: 550 5.1.1
- RCPT to a domain that is not ours: 554 5.7.1 (no relaying)
- PostgreSQL stopped: the RCPT or the end of DATA is answered 451 4.3.0 and
  nothing is stored; PostgreSQL started again: the same message is accepted
  (250) within a few tries, stored exactly once and fetchable over IMAP.
"""

import imaplib
import random
import smtplib
import time

import mailutil


def rcpt_reply(fx, rcpt):
    s = fx.smtp()
    try:
        code, msg = s.mail(mailutil.OUTSIDE)
        if code != 250:
            raise AssertionError('MAIL FROM answered %d %r' % (code, msg))
        return s.rcpt(rcpt)
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def expect_reply(got, code, enhanced, what):
    c, msg = got
    if c != code or not msg.startswith(enhanced.encode() + b' '):
        raise AssertionError('%s: got %d %r, expected %d %s' % (what, c, msg, code, enhanced))


def test_unknown_user(fx):
    expect_reply(rcpt_reply(fx, 'nobody@example.test'), 550, '5.1.1', 'RCPT nobody@example.test')


def test_relay(fx):
    expect_reply(rcpt_reply(fx, 'someone@elsewhere.example'), 554, '5.7.1',
                 'RCPT someone@elsewhere.example')


def attempt(fx, wire):
    """One SMTP transaction; returns ('rcpt'|'data', code, msg) of the
    answer that decided it."""
    s = fx.smtp()
    try:
        code, msg = s.mail(mailutil.OUTSIDE)
        if code != 250:
            return ('mail', code, msg)
        code, msg = s.rcpt('alice@example.test')
        if code != 250:
            return ('rcpt', code, msg)
        try:
            code, msg = s.data(wire)
        except smtplib.SMTPDataError as e:
            return ('data-start', e.smtp_code, e.smtp_error)
        return ('data', code, msg)
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def test_database_down(fx):
    token = '%016x' % random.getrandbits(64)
    raw = ('From: sender@outside.example\r\nTo: alice@example.test\r\n'
           'Subject: while the database was down %s\r\n\r\n'
           'Sent once while PostgreSQL was stopped, then again. %s\r\n' % (token, token)).encode()
    wire, expected = mailutil.wire_and_expected(raw)
    n_before = int(fx.sql1('SELECT count(*) FROM messages'))
    g_before = int(fx.sql1('SELECT count(*) FROM grants'))
    fx.pg_stop()
    try:
        stage, code, msg = attempt(fx, wire)
        if (stage not in ('rcpt', 'data') or code != 451
                or not msg.startswith(b'4.3.0 ')):
            raise AssertionError('with PostgreSQL stopped, %s answered %d %r; '
                                 'expected 451 4.3.0 at RCPT or DATA' % (stage, code, msg))
    finally:
        fx.pg_start()
    if int(fx.sql1('SELECT count(*) FROM messages')) != n_before:
        raise AssertionError('a message was stored for the refused attempt')
    # The daemons reset broken connections on next use: allow a few tries.
    tries = []
    for i in range(10):
        stage, code, msg = attempt(fx, wire)
        tries.append('%s %d' % (stage, code))
        if code == 250 and stage == 'data':
            break
        if code != 451:
            raise AssertionError('after restart: %s answered %d %r' % (stage, code, msg))
        time.sleep(0.5)
    else:
        raise AssertionError('not accepted after PostgreSQL restart: %s' % ', '.join(tries))
    n_after = int(fx.sql1('SELECT count(*) FROM messages'))
    g_after = int(fx.sql1('SELECT count(*) FROM grants'))
    if (n_after - n_before, g_after - g_before) != (1, 1):
        raise AssertionError('%d messages and %d grants stored, expected 1 and 1'
                             % (n_after - n_before, g_after - g_before))
    last = None
    for i in range(10):
        try:
            m = fx.imap('alice@example.test')
            try:
                uids = mailutil.uids(m)
                it = mailutil.fetch(m, uids[-1])
            finally:
                m.logout()
            break
        except (imaplib.IMAP4.error, OSError, AssertionError) as e:
            last = e
            time.sleep(0.5)
    else:
        raise AssertionError('IMAP after PostgreSQL restart: %s' % last)
    mailutil.verify_fetched(it, expected)


def cases(fx):
    return [('errors: RCPT unknown user is 550 5.1.1', lambda: test_unknown_user(fx)),
            ('errors: RCPT other domain is 554 5.7.1', lambda: test_relay(fx)),
            ('errors: database down is 451 4.3.0, then accepted once', lambda: test_database_down(fx))]
