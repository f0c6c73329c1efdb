"""SPF, DKIM and DMARC at the MX (lib/authres), against real DNS:

- a dnsmasq of our own on a loopback port (dns_resolver of a private
  capmail-gateway) serves the test zones: spf-pass.test (SPF allows
  127.0.0.1, DMARC p=none), spf-fail.test (SPF allows 192.0.2.1 only),
  dkim.test (a DKIM key for selector sel, DMARC p=reject, no SPF) and
  other.test (the same key: signatures not aligned with dkim.test);
- messages sent with smtplib: SPF pass, SPF fail, the null sender with a
  HELO that passes SPF, DKIM-signed with python3-dkim's dkimsign (aligned,
  not aligned, altered after signing), unsigned;
- a DNS server that never answers (a UDP socket nobody reads): the 250
  still comes, every result that needed DNS says temperror;
- a DNS server of ours answering every query 1.5 s late, SPF with nine
  include: mechanisms: the check stops at auth_checks_timeout (fewer
  queries than the whole evaluation makes), spf=temperror;
- a DNS server of ours (HeldDNS) holding four checks' SPF queries
  unanswered: another session's RCPT is answered meanwhile (the checks
  do not take the store's pool threads), then the four pass;
- two DMARC records at one name: dmarc=none (RFC 7489 section 6.6.3);
- a gateway on [::] (an IPv4 client is ::ffff:127.0.0.1): SPF ip4 passes;
- twelve DKIM signatures: only the topmost eight keys are looked up;
- the fixture's own gateway (dns_resolver a closed port: refused at once)
  and submission (no check, no header, auth_results NULL).
For each: the exact Authentication-Results field below our Received
(fetched over IMAP), the rest of the message byte-exact, and the grant's
grantor_auth and auth_results in the database and in capmailctl grant
list.
"""

import atexit
import imaplib
import os
import random
import re
import shutil
import smtplib
import socket
import struct
import subprocess
import threading
import time

import capfix
import mailutil
from mailutil import Skip
import t_conn

RCPT = 'dora@example.test'
RCPT_PW = 'dora-Secret-4'
HOST = capfix.HOSTNAME


def dns_rcode(port, name, timeout=1.0):
    """Ask 127.0.0.1:port for name's TXT; the answer's rcode, or None."""
    qid = random.randrange(65536)
    q = struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0)
    q += b''.join(bytes([len(p)]) + p for p in name.encode().split(b'.'))
    q += b'\0' + struct.pack('!HH', 16, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ('127.0.0.1', port))
        data, _ = s.recvfrom(65535)
    except OSError:
        return None
    finally:
        s.close()
    if len(data) < 12 or struct.unpack('!H', data[:2])[0] != qid:
        return None
    return data[3] & 0x0f


def need_tools():
    """(dnsmasq, dkimsign) paths, or Skip saying which package is missing."""
    dnsmasq = shutil.which('dnsmasq') or '/usr/sbin/dnsmasq'
    if not os.access(dnsmasq, os.X_OK):
        raise Skip('no dnsmasq (Debian: dnsmasq-base)')
    dkimsign = shutil.which('dkimsign') or '/usr/bin/dkimsign'
    if not os.access(dkimsign, os.X_OK):
        raise Skip('no dkimsign (Debian: python3-dkim)')
    return dnsmasq, dkimsign


def dkim_key(fx, path, bits=2048):
    """A new RSA key in path; its DKIM TXT record ("v=DKIM1; k=rsa; p=...")."""
    fx.run(['openssl', 'genrsa', '-out', path, str(bits)])
    pub = fx.run(['openssl', 'rsa', '-in', path, '-pubout'])
    b64 = ''.join(l for l in pub.stdout.decode().splitlines()
                  if not l.startswith('-----'))
    return 'v=DKIM1; k=rsa; p=' + b64


def start_dnsmasq(dnsmasq, port, zones, log):
    """dnsmasq on 127.0.0.1:port, authoritative for .test with the TXT
    records zones [(name, text)], logging queries to log; returns the
    process once it answers."""
    argv = [dnsmasq, '--keep-in-foreground', '--port=%d' % port,
            '--listen-address=127.0.0.1', '--bind-interfaces',
            '--no-resolv', '--no-hosts', '--pid-file=',
            # authoritative for .test: anything else there is NXDOMAIN
            '--local=/test/', '--log-queries', '--log-facility=' + log]
    argv += ['--txt-record=%s,%s' % z for z in zones]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.time() + 30
    while dns_rcode(port, zones[0][0]) != 0:
        if p.poll() is not None or time.time() > end:
            raise AssertionError('dnsmasq did not answer: %s' %
                                 p.stderr.read().decode()[-500:])
        time.sleep(0.1)
    return p


