#!/usr/bin/env python3
"""Parse IMAP response data (RFC 3501 section 9 grammar: parenthesised
lists, NIL, numbers, atoms, quoted strings and {n} literals) into Python
values, and check ENVELOPE/BODYSTRUCTURE shapes.

As a program: reads lines "ENVELOPE <value>", "BODYSTRUCTURE <value>" and
"BODY <value>" (a literal's bytes follow its {n}\\r\\n as they would on the
wire) from stdin, as test-msgsum-corpus --dump prints them, and exits 1 with
a message on the first value that is not grammatical for its kind.
Also checks that Python's imaplib tokenises each value the same way (its
ParseFlags/Literal regexes are the parts imaplib has; it has no full
s-expression parser)."""
import re
import sys


class ParseError(Exception):
    pass


class Parser:
    def __init__(self, data: bytes):
        self.d = data
        self.i = 0

    def peek(self):
        return self.d[self.i:self.i + 1]

    def value(self):
        c = self.peek()
        if c == b'(':
            self.i += 1
            out = []
            while True:
                c = self.peek()
                if c == b')':
                    self.i += 1
                    return out
                if c == b'':
                    raise ParseError('unterminated list at %d' % self.i)
                if out and c == b' ':
                    self.i += 1
                out.append(self.value())
        if c == b'"':
            self.i += 1
            out = bytearray()
            while True:
                if self.i >= len(self.d):
                    raise ParseError('unterminated quoted string')
                ch = self.d[self.i]
                self.i += 1
                if ch == 0x5c:  # backslash
                    if self.i >= len(self.d) or self.d[self.i] not in b'"\\':
                        raise ParseError('bad escape at %d' % self.i)
                    out.append(self.d[self.i])
                    self.i += 1
                elif ch == 0x22:
                    return bytes(out)
                elif ch in (0, 0x0d, 0x0a) or ch >= 0x80:
                    raise ParseError('byte %#x in quoted string' % ch)
                else:
                    out.append(ch)
        if c == b'{':
            m = re.compile(rb'\{(\d+)\}\r\n').match(self.d, self.i)
            if not m:
                raise ParseError('bad literal at %d' % self.i)
            n = int(m.group(1))
            start = m.end()
            if start + n > len(self.d):
                raise ParseError('short literal')
            self.i = start + n
            return self.d[start:start + n]
        m = re.compile(rb'[^ ()"{\x00-\x1f\x7f]+').match(self.d, self.i)
        if not m:
            raise ParseError('unexpected %r at %d' % (c, self.i))
        self.i = m.end()
        tok = m.group(0)
        if tok == b'NIL':
            return None
        if tok.isdigit():
            return int(tok)
        raise ParseError('unexpected atom %r' % tok)


def parse(data: bytes):
    p = Parser(data)
    v = p.value()
    if p.i != len(data):
        raise ParseError('trailing bytes at %d: %r' % (p.i, data[p.i:p.i + 20]))
    return v


def nstring(v):
    return v is None or isinstance(v, bytes)


def check_addresses(v):
    if v is None:
        return
    assert isinstance(v, list) and v, 'address list'
    for a in v:
        assert isinstance(a, list) and len(a) == 4 and all(map(nstring, a)), 'address %r' % (a,)


def check_envelope(v):
    assert isinstance(v, list) and len(v) == 10, 'envelope must have 10 members'
    for i in (0, 1, 8, 9):
        assert nstring(v[i]), 'envelope string %d' % i
    for i in range(2, 8):
        check_addresses(v[i])


def check_params(v):
    assert v is None or (isinstance(v, list) and len(v) % 2 == 0 and v and all(isinstance(x, bytes) for x in v)), 'params %r' % (v,)


def check_body(v, ext):
    assert isinstance(v, list) and v, 'body must be a non-empty list'
    if isinstance(v[0], list):  # multipart
        i = 0
        while i < len(v) and isinstance(v[i], list):
            check_body(v[i], ext)
            i += 1
        assert i < len(v) and isinstance(v[i], bytes), 'multipart subtype'
        rest = v[i + 1:]
        if ext:
            assert len(rest) == 4, 'multipart extension data'
            check_params(rest[0])
        else:
            assert rest == [], 'BODY multipart has no extension data'
        return
    assert len(v) >= 7, 'basic fields'
    assert isinstance(v[0], bytes) and isinstance(v[1], bytes), 'type/subtype'
    check_params(v[2])
    assert nstring(v[3]) and nstring(v[4]) and isinstance(v[5], bytes), 'id/desc/enc'
    assert isinstance(v[6], int), 'size'
    n = 7
    t = (v[0].upper(), v[1].upper())
    if t[0] == b'MESSAGE' and t[1] in (b'RFC822', b'GLOBAL'):
        check_envelope(v[7])
        check_body(v[8], ext)
        assert isinstance(v[9], int), 'message lines'
        n = 10
    elif t[0] == b'TEXT':
        assert isinstance(v[7], int), 'text lines'
        n = 8
    rest = v[n:]
    if ext:
        assert len(rest) == 4, 'leaf extension data: %r' % (rest,)
        assert rest[0] is None, 'md5'
    else:
        assert rest == [], 'BODY leaf has no extension data'


def imaplib_tokens_ok(data: bytes):
    """imaplib's own literal regex must find our literals."""
    import imaplib
    for m in re.finditer(rb'\{(\d+)\}\r\n', data):
        line = data[:m.end() - 2]
        lm = imaplib.Literal.search(line)
        assert lm and int(lm.group('size')) == int(m.group(1)), 'imaplib literal'


def main():
    data = sys.stdin.buffer.read()
    kinds = {b'ENVELOPE': lambda v: check_envelope(v),
             b'BODYSTRUCTURE': lambda v: check_body(v, True),
             b'BODY': lambda v: check_body(v, False)}
    i = 0
    count = 0
    while i < len(data):
        j = data.index(b' ', i)
        kind = data[i:j]
        if kind not in kinds:
            print('unknown line kind %r' % kind)
            return 1
        p = Parser(data)
        p.i = j + 1
        try:
            v = p.value()
            kinds[kind](v)
            imaplib_tokens_ok(data[j + 1:p.i])
        except (ParseError, AssertionError, IndexError) as e:
            print('not grammatical %s: %s: %r' % (kind.decode(), e, data[j + 1:j + 200]))
            return 1
        if data[p.i:p.i + 1] != b'\n':
            print('garbage after %s value at %d' % (kind.decode(), p.i))
            return 1
        i = p.i + 1
        count += 1
    print('%d values grammatical' % count)
    return 0


if __name__ == '__main__':
    sys.exit(main())
