#!/bin/sh
# Replay the seed corpus of fuzz-challenge (make check; under the
# sanitizers with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-challenge "$srcdir"/tests/fuzz/seeds/challenge/*
