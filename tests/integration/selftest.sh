#!/bin/sh
# make check: unit tests of the integration suite's own helpers.
exec python3 "$(dirname "$0")/selftest.py"
