#!/bin/sh
# Replay the seed corpus of fuzz-captoken (make check; under the
# sanitizers with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-captoken "$srcdir"/tests/fuzz/seeds/captoken/*
