#!/bin/sh
# Replay the seed corpus of fuzz-verify (make check; under the
# sanitizers with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-verify "$srcdir"/tests/fuzz/seeds/verify/*
