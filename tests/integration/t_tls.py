"""TLS: STARTTLS (RFC 3207, RFC 3501 6.2.1) and implicit TLS (RFC 8314) on
the fixture's daemons, which run with a self-signed certificate
(capfix.make_cert), with real clients:

- openssl s_client -starttls smtp / -starttls imap, and plain s_client on
  the implicit ports (submissions_listen, imaps_listen): the certificate
  verifies against the fixture's, EHLO after TLS no longer offers
  STARTTLS, CAPABILITY after TLS has AUTH=PLAIN and neither STARTTLS nor
  LOGINDISABLED;
- swaks --tls delivers a message that reads back byte-exact over IMAPS
  (imaplib.IMAP4_SSL), its Received field saying "with ESMTPS" (RFC 3848);
  curl imaps:// lists the mailboxes and fetches the message; a 6 MB
  message in over SMTPS and out over IMAPS byte-exact; a TLS client that
  reads no replies is throttled (write backpressure on ciphertext);
- a TLS 1.0 client (min = max = TLSv1, @SECLEVEL=0 so that the client
  would do it) is refused by the server, which logs the reason, while the
  same client at TLS 1.2 gets through;
- command injection (CVE-2011-0411): "STARTTLS\\r\\nRSET\\r\\n" in one
  write: RSET is never answered, the first reply after the handshake is
  the EHLO's; the same for IMAP with "a STARTTLS\\r\\nb NOOP\\r\\n";
  STARTTLS with arguments 501, inside TLS 503; after STARTTLS the session
  forgot its EHLO;
- a private capmail-imapd with auth_plaintext_loopback = no: LOGINDISABLED
  and NO [PRIVACYREQUIRED] for LOGIN and AUTHENTICATE before TLS, LOGIN
  fine after STARTTLS (imaplib.starttls);
- a group-readable key makes the daemon exit at start with a clear line;
- SIGHUP: the certificate files are replaced, both daemons reload, a new
  connection gets the new certificate while sessions opened before go on;
  a reload that fails (key made group-readable) keeps the old one.
"""

import imaplib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import capfix
import mailutil
import t_conn
from mailutil import Skip

ALICE = 'alice@example.test'


def need(tool):
    if shutil.which(tool) is None:
        raise Skip('%s not installed' % tool)


def client_ctx(fx, cafile=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False          # we connect to 127.0.0.1
    ctx.load_verify_locations(cafile or fx.cert)
    return ctx


def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def s_client(fx, port, starttls=None, stdin=b'', extra=()):
    need('openssl')
    argv = ['openssl', 's_client', '-connect', '127.0.0.1:%d' % port,
            '-CAfile', fx.cert, '-verify_return_error', '-verify_hostname',
            capfix.HOSTNAME, '-crlf', '-ign_eof', '-brief']
    if starttls:
        argv += ['-starttls', starttls]
    argv += list(extra)
    p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), \
        p.stderr.decode('utf-8', 'replace')


def expect(cond, what, out):
    if not cond:
        raise AssertionError('%s; got:\n%s' % (what, out[-3000:]))


class Lines:
    """CRLF lines from a socket (plain or TLS)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''

    def line(self):
        while b'\r\n' not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise AssertionError('connection closed; buffered %r' % self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line.decode('utf-8', 'replace')

    def reply(self):
        """One SMTP reply: its lines."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == '-':
            lines.append(self.line())
        return lines

    def send(self, data):
        self.sock.sendall(data)

    def rest(self):
        """Everything until the peer closes."""
        out = self.buf
        self.buf = b''
        while True:
            try:
                d = self.sock.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not d:
                break
            out += d
        return out


# ---- openssl s_client ----------------------------------------------------

def test_s_client_smtp(fx):
    rc, out, err = s_client(fx, fx.smtp_port, 'smtp',
                            b'EHLO client.example\nQUIT\n')
    expect(rc == 0, 's_client -starttls smtp exited %d: %s' % (rc, err), out)
    expect('Verification: OK' in err, 'certificate not verified', err)
    expect(re.search(r'^250-%s\r?$' % re.escape(capfix.HOSTNAME), out, re.M),
           'no EHLO answer after TLS', out)
    expect('STARTTLS' not in out, 'EHLO inside TLS offers STARTTLS', out)
    expect('250 SMTPUTF8' in out and '221 2.0.0 Bye' in out,
           'EHLO list or QUIT answer missing', out)


