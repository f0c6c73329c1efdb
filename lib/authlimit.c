/*
 * authlimit: see authlimit.h.
 */
#include <stdlib.h>
#include <string.h>

#include "authlimit.h"
#include "cfg.h"
#include "errors.h"

/* Longest key: a kind byte, then an address or an account name. */
#define KEY_MAX 320

enum kind { K_ADDR = 'a', K_ACCOUNT = 'u' };

struct entry {
	uint64_t hash;			/* 0: free slot */
	char key[KEY_MAX];
	unsigned failures;
	uint64_t first_ms;		/* first failure of the window */
	uint64_t last_ms;		/* latest failure */
	uint64_t locked_until_ms;	/* address refused until then */
};

struct authlimit {
	struct authlimit_conf conf;
	struct entry *e;
	size_t n;			/* slots in use */
};

void
authlimit_conf_from_cfg(struct authlimit_conf *ac, const struct cfg *cfg)
{
	ac->fail_limit = (unsigned)cfg_int(cfg, "auth_fail_limit");
	ac->lockout_limit = (unsigned)cfg_int(cfg, "auth_lockout_limit");
	ac->window_s = (unsigned)cfg_int(cfg, "auth_fail_window");
	ac->delay_ms = (unsigned)cfg_int(cfg, "auth_fail_delay") * 1000u;
	ac->lockout_s = (unsigned)cfg_int(cfg, "auth_lockout_time");
	ac->max_entries = AUTHLIMIT_MAX_ENTRIES;
}

struct authlimit *
authlimit_new(const struct authlimit_conf *ac)
{
	struct authlimit *al = calloc(1, sizeof *al);

	if (al == NULL)
		return NULL;
	al->conf = *ac;
	if (al->conf.max_entries == 0)
		al->conf.max_entries = 1;
	al->e = calloc(al->conf.max_entries, sizeof *al->e);
	if (al->e == NULL) {
		free(al);
		return NULL;
	}
	return al;
}

void
authlimit_free(struct authlimit **alp)
{
	if (*alp == NULL)
		return;
	free((*alp)->e);
	free(*alp);
	*alp = NULL;
}

size_t
authlimit_count(const struct authlimit *al)
{
	return al->n;
}

/* "a" + address or "u" + lower-cased account, cut to KEY_MAX - 1. */
static void
make_key(char *key, enum kind k, const char *s)
{
	size_t i = 0;

	key[i++] = (char)k;
	for (; *s != '\0' && i < KEY_MAX - 1; s++) {
		char c = *s;
		if (k == K_ACCOUNT && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		key[i++] = c;
	}
	key[i] = '\0';
}

static uint64_t
key_hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return h != 0 ? h : 1;
}

/* An entry whose window (or lockout) ended counts nothing. */
static int
expired(const struct authlimit *al, const struct entry *e, uint64_t now)
{
	/* a lockout that ended starts the count again */
	if (e->locked_until_ms != 0)
		return e->locked_until_ms <= now;
	return now - e->first_ms >= (uint64_t)al->conf.window_s * 1000u;
}

static struct entry *
find(struct authlimit *al, const char *key, uint64_t h)
{
	for (size_t i = 0; i < al->conf.max_entries; i++)
		if (al->e[i].hash == h && strcmp(al->e[i].key, key) == 0)
			return &al->e[i];
	return NULL;
}

/* A slot for a new key: free, else expired, else the least recently
 * failed unlocked entry, else the least recently failed of all. */
static struct entry *
take_slot(struct authlimit *al, uint64_t now)
{
	struct entry *unlocked = NULL, *any = NULL;

	for (size_t i = 0; i < al->conf.max_entries; i++) {
		struct entry *e = &al->e[i];
		if (e->hash == 0) {
			al->n++;
			return e;
		}
		if (expired(al, e, now))
			return e;
		if (e->locked_until_ms <= now &&
		    (unlocked == NULL || e->last_ms < unlocked->last_ms))
			unlocked = e;
		if (any == NULL || e->last_ms < any->last_ms)
			any = e;
	}
	return unlocked != NULL ? unlocked : any;
}

/* The live entry for (k, s), or NULL; an expired one is reset. */
static struct entry *
lookup(struct authlimit *al, enum kind k, const char *s, uint64_t now)
{
	char key[KEY_MAX];
	struct entry *e;

	make_key(key, k, s);
	e = find(al, key, key_hash(key));
	if (e != NULL && expired(al, e, now)) {
		e->failures = 0;
		e->first_ms = now;
		e->locked_until_ms = 0;
	}
	return e;
}

enum authlimit_verdict
authlimit_check(struct authlimit *al, const char *addr, const char *account,
    uint64_t now_ms, unsigned *delay_ms_r)
{
	struct entry *a = lookup(al, K_ADDR, addr, now_ms);
	struct entry *u = lookup(al, K_ACCOUNT, account, now_ms);

	*delay_ms_r = 0;
	if (a != NULL && a->locked_until_ms > now_ms)
		return AUTHLIMIT_REFUSE;
	if ((a != NULL && a->failures >= al->conf.fail_limit) ||
	    (u != NULL && u->failures >= al->conf.fail_limit)) {
		*delay_ms_r = al->conf.delay_ms;
		return al->conf.delay_ms > 0 ? AUTHLIMIT_DELAY : AUTHLIMIT_OK;
	}
	return AUTHLIMIT_OK;
}

static void
count(struct authlimit *al, enum kind k, const char *s, uint64_t now)
{
	char key[KEY_MAX];
	uint64_t h;
	struct entry *e;

	make_key(key, k, s);
	h = key_hash(key);
	if ((e = find(al, key, h)) != NULL && expired(al, e, now)) {
		e->failures = 0;
		e->locked_until_ms = 0;
	}
	if (e == NULL) {
		e = take_slot(al, now);
		memset(e, 0, sizeof *e);
		e->hash = h;
		memcpy(e->key, key, strlen(key) + 1);
	}
	if (e->failures == 0)
		e->first_ms = now;
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last_ms = now;
	if (k == K_ADDR && e->failures >= al->conf.lockout_limit) {
		e->locked_until_ms = now + (uint64_t)al->conf.lockout_s * 1000u;
	}
}

void
authlimit_failed(struct authlimit *al, const char *addr, const char *account,
    uint64_t now_ms)
{
	count(al, K_ADDR, addr, now_ms);
	count(al, K_ACCOUNT, account, now_ms);
}

void
authlimit_succeeded(struct authlimit *al, const char *addr,
    const char *account, uint64_t now_ms)
{
	char key[KEY_MAX];
	struct entry *e;

	(void)addr;
	(void)now_ms;
	make_key(key, K_ACCOUNT, account);
	if ((e = find(al, key, key_hash(key))) != NULL) {
		memset(e, 0, sizeof *e);
		al->n--;
	}
}

/* ---- the delay ---- */

struct waiter {
	uv_timer_t t;
	void (*cb)(void *);
	void *arg;
};

static void
waiter_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
waiter_fired(uv_timer_t *t)
{
	struct waiter *w = t->data;

	w->cb(w->arg);
	uv_close((uv_handle_t *)&w->t, waiter_closed);
}

int
authlimit_wait(uv_loop_t *loop, unsigned ms, void (*cb)(void *), void *arg)
{
	struct waiter *w = calloc(1, sizeof *w);

	if (w == NULL)
		return CM_ENOMEM;
	w->cb = cb;
	w->arg = arg;
	uv_timer_init(loop, &w->t);
	w->t.data = w;
	uv_timer_start(&w->t, waiter_fired, ms, 0);
	return 0;
}
