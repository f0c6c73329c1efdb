#!/bin/sh
# Replay the seed corpus of fuzz-hdrdecode (make check; under the
# sanitizers with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-hdrdecode "$srcdir"/tests/fuzz/seeds/hdrdecode/*
