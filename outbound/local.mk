# outbound/: capmail-outbound, the sender of the outbound queue
# (store/outbound.h) to the relay host, with libetpan's SMTP client.
sbin_PROGRAMS += outbound/capmail-outbound
outbound_capmail_outbound_SOURCES = \
	outbound/main.c \
	outbound/relay.c outbound/relay.h \
	outbound/sender.c outbound/sender.h
outbound_capmail_outbound_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) \
	$(LIBETPAN_CFLAGS) $(LIBPQ_CFLAGS)
outbound_capmail_outbound_LDADD = $(STORE_LDADD)
dist_man8_MANS += outbound/capmail-outbound.8

check_PROGRAMS += tests/unit/test-relay
TESTS += tests/unit/test-relay
tests_unit_test_relay_SOURCES = tests/unit/test-relay.c outbound/relay.c
tests_unit_test_relay_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/outbound
tests_unit_test_relay_CFLAGS = $(AM_CFLAGS) $(LIBETPAN_CFLAGS)
tests_unit_test_relay_LDADD = $(LIB_LDADD)
