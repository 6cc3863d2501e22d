/* config.c — the configuration file of SPEC section 3, read with config/toml.c. It runs in
 * aysfs-config, unprivileged (config/main.c): the supervisor, root, parses no TOML.
 *
 * Maps the TOML tree onto struct config: defaults, type and range checks, and the keys of the
 * original tool's older layouts, read as their equivalents wherever TOML lets them stand. Errors
 * name FILE:LINE:COLUMN and the key; an unknown key is only a warning (FILE:LINE), so that a newer
 * configuration still loads on an older node.
 *
 * Layers come from four places ([[cache]], [[store]] and the older [[ays.cache]], [[ays.stor]],
 * which TOML may even nest under an [[ays]]); they are gathered first and then mapped in the order
 * written: every cache, then every store.
 */
#include "config/config.h"
#include "config/toml.h"
#include "ipc/proto_workers.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Upper bounds that keep later arithmetic (seconds → nanoseconds, hours → seconds) far from
 * overflow; nobody means more. */
#define MAX_SECONDS (365LL * 24 * 3600)
#define MAX_HOURS   (100LL * 365 * 24)

/* One flist's bounds (SPEC section 4 leaves them to us). The largest trees measured have about a
 * million entries (bench/mount-1m.sh: 191 bytes of the indexer's and fuser's memory per entry), so
 * ten times that is generous and still bounds the tree at about 2 GiB; lines are 60-120 bytes,
 * so 512 MiB holds a few million of them. Beyond either, a flist is refused (indexer/load.c). */
#define FLIST_MAX_SIZE_DEFAULT    (512ull << 20)
#define FLIST_MAX_ENTRIES_DEFAULT 10000000
#define FLIST_MAX_ENTRIES_MAX     INT32_MAX

struct layer_src {
	const struct toml_value *t;
	const char *name;               /* for messages: "cache", "store", "ays.cache", "ays.stor" */
	bool is_cache;
};

struct loader {
	const char *file;
	struct config *c;
	config_warn_fn warn;
	void *warn_ctx;
	char *err;
	size_t errlen;
	const struct toml_value *expiration;    /* where cache_expiration was first given */
	struct layer_src *src;
	size_t nsrc, srccap;
};

/* ---- messages -------------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int bad(struct loader *l, const struct toml_value *at, const char *fmt, ...)
{
	int n = snprintf(l->err, l->errlen, "%s:%u:%u: ", l->file, at->line, at->col);
	va_list ap;

	if (n >= 0 && (size_t)n < l->errlen) {
		va_start(ap, fmt);
		vsnprintf(l->err + n, l->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int no_memory(struct loader *l)
{
	snprintf(l->err, l->errlen, "%s: out of memory", l->file);
	return -ENOMEM;
}

/* The keys a section knows, for "did you mean …?" (the [main] ones are main_keys' and these). */
static const char *const known_keys[][12] = {
	{ "", "main", "ays", "cache", "store", "debug" },
	{ "main", "cache_size", "flist_max_size", "flist_max_entries", "cache_expiration", "cache",
	  "proxy" },
	{ "cache", "url", "mnt", "purge", "push", "proxy", "cache", "endpoint", "region",
	  "credentials" },
	{ "store", "url", "mnt", "proxy", "cache", "endpoint", "region", "credentials" },
	{ "ays.cache", "url", "mnt", "purge", "push", "proxy", "cache" },
	{ "ays.stor", "url", "mnt", "proxy", "cache" },
	{ "ays", "id", "flist", "prefetch", "cache", "stor" },
	{ "debug", "filter", "debug_filter", "redis", "redis_passwd", "max_size" },
	{ "debug.redis", "addr", "port", "passwd" },
};

/* Edit distance with transpositions (a typed key is short: at most 100 bytes are compared). */
static unsigned key_distance(const char *a, const char *b)
{
	unsigned d[101][101];
	size_t n = strnlen(a, 100), m = strnlen(b, 100);

	for (size_t i = 0; i <= n; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[n][m];
}

static const char *nearest(const char *best, unsigned *bd, const char *key, const char *cand)
{
	unsigned d = key_distance(key, cand);

	if (d < *bd) {
		*bd = d;
		return cand;
	}
	return best;
}

static const char *suggest(const char *sec, const char *key);

static void unknown(struct loader *l, const char *sec, const struct toml_entry *e)
{
	/* A key that is not bare is quoted, as it would have to be written. */
	const char *q = e->key[0] && !e->key[strspn(e->key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"abcdefghijklmnopqrstuvwxyz0123456789_-")] ? "" : "\"";
	const char *near = suggest(sec ? sec : "", e->key);
	char msg[320];

	if (!l->warn)
		return;
	snprintf(msg, sizeof msg, "%s:%u: unknown key %s%s%s%.100s%s%s%s%s", l->file, e->line,
		 sec ? sec : "", sec ? "." : "", q, e->key, q, near ? " (did you mean " : "",
		 near ? near : "", near ? "?)" : "");
	l->warn(l->warn_ctx, msg);
}

/* ---- checks on strings ----------------------------------------------------------------------- */

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return true;
	return false;
}