class HeldDNS(threading.Thread):
    """A DNS server on loopback that answers TXT queries from zones (else
    NXDOMAIN), each delay seconds after it came, or, while held, keeps
    every query unanswered until release(). seen: the names asked so
    far."""

    def __init__(self, zones, delay=0, truncate=False, tcp=None):
        """truncate: every UDP answer comes back empty with TC set (the
        client must ask again over TCP); tcp 'answer' or 'stall': a TCP
        listener on the same port that answers, or accepts and then says
        nothing (tcp_conns counts its connections)."""
        super().__init__(daemon=True)
        self.zones = zones
        self.delay = delay
        self.truncate = truncate
        self.tcp_conns = 0
        self.tcp_socks = []
        self.done = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.tcp = None
        if tcp is not None:
            self.tcp_mode = tcp
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.tcp.bind(('127.0.0.1', self.port))
            self.tcp.listen(8)
            self.tcp.settimeout(0.2)
            threading.Thread(target=self.tcp_run, daemon=True).start()
        self.lock = threading.Lock()
        self.held = []
        self.holding = False
        self.seen = []
        self.done = False

    def tcp_run(self):
        while not self.done:
            try:
                c, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.tcp_conns += 1
                self.tcp_socks.append(c)
            if self.tcp_mode == 'stall':
                continue            # kept open, never read
            c.settimeout(5)
            try:
                n = struct.unpack('!H', c.recv(2))[0]
                q = b''
                while len(q) < n:
                    q += c.recv(n - len(q))
                a = self.reply(q, tc=False)
                c.sendall(struct.pack('!H', len(a)) + a)
            except (OSError, struct.error):
                pass

    def reply(self, q, tc):
        qid, = struct.unpack('!H', q[:2])
        i, labels = 12, []
        while q[i] != 0:
            labels.append(q[i + 1:i + 1 + q[i]].decode('ascii', 'replace'))
            i += 1 + q[i]
        qtype, = struct.unpack('!H', q[i + 1:i + 3])
        question = q[12:i + 5]
        name = '.'.join(labels).lower()
        txt = self.zones.get(name) if qtype == 16 else None
        rcode = 0 if txt is not None or name in self.zones else 3
        if tc:
            return struct.pack('!HHHHHH', qid, 0x8780 | rcode, 1, 0, 0, 0) + question
        rr = b''
        if txt is not None:
            data = txt.encode()
            rdata = b''.join(bytes([len(data[j:j + 255])]) + data[j:j + 255]
                             for j in range(0, len(data), 255))
            rr = struct.pack('!HHHIH', 0xc00c, 16, 1, 60, len(rdata)) + rdata
        head = struct.pack('!HHHHHH', qid, 0x8580 | rcode, 1,
                           1 if rr else 0, 0, 0)
        return head + question + rr

    def answer(self, q, addr):
        if self.truncate:
            try:
                self.sock.sendto(self.reply(q, tc=True), addr)
            except OSError:
                pass
            return
        qid, = struct.unpack('!H', q[:2])
        i, labels = 12, []
        while q[i] != 0:
            labels.append(q[i + 1:i + 1 + q[i]].decode('ascii', 'replace'))
            i += 1 + q[i]
        qtype, = struct.unpack('!H', q[i + 1:i + 3])
        question = q[12:i + 5]
        name = '.'.join(labels).lower()
        txt = self.zones.get(name) if qtype == 16 else None
        rcode = 0 if txt is not None or name in self.zones else 3
        rr = b''
        if txt is not None:
            data = txt.encode()
            rdata = b''.join(bytes([len(data[j:j + 255])]) + data[j:j + 255]
                             for j in range(0, len(data), 255))
            rr = struct.pack('!HHHIH', 0xc00c, 16, 1, 60, len(rdata)) + rdata
        head = struct.pack('!HHHHHH', qid, 0x8580 | rcode, 1,
                           1 if rr else 0, 0, 0)
        try:
            self.sock.sendto(head + question + rr, addr)
        except OSError:
            pass    # a late answer after stop()

    def run(self):
        while not self.done:
            try:
                q, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                try:
                    n, i = [], 12
                    while q[i] != 0:
                        n.append(q[i + 1:i + 1 + q[i]].decode('ascii', 'replace'))
                        i += 1 + q[i]
                    self.seen.append('.'.join(n).lower())
                except IndexError:
                    continue
                if self.holding:
                    self.held.append((q, addr))
                    continue
            if self.delay:
                t = threading.Timer(self.delay, self.answer, (q, addr))
                t.daemon = True
                t.start()
            else:
                self.answer(q, addr)

    def hold(self):
        with self.lock:
            self.holding = True

    def release(self):
        with self.lock:
            self.holding = False
            held, self.held = self.held, []
        for q, addr in held:
            self.answer(q, addr)

    def stop(self):
        self.done = True
        self.join(10)
        self.sock.close()
        if self.tcp is not None:
            self.tcp.close()
        for c in self.tcp_socks:
            c.close()


