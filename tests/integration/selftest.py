#!/usr/bin/env python3
"""Unit tests of the integration suite's own pure helpers (no I/O): the
IMAP value parser and BODYSTRUCTURE checks (imapval), and the wire and
comparison rules (mailutil). Run by `make check` through selftest.sh, so a
broken helper cannot make the integration suite pass or fail wrongly."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import imapval     # noqa: E402
import mailutil    # noqa: E402


class FixEols(unittest.TestCase):
    def test_each_ending(self):
        self.assertEqual(mailutil.fix_eols(b'a\nb\rc\r\nd\n\r'), b'a\r\nb\r\nc\r\nd\r\n\r\n')

    def test_cr_cr_lf(self):
        self.assertEqual(mailutil.fix_eols(b'a\r\r\nb'), b'a\r\n\r\nb')

    def test_expected_adds_final_crlf(self):
        self.assertEqual(mailutil.wire_and_expected(b'x: y\n\nbody'),
                         (b'x: y\r\n\r\nbody', b'x: y\r\n\r\nbody\r\n'))
        self.assertEqual(mailutil.wire_and_expected(b''), (b'', b'\r\n'))
        self.assertEqual(mailutil.wire_and_expected(b'a\r\n')[1], b'a\r\n')


class StripReceived(unittest.TestCase):
    def test_folded(self):
        m = b'Received: from a\r\n\tby b;\r\n date\r\nReceived: other\r\nX: y\r\n\r\nbody\r\n'
        self.assertEqual(mailutil.strip_received(m), b'Received: other\r\nX: y\r\n\r\nbody\r\n')
        a = (b'Received: from a\r\n\tby b\r\nAuthentication-Results: mx;\r\n'
             b'\tspf=none;\r\n\tdkim=none;\r\n\tdmarc=none\r\n'
             b'Authentication-Results: forged\r\nX: y\r\n\r\n')
        self.assertEqual(mailutil.strip_received(a),
                         b'Authentication-Results: forged\r\nX: y\r\n\r\n')
        self.assertEqual(mailutil.trace_fields(a)[1],
                         b'Authentication-Results: mx;\r\n\tspf=none;\r\n'
                         b'\tdkim=none;\r\n\tdmarc=none\r\n')

    def test_not_first(self):
        with self.assertRaises(AssertionError):
            mailutil.strip_received(b'X: y\r\nReceived: a\r\n\r\n')

    def test_unterminated(self):
        with self.assertRaises(AssertionError):
            mailutil.strip_received(b'Received: a')


class DeclaredType(unittest.TestCase):
    def t(self, msg, want):
        self.assertEqual(mailutil.declared_type(msg), want)

    def test_cases(self):
        self.t(b'Subject: x\r\n\r\n', ('text', 'plain'))
        self.t(b'Content-Type: Multipart/Mixed; boundary=x\r\n\r\n', ('multipart', 'mixed'))
        self.t(b'Content-type :\r\n text/html\r\n\r\n', ('text', 'html'))
        self.t(b'Content-Type: text\r\n\r\n', ('text', 'plain'))
        self.t(b'Content-Type: text plain\r\n\r\n', ('text', 'plain'))
        self.t(b'Bad line\r\nContent-Type: image/png\r\n\r\n', ('image', 'png'))
        self.t(b'A: b\r\n\r\nContent-Type: image/png\r\n', ('text', 'plain'))


class Values(unittest.TestCase):
    def test_fetch(self):
        r = (b'3 (UID 9 BODY[] {4}\r\n\r\n\r\n RFC822.SIZE 4 BODYSTRUCTURE '
             b'("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 4 1 NIL NIL NIL NIL))')
        n, it = imapval.fetch_items(r)
        self.assertEqual((n, it['UID'], it['BODY[]'], it['RFC822.SIZE']), (3, 9, b'\r\n\r\n', 4))
        self.assertEqual(imapval.check_body(it['BODYSTRUCTURE']), [])
        self.assertEqual(imapval.top_type(it['BODYSTRUCTURE']), ('text', 'plain'))

    def test_bad_shapes(self):
        self.assertTrue(imapval.check_body([b'text', b'plain', None, None, None, b'7bit', 3]))
        self.assertTrue(imapval.check_body([[b'text', b'plain', None, None, None, b'7bit', 3, 1]]))
        self.assertTrue(imapval.check_body([b'message', b'rfc822', None, None, None, b'7bit', 3]))
        with self.assertRaises(imapval.ParseError):
            imapval.parse(b'(a "b)')
        with self.assertRaises(imapval.ParseError):
            imapval.parse(b'{5}\r\nab')

    def test_join(self):
        self.assertEqual(imapval.join_imaplib([(b'1 (BODY[] {1}', b'x'), b')', b'2 (UID 4)']),
                         [b'1 (BODY[] {1}\r\nx)', b'2 (UID 4)'])


if __name__ == '__main__':
    unittest.main(verbosity=1)