def test_s_client_imap(fx):
    rc, out, err = s_client(fx, fx.imap_port, 'imap',
                            b'a CAPABILITY\nb LOGOUT\n')
    expect(rc == 0, 's_client -starttls imap exited %d: %s' % (rc, err), out)
    expect('Verification: OK' in err, 'certificate not verified', err)
    caps = [l for l in out.splitlines() if l.startswith('* CAPABILITY ')]
    expect(len(caps) == 1, 'one CAPABILITY response wanted', out)
    words = caps[0].split()
    expect('AUTH=PLAIN' in words and 'STARTTLS' not in words and
           'LOGINDISABLED' not in words, 'CAPABILITY inside TLS', out)
    expect('a OK CAPABILITY completed' in out and 'b OK' in out,
           'tagged answers missing', out)


def test_s_client_submissions(fx):
    rc, out, err = s_client(fx, fx.smtps_port, None,
                            b'EHLO client.example\nQUIT\n')
    expect(rc == 0, 's_client on submissions exited %d: %s' % (rc, err), out)
    expect('Verification: OK' in err, 'certificate not verified', err)
    lines = out.splitlines()
    expect(lines and lines[0] == '220 %s ESMTP capmail' % capfix.HOSTNAME,
           'greeting over implicit TLS', out)
    expect('STARTTLS' not in out and '221 2.0.0 Bye' in out,
           'EHLO over implicit TLS offers STARTTLS, or no QUIT answer', out)
    log = open(fx.logs['gateway'], 'rb').read().decode('utf-8', 'replace')
    expect(re.search(r'smtp tls established protocol=TLSv1\.3 cipher=\S+', log),
           'no handshake log line with protocol and cipher', log[-2000:])


def test_s_client_imaps(fx):
    rc, out, err = s_client(fx, fx.imaps_port, None, b'a LOGOUT\n')
    expect(rc == 0, 's_client on imaps exited %d: %s' % (rc, err), out)
    lines = out.splitlines()
    expect(lines and lines[0].startswith('* OK [CAPABILITY IMAP4rev1 ') and
           'STARTTLS' not in lines[0] and 'AUTH=PLAIN' in lines[0],
           'imaps greeting', out)
    expect('* BYE' in out and 'a OK' in out, 'LOGOUT answers', out)


# ---- swaks, imaplib, curl -------------------------------------------------

def imaps(fx, user=ALICE):
    m = imaplib.IMAP4_SSL('127.0.0.1', fx.imaps_port, ssl_context=client_ctx(fx),
                          timeout=60)
    m.login(user, capfix.USERS[user])
    return m