class Env:
    def __init__(self, fx):
        self.fx = fx
        self.started = False
        self.error = None
        self.dns = self.gw = self.deadgw = self.silent = None

    def start(self):
        if self.error:
            raise self.error
        if self.started:
            return
        try:
            self._start()
            self.started = True
        except Exception as e:
            self.error = e
            self.stop()
            raise

    def _start(self):
        fx = self.fx
        dnsmasq, self.dkimsign = need_tools()
        # stopped by the module's last case; and at exit, for a run whose
        # --only left that case out
        atexit.register(self.stop, False)

        self.key = os.path.join(fx.dir, 'dkim.key')
        key_txt = dkim_key(fx, self.key)
        # a 4096-bit key: its TXT answer (about 800 bytes) does not fit
        # in 512 bytes of UDP, the resolver must ask again over TCP
        self.bigkey = os.path.join(fx.dir, 'dkim-big.key')
        big_txt = dkim_key(fx, self.bigkey, 4096)
        big_txt = ','.join(big_txt[i:i + 255]
                           for i in range(0, len(big_txt), 255))
        self.dns_port = capfix.free_port()
        zones = [
            ('spf-pass.test', 'v=spf1 ip4:127.0.0.1 -all'),
            ('_dmarc.spf-pass.test', 'v=DMARC1; p=none'),
            ('spf-fail.test', 'v=spf1 ip4:192.0.2.1 -all'),
            ('sel._domainkey.dkim.test', key_txt),
            ('_dmarc.dkim.test', 'v=DMARC1; p=reject'),
            ('sel._domainkey.other.test', key_txt),
            ('big._domainkey.dkim.test', big_txt),
            # two DMARC records at one name: no DMARC processing, and no
            # falling back to the organisational domain's p=reject
            ('mail.multi.test', 'v=spf1 ip4:127.0.0.1 -all'),
            ('_dmarc.mail.multi.test', 'v=DMARC1; p=none'),
            ('_dmarc.mail.multi.test', 'v=DMARC1; p=quarantine'),
            ('_dmarc.multi.test', 'v=DMARC1; p=reject; aspf=s'),
        ]
        self.dns_log = os.path.join(fx.dir, 'dnsmasq.log')
        self.dns = start_dnsmasq(dnsmasq, self.dns_port, zones, self.dns_log)
        if dns_rcode(self.dns_port, 'nothing.test') != 3:
            raise AssertionError('dnsmasq does not say NXDOMAIN for nothing.test')
        self.gw = t_conn.Gateway(fx, 'authres', 120,
                                 'dns_resolver = 127.0.0.1:%d\n' % self.dns_port)
        # a DNS server that never answers: a socket nobody reads
        self.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.silent.bind(('127.0.0.1', 0))
        self.deadgw = t_conn.Gateway(
            fx, 'authres-dead', 120,
            'dns_resolver = 127.0.0.1:%d\n' % self.silent.getsockname()[1])
        fx.ctl('user', 'add', RCPT, input=(RCPT_PW + '\n').encode())
        # whatever the organisation's sender policy: this one gets it all
        fx.ctl('user', 'policy', RCPT, 'open')

    def stop(self, check=True):
        """Stop everything; check: the gateways' logs must be clean (not
        at exit, when the fixture's folder is gone)."""
        for g in (self.gw, self.deadgw):
            if g is not None:
                g.stop()
                if check:
                    g.check_clean()
        if self.dns is not None and self.dns.poll() is None:
            self.dns.terminate()
            try:
                self.dns.wait(10)
            except subprocess.TimeoutExpired:
                self.dns.kill()
                self.dns.wait()
        if self.silent is not None:
            self.silent.close()
        self.gw = self.deadgw = self.dns = self.silent = None


def message(subject, from_addr, body='Hello.\r\n'):
    return ('From: Sender <%s>\r\nTo: <%s>\r\nSubject: %s\r\n'
            'Message-ID: <%s@authres.test>\r\n\r\n%s'
            % (from_addr, RCPT, subject, subject.replace(' ', '.'), body)
            ).encode()


def sign(env, msg, domain):
    p = env.fx.run([env.dkimsign, 'sel', domain, env.key], input=msg)
    if not p.stdout.endswith(msg) or \
            not p.stdout.startswith(b'DKIM-Signature: '):
        raise AssertionError('dkimsign output is not signature + message: %r'
                             % p.stdout[:200])
    return p.stdout


