# tests/: the test command (tests/run-tests), the private PostgreSQL helper
# (tests/pgcluster) and the integration suite (tests/integration, Python 3
# stdlib against a private cluster, the real daemons and real clients).
# Unit tests and fuzz targets are registered in their folders' fragments.
dist_noinst_SCRIPTS += tests/pgcluster tests/run-tests
EXTRA_DIST += tests/lsan.supp tests/integration

# The integration suite's pure helpers (IMAP value parser, comparison rules).
TESTS += tests/integration/selftest.sh

# `make integration`: the integration suite against this build tree.
.PHONY: integration
integration: all
	$(PYTHON3) $(srcdir)/tests/integration/run.py --srcdir $(abs_srcdir) --builddir $(abs_builddir)
PYTHON3 = python3

# `make bench`: speed, storage and memory figures (tests/bench/README.md).
# Not part of `make check`; build without sanitizers first (contrib/build).
EXTRA_DIST += tests/bench
.PHONY: bench
bench: all
	$(PYTHON3) $(srcdir)/tests/bench/bench.py --srcdir $(abs_srcdir) --builddir $(abs_builddir)
