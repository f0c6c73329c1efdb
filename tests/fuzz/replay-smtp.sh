#!/bin/sh
# Replay the seed corpus of fuzz-smtp (make check; under the sanitizers
# with ./configure --enable-sanitizers).

srcdir=${srcdir:-.}
exec ./tests/fuzz/fuzz-smtp "$srcdir"/tests/fuzz/seeds/smtp/*
