#!/bin/sh
# Replay the seed corpus of fuzz-authres (make check; under the
# sanitizers with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-authres "$srcdir"/tests/fuzz/seeds/authres/*
