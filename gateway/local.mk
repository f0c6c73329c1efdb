# gateway: capmail-gateway, the SMTP server, and its tests.
noinst_LIBRARIES += gateway/libsmtp.a
gateway_libsmtp_a_SOURCES = \
	gateway/smtp-parse.c gateway/smtp-parse.h \
	gateway/smtp-data.c gateway/smtp-data.h \
	gateway/smtp-received.c gateway/smtp-received.h
gateway_libsmtp_a_CFLAGS = $(AM_CFLAGS)

sbin_PROGRAMS += gateway/capmail-gateway
gateway_capmail_gateway_SOURCES = \
	gateway/main.c \
	gateway/smtp-session.c gateway/smtp-session.h gateway/smtp-session-int.h \
	gateway/smtp-auth.c \
	gateway/smtp-verify.c \
	gateway/held-expiry.c gateway/held-expiry.h
gateway_capmail_gateway_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) \
	$(OPENSSL_CFLAGS) $(LIBPQ_CFLAGS)
gateway_capmail_gateway_LDADD = gateway/libsmtp.a $(STORE_LDADD)

check_PROGRAMS += tests/unit/test-smtp-parse
TESTS += tests/unit/test-smtp-parse
tests_unit_test_smtp_parse_SOURCES = tests/unit/test-smtp-parse.c
tests_unit_test_smtp_parse_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/gateway
tests_unit_test_smtp_parse_LDADD = gateway/libsmtp.a lib/libcapmail.a \
	$(LIBUV_LIBS) $(LIBETPAN_LIBS) $(OPENSSL_LIBS)

check_PROGRAMS += tests/fuzz/fuzz-smtp
TESTS += tests/fuzz/replay-smtp.sh
tests_fuzz_fuzz_smtp_SOURCES = tests/fuzz/fuzz-smtp.c tests/fuzz/standalone.c
tests_fuzz_fuzz_smtp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/gateway
tests_fuzz_fuzz_smtp_LDADD = gateway/libsmtp.a lib/libcapmail.a \
	$(LIBUV_LIBS) $(LIBETPAN_LIBS) $(OPENSSL_LIBS)
EXTRA_DIST += tests/fuzz/replay-smtp.sh tests/fuzz/smtp.dict tests/fuzz/seeds/smtp \
	tests/smtp/run-transcripts.py tests/smtp
dist_man8_MANS += gateway/capmail-gateway.8