def send(port, helo, mail_from, msg):
    s = smtplib.SMTP('127.0.0.1', port, timeout=120)
    try:
        s.ehlo(helo)
        code, resp = s.mail(mail_from)
        if code != 250:
            raise AssertionError('MAIL: %d %r' % (code, resp))
        code, resp = s.rcpt(RCPT)
        if code != 250:
            raise AssertionError('RCPT: %d %r' % (code, resp))
        code, resp = s.data(msg)
        if code != 250 or not resp.startswith(b'2.0.0 Ok: queued as '):
            raise AssertionError('DATA: %d %r' % (code, resp))
    finally:
        s.quit()


def fetch(fx, subject):
    m = imaplib.IMAP4('127.0.0.1', fx.imap_port, timeout=60)
    m.login(RCPT, RCPT_PW)
    try:
        mailutil.check(m.select('INBOX', readonly=True), 'SELECT')
        data = mailutil.check(m.uid('SEARCH', 'HEADER', 'Subject',
                                    '"%s"' % subject), 'SEARCH')
        uids = data[0].split()
        if len(uids) != 1:
            raise AssertionError('%d messages with subject %r' % (len(uids), subject))
        it = mailutil.fetch(m, int(uids[0]), '(UID RFC822.SIZE BODY.PEEK[])')
    finally:
        m.logout()
    raw = it['BODY[]']
    if it['RFC822.SIZE'] != len(raw):
        raise AssertionError('RFC822.SIZE %r, BODY[] %d bytes' % (it['RFC822.SIZE'], len(raw)))
    return raw


def header(spf, dkim, dmarc):
    return ('Authentication-Results: %s;\r\n\t%s;\r\n\t%s;\r\n\t%s\r\n'
            % (HOST, spf, dkim, dmarc)).encode()


def check(fx, subject, sent, want_header, grantor, auth, results):
    raw = fetch(fx, subject)
    received, authres, rest = mailutil.trace_fields(raw)
    if authres != want_header:
        raise AssertionError('Authentication-Results:\n got %r\nwant %r'
                             % (authres, want_header))
    if rest != sent:
        raise AssertionError('fetched bytes after the trace fields '
                             + mailutil.diff_at(sent, rest))
    if not received.startswith(b'Received: from '):
        raise AssertionError('first field %r' % received[:80])
    rows = fx.sql("SELECT g.grantor_address, g.grantor_auth,"
                  " coalesce(g.auth_results, 'NULL') FROM grants g"
                  " JOIN principals p ON p.id = g.grantee"
                  " WHERE p.address = '%s' AND g.subject = '%s'" % (RCPT, subject))
    want = [[grantor, auth, results]]
    if rows != want:
        raise AssertionError('grants %r, expected %r' % (rows, want))
    out = fx.ctl('grant', 'list', RCPT).stdout.decode()
    lines = [l for l in out.splitlines() if ('\t%s\t' % subject) in l]
    tail = '\t%s\t%s' % (subject, results if results != 'NULL' else '-')
    if len(lines) != 1 or not lines[0].endswith(tail) or \
            ('\t%s\t' % auth) not in lines[0]:
        raise AssertionError('capmailctl grant list: %r, want a line ending %r'
                             % (lines, tail))


def tag(what):
    return 'authres %s %d' % (what, os.getpid())


def test_spf_pass(env):
    env.start()
    subj = tag('spf pass')
    msg = message(subj, 'alice@spf-pass.test')
    send(env.gw.port, 'client.outside.example', 'alice@spf-pass.test', msg)
    check(env.fx, subj, msg,
          header('spf=pass smtp.mailfrom=spf-pass.test', 'dkim=none',
                 'dmarc=pass header.from=spf-pass.test'),
          'alice@spf-pass.test', 'spf', 'spf=pass dkim=none dmarc=pass')


def test_spf_fail(env):
    env.start()
    subj = tag('spf fail')
    msg = message(subj, 'mallory@spf-fail.test')
    send(env.gw.port, 'client.outside.example', 'mallory@spf-fail.test', msg)
    check(env.fx, subj, msg,
          header('spf=fail smtp.mailfrom=spf-fail.test', 'dkim=none',
                 'dmarc=none header.from=spf-fail.test'),
          'mallory@spf-fail.test', 'none', 'spf=fail dkim=none dmarc=none')


def test_null_sender_helo(env):
    env.start()
    subj = tag('null sender')
    msg = message(subj, 'mailer-daemon@spf-pass.test')
    send(env.gw.port, 'spf-pass.test', '<>', msg)
    check(env.fx, subj, msg,
          header('spf=pass smtp.helo=spf-pass.test', 'dkim=none',
                 'dmarc=pass header.from=spf-pass.test'),
          '', 'spf', 'spf=pass dkim=none dmarc=pass')


