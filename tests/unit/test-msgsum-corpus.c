/*
 * test-msgsum-corpus: msgsum over every .eml of the shared test corpus.
 *
 * The folder is $CAPMAIL_CORPUS, else $srcdir/../shared/corpus/dev (the
 * shared/ beside the checkout); when it is missing the test says so and is
 * skipped (exit 77). For each message it checks and prints one line:
 *   - msgsum_parse succeeds within MAX_SECONDS;
 *   - header_len <= size; every part has hdr_off <= body_off <= end_off
 *     <= size; parts are in document order (hdr_off never decreases), and
 *     a part's children lie within its body;
 *   - ENVELOPE, BODYSTRUCTURE and BODY are one complete IMAP value each:
 *     parentheses balanced, quoted strings closed with only \" and \\
 *     escapes and no CR, LF, NUL or 8-bit byte inside, literals {n}\r\n
 *     followed by n bytes.
 *
 *   test-msgsum-corpus --dump [FILE...]
 * prints "ENVELOPE v", "BODYSTRUCTURE v" and "BODY v" lines for the files
 * (default: the corpus) for tests/unit/imap_sexp.py, which checks the
 * grammar of each value in full; --dump-parts adds "HEADER len" and
 * "PART path kind hdr_off body_off end_off" lines (for
 * tests/unit/msgsum-vs-dovecot.py).
 */
#include "config.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msgsum.h"

#define MAX_SECONDS 10.0	/* generous: sanitizer builds are slow */

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t cap = 0, len = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (len == cap) {
			char *nd = realloc(data, cap = cap ? cap * 2 : 65536);
			if (nd == NULL) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = nd;
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*len_r = len;
	return data;
}

/* One complete IMAP value (list, string, literal, NIL or number) that
 * spans the whole of s; returns NULL or what is wrong. */
static const char *
imap_value_ok(const char *s)
{
	size_t i = 0, len = strlen(s);
	int depth = 0;
	bool started = false;

	while (i < len) {
		char ch = s[i];
		if (started && depth == 0)
			return "bytes after the value";
		started = true;
		if (ch == '(') {
			depth++;
			i++;
		} else if (ch == ')') {
			if (--depth < 0)
				return "unbalanced )";
			i++;
		} else if (ch == ' ') {
			if (depth == 0 || i == 0 || s[i - 1] == '(' ||
			    s[i - 1] == ' ')
				return "stray space";
			i++;
		} else if (ch == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				unsigned char c = (unsigned char)s[i];
				if (c == '\\') {
					if (i + 1 >= len || (s[i + 1] != '"' &&
					    s[i + 1] != '\\'))
						return "bad escape";
					i++;
				} else if (c == '\r' || c == '\n' || c >= 0x80) {
					return "CR, LF or 8-bit in a quoted string";
				}
			}
			if (i >= len)
				return "unterminated quoted string";
			i++;
		} else if (ch == '{') {
			size_t n = 0, j = i + 1;
			while (j < len && s[j] >= '0' && s[j] <= '9' &&
			    n < ((size_t)1 << 40))
				n = n * 10 + (size_t)(s[j++] - '0');
			if (j == i + 1 || j + 3 > len || s[j] != '}' ||
			    s[j + 1] != '\r' || s[j + 2] != '\n')
				return "bad literal";
			/* literals with NUL would have ended the C string:
			 * the renderings never contain NUL */
			if (n > len - (j + 3))
				return "short literal";
			i = j + 3 + n;
		} else if (strncmp(s + i, "NIL", 3) == 0) {
			i += 3;
		} else if (ch >= '0' && ch <= '9') {
			while (i < len && s[i] >= '0' && s[i] <= '9')
				i++;
		} else {
			return "unexpected byte";
		}
	}
	if (depth != 0)
		return "unbalanced (";
	return started ? NULL : "empty";
}

static bool
is_prefix_path(const char *parent, const char *child)
{
	size_t n = strlen(parent);
	return strncmp(parent, child, n) == 0 && child[n] == '.';
}

