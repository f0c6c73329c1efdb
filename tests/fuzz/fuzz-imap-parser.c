/*
 * fuzz-imap-parser: feed arbitrary bytes to the IMAP command parser in
 * random-sized pieces (the first byte picks the piece size), with small
 * limits so the limit paths run too; then parse every complete command's
 * arguments as FETCH items, SEARCH keys and sequence sets, as the server
 * does, and render / match what parsed against a fixed multipart message
 * (with a message/rfc822 part). Nothing may crash, leak or read out of
 * bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imap-fetch.h"
#include "imap-parser.h"
#include "imap-search.h"
#include "imap-util.h"
#include "../unit/imap-sample.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
use_args(const struct imap_arg *args, size_t n)
{
	struct imap_fetch f;
	struct imap_search_key *k;
	struct imap_seqset set;
	const char *err;

	if (n < 2)
		return;
	if (n > 2 && imap_fetch_parse(args + 2, 1, &f, &err) == 0) {
		struct buf out;
		buf_init(&out, 1 << 20);
		(void)imap_fetch_render(&f, 1, make_msg(), 1, 1, &out);
		buf_free(&out);
		imap_fetch_free(&f);
	}
	if (imap_search_parse(args + 2, n - 2, &k, &err) == 0) {
		(void)imap_search_match(k, make_msg(), 1, 3, 9, 1);
		imap_search_free(&k);
	}
	if (args[1].type == IMAP_ARG_ATOM &&
	    imap_seqset_parse(args[1].str, args[1].len, &set) == 0)
		imap_seqset_free(&set);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p;
	size_t step, pos;

	if (size == 0)
		return 0;
	step = (size_t)(data[0] % 16) + 1;
	data++;
	size--;
	p = imap_parser_new(256, 1024);
	if (p == NULL)
		return 0;
	pos = 0;
	while (pos < size) {
		size_t len = size - pos < step ? size - pos : step, used = 0;
		enum imap_parse_result r = imap_parser_feed(p,
		    (const char *)data + pos, len, &used);

		if (used > len)
			__builtin_trap();
		pos += used;
		if (r == IMAP_PARSE_DONE) {
			size_t n;
			const struct imap_arg *a = imap_parser_args(p, &n);
			use_args(a, n);
			imap_parser_reset(p);
		} else if (r == IMAP_PARSE_ERROR) {
			(void)imap_parser_error(p);
			imap_parser_reset(p);
		} else if (r == IMAP_PARSE_FATAL) {
			break;
		} else if (r == IMAP_PARSE_MORE && used < len) {
			__builtin_trap();	/* MORE means all consumed */
		}
	}
	imap_parser_free(&p);
	return 0;
}
