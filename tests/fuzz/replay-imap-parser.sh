#!/bin/sh
# Replay the seed corpus of fuzz-imap-parser (make check; under the
# sanitizers with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-imap-parser "$srcdir"/tests/fuzz/seeds/imap-parser/*