/* The rest of a URL after its scheme: a host, then anything but spaces and control characters. */
static bool url_tail_ok(const char *host)
{
	if (!*host || *host == '/')
		return false;
	for (; *host; host++)
		if ((unsigned char)*host <= ' ' || *host == 0x7f)
			return false;
	return true;
}

static const char *check_proxy(const char *u)
{
	static const char *const schemes[] = {
		"http://", "https://", "socks4://", "socks4a://", "socks5://", "socks5h://",
	};

	for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
		size_t n = strlen(schemes[i]);

		if (strncmp(u, schemes[i], n) == 0)
			return url_tail_ok(u + n) ? NULL : "has no host, or holds spaces";
	}
	return "is not an http://, https:// or socks proxy";
}

/* An s3:// layer's endpoint: http(s)://host[:port] and nothing after it (the bucket and the path
 * are the layer URL's). */
static const char *check_endpoint(const char *u)
{
	const char *host = !strncmp(u, "http://", 7) ? u + 7 : !strncmp(u, "https://", 8) ? u + 8 : NULL;

	if (!host)
		return "is not an http:// or https:// URL";
	if (!url_tail_ok(host))
		return "has no host, or holds spaces";
	if (strchr(host, '/') && strchr(host, '/')[1])
		return "must not have a path (the bucket is the layer's URL)";
	return NULL;
}

/* s3://BUCKET/…: the bucket as S3 names them, up to the first '/'. */
static bool is_bucket(const char *s)
{
	size_t n = 0;

	for (; s[n] && s[n] != '/'; n++)
		if (!islower((unsigned char)s[n]) && !isdigit((unsigned char)s[n]) && s[n] != '.' &&
		    s[n] != '-')
			return false;
	return n >= 3 && n <= 63;
}

static bool is_region(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '-')
			return false;
	return n > 0 && n <= 64;
}

/* "HOST:PORT", the host possibly "[v6]". */
static bool is_host_port(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || colon == s || !isdigit((unsigned char)colon[1]))
		return false;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return false;
	for (; s < colon; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '/')
			return false;
	return true;
}

/* The namespace is a folder name inside every store, and purge empties URL/NAMESPACE/: it must
 * not be able to name anything else. */
static bool is_folder_name(const char *s)
{
	return *s && strcmp(s, ".") && strcmp(s, "..") &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(s);
}

/* A service id becomes the file name md/ID.flist. */
static bool is_service_id(const char *s)
{
	return *s && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/') && !has_control(s);
}

/* ---- typed getters: `sec.key` names the key in messages ---------------------------------------- */

static int want(struct loader *l, const char *sec, const struct toml_entry *e, enum toml_type type)
{
	if (e->value->type == type)
		return 0;
	return bad(l, e->value, "%s.%s: expected %s", sec, e->key, toml_type_name(type));
}

static int set_str(struct loader *l, const char *s, char **out)
{
	char *copy = strdup(s);

	if (!copy)
		return no_memory(l);
	free(*out);
	*out = copy;
	return 0;
}

/* What a value must look like: a string of some sort, or (K_SECONDS) an integer. */
enum kind { K_TEXT, K_PATH, K_PASSWD, K_NAMESPACE, K_SERVICE, K_SECONDS, K_HASH };

static int get_str(struct loader *l, const char *sec, const struct toml_entry *e, enum kind kind,
		   char **out)
{
	const char *s, *why = NULL;
	int rc = want(l, sec, e, TOML_STRING);

	if (rc)
		return rc;
	s = e->value->str.s;
	if (!*s && kind == K_PASSWD)
		return 0;       /* an empty password is no password */
	if (!*s)
		return bad(l, e->value, "%s.%s: must not be empty", sec, e->key);
	if (kind == K_PATH && s[0] != '/')
		why = "must be an absolute path";
	else if (kind == K_NAMESPACE && !is_folder_name(s))
		why = "is not one folder name (letters, digits, '.', '_', '-')";
	else if (kind == K_SERVICE && !is_service_id(s))
		why = "cannot be a file name";
	else if (kind == K_HASH && strcmp(s, "md5") && strcmp(s, "sha256"))
		why = "is neither \"md5\" nor \"sha256\"";
	if (why)
		return bad(l, e->value, "%s.%s: \"%.80s\" %s", sec, e->key, s, why);
	return set_str(l, s, out);
}

static int get_int(struct loader *l, const char *sec, const struct toml_entry *e, int64_t min,
		   int64_t max, int64_t *out)
{
	int rc = want(l, sec, e, TOML_INTEGER);

	if (rc)
		return rc;
	if (e->value->i < min || e->value->i > max)
		return bad(l, e->value, "%s.%s: must be between %lld and %lld", sec, e->key,
			   (long long)min, (long long)max);
	*out = e->value->i;
	return 0;
}

