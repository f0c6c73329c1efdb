/*
 * ratelimit: fixed-window request counting. See ratelimit.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ratelimit.h"

struct slot {
	char key[RATELIMIT_KEY_MAX + 1];	/* "" = free */
	time_t start;
	unsigned count;
};

struct ratelimit {
	pthread_mutex_t lock;
	unsigned limit;
	uint64_t seed;			/* so keys cannot be chosen to collide */
	struct slot slots[RATELIMIT_SLOTS];
};

/* FNV-1a, seeded */
static uint64_t
hash(uint64_t seed, const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull ^ seed;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int
rank(const struct slot *t, time_t now)
{
	if (t->key[0] == '\0')
		return 0;
	return now - t->start >= RATELIMIT_WINDOW ? 1 : 2;
}

struct ratelimit *
ratelimit_new(unsigned limit)
{
	struct ratelimit *rl = calloc(1, sizeof *rl);

	if (rl == NULL)
		return NULL;
	if (pthread_mutex_init(&rl->lock, NULL) != 0) {
		free(rl);
		return NULL;
	}
	rl->limit = limit;
	if (getentropy(&rl->seed, sizeof rl->seed) != 0)
		rl->seed = (uint64_t)(uintptr_t)rl ^ (uint64_t)time(NULL);
	return rl;
}

void
ratelimit_free(struct ratelimit **rlp)
{
	if (*rlp == NULL)
		return;
	pthread_mutex_destroy(&(*rlp)->lock);
	free(*rlp);
	*rlp = NULL;
}

unsigned
ratelimit_hit(struct ratelimit *rl, const char *key, time_t now)
{
	size_t n = strnlen(key, RATELIMIT_KEY_MAX);
	uint64_t h;
	struct slot *s = NULL, *victim = NULL;
	unsigned wait = 0;

	if (rl->limit == 0)
		return 0;
	if (n == 0) {		/* "" marks a free slot */
		key = "-";
		n = 1;
	}
	h = hash(rl->seed, key, n);
	pthread_mutex_lock(&rl->lock);
	for (unsigned i = 0; i < RATELIMIT_PROBE; i++) {
		struct slot *t = &rl->slots[(h + i) % RATELIMIT_SLOTS];

		if (t->key[0] != '\0' && strncmp(t->key, key, n) == 0 &&
		    t->key[n] == '\0') {
			s = t;
			break;
		}
		/* for a new key: a free slot, else an expired one, else the
		 * oldest window */
		if (victim == NULL || rank(t, now) < rank(victim, now) ||
		    (rank(t, now) == 2 && rank(victim, now) == 2 &&
		    t->start < victim->start))
			victim = t;
	}
	if (s == NULL) {
		s = victim;
		memcpy(s->key, key, n);
		s->key[n] = '\0';
		s->start = now;
		s->count = 0;
	}
	if (now - s->start >= RATELIMIT_WINDOW || now < s->start) {
		s->start = now;
		s->count = 0;
	}
	if (s->count < rl->limit)
		s->count++;
	else
		wait = (unsigned)(RATELIMIT_WINDOW - (now - s->start));
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

void
ratelimit_addr(const struct sockaddr *sa, char *out, size_t outsz,
    char *key, size_t keysz)
{
	struct in6_addr a6;
	char net[INET6_ADDRSTRLEN];

	snprintf(out, outsz, "?");
	snprintf(key, keysz, "?");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    out, (socklen_t)outsz);
		snprintf(key, keysz, "%s", out);
	} else if (sa->sa_family == AF_INET6) {
		a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			inet_ntop(AF_INET, &a6.s6_addr[12], out,
			    (socklen_t)outsz);
			snprintf(key, keysz, "%s", out);
			return;
		}
		inet_ntop(AF_INET6, &a6, out, (socklen_t)outsz);
		memset(&a6.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a6, net, sizeof net);
		snprintf(key, keysz, "%s/64", net);
	}
}
