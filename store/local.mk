# store/: libcapstore (the only SQL in capmail) and capmailctl.
STORE_SQL = \
	store/sql/001-initial.sql \
	store/sql/002-recent.sql \
	store/sql/003-entries-grant-index.sql \
	store/sql/004-uidvalidity-floor.sql \
	store/sql/005-flags-limit.sql \
	store/sql/006-outbound.sql \
	store/sql/008-senders.sql \
	store/sql/009-challenge-links.sql \
	store/sql/010-auth-results.sql \
	store/sql/011-held-summaries.sql \
	store/sql/012-verify-question.sql

noinst_LIBRARIES += store/libcapstore.a
store_libcapstore_a_SOURCES = \
	store/store.c store/store.h store/store-int.h \
	store/migrate.c \
	store/principals.c \
	store/deliver.c \
	store/outbound.c store/outbound.h \
	store/notify.c store/notify.h \
	store/senders.c store/senders.h \
	store/challenges.c \
	store/held.c store/held-summary.c store/held.h \
	store/questions.c \
	store/grants.c
nodist_store_libcapstore_a_SOURCES = store/sql-migrations.c
store_libcapstore_a_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) $(LIBUV_CFLAGS) \
	$(LIBCRYPT_CFLAGS) $(OPENSSL_CFLAGS)

# Link order for anything that uses the store.
STORE_LDADD = store/libcapstore.a lib/libcapmail.a $(LIBPQ_LIBS) \
	$(LIBCRYPT_LIBS) $(LIBETPAN_LIBS) $(OPENSSL_LIBS) $(LIBUV_LIBS)

# The migrations are compiled in: no SQL files to install or find.
store/sql-migrations.c: $(srcdir)/store/sql-embed.sh $(STORE_SQL)
	$(AM_V_GEN)$(MKDIR_P) store && \
	(cd $(srcdir) && $(SHELL) store/sql-embed.sh $(STORE_SQL)) > $@.tmp && \
	mv $@.tmp $@
CLEANFILES += store/sql-migrations.c store/sql-migrations.c.tmp
EXTRA_DIST += store/sql-embed.sh $(STORE_SQL)

sbin_PROGRAMS += store/capmailctl
store_capmailctl_SOURCES = store/capmailctl.c
store_capmailctl_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) $(LIBUV_CFLAGS)
store_capmailctl_LDADD = $(STORE_LDADD)

# Runs against the PostgreSQL named by CAPMAIL_TEST_DB; skips (77) without.
check_PROGRAMS += tests/unit/test-store
TESTS += tests/unit/test-store
tests_unit_test_store_SOURCES = tests/unit/test-store.c
tests_unit_test_store_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) $(LIBUV_CFLAGS) \
	$(OPENSSL_CFLAGS)
tests_unit_test_store_LDADD = $(STORE_LDADD)

# capmailctl's commands, messages and exit codes (same database variable).
TESTS += store/test-capmailctl.sh
EXTRA_DIST += store/test-capmailctl.sh

# Later fragments (gateway, imapd) append their pages with +=.
dist_man8_MANS = doc/capmailctl.8

# The summary of held mail (store/held-summary.c): pure, no database.
check_PROGRAMS += tests/unit/test-held-summary
TESTS += tests/unit/test-held-summary
tests_unit_test_held_summary_SOURCES = tests/unit/test-held-summary.c
tests_unit_test_held_summary_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) \
	$(LIBUV_CFLAGS)
tests_unit_test_held_summary_LDADD = $(STORE_LDADD)

check_PROGRAMS += tests/fuzz/fuzz-held-summary
TESTS += tests/fuzz/replay-held-summary.sh
tests_fuzz_fuzz_held_summary_SOURCES = tests/fuzz/fuzz-held-summary.c \
	tests/fuzz/standalone.c
tests_fuzz_fuzz_held_summary_LDADD = $(STORE_LDADD)
EXTRA_DIST += tests/fuzz/replay-held-summary.sh tests/fuzz/seeds/held-summary
