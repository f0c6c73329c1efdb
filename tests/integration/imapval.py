"""imapval: parse IMAP response values (RFC 3501 s-expressions) and check
BODYSTRUCTURE shapes. No I/O.

parse(data) reads one value list from raw response bytes, literals
included ({n}CRLF followed by n bytes): atoms become Atom (a bytes
subclass), numbers int, quoted strings and literals bytes, NIL None,
parenthesised lists Python lists. BODY[...] and BODY[...]<n> are read as
one atom even when the brackets hold spaces.

join_imaplib(data) rebuilds the raw bytes of the responses that imaplib
split around literals (its list of (head, literal) tuples and bytes), one
bytes string per response.
"""


class Atom(bytes):
    pass


class ParseError(Exception):
    pass


def join_imaplib(items):
    out, cur = [], b''
    for it in items:
        if it is None:
            continue
        if isinstance(it, tuple):
            cur += it[0] + b'\r\n' + it[1]
        else:
            out.append(cur + it)
            cur = b''
    if cur:
        out.append(cur)
    return out


_SPECIAL = b' ()"{\r\n'


def _value(d, i):
    n = len(d)
    if i >= n:
        raise ParseError('unexpected end at %d' % i)
    c = d[i:i + 1]
    if c == b'(':
        lst, i = [], i + 1
        while True:
            while i < n and d[i:i + 1] == b' ':
                i += 1
            if i >= n:
                raise ParseError('unterminated list')
            if d[i:i + 1] == b')':
                return lst, i + 1
            v, i = _value(d, i)
            lst.append(v)
    if c == b'"':
        out, i = bytearray(), i + 1
        while i < n:
            ch = d[i:i + 1]
            if ch == b'\\':
                if i + 1 >= n:
                    raise ParseError('bad escape')
                out += d[i + 1:i + 2]
                i += 2
            elif ch == b'"':
                return bytes(out), i + 1
            elif ch in (b'\r', b'\n'):
                raise ParseError('CR/LF in quoted string at %d' % i)
            else:
                out += ch
                i += 1
        raise ParseError('unterminated quoted string')
    if c == b'{':
        j = d.find(b'}', i)
        if j < 0 or d[j + 1:j + 3] != b'\r\n':
            raise ParseError('bad literal at %d' % i)
        size = int(d[i + 1:j].rstrip(b'+'))
        start = j + 3
        if start + size > n:
            raise ParseError('short literal')
        return d[start:start + size], start + size
    j = i
    depth = 0
    while j < n:
        ch = d[j:j + 1]
        if ch == b'[':
            depth += 1
        elif ch == b']':
            depth -= 1
        elif depth == 0 and ch in (b' ', b'(', b')', b'"', b'{', b'\r', b'\n'):
            if ch == b'(' or ch == b'"' or ch == b'{':
                raise ParseError('bad atom at %d' % j)
            break
        j += 1
    tok = d[i:j]
    if not tok:
        raise ParseError('empty atom at %d' % i)
    if tok.upper() == b'NIL':
        return None, j
    if tok.isdigit():
        return int(tok), j
    return Atom(tok), j


def parse(d):
    """Parse 'a b (c d) ...' (the whole of d) into a list of values."""
    vals, i, n = [], 0, len(d)
    while True:
        while i < n and d[i:i + 1] == b' ':
            i += 1
        if i >= n or d[i:] == b'\r\n':
            return vals
        v, i = _value(d, i)
        vals.append(v)


def fetch_items(resp):
    """resp: raw '* n FETCH (...)' without '* ' (as imaplib gives it:
    'n (k v k v ...)'). Returns (n, {KEY: value}) with upper-case keys."""
    vals = parse(resp)
    if len(vals) < 2 or not isinstance(vals[0], int):
        raise ParseError('not a FETCH response: %r' % resp[:80])
    lst = vals[-1]
    if not isinstance(lst, list) or len(lst) % 2:
        raise ParseError('bad FETCH item list: %r' % resp[:200])
    items = {}
    for k in range(0, len(lst), 2):
        items[bytes(lst[k]).upper().decode('ascii', 'replace')] = lst[k + 1]
    return vals[0], items