def test_dkim_aligned(env):
    env.start()
    subj = tag('dkim aligned')
    msg = sign(env, message(subj, 'carla@dkim.test'), 'dkim.test')
    send(env.gw.port, 'client.outside.example', 'carla@dkim.test', msg)
    check(env.fx, subj, msg,
          header('spf=none smtp.mailfrom=dkim.test',
                 'dkim=pass header.d=dkim.test',
                 'dmarc=pass header.from=dkim.test'),
          'carla@dkim.test', 'dkim', 'spf=none dkim=pass dmarc=pass')


def test_dkim_4096(env):
    """A 4096-bit key: the answer is truncated over UDP, TCP gets it."""
    env.start()
    subj = tag('dkim 4096')
    msg = message(subj, 'carla@dkim.test')
    p = env.fx.run([env.dkimsign, 'big', 'dkim.test', env.bigkey], input=msg)
    if not p.stdout.endswith(msg):
        raise AssertionError('dkimsign output %r' % p.stdout[:200])
    send(env.gw.port, 'client.outside.example', 'carla@dkim.test', p.stdout)
    check(env.fx, subj, p.stdout,
          header('spf=none smtp.mailfrom=dkim.test',
                 'dkim=pass header.d=dkim.test',
                 'dmarc=pass header.from=dkim.test'),
          'carla@dkim.test', 'dkim', 'spf=none dkim=pass dmarc=pass')


def test_dkim_not_aligned(env):
    env.start()
    subj = tag('dkim other')
    msg = sign(env, message(subj, 'carla@dkim.test'), 'other.test')
    send(env.gw.port, 'client.outside.example', 'carla@dkim.test', msg)
    check(env.fx, subj, msg,
          header('spf=none smtp.mailfrom=dkim.test',
                 'dkim=pass header.d=other.test',
                 'dmarc=fail header.from=dkim.test'),
          'carla@dkim.test', 'none', 'spf=none dkim=pass dmarc=fail')


def test_dkim_altered(env):
    env.start()
    subj = tag('dkim altered')
    signed = sign(env, message(subj, 'carla@dkim.test', 'Pay 10 EUR.\r\n'),
                  'dkim.test')
    msg = signed.replace(b'Pay 10 EUR.', b'Pay 99 EUR.')
    send(env.gw.port, 'client.outside.example', 'carla@dkim.test', msg)
    check(env.fx, subj, msg,
          header('spf=none smtp.mailfrom=dkim.test',
                 'dkim=fail header.d=dkim.test',
                 'dmarc=fail header.from=dkim.test'),
          'carla@dkim.test', 'none', 'spf=none dkim=fail dmarc=fail')


def test_unsigned(env):
    env.start()
    subj = tag('unsigned')
    msg = message(subj, 'carla@dkim.test')
    send(env.gw.port, 'client.outside.example', 'carla@dkim.test', msg)
    check(env.fx, subj, msg,
          header('spf=none smtp.mailfrom=dkim.test', 'dkim=none',
                 'dmarc=fail header.from=dkim.test'),
          'carla@dkim.test', 'none', 'spf=none dkim=none dmarc=fail')


def test_many_signatures(env):
    """Twelve signatures (selectors many0..many11, no keys): only the
    topmost eight are tried - eight key lookups in dnsmasq's log."""
    env.start()
    subj = tag('many signatures')
    msg = message(subj, 'carla@dkim.test')
    for i in range(12):
        p = env.fx.run([env.dkimsign, 'many%d' % i, 'dkim.test', env.key],
                       input=msg)
        if not p.stdout.endswith(msg):
            raise AssertionError('dkimsign output %r' % p.stdout[:200])
        msg = p.stdout
    if msg.count(b'DKIM-Signature: ') != 12:
        raise AssertionError('%d signatures' % msg.count(b'DKIM-Signature: '))
    send(env.gw.port, 'client.outside.example', 'carla@dkim.test', msg)
    check(env.fx, subj, msg,
          header('spf=none smtp.mailfrom=dkim.test',
                 'dkim=permerror header.d=dkim.test',
                 'dmarc=fail header.from=dkim.test'),
          'carla@dkim.test', 'none', 'spf=none dkim=permerror dmarc=fail')
    with open(env.dns_log) as f:
        asked = sorted(set(re.findall(r'query\[TXT\] (many\d+)\._domainkey\.dkim\.test',
                                      f.read())))
    # the last signature added is the topmost
    want = sorted('many%d' % i for i in range(4, 12))
    if asked != want:
        raise AssertionError('keys looked up %r, want %r' % (asked, want))


