# verify/: capmail-verify, the web service for sender verification links
# (libmicrohttpd), and its tests.
noinst_LIBRARIES += verify/libverify.a
verify_libverify_a_SOURCES = \
	verify/html.c verify/html.h \
	verify/formtoken.c verify/formtoken.h \
	verify/pages.c verify/pages.h \
	verify/logpath.c verify/logpath.h \
	verify/ratelimit.c verify/ratelimit.h
verify_libverify_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)

sbin_PROGRAMS += verify/capmail-verify
verify_capmail_verify_SOURCES = \
	verify/main.c \
	verify/server.c verify/server.h

verify_capmail_verify_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(LIBUV_CFLAGS) \
	$(OPENSSL_CFLAGS) $(LIBPQ_CFLAGS) -pthread
verify_capmail_verify_LDADD = verify/libverify.a $(STORE_LDADD) $(MHD_LIBS) \
	-lpthread

check_PROGRAMS += tests/unit/test-verify
TESTS += tests/unit/test-verify
tests_unit_test_verify_SOURCES = tests/unit/test-verify.c
tests_unit_test_verify_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify
# the store for store_answer_normalize() (pure; no database is used)
tests_unit_test_verify_LDADD = verify/libverify.a $(STORE_LDADD) -lpthread

check_PROGRAMS += tests/fuzz/fuzz-verify
TESTS += tests/fuzz/replay-verify.sh
tests_fuzz_fuzz_verify_SOURCES = tests/fuzz/fuzz-verify.c tests/fuzz/standalone.c
tests_fuzz_fuzz_verify_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/verify
tests_fuzz_fuzz_verify_LDADD = verify/libverify.a $(LIB_LDADD) -lpthread
EXTRA_DIST += tests/fuzz/replay-verify.sh tests/fuzz/seeds/verify
dist_man8_MANS += verify/capmail-verify.8
