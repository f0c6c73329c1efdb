#!/bin/sh
# Replay the seed corpus of fuzz-msgsum (make check; under the sanitizers
# with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-msgsum "$srcdir"/tests/fuzz/seeds/msgsum/*