/* The older layout also wrote switches as numbers, 0 being off: `numbers` accepts those. */
static int get_bool(struct loader *l, const char *sec, const struct toml_entry *e, bool numbers,
		    bool *out)
{
	if (numbers && e->value->type == TOML_INTEGER) {
		*out = e->value->i != 0;
		return 0;
	}
	if (e->value->type != TOML_BOOLEAN)
		return bad(l, e->value, "%s.%s: expected a boolean", sec, e->key);
	*out = e->value->b;
	return 0;
}

/* An array of non-empty strings, each passing `check` (which returns a reason, or NULL). */
static int get_strs(struct loader *l, const char *sec, const struct toml_entry *e,
		    const char *(*check)(const char *), char ***out, size_t *n)
{
	const struct toml_value *a = e->value;
	char **v;

	if (a->type != TOML_ARRAY)
		return bad(l, a, "%s.%s: expected an array of strings", sec, e->key);
	for (size_t i = 0; i < a->arr.n; i++) {
		const struct toml_value *s = a->arr.v[i];
		const char *why;

		if (s->type != TOML_STRING)
			return bad(l, s, "%s.%s: expected an array of strings", sec, e->key);
		if (!s->str.s[0])
			return bad(l, s, "%s.%s: an empty string", sec, e->key);
		if (check && (why = check(s->str.s)))
			return bad(l, s, "%s.%s: \"%.80s\" %s", sec, e->key, s->str.s, why);
	}
	v = calloc(a->arr.n ? a->arr.n : 1, sizeof *v);
	if (!v)
		return no_memory(l);
	strv_free(*out, *n);
	*out = v;
	*n = 0;
	for (; *n < a->arr.n; ++*n)
		if (!(v[*n] = strdup(a->arr.v[*n]->str.s)))
			return no_memory(l);
	return 0;
}

/* ---- layers ---------------------------------------------------------------------------------- */

static int get_url(struct loader *l, const char *sec, const struct toml_entry *e, char **out)
{
	/* ssh:// is what the older layout wrote for sftp://, and is read as such. */
	static const char *const remote[] = { "http://", "https://", "sftp://", "ssh://", "s3://" };
	const char *u;
	int rc = want(l, sec, e, TOML_STRING);

	if (rc)
		return rc;
	u = e->value->str.s;
	if (u[0] == '/' || strncmp(u, "file:///", 8) == 0) {
		if (has_control(u))
			return bad(l, e->value, "%s.%s: a control character in a path", sec, e->key);
		return set_str(l, u, out);
	}
	if (strncmp(u, "file://", 7) == 0)
		return bad(l, e->value, "%s.%s: write a local folder as file:///absolute/path",
			   sec, e->key);
	for (size_t i = 0; i < sizeof remote / sizeof *remote; i++) {
		size_t n = strlen(remote[i]);

		if (strncmp(u, remote[i], n))
			continue;
		if (!url_tail_ok(u + n))
			return bad(l, e->value, "%s.%s: \"%.80s\" has no host, or holds spaces",
				   sec, e->key, u);
		if (!strcmp(remote[i], "s3://") && !is_bucket(u + n))
			return bad(l, e->value, "%s.%s: \"%.80s\" does not start with a bucket name "
				   "(3 to 63 lower-case letters, digits, '.', '-')", sec, e->key, u);
		if (strcmp(remote[i], "ssh://"))
			return set_str(l, u, out);
		free(*out);
		if (asprintf(out, "sftp://%s", u + n) >= 0)
			return 0;
		*out = NULL;
		return no_memory(l);
	}
	return bad(l, e->value, "%s.%s: \"%.80s\" is not an absolute path or a file://, http://, "
		   "https://, sftp:// or s3:// URL", sec, e->key, u);
}

/* cache_expiration, or cache.expiration of the older layout, which it allowed in [main] and in
 * every store: given several times, the values must agree. */
static int set_expiration(struct loader *l, const char *sec, const struct toml_entry *e)
{
	int64_t hours = 0;
	int rc = get_int(l, sec, e, 0, MAX_HOURS, &hours);

	if (rc)
		return rc;
	if (l->expiration && l->expiration->i != hours)
		return bad(l, e->value, "%s.%s: %lld hours, but %lld at line %u", sec, e->key,
			   (long long)hours, (long long)l->expiration->i, l->expiration->line);
	l->expiration = e->value;
	l->c->cache_expiration = hours;
	return 0;
}

/* The `cache` table that cache.expiration = N makes; in an [[ays]] also cache.grid and cache.local,
 * which steered only the original tool's own caching: read, not used. */
static int map_cache_keys(struct loader *l, const char *sec, const struct toml_entry *ce,
			  bool in_service)
{
	char name[32];
	bool unused;
	int rc = want(l, sec, ce, TOML_TABLE);

	snprintf(name, sizeof name, "%s.cache", sec);
	for (size_t i = 0; rc == 0 && i < ce->value->tab.n; i++) {
		const struct toml_entry *e = &ce->value->tab.e[i];

		if (!strcmp(e->key, "expiration"))
			rc = set_expiration(l, name, e);
		else if (in_service && (!strcmp(e->key, "grid") || !strcmp(e->key, "local")))
			rc = get_bool(l, name, e, true, &unused);
		else
			unknown(l, name, e);
	}
	return rc;
}

