# msgsum and imapstr (lib/): unit tests, the corpus check, the grammar
# check and the fuzz target. lib/msgsum.c and lib/imapstr.c themselves are
# in lib/libcapmail.a (lib/local.mk).
MSGSUM_TEST_CFLAGS = $(AM_CFLAGS) $(LIBETPAN_CFLAGS)
MSGSUM_TEST_LDADD = lib/libcapmail.a $(LIBETPAN_LIBS) $(OPENSSL_LIBS) \
	$(LIBUV_LIBS)

check_PROGRAMS += tests/unit/test-msgsum tests/unit/test-msgsum-corpus \
	tests/fuzz/fuzz-msgsum
TESTS += tests/unit/test-msgsum tests/unit/test-msgsum-corpus \
	tests/unit/msgsum-grammar.sh tests/fuzz/replay-msgsum.sh

tests_unit_test_msgsum_SOURCES = tests/unit/test-msgsum.c
tests_unit_test_msgsum_CFLAGS = $(MSGSUM_TEST_CFLAGS)
tests_unit_test_msgsum_LDADD = $(MSGSUM_TEST_LDADD)

tests_unit_test_msgsum_corpus_SOURCES = tests/unit/test-msgsum-corpus.c
tests_unit_test_msgsum_corpus_CFLAGS = $(MSGSUM_TEST_CFLAGS)
tests_unit_test_msgsum_corpus_LDADD = $(MSGSUM_TEST_LDADD)

tests_fuzz_fuzz_msgsum_SOURCES = tests/fuzz/fuzz-msgsum.c \
	tests/fuzz/standalone.c
tests_fuzz_fuzz_msgsum_CFLAGS = $(MSGSUM_TEST_CFLAGS)
tests_fuzz_fuzz_msgsum_LDADD = $(MSGSUM_TEST_LDADD)

EXTRA_DIST += tests/unit/imap_sexp.py tests/unit/msgsum-grammar.sh \
	tests/unit/msgsum-vs-dovecot.py \
	tests/fuzz/replay-msgsum.sh tests/fuzz/seeds/msgsum
