#!/bin/sh
# Replay the seed corpus of fuzz-dsn (make check; under the sanitizers
# with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-dsn "$srcdir"/tests/fuzz/seeds/dsn/*