static int add_layers(struct loader *l, const char *name, const struct toml_value *a, bool is_cache)
{
	if (a->type != TOML_ARRAY)
		return bad(l, a, "%s: expected an array of tables ([[%s]])", name, name);
	for (size_t i = 0; i < a->arr.n; i++) {
		if (a->arr.v[i]->type != TOML_TABLE)
			return bad(l, a->arr.v[i], "%s: expected an array of tables ([[%s]])", name, name);
		if (l->nsrc == l->srccap) {
			size_t cap = l->srccap ? 2 * l->srccap : 8;
			struct layer_src *src = reallocarray(l->src, cap, sizeof *src);

			if (!src)
				return no_memory(l);
			l->src = src;
			l->srccap = cap;
		}
		l->src[l->nsrc++] = (struct layer_src){ a->arr.v[i], name, is_cache };
	}
	return 0;
}

/* Caches before stores, each in the order written (tables never start at the same place). */
static int cmp_src(const void *pa, const void *pb)
{
	const struct layer_src *a = pa, *b = pb;

	if (a->is_cache != b->is_cache)
		return a->is_cache ? -1 : 1;
	if (a->t->line != b->t->line)
		return a->t->line < b->t->line ? -1 : 1;
	return (a->t->col > b->t->col) - (a->t->col < b->t->col);
}

static int map_layer(struct loader *l, const struct layer_src *s, struct cfg_layer *ly)
{
	const struct toml_value *t = s->t;
	int rc = 0;

	ly->is_cache = s->is_cache;
	ly->line = t->line;
	for (size_t i = 0; rc == 0 && i < t->tab.n; i++) {
		const struct toml_entry *e = &t->tab.e[i];
		const char *k = e->key;

		if (!strcmp(k, "mnt") && toml_get(t, "url"))
			rc = bad(l, e->value, "%s.mnt: url is given too (mnt is its older name)", s->name);
		else if (!strcmp(k, "url") || !strcmp(k, "mnt"))
			rc = get_url(l, s->name, e, &ly->url);
		else if (!s->is_cache && (!strcmp(k, "purge") || !strcmp(k, "push")))
			rc = bad(l, e->value, "%s.%s: a store is never written", s->name, k);
		else if (!strcmp(k, "purge"))
			rc = get_bool(l, s->name, e, false, &ly->purge);
		else if (!strcmp(k, "push"))
			rc = get_bool(l, s->name, e, false, &ly->push);
		else if (!strcmp(k, "proxy"))
			rc = get_strs(l, s->name, e, check_proxy, &ly->proxy, &ly->nproxy);
		else if (!strcmp(k, "cache"))
			rc = map_cache_keys(l, s->name, e, false);
		else if (!strcmp(k, "endpoint") && (rc = get_str(l, s->name, e, K_TEXT, &ly->endpoint)) == 0 &&
			 check_endpoint(ly->endpoint))
			rc = bad(l, e->value, "%s.endpoint: \"%.80s\" %s", s->name, ly->endpoint,
				 check_endpoint(ly->endpoint));
		else if (!strcmp(k, "region") && (rc = get_str(l, s->name, e, K_TEXT, &ly->region)) == 0 &&
			 !is_region(ly->region))
			rc = bad(l, e->value, "%s.region: \"%.80s\" is not a region name (letters, "
				 "digits, '-')", s->name, ly->region);
		else if (!strcmp(k, "credentials"))
			rc = get_str(l, s->name, e, K_PATH, &ly->credentials);
		else if (strcmp(k, "endpoint") && strcmp(k, "region"))
			unknown(l, s->name, e);
	}
	if (rc == 0 && !ly->url)
		rc = bad(l, t, "%s: url is missing", s->name);
	if (rc == 0 && strncmp(ly->url, "s3://", 5) && (ly->endpoint || ly->region || ly->credentials))
		rc = bad(l, t, "%s: endpoint, region and credentials are for s3:// layers only", s->name);
	return rc;
}

static int map_layers(struct loader *l)
{
	struct config *c = l->c;
	int rc = 0;

	if (!l->nsrc)
		return 0;
	qsort(l->src, l->nsrc, sizeof *l->src, cmp_src);
	c->layers = calloc(l->nsrc, sizeof *c->layers);
	if (!c->layers)
		return no_memory(l);
	for (size_t i = 0; rc == 0 && i < l->nsrc; i++)
		rc = map_layer(l, &l->src[i], &c->layers[c->nlayers++]);
	return rc;
}

/* ---- services, debug, main ------------------------------------------------------------------- */

