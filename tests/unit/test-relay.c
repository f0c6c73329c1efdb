/*
 * Unit tests for outbound/relay.c's relay_parse() (the relay_host
 * setting). The SMTP transaction itself is tested against a real
 * capmail-gateway in tests/integration/t_outbound.py.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "relay.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
	    #cond); failures++; } } while (0)

static void ok(const char *spec, const char *host, unsigned port)
{
	char h[RELAY_HOST_MAX];
	uint16_t p = 0;

	CHECK(relay_parse(spec, h, sizeof h, &p) == 0);
	CHECK(strcmp(h, host) == 0);
	CHECK(p == port);
}

static void bad(const char *spec)
{
	char h[RELAY_HOST_MAX];
	uint16_t p = 0;

	if (relay_parse(spec, h, sizeof h, &p) != CM_EINVAL) {
		fprintf(stderr, "relay_parse accepted '%s'\n", spec);
		failures++;
	}
}

int main(void)
{
	char h[8];
	uint16_t p;

	ok("smtp.example.org:587", "smtp.example.org", 587);
	ok("smtp.example.org", "smtp.example.org", 25);
	ok("127.0.0.1:2525", "127.0.0.1", 2525);
	ok("[::1]:25", "::1", 25);
	ok("[2001:db8::1]", "2001:db8::1", 25);
	bad("");
	bad(":25");
	bad("host:");
	bad("host:0");
	bad("host:65536");
	bad("host:25x");
	bad("host:-1");
	bad("::1");
	bad("::1:25");
	bad("[::1");
	bad("[::1]x");
	bad("[]:25");
	bad("ho st:25");
	bad("host\r\n:25");
	CHECK(relay_parse("a-long-name:25", h, sizeof h, &p) == CM_EINVAL);
	if (failures > 0) {
		fprintf(stderr, "test-relay: %d checks failed\n", failures);
		return 1;
	}
	printf("test-relay: all checks passed\n");
	return 0;
}