def test_dmarc_two_records(env):
    """Two v=DMARC1 records at _dmarc.mail.multi.test (RFC 7489 section
    6.6.3 step 5): DMARC is not applied, dmarc=none, and the
    organisational domain's record (p=reject, strict SPF alignment) is
    not asked for: SPF's pass stays aligned (relaxed), grantor_auth spf."""
    env.start()
    subj = tag('dmarc two records')
    msg = message(subj, 'alice@mail.multi.test')
    send(env.gw.port, 'client.outside.example', 'alice@mail.multi.test', msg)
    check(env.fx, subj, msg,
          header('spf=pass smtp.mailfrom=mail.multi.test', 'dkim=none',
                 'dmarc=none header.from=mail.multi.test'),
          'alice@mail.multi.test', 'spf', 'spf=pass dkim=none dmarc=none')
    with open(env.dns_log) as f:
        log = f.read()
    if not re.search(r'query\[TXT\] _dmarc\.mail\.multi\.test ', log):
        raise AssertionError('_dmarc.mail.multi.test was not asked')
    if re.search(r'query\[TXT\] _dmarc\.multi\.test ', log):
        raise AssertionError('_dmarc.multi.test was asked')


def test_dual_stack(env):
    """A gateway listening on [::] sees an IPv4 client as ::ffff:127.0.0.1:
    SPF's ip4:127.0.0.1 still passes."""
    env.start()
    fx = env.fx
    if not socket.has_ipv6:
        raise Skip('no IPv6')
    port = capfix.free_port()
    free_port = capfix.free_port
    capfix.free_port = lambda: port
    try:
        gw = t_conn.Gateway(fx, 'authres-v6', 120,
                            'dns_resolver = 127.0.0.1:%d\n'
                            'smtp_listen = [::]:%d\n' % (env.dns_port, port))
    finally:
        capfix.free_port = free_port
    try:
        subj = tag('dual stack')
        msg = message(subj, 'alice@spf-pass.test')
        send(gw.port, 'client.outside.example', 'alice@spf-pass.test', msg)
        check(fx, subj, msg,
              header('spf=pass smtp.mailfrom=spf-pass.test', 'dkim=none',
                     'dmarc=pass header.from=spf-pass.test'),
              'alice@spf-pass.test', 'spf', 'spf=pass dkim=none dmarc=pass')
        if b'::ffff:127.0.0.1' not in gw.text():
            raise AssertionError('the client was not seen as ::ffff:127.0.0.1:\n'
                                 + gw.tail())
    finally:
        gw.stop()
        gw.check_clean()


def test_dns_silent(env):
    """The resolver never answers: the lookups time out (a few seconds),
    the message is still stored and answered 250, results temperror."""
    env.start()
    subj = tag('dns silent')
    msg = sign(env, message(subj, 'alice@spf-pass.test'), 'dkim.test')
    send(env.deadgw.port, 'client.outside.example', 'alice@spf-pass.test', msg)
    check(env.fx, subj, msg,
          header('spf=temperror smtp.mailfrom=spf-pass.test',
                 'dkim=temperror header.d=dkim.test',
                 'dmarc=temperror header.from=spf-pass.test'),
          'alice@spf-pass.test', 'none',
          'spf=temperror dkim=temperror dmarc=temperror')