/* prefetch.cache.local = N of the older layout is prefetch; prefetch.cache.grid is read, not used. */
static int map_prefetch(struct loader *l, const struct toml_value *t, struct cfg_ays *a)
{
	bool unused;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < t->tab.n; i++) {
		const struct toml_entry *pe = &t->tab.e[i];

		if (strcmp(pe->key, "cache")) {
			unknown(l, "ays.prefetch", pe);
			continue;
		}
		rc = want(l, "ays.prefetch", pe, TOML_TABLE);
		for (size_t j = 0; rc == 0 && j < pe->value->tab.n; j++) {
			const struct toml_entry *e = &pe->value->tab.e[j];

			if (!strcmp(e->key, "local"))
				rc = get_bool(l, "ays.prefetch.cache", e, true, &a->prefetch);
			else if (!strcmp(e->key, "grid"))
				rc = get_bool(l, "ays.prefetch.cache", e, true, &unused);
			else
				unknown(l, "ays.prefetch.cache", e);
		}
	}
	return rc;
}

static int map_service(struct loader *l, const struct toml_value *t)
{
	struct config *c = l->c;
	struct cfg_ays *a;
	int rc = 0;

	/* Grow at every power of two: the array's capacity is not stored. */
	if ((c->nays & (c->nays - 1)) == 0) {
		a = reallocarray(c->ays, c->nays ? 2 * c->nays : 1, sizeof *a);
		if (!a)
			return no_memory(l);
		c->ays = a;
	}
	a = &c->ays[c->nays++];
	memset(a, 0, sizeof *a);
	a->line = t->line;
	for (size_t i = 0; rc == 0 && i < t->tab.n; i++) {
		const struct toml_entry *e = &t->tab.e[i];
		const struct toml_value *v = e->value;

		if (!strcmp(e->key, "id"))
			rc = get_str(l, "ays", e, K_SERVICE, &a->id);
		else if (!strcmp(e->key, "flist"))
			rc = get_str(l, "ays", e, K_PATH, &a->flist);
		else if (!strcmp(e->key, "prefetch") && v->type == TOML_TABLE)
			rc = map_prefetch(l, v, a);
		else if (!strcmp(e->key, "prefetch"))
			rc = get_bool(l, "ays", e, true, &a->prefetch);
		/* cache.grid = 1 makes a table, [[ays.cache]] after this [[ays]] an array */
		else if (!strcmp(e->key, "cache") && v->type == TOML_TABLE)
			rc = map_cache_keys(l, "ays", e, true);
		else if (!strcmp(e->key, "cache"))
			rc = add_layers(l, "ays.cache", v, true);
		else if (!strcmp(e->key, "stor"))
			rc = add_layers(l, "ays.stor", v, false);
		else
			unknown(l, "ays", e);
	}
	if (rc == 0 && !a->id)
		rc = bad(l, t, "ays: id is missing");
	return rc;
}

static int map_ays(struct loader *l, const struct toml_value *v)
{
	int rc = 0;

	if (v->type == TOML_ARRAY) {
		for (size_t i = 0; rc == 0 && i < v->arr.n; i++) {
			if (v->arr.v[i]->type != TOML_TABLE)
				return bad(l, v->arr.v[i], "ays: expected [[ays]] tables");
			rc = map_service(l, v->arr.v[i]);
		}
		return rc;
	}
	if (v->type != TOML_TABLE)
		return bad(l, v, "ays: expected [[ays]] tables");
	/* Only [[ays.cache]] and [[ays.stor]] were written, which makes `ays` a plain table. */
	for (size_t i = 0; rc == 0 && i < v->tab.n; i++) {
		const struct toml_entry *e = &v->tab.e[i];

		if (!strcmp(e->key, "cache"))
			rc = add_layers(l, "ays.cache", e->value, true);
		else if (!strcmp(e->key, "stor"))
			rc = add_layers(l, "ays.stor", e->value, false);
		else
			unknown(l, "ays", e);
	}
	return rc;
}

/* A filter is a POSIX extended regular expression (SPEC §7). */
static const char *check_regex(const char *s)
{
	static char why[160];
	regex_t re;
	int rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);

	if (rc == 0) {
		regfree(&re);
		return NULL;
	}
	strcpy(why, "is not a regular expression: ");
	regerror(rc, &re, why + strlen(why), sizeof why - strlen(why));
	return why;
}

