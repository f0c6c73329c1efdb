# imapd/: capmail-imapd, the IMAP4rev1 server, and the store queries it uses.

# The IMAP store queries live in store/ (the only SQL) but belong to this
# work: they are added to libcapstore here.
store_libcapstore_a_SOURCES += store/store-imap.h store/mailbox.c \
	store/entries.c store/message-read.c

# The protocol code without I/O: parser, sequence sets, FETCH and SEARCH
# parsing and rendering. Unit tests and fuzzers link it alone.
noinst_LIBRARIES += imapd/libimapproto.a
imapd_libimapproto_a_SOURCES = \
	imapd/imap-parser.c imapd/imap-parser.h \
	imapd/imap-util.c imapd/imap-util.h \
	imapd/imap-fetch.c imapd/imap-fetch.h \
	imapd/imap-search.c imapd/imap-search.h
imapd_libimapproto_a_CFLAGS = $(AM_CFLAGS)

sbin_PROGRAMS += imapd/capmail-imapd
dist_man8_MANS += imapd/capmail-imapd.8
imapd_capmail_imapd_SOURCES = \
	imapd/main.c imapd/imapd.h \
	imapd/imap-session.c imapd/imap-session.h \
	imapd/imap-commands.c imapd/imap-commands.h \
	imapd/cmd-auth.c imapd/cmd-mailbox.c imapd/cmd-select.c \
	imapd/cmd-fetch.c imapd/cmd-search.c imapd/cmd-store.c \
	imapd/cmd-copy.c imapd/cmd-append.c imapd/cmd-misc.c \
	imapd/cmd-idle.c imapd/imap-idle.h imapd/imap-notify.c
imapd_capmail_imapd_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(LIBPQ_CFLAGS)
imapd_capmail_imapd_LDADD = imapd/libimapproto.a $(STORE_LDADD)

check_PROGRAMS += tests/unit/test-imap-parser tests/unit/test-imap-proto
TESTS += tests/unit/test-imap-parser tests/unit/test-imap-proto
tests_unit_test_imap_parser_SOURCES = tests/unit/test-imap-parser.c
tests_unit_test_imap_parser_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/imapd
tests_unit_test_imap_parser_LDADD = imapd/libimapproto.a $(LIB_LDADD)
tests_unit_test_imap_proto_SOURCES = tests/unit/test-imap-proto.c tests/unit/imap-sample.h
tests_unit_test_imap_proto_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/imapd
tests_unit_test_imap_proto_LDADD = imapd/libimapproto.a $(LIB_LDADD)

check_PROGRAMS += tests/fuzz/fuzz-imap-parser
tests_fuzz_fuzz_imap_parser_SOURCES = tests/fuzz/fuzz-imap-parser.c tests/unit/imap-sample.h \
	tests/fuzz/standalone.c
tests_fuzz_fuzz_imap_parser_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/imapd
tests_fuzz_fuzz_imap_parser_LDADD = imapd/libimapproto.a $(LIB_LDADD)
TESTS += tests/fuzz/replay-imap-parser.sh
EXTRA_DIST += tests/fuzz/replay-imap-parser.sh tests/fuzz/imap.dict \
	tests/fuzz/seeds/imap-parser \
	tests/imap