def test_checks_leave_the_store_its_threads(env):
    """Four messages whose SPF lookups the DNS server holds unanswered
    keep four auth checks waiting (libuv's default pool has four
    threads): a fifth session's RCPT, store work, is still answered
    while they wait; once the answers come, the four pass SPF."""
    env.start()
    fx = env.fx
    n = 4
    doms = ['held%d.test' % i for i in range(n)]
    dns = HeldDNS(dict((d, 'v=spf1 ip4:127.0.0.1 -all') for d in doms))
    dns.start()
    gw, sessions = None, []
    try:
        gw = t_conn.Gateway(fx, 'authres-held', 120,
                            'dns_resolver = 127.0.0.1:%d\n' % dns.port)
        dns.hold()
        subjects = []
        for d in doms:
            subj = tag('held dns ' + d)
            msg = message(subj, 'alice@' + d)
            s = smtplib.SMTP('127.0.0.1', gw.port, timeout=120)
            sessions.append(s)
            s.ehlo('client.outside.example')
            for cmd, want in (('mail FROM:<alice@%s>' % d, 250),
                              ('rcpt TO:<%s>' % RCPT, 250), ('data', 354)):
                s.putcmd(cmd)
                code, resp = s.getreply()
                if code != want:
                    raise AssertionError('%s: %d %r' % (cmd, code, resp))
            s.send(msg + b'.\r\n')
            subjects.append((subj, msg, d))
        end = time.time() + 60
        while not all(d in dns.seen for d in doms):
            if time.time() > end:
                raise AssertionError('the DNS server saw %r' % dns.seen)
            time.sleep(0.05)
        s = smtplib.SMTP('127.0.0.1', gw.port, timeout=120)
        sessions.append(s)
        s.ehlo('client.outside.example')
        code, resp = s.mail('bob@spf-pass.test')
        if code != 250:
            raise AssertionError('MAIL: %d %r' % (code, resp))
        code, resp = s.rcpt(RCPT)
        held_then = len(dns.held)
        dns.release()
        if code != 250:
            raise AssertionError('RCPT: %d %r' % (code, resp))
        for s, (subj, msg, d) in zip(sessions, subjects):
            code, resp = s.getreply()
            if code != 250 or not resp.startswith(b'2.0.0 Ok: queued as '):
                raise AssertionError('DATA: %d %r' % (code, resp))
        for subj, msg, d in subjects:
            check(fx, subj, msg,
                  header('spf=pass smtp.mailfrom=' + d, 'dkim=none',
                         'dmarc=none header.from=' + d),
                  'alice@' + d, 'spf', 'spf=pass dkim=none dmarc=none')
        if held_then < n:
            raise AssertionError('%d queries held when RCPT was answered'
                                 % held_then)
    finally:
        for s in sessions:
            try:
                s.close()
            except OSError:
                pass
        if gw is not None:
            gw.stop()
            gw.check_clean()
        dns.stop()


def test_slow_dns_deadline(env):
    """A DNS server that answers every query 1.5 seconds late (in time
    for each of the resolver's tries) and a sender whose SPF record has
    nine include: mechanisms: evaluated to the end, the check asks eleven
    names (the record, the nine includes, _dmarc), 16.5 seconds of
    waiting. With auth_checks_timeout = 4 it stops asking when the
    deadline is near: the 250 comes, spf=temperror, dmarc=temperror, and
    the server saw fewer queries - at most 4 / 1.5 + 1 = 3, since each
    answered one takes 1.5 s and none is sent once less than a second
    (one try) is left. The same message against a prompt server first:
    the eleven queries of the whole evaluation, spf=fail."""
    env.start()
    fx = env.fx
    incs = ['c%d.chain.test' % i for i in range(1, 10)]
    zones = {'chain.test': 'v=spf1 ' + ' '.join('include:' + d for d in incs)
             + ' -all'}
    zones.update((d, 'v=spf1 -all') for d in incs)
    unbounded = ['chain.test'] + incs + ['_dmarc.chain.test']
    for delay in (0, 1.5):
        dns = HeldDNS(zones, delay)
        dns.start()
        gw = None
        try:
            gw = t_conn.Gateway(fx, 'authres-slow%d' % (delay * 10), 120,
                                'dns_resolver = 127.0.0.1:%d\n'
                                'auth_checks_timeout = 4\n' % dns.port)
            subj = tag('slow dns %s' % delay)
            msg = message(subj, 'alice@chain.test')
            send(gw.port, 'client.outside.example', 'alice@chain.test', msg)
            with dns.lock:
                seen = list(dns.seen)
            if delay == 0:
                if sorted(seen) != sorted(unbounded):
                    raise AssertionError('a prompt server was asked %r, '
                                         'want %r' % (seen, unbounded))
                check(fx, subj, msg,
                      header('spf=fail smtp.mailfrom=chain.test', 'dkim=none',
                             'dmarc=none header.from=chain.test'),
                      'alice@chain.test', 'none', 'spf=fail dkim=none dmarc=none')
            else:
                if not 1 <= len(seen) <= 3 or \
                        seen != unbounded[:len(seen)]:
                    raise AssertionError('a late server was asked %r: want '
                                         'the first 1 to 3 of %r'
                                         % (seen, unbounded))
                check(fx, subj, msg,
                      header('spf=temperror smtp.mailfrom=chain.test',
                             'dkim=none',
                             'dmarc=temperror header.from=chain.test'),
                      'alice@chain.test', 'none',
                      'spf=temperror dkim=none dmarc=temperror')
        finally:
            if gw is not None:
                gw.stop()
                gw.check_clean()
            dns.stop()