/* Returns the number of problems found in one message (printed). */
static int
check_one(const char *name, const char *data, size_t len)
{
	struct msgsum *s = NULL;
	struct timespec t0, t1;
	const char *what = NULL;
	int problems = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = msgsum_parse(data, len, &s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	if (r != 0 || s == NULL) {
		printf("FAIL %s: msgsum_parse returned %d\n", name, r);
		return 1;
	}
	if (secs > MAX_SECONDS) {
		printf("FAIL %s: %.2f s\n", name, secs);
		problems++;
	}
	if (s->header_len > len) {
		printf("FAIL %s: header_len %zu > %zu\n", name, s->header_len, len);
		problems++;
	}
	for (size_t i = 0; i < s->nparts; i++) {
		const struct msgsum_part *p = &s->parts[i];
		if (!(p->hdr_off <= p->body_off && p->body_off <= p->end_off &&
		    p->end_off <= len)) {
			printf("FAIL %s: part %s offsets %zu %zu %zu\n", name,
			    p->path, p->hdr_off, p->body_off, p->end_off);
			problems++;
		}
		if (i > 0 && p->hdr_off < s->parts[i - 1].hdr_off) {
			printf("FAIL %s: part %s out of order\n", name, p->path);
			problems++;
		}
		for (size_t j = 0; j < i; j++) {
			const struct msgsum_part *q = &s->parts[j];
			if (is_prefix_path(q->path, p->path) &&
			    (p->hdr_off < q->body_off || p->end_off > q->end_off)) {
				printf("FAIL %s: part %s outside %s\n", name,
				    p->path, q->path);
				problems++;
			}
		}
	}
	if ((what = imap_value_ok(s->envelope)) != NULL ||
	    (what = imap_value_ok(s->bodystructure)) != NULL ||
	    (what = imap_value_ok(s->body)) != NULL) {
		printf("FAIL %s: rendering: %s\n", name, what);
		problems++;
	}
	if (problems == 0)
		printf("ok %s: %zu bytes, header %zu, %zu parts, %.3f s\n", name,
		    len, s->header_len, s->nparts, secs);
	msgsum_free(&s);
	return problems;
}

static void
dump_one(const char *data, size_t len, bool parts)
{
	struct msgsum *s = NULL;

	if (msgsum_parse(data, len, &s) != 0)
		return;
	printf("ENVELOPE %s\nBODYSTRUCTURE %s\nBODY %s\n", s->envelope,
	    s->bodystructure, s->body);
	if (parts) {
		printf("HEADER %zu\n", s->header_len);
		for (size_t i = 0; i < s->nparts; i++)
			printf("PART %s %d %zu %zu %zu\n", s->parts[i].path,
			    (int)s->parts[i].kind, s->parts[i].hdr_off,
			    s->parts[i].body_off, s->parts[i].end_off);
	}
	msgsum_free(&s);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	bool parts = argc > 1 && strcmp(argv[1], "--dump-parts") == 0;
	bool dump = parts || (argc > 1 && strcmp(argv[1], "--dump") == 0);
	const char *env = getenv("CAPMAIL_CORPUS");
	const char *srcdir = getenv("srcdir");
	char dir[4096];
	char **names = NULL;
	size_t nnames = 0, cap = 0;
	int failed = 0, passed = 0;

	if (dump && argc > 2) {
		for (int i = 2; i < argc; i++) {
			size_t len;
			char *data = slurp(argv[i], &len);
			if (data == NULL) {
				perror(argv[i]);
				return 1;
			}
			dump_one(data, len, parts);
			free(data);
		}
		return 0;
	}
	if (env != NULL && *env != '\0')
		snprintf(dir, sizeof(dir), "%s", env);
	else
		snprintf(dir, sizeof(dir), "%s/../shared/corpus/dev",
		    srcdir != NULL && *srcdir != '\0' ? srcdir : ".");
	DIR *d = opendir(dir);
	if (d == NULL) {
		printf("test-msgsum-corpus: no corpus at %s: skipped\n", dir);
		return 77;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".eml") != 0)
			continue;
		if (nnames == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 256) *
			    sizeof(*names));
			if (nn == NULL)
				return 1;
			names = nn;
		}
		if ((names[nnames] = strdup(de->d_name)) == NULL)
			return 1;
		nnames++;
	}
	closedir(d);
	if (nnames > 0)
		qsort(names, nnames, sizeof(*names), cmp_names);
	for (size_t i = 0; i < nnames; i++) {
		char path[8192];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		char *data = slurp(path, &len);
		if (data == NULL) {
			printf("FAIL %s: cannot read\n", names[i]);
			failed++;
		} else if (dump) {
			dump_one(data, len, parts);
		} else if (check_one(names[i], data, len) == 0) {
			passed++;
		} else {
			failed++;
		}
		free(data);
		free(names[i]);
	}
	free(names);
	if (!dump)
		printf("test-msgsum-corpus: %d passed, %d failed\n", passed,
		    failed);
	return failed == 0 ? 0 : 1;
}