/* redis = "HOST:PORT" or "/path/of/redis.sock", or the older redis.addr, redis.port and redis.passwd. */
static int map_redis(struct loader *l, const struct toml_entry *re)
{
	struct cfg_debug *d = &l->c->debug;
	const struct toml_value *t = re->value, *at = t;
	const char *addr = NULL;
	int64_t port = 6379;            /* Redis's own default */
	int rc = 0;

	if (t->type == TOML_STRING) {
		if (t->str.s[0] == '/' ? has_control(t->str.s) || strlen(t->str.s) > 107 :
		    !is_host_port(t->str.s))
			return bad(l, t, "debug.redis: expected \"HOST:PORT\" or a socket's path");
		return set_str(l, t->str.s, &d->redis);
	}
	if (t->type != TOML_TABLE)
		return bad(l, t, "debug.redis: expected a string");
	for (size_t i = 0; rc == 0 && i < t->tab.n; i++) {
		const struct toml_entry *e = &t->tab.e[i];

		if (!strcmp(e->key, "addr")) {
			rc = want(l, "debug.redis", e, TOML_STRING);
			addr = rc ? NULL : e->value->str.s;
			at = e->value;
		} else if (!strcmp(e->key, "port")) {
			rc = get_int(l, "debug.redis", e, 1, 65535, &port);
		} else if (!strcmp(e->key, "passwd")) {
			rc = get_str(l, "debug.redis", e, K_PASSWD, &d->redis_passwd);
		} else {
			unknown(l, "debug.redis", e);
		}
	}
	if (rc)
		return rc;
	if (!addr)
		return bad(l, t, "debug.redis: addr is missing");
	free(d->redis);
	if (asprintf(&d->redis, strchr(addr, ':') && addr[0] != '[' ? "[%s]:%lld" : "%s:%lld", addr,
		     (long long)port) < 0) {
		d->redis = NULL;
		return no_memory(l);
	}
	if (!is_host_port(d->redis))
		return bad(l, at, "debug.redis.addr: \"%.80s\" is not a host name or address", addr);
	return 0;
}

/* debug.max_size: bytes or "64M", from 1 byte to the 512 MiB a Redis value may hold. */
static int get_debug_size(struct loader *l, const struct toml_value *v, uint64_t *out)
{
	if (v->type == TOML_INTEGER && v->i > 0)
		*out = (uint64_t)v->i;
	else if (v->type != TOML_STRING || config_parse_size(v->str.s, out) || *out == 0)
		return bad(l, v, "debug.max_size: expected a size such as \"64M\" (or bytes)");
	if (*out > 512ull << 20)
		return bad(l, v, "debug.max_size: at most 512M (a Redis value's limit)");
	return 0;
}

static int map_debug(struct loader *l, const struct toml_value *t)
{
	struct cfg_debug *d = &l->c->debug;
	int rc = 0;

	/* The older layout wrote [[debug]]: one such table is [debug]. */
	if (t->type == TOML_ARRAY) {
		if (t->arr.n != 1 || t->arr.v[0]->type != TOML_TABLE)
			return bad(l, t->arr.n > 1 ? t->arr.v[1] : t, "debug: expected one [debug] table");
		t = t->arr.v[0];
	}
	if (t->type != TOML_TABLE)
		return bad(l, t, "debug: expected a table");
	d->present = true;
	for (size_t i = 0; rc == 0 && i < t->tab.n; i++) {
		const struct toml_entry *e = &t->tab.e[i];

		if (!strcmp(e->key, "debug_filter") && toml_get(t, "filter"))
			rc = bad(l, e->value, "debug.debug_filter: filter is given too "
				 "(debug_filter is its older name)");
		else if (!strcmp(e->key, "filter") || !strcmp(e->key, "debug_filter"))
			rc = get_strs(l, "debug", e, check_regex, &d->filter, &d->nfilter);
		else if (!strcmp(e->key, "redis"))
			rc = map_redis(l, e);
		else if (!strcmp(e->key, "redis_passwd") && toml_get(toml_get(t, "redis"), "passwd"))
			rc = bad(l, e->value, "debug.redis_passwd: redis.passwd is given too");
		else if (!strcmp(e->key, "redis_passwd"))
			rc = get_str(l, "debug", e, K_PASSWD, &d->redis_passwd);
		else if (!strcmp(e->key, "max_size"))
			rc = get_debug_size(l, e->value, &d->max_size);
		else
			unknown(l, "debug", e);
	}
	return rc;
}

/* main.KEY: a size ("10G", or bytes) into *out; at least `min`. */
static int get_size(struct loader *l, const struct toml_entry *e, uint64_t min, uint64_t *out)
{
	const struct toml_value *v = e->value;
	int rc;

	if (v->type == TOML_INTEGER) {
		if (v->i < 0)
			return bad(l, v, "main.%s: must not be negative", e->key);
		if ((uint64_t)v->i < min)
			return bad(l, v, "main.%s: must be at least %llu", e->key, (unsigned long long)min);
		*out = (uint64_t)v->i;
		return 0;
	}
	if (v->type != TOML_STRING)
		return bad(l, v, "main.%s: expected a string such as \"10G\" (or bytes)", e->key);
	rc = config_parse_size(v->str.s, out);
	if (rc == -ERANGE)
		return bad(l, v, "main.%s: \"%.80s\" is too large", e->key, v->str.s);
	if (rc)
		return bad(l, v, "main.%s: \"%.80s\" is not a size such as \"10G\"", e->key, v->str.s);
	if (*out < min)
		return bad(l, v, "main.%s: must be at least %llu bytes", e->key, (unsigned long long)min);
	return 0;
}

