#!/bin/sh
# Replay the seed corpus of fuzz-held-summary (make check; under the
# sanitizers with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-held-summary "$srcdir"/tests/fuzz/seeds/held-summary/*
