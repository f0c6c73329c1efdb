/*
 * A main() for fuzz targets built without libFuzzer: runs
 * LLVMFuzzerTestOneInput() once over each file named on the command line
 * (a seed corpus, crash reproducers), so `make check` replays them under
 * the sanitizers. With clang, build the same target with -fsanitize=fuzzer
 * and without this file to fuzz for real.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (f == NULL) {
			perror(argv[i]);
			return 1;
		}
		size_t cap = 1 << 16, len = 0;
		uint8_t *buf = malloc(cap);
		size_t n;
		while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
			len += n;
			if (len == cap) {
				uint8_t *nb = realloc(buf, cap *= 2);
				if (nb == NULL)
					free(buf);
				buf = nb;
			}
		}
		fclose(f);
		if (buf == NULL) {
			fputs("out of memory\n", stderr);
			return 1;
		}
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
	}
	printf("%d inputs replayed\n", argc - 1);
	return 0;
}