def test_swaks_tls_imaps(fx):
    need('swaks')
    tag = 'tls-%d-%d' % (os.getpid(), int(time.time() * 1000))
    body = ('From: <sender@outside.example>\r\n'
            'To: <alice@example.test>\r\n'
            'Subject: over TLS %s\r\n'
            'Message-ID: <%s@outside.example>\r\n'
            '\r\n'
            'Line one.\r\n'
            '..a dot-stuffed line\r\n'
            'Trailing spaces   \r\n'
            '\xc3\xa9t\xc3\xa9 8bit\r\n' % (tag, tag)).encode('latin-1')
    path = os.path.join(fx.dir, tag + '.eml')
    with open(path, 'wb') as f:
        f.write(body)
    p = subprocess.run(['swaks', '--server', '127.0.0.1:%d' % fx.smtp_port, '--tls',
                        '--ehlo', 'client.outside.example',
                        '--from', 'sender@outside.example', '--to', ALICE,
                        '--data', '@' + path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode('utf-8', 'replace')
    expect(p.returncode == 0, 'swaks --tls exited %d' % p.returncode, out)
    expect('<-  220 2.0.0 Ready to start TLS' in out, 'no STARTTLS answer', out)
    expect(re.search(r'<~  250 2\.0\.0 Ok: queued as', out), 'not queued over TLS', out)
    # swaks sends the file as its DATA (a line starting with "." is stuffed
    # on the wire, unstuffed by the server) followed by one empty line
    # before the final "." (its transcript shows it)
    expected = body + b'\r\n'
    m = imaps(fx)
    try:
        mailutil.check(m.select('INBOX', readonly=True), 'SELECT')
        data = mailutil.check(m.uid('SEARCH', 'HEADER', 'Message-ID', tag),
                              'SEARCH')
        found = data[0].split()
        expect(len(found) == 1, 'one message with the tag wanted', repr(data))
        uid = int(found[0])
        it = mailutil.fetch(m, uid, '(UID BODY.PEEK[])')
    finally:
        m.logout()
    raw = it['BODY[]']
    rest = mailutil.strip_received(raw)
    received = raw[:len(raw) - len(rest)]
    expect(rest == expected, 'fetched bytes: %s' %
           mailutil.diff_at(expected, rest), repr(raw[:600]))
    expect(b'with ESMTPS ' in received, 'Received does not say ESMTPS', repr(received))
    fx.tls_uid = uid
    fx.tls_expected = raw


def test_curl_imaps(fx):
    need('curl')
    uid = getattr(fx, 'tls_uid', None)
    if uid is None:
        raise Skip('needs the swaks test\'s message')
    base = 'imaps://127.0.0.1:%d/' % fx.imaps_port
    cred = '%s:%s' % (ALICE, capfix.USERS[ALICE])
    p = subprocess.run(['curl', '-sS', '-k', '--user', cred, base],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    out = p.stdout.decode('utf-8', 'replace')
    expect(p.returncode == 0, 'curl list exited %d: %s' % (
        p.returncode, p.stderr.decode('utf-8', 'replace')), out)
    expect(re.search(r'^\* LIST \([^)]*\) "/" "?INBOX"?\r?$', out, re.M),
           'INBOX not listed', out)
    p = subprocess.run(['curl', '-sS', '-k', '--user', cred,
                        base + 'INBOX;UID=%d' % uid],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    expect(p.returncode == 0, 'curl fetch exited %d' % p.returncode,
           p.stderr.decode('utf-8', 'replace'))
    expect(p.stdout == fx.tls_expected, 'curl got other bytes than imaplib (%s)'
           % mailutil.diff_at(fx.tls_expected, p.stdout), repr(p.stdout[:300]))


def test_big_message_tls(fx):
    """A 6 MB message in over implicit TLS (smtplib.SMTP_SSL: submission,
    so AUTH first and alice's own address), out over IMAPS: many records,
    c->in filling up while ciphertext waits."""
    import smtplib
    tag = 'big-tls-%d' % os.getpid()
    line = b'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-' * 1 + b'\r\n'
    body = (b'From: <alice@example.test>\r\nTo: <alice@example.test>\r\n'
            b'Subject: big over TLS\r\nMessage-ID: <' + tag.encode() +
            b'@outside.example>\r\n\r\n' + line * (6 * 1024 * 1024 // len(line)))
    smtp = smtplib.SMTP_SSL('127.0.0.1', fx.smtps_port, timeout=120,
                            context=client_ctx(fx))
    try:
        smtp.ehlo('client.outside.example')
        smtp.login(ALICE, capfix.USERS[ALICE])
        refused = smtp.sendmail(ALICE, [ALICE], body)
        expect(not refused, 'refused', repr(refused))
    finally:
        smtp.quit()
    m = imaps(fx)
    try:
        mailutil.check(m.select('INBOX', readonly=True), 'SELECT')
        data = mailutil.check(m.uid('SEARCH', 'HEADER', 'Message-ID', tag), 'SEARCH')
        found = data[0].split()
        expect(len(found) == 1, 'one message with the tag wanted', repr(data))
        it = mailutil.fetch(m, int(found[0]), '(UID BODY.PEEK[])')
    finally:
        m.logout()
    raw = it['BODY[]']
    rest = mailutil.strip_received(raw)
    expect(rest == body, 'fetched bytes: %s' % mailutil.diff_at(body, rest), '')


def test_no_reader_throttled_tls(fx):
    """A TLS client that pipelines commands and reads no replies: the
    gateway stops reading its socket (ciphertext waits in the socket's
    receive queue) instead of encrypting replies without limit."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(('127.0.0.1', fx.smtps_port))
    t = client_ctx(fx).wrap_socket(raw, server_hostname=capfix.HOSTNAME)
    try:
        t.settimeout(3)
        chunk = b'HELP\r\n' * 4096
        sent = 0
        try:
            while sent < (4 << 20):
                t.sendall(chunk)
                sent += len(chunk)
        except socket.timeout:
            pass
        q = t_conn.rx_queue(fx.smtps_port, t.getsockname()[1])
        expect(q is not None, 'the gateway dropped the connection', fx.log_tail('gateway'))
        expect(q > 0, 'the gateway read all %d bytes from a TLS client that reads '
               'no replies' % sent, '')
        expect(sent < (4 << 20), 'the gateway took 4 MB of commands whose replies '
               'nobody reads', '')
    finally:
        t.close()


# ---- protocol versions ---------------------------------------------------

def handshake(port, ctx):
    s = socket.create_connection(('127.0.0.1', port), 30)
    try:
        t = ctx.wrap_socket(s, server_hostname=capfix.HOSTNAME)
        v = t.version()
        t.close()
        return v
    finally:
        s.close()


def old_ctx(version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers('ALL:@SECLEVEL=0')
    ctx.minimum_version = version
    ctx.maximum_version = version
    return ctx


def test_tls10_refused(fx):
    logpath = fx.logs['imapd']
    size = os.path.getsize(logpath)
    try:
        v = handshake(fx.imaps_port, old_ctx(ssl.TLSVersion.TLSv1))
        raise AssertionError('TLS 1.0 handshake succeeded (%s)' % v)
    except ssl.SSLError:
        pass
    # the server refused it (not the client): it says why
    with open(logpath, 'rb') as f:
        f.seek(size)
        log = f.read().decode('utf-8', 'replace')
    expect(re.search(r'imap tls handshake failed error=error:\S+:SSL routines:'
                     r':unsupported protocol', log),
           'no "unsupported protocol" line in imapd.log', log)
    expect(handshake(fx.imaps_port, old_ctx(ssl.TLSVersion.TLSv1_2)) == 'TLSv1.2',
           'the same client at TLS 1.2 did not get TLSv1.2', '')


# ---- STARTTLS injection and state ----------------------------------------

def test_smtp_starttls_injection(fx):
    s = socket.create_connection(('127.0.0.1', fx.smtp_port), 30)
    c = Lines(s)
    try:
        expect(c.reply()[0].startswith('220 '), 'greeting', c.buf.decode())
        c.send(b'EHLO client.example\r\n')
        ehlo = c.reply()
        expect('250-STARTTLS' in ehlo, 'EHLO does not offer STARTTLS', '\n'.join(ehlo))
        c.send(b'STARTTLS now\r\n')
        r = c.reply()
        expect(r == ['501 5.5.4 Syntax: STARTTLS'], 'STARTTLS with an argument', str(r))
        c.send(b'STARTTLS\r\nRSET\r\n')
        r = c.reply()
        expect(r == ['220 2.0.0 Ready to start TLS'], 'STARTTLS answer', str(r))
        expect(c.buf == b'', 'plaintext after the 220', repr(c.buf))
        t = client_ctx(fx).wrap_socket(s, server_hostname=capfix.HOSTNAME)
        c = Lines(t)
        # state forgotten: no transaction without EHLO again
        c.send(b'MAIL FROM:<a@outside.example>\r\n')
        r = c.reply()
        expect(r == ['503 5.5.1 Error: send HELO/EHLO first'],
               'first reply inside TLS (RSET must never be answered)', str(r))
        c.send(b'EHLO client.example\r\n')
        ehlo = c.reply()
        expect(ehlo[0] == '250-' + capfix.HOSTNAME and '250-STARTTLS' not in ehlo,
               'EHLO inside TLS', '\n'.join(ehlo))
        c.send(b'STARTTLS\r\n')
        r = c.reply()
        expect(r == ['503 5.5.1 Error: TLS already active'], 'STARTTLS inside TLS', str(r))
        c.send(b'QUIT\r\n')
        r = c.reply()
        expect(r == ['221 2.0.0 Bye'], 'QUIT', str(r))
        rest = c.rest()
        expect(rest == b'', 'bytes after 221', repr(rest))
    finally:
        s.close()


def test_imap_starttls_injection(fx):
    s = socket.create_connection(('127.0.0.1', fx.imap_port), 30)
    c = Lines(s)
    try:
        g = c.line()
        expect(g.startswith('* OK [CAPABILITY ') and ' STARTTLS' in g,
               'greeting offers STARTTLS', g)
        c.send(b'x STARTTLS now\r\n')
        r = c.line()
        expect(r == 'x BAD STARTTLS takes no arguments', 'STARTTLS with arguments', r)
        c.send(b'a STARTTLS\r\nb NOOP\r\n')
        r = c.line()
        expect(r == 'a OK Begin TLS negotiation now', 'STARTTLS answer', r)
        expect(c.buf == b'', 'plaintext after the OK', repr(c.buf))
        t = client_ctx(fx).wrap_socket(s, server_hostname=capfix.HOSTNAME)
        c = Lines(t)
        c.send(b'c NOOP\r\n')
        r = c.line()
        expect(r == 'c OK NOOP completed', 'first line inside TLS (b must never '
               'be answered)', r)
        c.send(b'd STARTTLS\r\n')
        r = c.line()
        expect(r == 'd BAD TLS is already active', 'STARTTLS inside TLS', r)
        c.send(b'e LOGIN alice@example.test ' + capfix.USERS[ALICE].encode() + b'\r\n')
        r = c.line()
        expect(r.startswith('e OK [CAPABILITY IMAP4rev1 '), 'LOGIN inside TLS', r)
        c.send(b'f STARTTLS\r\n')
        r = c.line()
        expect(r == 'f BAD Already logged in', 'STARTTLS after login', r)
        c.send(b'g LOGOUT\r\n')
        expect(c.line().startswith('* BYE'), 'BYE', '')
        expect(c.line() == 'g OK LOGOUT completed', 'LOGOUT', '')
    finally:
        s.close()


def test_logindisabled(fx):
    d = t_conn.Gateway(fx, 'tls-nologin', 60, extra='auth_plaintext_loopback = no\n',
                       proto='imap')
    try:
        s = socket.create_connection(('127.0.0.1', d.port), 30)
        c = Lines(s)
        g = c.line()
        words = g.split('] ')[0].split()
        expect('STARTTLS' in words and 'LOGINDISABLED' in words and
               'AUTH=PLAIN' not in words, 'greeting before TLS', g)
        c.send(b'a LOGIN alice@example.test ' + capfix.USERS[ALICE].encode() + b'\r\n')
        r = c.line()
        expect(r == 'a NO [PRIVACYREQUIRED] Plaintext authentication disallowed: '
               'use STARTTLS first', 'LOGIN before TLS', r)
        c.send(b'b AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB4\r\n')
        r = c.line()
        expect(r.startswith('b NO [PRIVACYREQUIRED] '), 'AUTHENTICATE before TLS', r)
        c.send(b'c CAPABILITY\r\n')
        r = c.line()
        expect(r.endswith(' STARTTLS LOGINDISABLED') and 'AUTH=PLAIN' not in r,
               'CAPABILITY before TLS', r)
        s.close()
        # imaplib: STARTTLS, then LOGIN works
        m = imaplib.IMAP4('127.0.0.1', d.port, timeout=60)
        m.starttls(ssl_context=client_ctx(fx))
        caps = m.capabilities
        expect('AUTH=PLAIN' in caps and 'STARTTLS' not in caps and
               'LOGINDISABLED' not in caps, 'capabilities after TLS', repr(caps))
        typ, _ = m.login(ALICE, capfix.USERS[ALICE])
        expect(typ == 'OK', 'LOGIN after STARTTLS', typ)
        m.logout()
    finally:
        st = d.stop()
        d.check_clean()
    expect(st == 0, 'private imapd exit status %r' % st, d.tail())


def test_key_mode_refused(fx):
    key = os.path.join(fx.dir, 'loose-key.pem')
    cert = os.path.join(fx.dir, 'loose-cert.pem')
    fx.make_cert(cert, key, capfix.HOSTNAME)
    os.chmod(key, 0o640)
    conf = os.path.join(fx.dir, 'capmail-loose.conf')
    with open(fx.conf) as f:
        lines = [l for l in f if not l.startswith(('tls_', 'smtp_listen', 'submissions_listen'))]
    lines += ['smtp_listen = 127.0.0.1:%d\n' % capfix.free_port(),
              'tls_cert_file = %s\n' % cert, 'tls_key_file = %s\n' % key]
    with open(conf, 'w') as f:
        f.writelines(lines)
    p = subprocess.run([fx.gateway, '-c', conf], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode('utf-8', 'replace')
    expect(p.returncode != 0, 'the gateway started with a group-readable key', out)
    expect(('tls_key_file %s: mode 0640 lets group or others read it; chmod 600 it'
            % key) in out, 'no clear log line for the key mode', out)


# ---- SIGHUP --------------------------------------------------------------

def wait_log(fx, name, size, pattern, timeout=30):
    end = time.time() + timeout
    while True:
        with open(fx.logs[name], 'rb') as f:
            f.seek(size)
            text = f.read().decode('utf-8', 'replace')
        if re.search(pattern, text):
            return text
        if time.time() > end:
            raise AssertionError('%s.log: no %r after the signal:\n%s'
                                 % (name, pattern, text[-2000:]))
        time.sleep(0.1)


def peer_der(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = socket.create_connection(('127.0.0.1', port), 30)
    try:
        t = ctx.wrap_socket(s)
        der = t.getpeercert(binary_form=True)
        t.close()
        return der
    finally:
        s.close()


def hup(fx, pattern):
    sizes = {n: os.path.getsize(fx.logs[n]) for n in ('gateway', 'imapd')}
    for n in ('gateway', 'imapd'):
        fx.procs[n].send_signal(signal.SIGHUP)
    for n in ('gateway', 'imapd'):
        wait_log(fx, n, sizes[n], pattern)


def test_sighup_reload(fx):
    old = der_of(fx.cert)
    expect(peer_der(fx.imaps_port) == old and peer_der(fx.smtps_port) == old,
           'the daemons do not serve the fixture certificate', '')
    # sessions opened before the reload
    m = imaps(fx)
    s = socket.create_connection(('127.0.0.1', fx.smtps_port), 30)
    t = client_ctx(fx).wrap_socket(s, server_hostname=capfix.HOSTNAME)
    c = Lines(t)
    try:
        expect(c.reply()[0].startswith('220 '), 'submissions greeting', '')
        oldcert = fx.cert + '.old'
        shutil.copy(fx.cert, oldcert)
        fx.make_cert(fx.cert, fx.key, capfix.HOSTNAME)
        new = der_of(fx.cert)
        expect(new != old, 'make_cert made the same certificate', '')
        hup(fx, r'tls reloaded certificate=')
        expect(peer_der(fx.imaps_port) == new, 'imaps: new connection, old certificate', '')
        expect(peer_der(fx.smtps_port) == new, 'submissions: old certificate', '')
        rc, out, err = s_client(fx, fx.imap_port, 'imap', b'a LOGOUT\n')
        expect(rc == 0 and 'Verification: OK' in err,
               'STARTTLS does not verify against the new certificate', err)
        # the sessions from before still work
        typ, _ = m.noop()
        expect(typ == 'OK', 'imaps session opened before the reload', typ)
        mailutil.uids(m)
        c.send(b'NOOP\r\n')
        r = c.reply()
        expect(r == ['250 2.0.0 Ok'], 'submissions session from before', str(r))
        # a failed reload keeps the loaded certificate
        os.chmod(fx.key, 0o644)
        try:
            hup(fx, r'tls reload failed, keeping the old certificate: tls_key_file '
                r'\S+: mode 0644 lets group or others read it')
        finally:
            os.chmod(fx.key, 0o600)
        expect(peer_der(fx.imaps_port) == new and peer_der(fx.smtps_port) == new,
               'a failed reload changed the certificate', '')
        c.send(b'QUIT\r\n')
        expect(c.reply() == ['221 2.0.0 Bye'], 'QUIT', '')
    finally:
        s.close()
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def cases(fx):
    return [
        ('tls: openssl s_client -starttls smtp', lambda: test_s_client_smtp(fx)),
        ('tls: openssl s_client -starttls imap', lambda: test_s_client_imap(fx)),
        ('tls: openssl s_client on submissions (implicit TLS)',
         lambda: test_s_client_submissions(fx)),
        ('tls: openssl s_client on imaps (implicit TLS)', lambda: test_s_client_imaps(fx)),
        ('tls: swaks --tls, then IMAPS reads it byte-exact, Received says ESMTPS',
         lambda: test_swaks_tls_imaps(fx)),
        ('tls: curl imaps:// lists and fetches', lambda: test_curl_imaps(fx)),
        ('tls: a 6 MB message in over SMTPS, out over IMAPS byte-exact',
         lambda: test_big_message_tls(fx)),
        ('tls: a TLS client that reads no replies is throttled',
         lambda: test_no_reader_throttled_tls(fx)),
        ('tls: a TLS 1.0 client is refused by the server', lambda: test_tls10_refused(fx)),
        ('tls: SMTP STARTTLS\\r\\nRSET in one write: RSET never answered',
         lambda: test_smtp_starttls_injection(fx)),
        ('tls: IMAP a STARTTLS\\r\\nb NOOP in one write: b never answered',
         lambda: test_imap_starttls_injection(fx)),
        ('tls: auth_plaintext_loopback = no: LOGINDISABLED until STARTTLS',
         lambda: test_logindisabled(fx)),
        ('tls: a group-readable key stops the daemon at start', lambda: test_key_mode_refused(fx)),
        ('tls: SIGHUP reloads the certificate, old sessions go on',
         lambda: test_sighup_reload(fx)),
    ]