/* The [main] keys that are one string or a number of seconds. */
static const struct main_key {
	const char *key;
	enum kind kind;
	size_t off;
} main_keys[] = {
	{ "id", K_TEXT, offsetof(struct config, id) },
	{ "namespace", K_NAMESPACE, offsetof(struct config, namespace) },
	{ "prefix", K_PATH, offsetof(struct config, prefix) },
	{ "cache_dir", K_PATH, offsetof(struct config, cache_dir) },
	{ "cafile", K_PATH, offsetof(struct config, cafile) },
	{ "ssh_key", K_PATH, offsetof(struct config, ssh_key) },
	{ "ssh_known_hosts", K_PATH, offsetof(struct config, ssh_known_hosts) },
	{ "flist_dir", K_PATH, offsetof(struct config, flist_dir) },
	{ "state_dir", K_PATH, offsetof(struct config, state_dir) },
	{ "trusted_keys", K_PATH, offsetof(struct config, trusted_keys) },
	{ "min_hash", K_HASH, offsetof(struct config, min_hash) },
	{ "refresh", K_SECONDS, offsetof(struct config, refresh) },
	{ "metadata", K_PATH, offsetof(struct config, flist_dir) },     /* its older name */
	{ "user", K_TEXT, offsetof(struct config, user) },
	{ "rediscover", K_SECONDS, offsetof(struct config, rediscover) },
	{ "entry_ttl", K_SECONDS, offsetof(struct config, entry_ttl) },
	{ "attr_ttl", K_SECONDS, offsetof(struct config, attr_ttl) },
	{ "negative_ttl", K_SECONDS, offsetof(struct config, negative_ttl) },
};

/* The known key of section sec nearest to key, when it is near enough to be a slip of the
 * fingers (one edit in 4 characters, two at most); else NULL. */
static const char *suggest(const char *sec, const char *key)
{
	unsigned bd = UINT32_MAX, max = strlen(key) < 4 ? 1 : strlen(key) < 8 ? 2 : 3;
	const char *best = NULL;

	for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
		for (size_t k = 1; !strcmp(known_keys[i][0], sec) && k < 12 && known_keys[i][k]; k++)
			best = nearest(best, &bd, key, known_keys[i][k]);
	for (size_t i = 0; !strcmp(sec, "main") && i < sizeof main_keys / sizeof main_keys[0]; i++)
		best = nearest(best, &bd, key, main_keys[i].key);
	return bd <= max && bd > 0 ? best : NULL;
}

static int map_main(struct loader *l, const struct toml_value *t)
{
	struct config *c = l->c;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < t->tab.n; i++) {
		const struct toml_entry *e = &t->tab.e[i];
		const struct main_key *mk = NULL;
		const char *k = e->key;

		for (size_t j = 0; j < sizeof main_keys / sizeof *main_keys; j++)
			if (!strcmp(k, main_keys[j].key))
				mk = &main_keys[j];
		if (!strcmp(k, "metadata") && toml_get(t, "flist_dir"))
			rc = bad(l, e->value, "main.metadata: flist_dir is given too "
				 "(metadata is its older name)");
		else if (mk && mk->kind == K_SECONDS)
			rc = get_int(l, "main", e, 0, MAX_SECONDS, (int64_t *)((char *)c + mk->off));
		else if (mk)
			rc = get_str(l, "main", e, mk->kind, (char **)((char *)c + mk->off));
		else if (!strcmp(k, "cache_size"))
			rc = get_size(l, e, 0, &c->cache_size);
		else if (!strcmp(k, "flist_max_size"))
			rc = get_size(l, e, 1, &c->flist_max_size);
		else if (!strcmp(k, "flist_max_entries"))
			rc = get_int(l, "main", e, 1, FLIST_MAX_ENTRIES_MAX, &c->flist_max_entries);
		else if (!strcmp(k, "cache_expiration"))
			rc = set_expiration(l, "main", e);
		else if (!strcmp(k, "cache"))
			rc = map_cache_keys(l, "main", e, false);
		else if (!strcmp(k, "proxy"))
			rc = get_strs(l, "main", e, check_proxy, &c->proxy, &c->nproxy);
		else
			unknown(l, "main", e);
	}
	return rc;
}

static int map_root(struct loader *l, const struct toml_value *root)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < root->tab.n; i++) {
		const struct toml_entry *e = &root->tab.e[i];

		if (!strcmp(e->key, "main"))
			rc = e->value->type == TOML_TABLE ? map_main(l, e->value)
							  : bad(l, e->value, "main: expected a table");
		else if (!strcmp(e->key, "ays"))
			rc = map_ays(l, e->value);
		else if (!strcmp(e->key, "cache"))
			rc = add_layers(l, "cache", e->value, true);
		else if (!strcmp(e->key, "store"))
			rc = add_layers(l, "store", e->value, false);
		else if (!strcmp(e->key, "debug"))
			rc = map_debug(l, e->value);
		else
			unknown(l, NULL, e);
	}
	return rc;
}

/* ---- the interface --------------------------------------------------------------------------- */

