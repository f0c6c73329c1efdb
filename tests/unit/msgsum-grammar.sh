#!/bin/sh
# Every ENVELOPE, BODYSTRUCTURE and BODY that msgsum renders for the fuzz
# seeds and (when present) the shared corpus parses as complete IMAP with
# the right shape (tests/unit/imap_sexp.py). Skipped without python3.

srcdir=${srcdir:-.}
command -v python3 >/dev/null 2>&1 || { echo "no python3: skipped"; exit 77; }
out=${TMPDIR:-/tmp}/msgsum-grammar.$$
trap 'rm -f "$out"' EXIT
./tests/unit/test-msgsum-corpus --dump "$srcdir"/tests/fuzz/seeds/msgsum/* \
    >"$out" || exit 1
./tests/unit/test-msgsum-corpus --dump >>"$out"
rc=$?
[ $rc -eq 77 ] && echo "no corpus: checking the seeds only"
[ $rc -ne 0 ] && [ $rc -ne 77 ] && exit 1
# the corpus dump writes its skip notice to stdout; drop that line
grep -av '^test-msgsum-corpus: no corpus' "$out" >"$out.v" && mv "$out.v" "$out"
python3 "$srcdir"/tests/unit/imap_sexp.py <"$out"