def test_truncated_tcp(env):
    """A truncated UDP answer is asked again over TCP, by capmail itself
    and within auth_checks_timeout: a server that answers over TCP gives
    spf=pass; one that accepts the connection and says nothing gives
    spf=temperror and the 250 (glibc's own TCP retry would wait forever)."""
    env.start()
    fx = env.fx
    zones = {'tc.test': 'v=spf1 ip4:127.0.0.1 -all'}
    for mode, spf, summary, auth in (
            ('answer', 'spf=pass smtp.mailfrom=tc.test', 'spf=pass', 'spf'),
            ('stall', 'spf=temperror smtp.mailfrom=tc.test', 'spf=temperror',
             'none')):
        dns = HeldDNS(zones, truncate=True, tcp=mode)
        dns.start()
        gw = None
        try:
            gw = t_conn.Gateway(fx, 'authres-tc-' + mode, 120,
                                'dns_resolver = 127.0.0.1:%d\n'
                                'auth_checks_timeout = 4\n' % dns.port)
            subj = tag('truncated ' + mode)
            msg = message(subj, 'alice@tc.test')
            send(gw.port, 'client.outside.example', 'alice@tc.test', msg)
            if dns.tcp_conns < 1:
                raise AssertionError('%s: no TCP connection to the DNS server' % mode)
            dmarc = ('dmarc=none header.from=tc.test' if mode == 'answer'
                     else 'dmarc=temperror header.from=tc.test')
            check(fx, subj, msg, header(spf, 'dkim=none', dmarc),
                  'alice@tc.test', auth, '%s dkim=none %s' % (summary, dmarc.split()[0]))
        finally:
            if gw is not None:
                gw.stop()
                gw.check_clean()
            dns.stop()


def test_fixture_gateway(env):
    """The fixture's own gateway asks a closed port (refused at once)."""
    env.start()
    subj = tag('fixture')
    msg = message(subj, 'alice@spf-pass.test')
    send(env.fx.smtp_port, 'client.outside.example', 'alice@spf-pass.test', msg)
    check(env.fx, subj, msg,
          header('spf=temperror smtp.mailfrom=spf-pass.test', 'dkim=none',
                 'dmarc=temperror header.from=spf-pass.test'),
          'alice@spf-pass.test', 'none', 'spf=temperror dkim=none dmarc=temperror')


def test_submission(env):
    """Submission is local-auth: no check, no header, no auth_results."""
    env.start()
    fx = env.fx
    subj = tag('submission')
    msg = message(subj, 'alice@example.test')
    s = smtplib.SMTP('127.0.0.1', fx.submission_port, timeout=60)
    try:
        s.ehlo('client.example')
        s.login('alice@example.test', capfix.USERS['alice@example.test'])
        refused = s.sendmail('alice@example.test', [RCPT], msg)
    finally:
        s.quit()
    if refused:
        raise AssertionError('refused: %r' % refused)
    check(fx, subj, msg, b'', 'alice@example.test', 'local-auth', 'NULL')


def cases(fx):
    env = Env(fx)
    tests = [
        ('authres: SPF pass (aligned): grantor_auth spf, dmarc=pass', test_spf_pass),
        ('authres: SPF fail: grantor_auth none', test_spf_fail),
        ('authres: null sender: SPF of the HELO name', test_null_sender_helo),
        ('authres: aligned DKIM signature (dkimsign): grantor_auth dkim', test_dkim_aligned),
        ('authres: 4096-bit DKIM key (TXT answer over TCP): dkim=pass', test_dkim_4096),
        ('authres: DKIM signature of another domain: dmarc=fail', test_dkim_not_aligned),
        ('authres: message altered after signing: dkim=fail', test_dkim_altered),
        ('authres: unsigned mail from a p=reject domain: dmarc=fail', test_unsigned),
        ('authres: twelve DKIM signatures: the topmost eight tried', test_many_signatures),
        ('authres: two DMARC records at one name: dmarc=none, no fallback to '
         'the organisational domain', test_dmarc_two_records),
        ('authres: dual-stack listener, IPv4 client: ip4 mechanism passes',
         test_dual_stack),
        ('authres: a DNS server that never answers: 250, temperror', test_dns_silent),
        ('authres: four checks waiting on DNS: RCPT still answered, then '
         'spf=pass', test_checks_leave_the_store_its_threads),
        ('authres: DNS answering each query late, nine SPF includes: the '
         'check stops at auth_checks_timeout, spf=temperror', test_slow_dns_deadline),
        ('authres: truncated UDP answers asked again over TCP within the '
         'deadline (a stalling TCP server: temperror, 250)', test_truncated_tcp),
        ('authres: fixture gateway (closed resolver port): temperror at once',
         test_fixture_gateway),
        ('authres: submission: no check, no header, auth_results NULL', test_submission),
    ]
    out = [(name, (lambda f=f: f(env))) for name, f in tests]
    out.append(('authres: private gateways clean, dnsmasq stopped', env.stop))
    return out
