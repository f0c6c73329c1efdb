# contrib/: the quickstart and the scripts it shares with tests/run-tests.
dist_noinst_SCRIPTS += contrib/quickstart contrib/build contrib/install-deps
EXTRA_DIST += contrib/capmail.conf.sample
EXTRA_DIST += contrib/systemd/capmail-gateway.service contrib/systemd/capmail-imapd.service \
	contrib/systemd/capmail-outbound.service contrib/systemd/capmail-verify.service
