# lib/: infrastructure shared by every daemon; knows nothing about them.
noinst_LIBRARIES += lib/libcapmail.a
lib_libcapmail_a_SOURCES = \
	lib/authlimit.c lib/authlimit.h \
	lib/bodytext.c lib/bodytext.h \
	lib/buf.c lib/buf.h \
	lib/captoken.c lib/captoken.h \
	lib/challenge.c lib/challenge.h \
	lib/cfg.c lib/cfg.h \
	lib/conn.c lib/conn.h \
	lib/daemon.c lib/daemon.h \
	lib/dsn.c lib/dsn.h \
	lib/errors.c lib/errors.h \
	lib/hdrdecode.c lib/hdrdecode.h \
	lib/imapstr.c lib/imapstr.h \
	lib/log.c lib/log.h \
	lib/maildate.c lib/maildate.h \
	lib/msgsum.c lib/msgsum.h \
	lib/privdrop.c lib/privdrop.h \
	lib/sasl.c lib/sasl.h \
	lib/tls.c lib/tls.h \
	lib/utf8.c lib/utf8.h
lib_libcapmail_a_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(LIBETPAN_CFLAGS) $(OPENSSL_CFLAGS)

LIB_LDADD = lib/libcapmail.a $(LIBETPAN_LIBS) $(OPENSSL_LIBS) $(LIBUV_LIBS)

check_PROGRAMS += tests/unit/test-lib
TESTS += tests/unit/test-lib
tests_unit_test_lib_SOURCES = tests/unit/test-lib.c
tests_unit_test_lib_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_lib_LDADD = $(LIB_LDADD)
dist_man5_MANS = doc/capmail.conf.5

check_PROGRAMS += tests/fuzz/fuzz-hdrdecode
TESTS += tests/fuzz/replay-hdrdecode.sh
tests_fuzz_fuzz_hdrdecode_SOURCES = tests/fuzz/fuzz-hdrdecode.c tests/fuzz/standalone.c
tests_fuzz_fuzz_hdrdecode_LDADD = $(LIB_LDADD)
EXTRA_DIST += tests/fuzz/replay-hdrdecode.sh tests/fuzz/seeds/hdrdecode

check_PROGRAMS += tests/fuzz/fuzz-dsn
TESTS += tests/fuzz/replay-dsn.sh
tests_fuzz_fuzz_dsn_SOURCES = tests/fuzz/fuzz-dsn.c tests/fuzz/standalone.c
tests_fuzz_fuzz_dsn_LDADD = $(LIB_LDADD)
EXTRA_DIST += tests/fuzz/replay-dsn.sh tests/fuzz/seeds/dsn

check_PROGRAMS += tests/fuzz/fuzz-captoken
TESTS += tests/fuzz/replay-captoken.sh
tests_fuzz_fuzz_captoken_SOURCES = tests/fuzz/fuzz-captoken.c tests/fuzz/standalone.c
tests_fuzz_fuzz_captoken_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_fuzz_fuzz_captoken_LDADD = $(LIB_LDADD)
EXTRA_DIST += tests/fuzz/replay-captoken.sh tests/fuzz/seeds/captoken

check_PROGRAMS += tests/fuzz/fuzz-challenge
TESTS += tests/fuzz/replay-challenge.sh
tests_fuzz_fuzz_challenge_SOURCES = tests/fuzz/fuzz-challenge.c tests/fuzz/standalone.c
tests_fuzz_fuzz_challenge_LDADD = $(LIB_LDADD)
EXTRA_DIST += tests/fuzz/replay-challenge.sh tests/fuzz/seeds/challenge

# Sender authentication (SPF, DKIM, DMARC) in a library of its own: only
# capmail-gateway links libspf2, libopendkim and libpsl.
noinst_LIBRARIES += lib/libauthres.a
lib_libauthres_a_SOURCES = lib/authres.c lib/authres.h \
	lib/authres-dns.c lib/authres-int.h
lib_libauthres_a_CFLAGS = $(AM_CFLAGS) $(AUTHRES_CFLAGS) $(LIBETPAN_CFLAGS)
AUTHRES_LDADD = lib/libauthres.a $(AUTHRES_LIBS)

check_PROGRAMS += tests/unit/test-authres
TESTS += tests/unit/test-authres
tests_unit_test_authres_SOURCES = tests/unit/test-authres.c
tests_unit_test_authres_CFLAGS = $(AM_CFLAGS) $(AUTHRES_CFLAGS)
tests_unit_test_authres_LDADD = $(AUTHRES_LDADD) $(LIB_LDADD)

check_PROGRAMS += tests/fuzz/fuzz-authres
TESTS += tests/fuzz/replay-authres.sh
tests_fuzz_fuzz_authres_SOURCES = tests/fuzz/fuzz-authres.c tests/fuzz/standalone.c
tests_fuzz_fuzz_authres_CFLAGS = $(AM_CFLAGS) $(AUTHRES_CFLAGS)
tests_fuzz_fuzz_authres_LDADD = $(AUTHRES_LDADD) $(LIB_LDADD)
EXTRA_DIST += tests/fuzz/replay-authres.sh tests/fuzz/seeds/authres