static int set_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->rediscover = 60;
	c->refresh = 60;
	c->entry_ttl = 60;
	c->attr_ttl = 60;
	c->negative_ttl = 10;
	c->flist_max_size = FLIST_MAX_SIZE_DEFAULT;
	c->flist_max_entries = FLIST_MAX_ENTRIES_DEFAULT;
	c->debug.max_size = 64ull << 20;
	c->namespace = strdup("dedupe");
	c->cache_dir = strdup("/var/cache/aysfs");
	c->flist_dir = strdup("/etc/ays/local");
	c->state_dir = strdup("/var/lib/aysfs");
	c->user = strdup("aysfs");
	if (c->namespace && c->cache_dir && c->flist_dir && c->state_dir && c->user)
		return 0;
	config_free(c);
	return -ENOMEM;
}

void config_defaults(struct config *c)
{
	/* Four short strings at start-up: without them nothing could run anyway. */
	if (set_defaults(c))
		abort();
}

int config_parse(const char *file, const char *text, size_t len, struct config *c,
		 config_warn_fn warn, void *ctx, char *err, size_t errlen)
{
	struct loader l = {
		.file = file, .c = c, .warn = warn, .warn_ctx = ctx, .err = err, .errlen = errlen,
	};
	struct toml_value *root = NULL;
	struct toml_error te;
	int rc = set_defaults(c);

	if (rc == 0 && !(c->file = strdup(file)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = toml_parse(text, len, &root, &te);
	if (rc == -ENOMEM)
		no_memory(&l);
	else if (rc)
		snprintf(err, errlen, "%s:%u:%u: %s", file, te.line, te.col, te.msg);
	if (rc == 0)
		rc = map_root(&l, root);
	if (rc == 0)
		rc = map_layers(&l);
	toml_free(root);
	free(l.src);
	if (rc)
		config_free(c);
	return rc;
}

int config_load_fd(const char *file, int fd, struct config *c, config_warn_fn warn, void *ctx,
		   char *err, size_t errlen)
{
	const char *why = NULL;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int rc = 0;

	memset(c, 0, sizeof *c);
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL, why = "not a regular file";
	else if (!(buf = malloc(TOML_MAX_SIZE + 1)))
		rc = -ENOMEM;
	/* One byte past the limit shows a file that is too large (or grew since fstat). */
	while (rc == 0 && got <= TOML_MAX_SIZE &&
	       (n = pread(fd, buf + got, TOML_MAX_SIZE + 1 - got, (off_t)got)) != 0) {
		if (n < 0 && errno != EINTR)
			rc = -errno;
		else if (n > 0)
			got += (size_t)n;
	}
	if (rc == 0 && got > TOML_MAX_SIZE)
		rc = -EFBIG, why = "larger than 1048576 bytes";
	if (rc)
		snprintf(err, errlen, "%s: %s", file, why ? why : strerror(-rc));
	else
		rc = config_parse(file, buf, got, c, warn, ctx, err, errlen);
	free(buf);
	return rc;
}

int config_load(const char *file, struct config *c, config_warn_fn warn, void *ctx, char *err,
		size_t errlen)
{
	/* O_NONBLOCK: a FIFO put in the file's place must not hang the reader. */
	int rc, fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		rc = -errno;
		memset(c, 0, sizeof *c);
		snprintf(err, errlen, "%s: %s", file, strerror(-rc));
		return rc;
	}
	rc = config_load_fd(file, fd, c, warn, ctx, err, errlen);
	close(fd);
	return rc;
}

int config_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *unit;
	uint64_t n = 0;
	unsigned shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	/* 10G, 10g, 10GB and 10GiB all mean 10 × 1024³; 100B is 100 bytes. */
	if (*s && (unit = strchr(units, toupper((unsigned char)*s)))) {
		shift = 10 * (unsigned)(unit - units + 1);
		s++;
		if (*s == 'i' && s[1] == 'B')
			s++;
	}
	if (*s == 'B')
		s++;
	if (*s)
		return -EINVAL;
	if (n > UINT64_MAX >> shift)
		return -ERANGE;
	*out = n << shift;
	return 0;
}

void config_free(struct config *c)
{
	free(c->file);
	free(c->id);
	free(c->namespace);
	free(c->prefix);
	free(c->cache_dir);
	free(c->cafile);
	strv_free(c->proxy, c->nproxy);
	free(c->ssh_key);
	free(c->ssh_known_hosts);
	free(c->flist_dir);
	free(c->state_dir);
	free(c->trusted_keys);
	free(c->min_hash);
	free(c->user);
	for (size_t i = 0; i < c->nlayers; i++) {
		free(c->layers[i].url);
		free(c->layers[i].endpoint);
		free(c->layers[i].region);
		free(c->layers[i].credentials);
		strv_free(c->layers[i].proxy, c->layers[i].nproxy);
	}
	free(c->layers);
	for (size_t i = 0; i < c->nays; i++) {
		free(c->ays[i].id);
		free(c->ays[i].flist);
	}
	free(c->ays);
	strv_free(c->debug.filter, c->debug.nfilter);
	free(c->debug.redis);
	free(c->debug.redis_passwd);
	memset(c, 0, sizeof *c);
}

/* ---- encoding (aysfs-config) ---------------------------------------------------------------- */