def _nstring(v):
    return v is None or (isinstance(v, bytes) and not isinstance(v, Atom))


def _string(v):
    return isinstance(v, bytes) and not isinstance(v, Atom)


def check_body(b, where='body'):
    """Check one body (RFC 3501 'body'); returns a list of problems."""
    probs = []
    if not isinstance(b, list) or not b:
        return ['%s: not a non-empty list' % where]
    if isinstance(b[0], list):
        k = 0
        while k < len(b) and isinstance(b[k], list):
            probs += check_body(b[k], '%s.%d' % (where, k + 1))
            k += 1
        if k >= len(b) or not _string(b[k]):
            probs.append('%s: multipart without a subtype string' % where)
        return probs
    if len(b) < 7:
        return ['%s: %d fields, a single part needs at least 7' % (where, len(b))]
    t, st, params, pid, desc, enc, size = b[:7]
    if not _string(t) or not _string(st):
        probs.append('%s: type/subtype not strings' % where)
    if not (params is None or (isinstance(params, list) and len(params) % 2 == 0
                               and all(_string(x) for x in params))):
        probs.append('%s: bad parameter list %r' % (where, params))
    if not _nstring(pid) or not _nstring(desc):
        probs.append('%s: bad id/description' % where)
    if not _string(enc):
        probs.append('%s: encoding not a string' % where)
    if not isinstance(size, int):
        probs.append('%s: size not a number' % where)
    tl = (t or b'').lower() if _string(t) else b''
    stl = (st or b'').lower() if _string(st) else b''
    if tl == b'text':
        if len(b) < 8 or not isinstance(b[7], int):
            probs.append('%s: text part without a line count' % where)
    elif tl == b'message' and stl == b'rfc822':
        if len(b) < 10:
            probs.append('%s: message/rfc822 needs envelope, body, lines' % where)
        else:
            if not isinstance(b[7], list) or len(b[7]) != 10:
                probs.append('%s: bad envelope' % where)
            probs += check_body(b[8], where + '.msg')
            if not isinstance(b[9], int):
                probs.append('%s: message/rfc822 line count not a number' % where)
    return probs


def top_type(b):
    """(type, subtype) of a BODYSTRUCTURE, lower-case str."""
    if isinstance(b[0], list):
        k = 0
        while k < len(b) and isinstance(b[k], list):
            k += 1
        return 'multipart', bytes(b[k]).decode('ascii', 'replace').lower()
    return (bytes(b[0]).decode('ascii', 'replace').lower(),
            bytes(b[1]).decode('ascii', 'replace').lower())


if __name__ == '__main__':
    # Self-test: python3 imapval.py
    r = (b'12 (UID 7 RFC822.SIZE 5 BODY[] {5}\r\nab\r\nc BODYSTRUCTURE '
         b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 3 1 NIL NIL NIL NIL)'
         b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 10 (NIL "s" NIL NIL NIL NIL NIL NIL NIL NIL) '
         b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1) 2) "MIXED" ("BOUNDARY" "x") NIL NIL NIL))')
    n, it = fetch_items(r)
    assert n == 12 and it['UID'] == 7 and it['BODY[]'] == b'ab\r\nc', it
    assert check_body(it['BODYSTRUCTURE']) == [], check_body(it['BODYSTRUCTURE'])
    assert top_type(it['BODYSTRUCTURE']) == ('multipart', 'mixed')
    assert join_imaplib([(b'1 (BODY[] {2}', b'hi'), b' UID 3)']) == [b'1 (BODY[] {2}\r\nhi UID 3)']
    assert parse(b'BODY[HEADER.FIELDS (A B)] "x\\"y"') == [b'BODY[HEADER.FIELDS (A B)]', b'x"y']
    print('imapval: ok')
