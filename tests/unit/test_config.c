/* test_config.c — the configuration file (SPEC section 3) and the TOML reader under it.
 *
 * Each error case names the exact FILE:LINE:COLUMN an operator would be sent to. The example
 * texts are copies of SPEC.md and of the original tool's documents, so the test needs no files.
 */
#include "config/config.h"
#include "config/toml.h"
#include "config/relay.h"
#include "supervisor/supervisor.h"
#include "tests/tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* SPEC.md section 3, as written. */
static const char spec_example[] =
	"[main]\n"
	"id = \"node1\"                  # this client's id (logs, metrics, debug keys)\n"
	"namespace = \"dedupe\"\n"
	"prefix = \"/opt\"               # flist paths under this prefix appear under the mountpoint; default: the mountpoint's own path\n"
	"cache_dir = \"/var/cache/aysfs\" # local cache (store layout) used when no [[cache]] is a writable local folder\n"
	"cache_size = \"10G\"            # local cache quota (K, M, G = powers of 1024; apparent size of blobs), LRU eviction\n"
	"cache_expiration = 0          # hours since last use before a cached blob is removed; 0 = never\n"
	"rediscover = 60               # seconds between -auto re-discoveries\n"
	"cafile = \"/etc/ssl/certs/ca-certificates.crt\"\n"
	"proxy = []                    # HTTP proxies, tried in order\n"
	"ssh_key = \"/etc/aysfs/id_ed25519\"     # for sftp:// layers; host keys are always checked\n"
	"ssh_known_hosts = \"/etc/aysfs/known_hosts\"\n"
	"flist_dir = \"/etc/ays/local\"  # local flists, consulted before the layers (`metadata`, the original key, is read too)\n"
	"user = \"aysfs\"                # unprivileged account of the workers (falls back to nobody, with a warning)\n"
	"entry_ttl = 60                # kernel cache lifetimes, seconds (the tree is immutable between reloads)\n"
	"attr_ttl = 60\n"
	"negative_ttl = 10\n"
	"\n"
	"[[ays]]                       # one service = one flist; the mount shows the union of all of them\n"
	"                              # with no [[ays]] at all, every *.flist under flist_dir is mounted\n"
	"id = \"jumpscale__base\"\n"
	"# flist = \"/root/jumpscale__base.flist\"   # take the flist from this file instead of looking it up\n"
	"# prefetch = true             # fetch every blob of this service into the local cache in the background\n"
	"\n"
	"[[cache]]                     # queried in the order written, before every [[store]]\n"
	"url = \"/mnt/store1\"           # absolute path, file:///path, http://, https://, sftp://\n"
	"purge = true                  # empty URL/NAMESPACE/ of this (writable) cache before mounting\n"
	"[[cache]]\n"
	"url = \"http://lancache:9990/cache\"\n"
	"push = true                   # HTTP caches are written only when asked, with HTTP PUT\n"
	"\n"
	"[[store]]                     # read-only sources, queried after the caches, in the order written\n"
	"url = \"https://aysmaster1/master\"\n"
	"\n"
	"[debug]                       # optional development mode, section 7\n"
	"filter = ['.*\\.py', '.*\\.hrd']\n"
	"redis = \"127.0.0.1:6379\"\n";

/* The original README's example (original/000_*.txt). */
static const char original_000[] =
	"[main]\n"
	"    id = \"dev\"\n"
	"\n"
	"# defines what services you want to use\n"
	"[[ays]]\n"
	"    id=\"jumpscale__base\"\n"
	"[[ays]]\n"
	"    id=\"jumpscale__mongodb\"\n"
	"\n"
	"# Cache layers\n"
	"[[cache]]\n"
	"    url=\"/mnt/store1\"\n"
	"    purge=true\n"
	"\n"
	"[[cache]]\n"
	"    url=\"/mnt/store2\"\n"
	"\n"
	"[[cache]]\n"
	"    url=\"http://ays_store\"\n";

/* The early design spec's layout (original/001_*.txt): not TOML as written. */
static const char original_001[] =
	"[main]\n"
	"id=\"aUniqueIdForThisClient\"\n"
	"\n"
	"\n"
	"[[ays.cache]]\n"
	"#cache at gridlevel, can have more than 1, will try all till found what it needs\n"
	"mnt=\"/mnt/gridnode1/\"\n"
	"\n"
	"[[ays.cache]]\n"
	"mnt=\"http://192.168.1.1:8080\"\n"
	"\n"
	"[[ays.stor]]\n"
	"#cache at gridlevel, can have more than 1, will try all till found what it needs\n"
	"url=\"http://stor1.aydo.com:8080\"\n"
	"cache.expiration = 0\n"
	"\n"
	"[[ays.stor]]\n"
	"url=\"ssh://stor2.aydo.com:8080/mnt/1\"\n"
	"cache.expiration = 0\n"
	"\n"
	"[[debug]]\n"
	"debug_filter = [\".*\\.py\",\".*\\.hrd\"]\n"
	"redis.addr=\"127.0.0.1\"\n"
	"redis.port=555\n"
	"redis.passwd=\"\"\n"
	"\n"
	"[[ays]]\n"
	"id=\"jumpscale|mongodb!main\"\n"
	"prefetch.cache.grid=0\n"
	"prefetch.cache.local=0\n"
	"cache.grid=1\n"
	"cache.local=1\n"
	"\n"
	"[[ays]]\n"
	"id=\"jumpscale|mysql!main\"\n"
	"prefetch.cache.grid=0\n"
	"prefetch.cache.local=0\n"
	"\n";


struct warnings {
	int n;
	char text[1024];
};

static void on_warn(void *ctx, const char *msg)
{
	struct warnings *w = ctx;
	size_t used = strlen(w->text);

	w->n++;
	snprintf(w->text + used, sizeof w->text - used, "%s\n", msg);
}

static bool is_zeroed(const struct config *c)
{
	static const struct config zero;

	return memcmp(c, &zero, sizeof zero) == 0;
}

/* 1-based number of the first line of `text` that starts with `start`. */
static unsigned line_of(const char *text, const char *start)
{
	unsigned line = 1;

	for (const char *s = text; *s; line++) {
		if (strncmp(s, start, strlen(start)) == 0)
			return line;
		s = strchr(s, '\n');
		if (!s)
			break;
		s++;
	}
	return 0;
}

static int load(const char *text, struct config *c, struct warnings *w)
{
	char err[256] = "";
	int rc;

	if (w)
		memset(w, 0, sizeof *w);
	rc = config_parse("t.toml", text, strlen(text), c, on_warn, w, err, sizeof err);
	if (rc)
		diag("config_parse: %d %s", rc, err);
	return rc;
}

/* The text must be refused with exactly `where` ("t.toml:LINE:COLUMN:") and a reason containing
 * `why`, and leave the struct zeroed. */
static void fails(const char *text, const char *where, const char *why)
{
	struct config c;
	char err[256] = "";
	size_t n = strlen(where);
	int rc = config_parse("t.toml", text, strlen(text), &c, NULL, NULL, err, sizeof err);

	if (!ok(rc == -EINVAL && strncmp(err, where, n) == 0 && err[n] == ' ' && strstr(err + n, why) &&
		is_zeroed(&c), "%s %s", where, why))
		diag("got %d \"%s\"", rc, err);
}

/* The same for toml_parse() alone. */
static void toml_fails(const char *text, unsigned line, unsigned col, const char *why)
{
	struct toml_value *root = (struct toml_value *)1;
	struct toml_error err;
	int rc = toml_parse(text, strlen(text), &root, &err);

	if (!ok(rc == -EINVAL && !root && err.line == line && err.col == col && strstr(err.msg, why),
		"toml %u:%u %s", line, col, why))
		diag("got %d at %u:%u \"%s\"", rc, err.line, err.col, err.msg);
}

static struct toml_value *toml_ok(const char *text)
{
	struct toml_value *root = NULL;
	struct toml_error err;

	if (toml_parse(text, strlen(text), &root, &err))
		diag("toml_parse: %u:%u %s", err.line, err.col, err.msg);
	return root;
}

/* The value at a dotted path of plain keys; NULL if any step is missing. */
static const struct toml_value *at(const struct toml_value *t, const char *path)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof buf, "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && t; k = strtok_r(NULL, ".", &save))
		t = toml_get(t, k);
	return t;
}

static const char *str_at(const struct toml_value *t, const char *path)
{
	t = at(t, path);
	return t && t->type == TOML_STRING ? t->str.s : NULL;
}

static long long int_at(const struct toml_value *t, const char *path)
{
	t = at(t, path);
	return t && t->type == TOML_INTEGER ? (long long)t->i : -424242;
}

/* ---- the documented examples ----------------------------------------------------------------- */

static void test_spec_example(void)
{
	struct config c;
	struct warnings w;

	is_int(load(spec_example, &c, &w), 0, "SPEC example loads");
	is_int(w.n, 0, "SPEC example: no warnings");
	is_str(c.file, "t.toml", "file");
	is_str(c.id, "node1", "main.id");
	is_str(c.namespace, "dedupe", "main.namespace");
	is_str(c.prefix, "/opt", "main.prefix");
	is_str(c.cache_dir, "/var/cache/aysfs", "main.cache_dir");
	ok(c.cache_size == 10ULL << 30, "main.cache_size 10G");
	is_int(c.cache_expiration, 0, "main.cache_expiration");
	is_int(c.rediscover, 60, "main.rediscover");
	is_str(c.cafile, "/etc/ssl/certs/ca-certificates.crt", "main.cafile");
	ok(c.nproxy == 0, "main.proxy empty");
	is_str(c.ssh_key, "/etc/aysfs/id_ed25519", "main.ssh_key");
	is_str(c.ssh_known_hosts, "/etc/aysfs/known_hosts", "main.ssh_known_hosts");
	is_str(c.flist_dir, "/etc/ays/local", "main.flist_dir");
	is_str(c.user, "aysfs", "main.user");
	ok(c.entry_ttl == 60 && c.attr_ttl == 60 && c.negative_ttl == 10, "ttls 60 60 10");
	is_int(c.nays, 1, "one [[ays]]");
	if (c.nays == 1) {
		is_str(c.ays[0].id, "jumpscale__base", "ays.id");
		ok(!c.ays[0].flist && !c.ays[0].prefetch, "ays.flist and prefetch unset");
		is_int(c.ays[0].line, line_of(spec_example, "[[ays]]"), "ays line");
	}
	is_int(c.nlayers, 3, "three layers");
	if (c.nlayers == 3) {
		is_str(c.layers[0].url, "/mnt/store1", "layer 0 url");
		ok(c.layers[0].is_cache && c.layers[0].purge && !c.layers[0].push, "layer 0 cache, purge");
		is_int(c.layers[0].line, line_of(spec_example, "[[cache]]"), "layer 0 line");
		is_str(c.layers[1].url, "http://lancache:9990/cache", "layer 1 url");
		ok(c.layers[1].is_cache && !c.layers[1].purge && c.layers[1].push, "layer 1 cache, push");
		is_str(c.layers[2].url, "https://aysmaster1/master", "layer 2 url");
		ok(!c.layers[2].is_cache && !c.layers[2].purge && !c.layers[2].push, "layer 2 store");
		is_int(c.layers[2].line, line_of(spec_example, "[[store]]"), "layer 2 line");
	}
	ok(c.debug.present, "debug present");
	is_int(c.debug.nfilter, 2, "debug.filter: 2");
	if (c.debug.nfilter == 2) {
		is_str(c.debug.filter[0], ".*\\.py", "debug.filter[0]");
		is_str(c.debug.filter[1], ".*\\.hrd", "debug.filter[1]");
	}
	is_str(c.debug.redis, "127.0.0.1:6379", "debug.redis");
	ok(!c.debug.redis_passwd, "no redis password");
	config_free(&c);
	ok(is_zeroed(&c), "config_free leaves the struct zeroed");
}

static void test_original_000(void)
{
	struct config c;
	struct warnings w;

	is_int(load(original_000, &c, &w), 0, "000 example loads");
	is_int(w.n, 0, "000: no warnings");
	is_str(c.id, "dev", "000: main.id");
	is_int(c.nays, 2, "000: two [[ays]]");
	if (c.nays == 2) {
		is_str(c.ays[0].id, "jumpscale__base", "000: ays 0");
		is_str(c.ays[1].id, "jumpscale__mongodb", "000: ays 1");
	}
	is_int(c.nlayers, 3, "000: three caches");
	if (c.nlayers == 3) {
		is_str(c.layers[0].url, "/mnt/store1", "000: cache 0");
		is_str(c.layers[1].url, "/mnt/store2", "000: cache 1");
		is_str(c.layers[2].url, "http://ays_store", "000: cache 2");
		ok(c.layers[0].purge && !c.layers[1].purge && !c.layers[2].purge, "000: purge on the first");
		ok(c.layers[0].is_cache && c.layers[1].is_cache && c.layers[2].is_cache, "000: all caches");
	}
	ok(!c.debug.present, "000: no debug");
	is_str(c.namespace, "dedupe", "000: default namespace");
	config_free(&c);
}

/* Replaces the first `from` in `text` with `to`, into a new string. */
static char *edit(const char *text, const char *from, const char *to)
{
	const char *hit = strstr(text, from);
	char *out = malloc(strlen(text) + strlen(to) + 1);

	if (!hit || !out)
		abort();
	memcpy(out, text, (size_t)(hit - text));
	strcpy(out + (hit - text), to);
	strcat(out, hit + strlen(from));
	return out;
}

static void test_original_001(void)
{
	unsigned debug_line = line_of(original_001, "debug_filter");
	char where[32], *fixed, *reordered;
	size_t cut;
	struct config c;
	struct warnings w;

	/* "\." is no TOML escape: the first error is there, at the backslash. */
	is_int(debug_line, 22, "001: debug_filter is on line 22");
	snprintf(where, sizeof where, "t.toml:%u:20:", debug_line);
	fails(original_001, where, "invalid escape sequence \\.");

	/* With literal strings, the next error: [[ays.cache]] made `ays` a table, [[ays]] cannot
	 * make it an array. */
	fixed = edit(original_001, "[\".*\\.py\",\".*\\.hrd\"]", "['.*\\.py','.*\\.hrd']");
	snprintf(where, sizeof where, "t.toml:%u:3:", line_of(fixed, "[[ays]]"));
	fails(fixed, where, "not as an array of tables");

	/* Written in an order TOML allows (the services first), the same keys load. */
	cut = (size_t)(strstr(fixed, "[[ays]]") - fixed);
	reordered = malloc(strlen(fixed) + 1);
	if (!reordered)
		abort();
	strcpy(reordered, fixed + cut);
	strncat(reordered, fixed, cut);
	is_int(load(reordered, &c, &w), 0, "001 reordered loads");
	is_int(w.n, 0, "001 reordered: no warnings");
	is_str(c.id, "aUniqueIdForThisClient", "001: main.id");
	is_int(c.nays, 2, "001: two services");
	if (c.nays == 2) {
		is_str(c.ays[0].id, "jumpscale|mongodb!main", "001: ays 0");
		is_str(c.ays[1].id, "jumpscale|mysql!main", "001: ays 1");
		ok(!c.ays[0].prefetch && !c.ays[1].prefetch, "001: prefetch.cache.local = 0");
	}
	is_int(c.nlayers, 4, "001: four layers");
	if (c.nlayers == 4) {
		is_str(c.layers[0].url, "/mnt/gridnode1/", "001: ays.cache mnt 0");
		is_str(c.layers[1].url, "http://192.168.1.1:8080", "001: ays.cache mnt 1");
		ok(c.layers[0].is_cache && c.layers[1].is_cache, "001: ays.cache are caches");
		is_str(c.layers[2].url, "http://stor1.aydo.com:8080", "001: ays.stor 0");
		is_str(c.layers[3].url, "sftp://stor2.aydo.com:8080/mnt/1", "001: ssh:// is sftp://");
		ok(!c.layers[2].is_cache && !c.layers[3].is_cache, "001: ays.stor are stores");
	}
	is_int(c.cache_expiration, 0, "001: cache.expiration");
	ok(c.debug.present && c.debug.nfilter == 2, "001: [[debug]] debug_filter");
	is_str(c.debug.redis, "127.0.0.1:555", "001: redis.addr + redis.port");
	ok(!c.debug.redis_passwd, "001: empty redis.passwd is none");
	config_free(&c);
	free(fixed);
	free(reordered);
}

/* ---- the older layout ------------------------------------------------------------------------ */

static void test_legacy(void)
{
	struct config c;
	struct warnings w;

	is_int(load("[[cache]]\nmnt = \"/mnt/a\"\n[[store]]\nurl = \"ssh://h/x\"\n", &c, NULL), 0,
	       "[[cache]] mnt, ssh store");
	ok(c.nlayers == 2 && !strcmp(c.layers[0].url, "/mnt/a") &&
	   !strcmp(c.layers[1].url, "sftp://h/x"), "mnt is url; ssh:// maps to sftp://");
	config_free(&c);

	/* [[ays.cache]] and [[ays.stor]] alone make `ays` a table; mixed with [[cache]] in written order. */
	is_int(load("[[store]]\nurl = \"https://s1\"\n"
		    "[[ays.cache]]\nmnt = \"/mnt/grid\"\n"
		    "[[cache]]\nurl = \"/mnt/local\"\n"
		    "[[ays.stor]]\nurl = \"http://s2\"\ncache.expiration = 48\n"
		    "[[ays.cache]]\nurl = \"file:///mnt/c\"\n", &c, &w), 0, "ays.cache / ays.stor");
	is_int(w.n, 0, "no warnings");
	ok(c.nlayers == 5, "five layers");
	if (c.nlayers == 5) {
		is_str(c.layers[0].url, "/mnt/grid", "caches in written order 0");
		is_str(c.layers[1].url, "/mnt/local", "caches in written order 1");
		is_str(c.layers[2].url, "file:///mnt/c", "caches in written order 2");
		is_str(c.layers[3].url, "https://s1", "then stores 0");
		is_str(c.layers[4].url, "http://s2", "then stores 1");
		ok(c.layers[2].is_cache && !c.layers[3].is_cache, "is_cache set");
	}
	is_int(c.cache_expiration, 48, "ays.stor cache.expiration is cache_expiration");
	config_free(&c);

	is_int(load("[main]\nmetadata = \"/srv/flists\"\ncache.expiration = 5\n"
		    "[[cache]]\nurl = \"/c\"\ncache.expiration = 5\n", &c, NULL), 0, "main.metadata");
	is_str(c.flist_dir, "/srv/flists", "metadata is flist_dir");
	is_int(c.cache_expiration, 5, "main and cache cache.expiration agree");
	config_free(&c);

	fails("[main]\ncache_expiration = 5\n[[store]]\nurl = \"/s\"\ncache.expiration = 6\n",
	      "t.toml:5:20:", "cache.expiration: 6 hours, but 5 at line 2");
	fails("[main]\nflist_dir = \"/a\"\nmetadata = \"/b\"\n", "t.toml:3:12:", "flist_dir is given too");
	fails("[[cache]]\nurl = \"/a\"\nmnt = \"/b\"\n", "t.toml:3:7:", "url is given too");

	is_int(load("[[ays]]\nid = \"a\"\nprefetch.cache.local = 1\nprefetch.cache.grid = 0\n"
		    "cache.grid = 1\ncache.local = 1\n"
		    "[[ays]]\nid = \"b\"\nprefetch = true\n[[ays]]\nid = \"c\"\nprefetch = 0\n",
		    &c, &w), 0, "prefetch spellings");
	ok(c.nays == 3 && c.ays[0].prefetch && c.ays[1].prefetch && !c.ays[2].prefetch,
	   "prefetch.cache.local = 1, prefetch = true, prefetch = 0");
	is_int(w.n, 0, "prefetch.cache.grid, cache.grid, cache.local: no warnings");
	config_free(&c);

	/* [[ays.cache]] after an [[ays]] nests in it: still a cache layer. */
	is_int(load("[[ays]]\nid = \"a\"\n[[ays.cache]]\nmnt = \"/g\"\n[[ays.stor]]\nurl = \"/s\"\n",
		    &c, NULL), 0, "[[ays.cache]] under an [[ays]]");
	ok(c.nays == 1 && c.nlayers == 2 && c.layers[0].is_cache && !c.layers[1].is_cache,
	   "nested ays.cache and ays.stor are layers");
	config_free(&c);

	is_int(load("[debug]\ndebug_filter = ['a']\nredis.addr = \"::1\"\nredis.passwd = \"pw\"\n",
		    &c, NULL), 0, "[debug] with the older keys");
	ok(c.debug.present && c.debug.nfilter == 1 && !strcmp(c.debug.filter[0], "a"),
	   "debug_filter is filter");
	is_str(c.debug.redis, "[::1]:6379", "redis.addr without a port: Redis's own");
	is_str(c.debug.redis_passwd, "pw", "redis.passwd");
	config_free(&c);

	is_int(load("[debug]\nredis = \"cache:7000\"\nredis_passwd = \"x\"\n", &c, NULL), 0,
	       "[debug] redis string");
	ok(!strcmp(c.debug.redis, "cache:7000") && !strcmp(c.debug.redis_passwd, "x"),
	   "redis and redis_passwd");
	config_free(&c);

	/* Layers written as inline tables on one line keep their order too. */
	is_int(load("store = [{ url = '/s' }]\ncache = [{ url = '/b' }, { url = '/a' }]\n", &c, NULL), 0,
	       "inline layer tables");
	ok(c.nlayers == 3 && !strcmp(c.layers[0].url, "/b") && !strcmp(c.layers[1].url, "/a") &&
	   !strcmp(c.layers[2].url, "/s"), "inline layer tables in written order");
	config_free(&c);

	fails("[[debug]]\nfilter = []\n[[debug]]\n", "t.toml:3:1:", "one [debug] table");
	fails("[debug]\nredis.passwd = 'a'\nredis.addr = 'h'\nredis_passwd = 'b'\n", "t.toml:4:16:",
	      "redis.passwd is given too");
	fails("[debug]\nfilter = ['a']\ndebug_filter = ['b']\n", "t.toml:3:16:", "filter is given too");
	fails("[debug]\nredis = \"nohost\"\n", "t.toml:2:9:", "HOST:PORT");
	fails("[debug]\nredis.port = 1\n", "t.toml:2:1:", "addr is missing");
	fails("[debug]\nredis.addr = \"h\"\nredis.port = 70000\n", "t.toml:3:14:",
	      "debug.redis.port: must be between 1 and 65535");
}

/* ---- TOML --------------------------------------------------------------------------------- */

static void test_toml_features(void)
{
	struct toml_value *r;
	const struct toml_value *v;

	r = toml_ok("[a.b]\nx = 1\n[a]\ny = 2\n[c . 'd.e' . \"f g\"]\nz = true\n");
	ok(r && int_at(r, "a.b.x") == 1 && int_at(r, "a.y") == 2, "[a.b] then [a]");
	v = toml_get(toml_get(at(r, "c"), "d.e"), "f g");
	ok(v && toml_get(v, "z") && toml_get(v, "z")->b, "quoted keys with dots and spaces in headers");
	toml_free(r);

	r = toml_ok("[[a.b]]\nn = 1\n[[a.b]]\nn = 2\n[a.b.c]\nm = 3\n[[x]]\n");
	v = at(r, "a.b");
	ok(v && v->type == TOML_ARRAY && v->arr.n == 2 && int_at(v->arr.v[0], "n") == 1 &&
	   int_at(v->arr.v[1], "n") == 2 && int_at(v->arr.v[1], "c.m") == 3,
	   "[[a.b]] twice; [a.b.c] goes into the last");
	v = at(r, "x");
	ok(v && v->type == TOML_ARRAY && v->arr.n == 1 && v->arr.v[0]->tab.n == 0, "empty [[x]]");
	toml_free(r);

	r = toml_ok("a.b.c = 1\na.b.d = 2\nbare-key_9 = 3\n\"q\\u00e9\" = 4\n'' = 5\n"
		    "[t]\nf.g = 6\n[t.f.h]\ni = 7\n");
	ok(int_at(r, "a.b.c") == 1 && int_at(r, "a.b.d") == 2 && int_at(r, "bare-key_9") == 3,
	   "dotted and bare keys");
	ok(int_at(r, "q\xc3\xa9") == 4 && toml_get(r, "") && toml_get(r, "")->i == 5,
	   "quoted keys with escapes, empty key");
	ok(int_at(r, "t.f.g") == 6 && int_at(r, "t.f.h.i") == 7, "[t.f.h] inside a dotted table");
	toml_free(r);

	r = toml_ok("s = \"\\b\\t\\n\\f\\r\\\"\\\\\\u00e9\\U0001F600/\"\n"
		    "l = 'C:\\dir\\\"x\"'\n"
		    "m = \"\"\"\nline 1\nline 2 \\\n     continued\"\"\"\n"
		    "q = \"\"\"a\"\"\"\"\"\n"
		    "ml = '''\nraw \\n ''quotes''\n'''\n"
		    "e = \"\"\n");
	is_str(str_at(r, "s"), "\b\t\n\f\r\"\\\xc3\xa9\xf0\x9f\x98\x80/", "every basic escape");
	is_str(str_at(r, "l"), "C:\\dir\\\"x\"", "literal string");
	is_str(str_at(r, "m"), "line 1\nline 2 continued", "multi-line basic, line-ending backslash");
	is_str(str_at(r, "q"), "a\"\"", "multi-line basic ending in quotes");
	is_str(str_at(r, "ml"), "raw \\n ''quotes''\n", "multi-line literal");
	is_str(str_at(r, "e"), "", "empty string");
	toml_free(r);

	r = toml_ok("a = 1_000\nb = +5\nc = -9223372036854775808\nd = 0x7fffffffffffffff\n"
		    "e = 0o17\nf = 0b101\ng = 0xdead_BEEF\nh = 0\ni = -0\nj = true\nk = false\n");
	ok(int_at(r, "a") == 1000 && int_at(r, "b") == 5 && int_at(r, "h") == 0 && int_at(r, "i") == 0,
	   "decimal integers");
	ok(at(r, "c") && at(r, "c")->i == INT64_MIN && at(r, "d") && at(r, "d")->i == INT64_MAX,
	   "64-bit limits");
	ok(int_at(r, "e") == 15 && int_at(r, "f") == 5 && int_at(r, "g") == 0xdeadbeef, "0o 0b 0x");
	ok(at(r, "j") && at(r, "j")->type == TOML_BOOLEAN && at(r, "j")->b && !at(r, "k")->b,
	   "booleans");
	toml_free(r);

	r = toml_ok("a = [ # comment\n  1,\n  'two', # another\n  [3, [4]],\n  { x = 5 },\n]\n"
		    "b = []\nc = [\n]\n");
	v = at(r, "a");
	ok(v && v->type == TOML_ARRAY && v->arr.n == 4 && v->arr.v[0]->i == 1 &&
	   !strcmp(v->arr.v[1]->str.s, "two") && v->arr.v[2]->arr.n == 2 &&
	   int_at(v->arr.v[3], "x") == 5, "multi-line array, comments, trailing comma, mixed");
	ok(at(r, "b")->arr.n == 0 && at(r, "c")->arr.n == 0, "empty arrays");
	toml_free(r);

	r = toml_ok("p = { a = 1, b.c = 'x', d = { e = [] } }\nq = {}\n");
	ok(int_at(r, "p.a") == 1 && str_at(r, "p.b.c") && at(r, "p.d.e") && at(r, "q"),
	   "inline tables with dotted keys, nested, empty");
	toml_free(r);

	r = toml_ok("\xef\xbb\xbf# comment \xc3\xa9\r\nk = 'v' # trailing\r\n\r\n[t] # t\r\nm = '''a\r\nb'''\n");
	ok(r && str_at(r, "k") && str_at(r, "t.m") && !strcmp(str_at(r, "t.m"), "a\nb"),
	   "BOM, CRLF, comments, non-ASCII in comments");
	toml_free(r);

	r = toml_ok("[t]\n  k =  'v'\nn = [1,\n  \"\xc3\xa9\" ]\n");
	v = at(r, "t.k");
	ok(v && v->line == 2 && v->col == 8, "a value knows its line and column");
	v = at(r, "t.n");
	ok(v && v->arr.n == 2 && v->arr.v[1]->line == 4 && v->arr.v[1]->col == 3, "an item too");
	v = at(r, "t");
	ok(v && v->line == 1 && v->col == 1 && v->tab.e[1].line == 3 && v->tab.e[1].col == 1,
	   "a table its header, an entry its key");
	toml_free(r);
}

static void test_toml_errors(void)
{
	char deep[128], text[256];
	char *big;

	toml_fails("a = 1\nb = 2\na = 3\n", 3, 1, "duplicate key a");
	toml_fails("a.b = 1\na.b = 2\n", 2, 3, "duplicate key a.b");
	toml_fails("[a]\nx = 1\n[b]\n[a]\n", 4, 2, "table [a] defined twice");
	toml_fails("[a.b]\n[a]\n[a]\n", 3, 2, "defined twice");
	toml_fails("[fruit]\napple.color = 1\n[fruit.apple]\n", 3, 8, "defined twice");
	toml_fails("[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n", 4, 1, "a dotted key cannot add");
	toml_fails("a = 1\n[a.b]\n", 2, 2, "a [header] cannot add");
	toml_fails("[[x.y]]\n[[x]]\n", 2, 3, "[[x]]: x was defined at line 1 as a table");
	toml_fails("a = []\n[[a]]\n", 2, 3, "as an array, not as an array of tables");
	toml_fails("a = {b = 1}\n[a.c]\n", 2, 2, "a [header] cannot add");
	toml_fails("a = {b = 1}\na.c = 2\n", 2, 1, "a dotted key cannot add");
	toml_fails("a = {b = 1, b = 2}\n", 1, 13, "duplicate key b");
	toml_fails("a = \"x\\.y\"\n", 1, 7, "invalid escape sequence \\.");
	toml_fails("a = \"\"\"x\\ y\"\"\"\n", 1, 9, "invalid escape sequence");
	toml_fails("a = \"\\u12\"\n", 1, 6, "\\u needs 4 hexadecimal digits");
	toml_fails("a = \"\\uD800\"\n", 1, 6, "not a Unicode scalar value");
	toml_fails("a = \"\\U00110000\"\n", 1, 6, "not a Unicode scalar value");
	toml_fails("a = \"\\u0000\"\n", 1, 6, "NUL characters are not supported");
	toml_fails("a = \"abc\n", 1, 5, "unterminated string");
	toml_fails("\nb = 'abc\nc = 1\n", 2, 5, "unterminated string");
	toml_fails("a = \"\"\"abc\n\ndef\"\"\n", 1, 5, "unterminated string");
	toml_fails("a = '''abc''''''\n", 1, 16, "expected the end of the line, found '''");
	toml_fails("a = 1.5\n", 1, 5, "floats are not supported");
	toml_fails("a = [1, 2e3]\n", 1, 9, "floats are not supported");
	toml_fails("a = -inf\n", 1, 5, "floats are not supported");
	toml_fails("a = nan\n", 1, 5, "floats are not supported");
	toml_fails("a = 1979-05-27\n", 1, 5, "dates and times are not supported");
	toml_fails("a = 07:32:00\n", 1, 5, "dates and times are not supported");
	toml_fails("a = 9223372036854775808\n", 1, 5, "does not fit in 64 bits");
	toml_fails("a = -9223372036854775809\n", 1, 5, "does not fit in 64 bits");
	toml_fails("a = 0x8000000000000000\n", 1, 5, "does not fit in 64 bits");
	toml_fails("a = 012\n", 1, 5, "leading zeros");
	toml_fails("a = 1__2\n", 1, 7, "'_' must sit between digits");
	toml_fails("a = 12_\n", 1, 7, "'_' must sit between digits");
	toml_fails("a = 0x\n", 1, 7, "expected digits after 0x");
	toml_fails("a = 0b102\n", 1, 9, "invalid character '2'");
	toml_fails("a = +0x1\n", 1, 7, "invalid character 'x'");
	toml_fails("a = tru\n", 1, 5, "expected a value, found 't'");
	toml_fails("a =\n", 1, 4, "expected a value, found the end of the line");
	toml_fails("a 1\n", 1, 3, "expected '=' after the key");
	toml_fails("= 1\n", 1, 1, "expected a key");
	toml_fails("a = 1 b = 2\n", 1, 7, "expected the end of the line, found 'b'");
	toml_fails("[a] b = 1\n", 1, 5, "expected the end of the line");
	toml_fails("[a\n", 1, 3, "expected ']'");
	toml_fails("[[a]\n", 1, 4, "expected ']]', found ']'");
	toml_fails("a = [1 2]\n", 1, 8, "expected ',' or ']'");
	toml_fails("a = [1,,]\n", 1, 8, "expected a value, found ','");
	toml_fails("a = {b = 1,}\n", 1, 12, "no trailing comma");
	toml_fails("a = {b = 1\n}\n", 1, 11, "an inline table ends on its own line");
	toml_fails("a = \"\"\"x\"\"\"\n\"\"\"k\"\"\" = 1\n", 2, 1, "a key cannot be a multi-line string");
	toml_fails("a = 'x'\nb = \"\xc3\"\n", 2, 6, "invalid UTF-8");
	toml_fails("a = '\xed\xa0\x80'\n", 1, 6, "invalid UTF-8");
	toml_fails("# \x01\n", 1, 3, "control character U+0001");
	toml_fails("a = 'x\x7f'\n", 1, 7, "control character U+007F");
	toml_fails("a = 1\rb = 2\n", 1, 6, "carriage return");
	{
		struct toml_value *r;
		struct toml_error err;
		int rc = toml_parse("a = 'x'\n\0\n", 10, &r, &err);

		ok(rc == -EINVAL && err.line == 2 && err.col == 1 && strstr(err.msg, "U+0000"),
		   "toml 2:1 a NUL byte");
	}

	/* Nesting: 32 levels are fine, the 33rd is refused where it starts. */
	snprintf(deep, sizeof deep, "a = %.32s%.32s\n", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	toml_free(toml_ok(deep));
	ok(1, "32 nested arrays");
	snprintf(deep, sizeof deep, "a = %.33s%.33s\n", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	toml_fails(deep, 1, 37, "nested deeper than 32 levels");
	text[0] = '[';
	for (int i = 0; i < 33; i++)
		memcpy(text + 1 + 2 * i, "a.", 2);
	memcpy(text + 66, "]\n", 3);
	toml_fails(text, 1, 66, "nested deeper than 32 levels");
	strcpy(text, "x = ");
	for (int i = 0; i < 33; i++)
		strcat(text, "{a=");
	strcat(text, "1");
	for (int i = 0; i < 33; i++)
		strcat(text, "}");
	toml_fails(text, 1, 5 + 3 * 32, "nested deeper than 32 levels");

	/* More than TOML_MAX_KEYS keys in one table; more than TOML_MAX_SIZE bytes. */
	big = malloc(TOML_MAX_SIZE + 2);
	if (!big)
		abort();
	big[0] = '\0';
	for (int i = 0, n = 0; i <= TOML_MAX_KEYS; i++)
		n += sprintf(big + n, "k%d = 1\n", i);
	toml_fails(big, TOML_MAX_KEYS + 1, 1, "more than 512 keys in one table");
	memset(big, '\n', TOML_MAX_SIZE + 1);
	big[TOML_MAX_SIZE + 1] = '\0';
	toml_fails(big, 1, 1, "larger than 1048576 bytes");
	big[TOML_MAX_SIZE] = '\0';
	toml_free(toml_ok(big));
	ok(1, "exactly TOML_MAX_SIZE bytes");
	free(big);
}

/* ---- mapping onto struct config ---------------------------------------------------------------- */

static void test_config_errors(void)
{
	fails("[main]\ncache_size = true\n", "t.toml:2:14:", "main.cache_size: expected a string");
	fails("[main]\nid = 5\n", "t.toml:2:6:", "main.id: expected a string");
	fails("[main]\nentry_ttl = \"60\"\n", "t.toml:2:13:", "main.entry_ttl: expected an integer");
	fails("[main]\nattr_ttl = -1\n", "t.toml:2:12:", "main.attr_ttl: must be between 0 and");
	fails("[main]\ncache_expiration = -2\n", "t.toml:2:20:", "must be between 0 and");
	fails("[main]\ncache_size = -1\n", "t.toml:2:14:", "must not be negative");
	fails("[main]\ncache_size = \"10Q\"\n", "t.toml:2:14:", "not a size such as \"10G\"");
	fails("[main]\ncache_size = \"99999999999T\"\n", "t.toml:2:14:", "too large");
	fails("[main]\nnamespace = \"../etc\"\n", "t.toml:2:13:", "is not one folder name");
	fails("[main]\ncache_dir = \"cache\"\n", "t.toml:2:13:", "must be an absolute path");
	fails("[main]\nproxy = [\"http://p:3128\", \"ftp://p\"]\n", "t.toml:2:27:",
	      "main.proxy: \"ftp://p\" is not an http");
	fails("[main]\nuser = \"\"\n", "t.toml:2:8:", "main.user: must not be empty");
	fails("main = 1\n", "t.toml:1:8:", "main: expected a table");
	fails("[[cache]]\nurl = \"ftp://x/y\"\n", "t.toml:2:7:",
	      "cache.url: \"ftp://x/y\" is not an absolute path or a file://, http://, https://, sftp:// or s3:// URL");
	fails("[[store]]\nurl = \"s3://A_b/x\"\n", "t.toml:2:7:", "does not start with a bucket name");
	fails("[[store]]\nurl = \"s3://ab\"\n", "t.toml:2:7:", "does not start with a bucket name");
	fails("[[store]]\nurl = \"s3://bkt\"\nendpoint = \"ftp://e\"\n", "t.toml:3:12:",
	      "store.endpoint: \"ftp://e\" is not an http:// or https:// URL");
	fails("[[store]]\nurl = \"s3://bkt\"\nendpoint = \"http://e/bkt\"\n", "t.toml:3:12:",
	      "must not have a path");
	fails("[[store]]\nurl = \"s3://bkt\"\nregion = \"us east\"\n", "t.toml:3:10:",
	      "store.region: \"us east\" is not a region name");
	fails("[[store]]\nurl = \"s3://bkt\"\ncredentials = \"keys\"\n", "t.toml:3:15:",
	      "store.credentials: \"keys\" must be an absolute path");
	fails("[[cache]]\nurl = \"http://h/x\"\nregion = \"eu-west-1\"\n", "t.toml:1:1:",
	      "cache: endpoint, region and credentials are for s3:// layers only");
	fails("[[cache]]\nurl = \"relative/dir\"\n", "t.toml:2:7:", "is not an absolute path");
	fails("[[store]]\nurl = \"http:///x\"\n", "t.toml:2:7:", "has no host");
	fails("[[store]]\nurl = \"https://a b\"\n", "t.toml:2:7:", "holds spaces");
	fails("[[cache]]\nurl = \"file://host/x\"\n", "t.toml:2:7:", "file:///absolute/path");
	fails("[[ays.stor]]\nurl = 3\n", "t.toml:2:7:", "ays.stor.url: expected a string");
	fails("\n[[cache]]\npurge = true\n", "t.toml:2:1:", "cache: url is missing");
	fails("[[store]]\nurl = \"/s\"\npurge = true\n", "t.toml:3:9:", "store.purge: a store is never written");
	fails("[[cache]]\nurl = \"/c\"\npush = 1\n", "t.toml:3:8:", "cache.push: expected a boolean");
	fails("[cache]\nurl = \"/c\"\n", "t.toml:1:1:", "cache: expected an array of tables ([[cache]])");
	fails("[main]\nid = 'x'\n\n[[ays]]\nflist = '/f.flist'\n", "t.toml:4:1:", "ays: id is missing");
	fails("ays = [{ id = 'a' }, { }]\n", "t.toml:1:22:", "ays: id is missing");
	fails("[[ays]]\nid = 'a/b'\n", "t.toml:2:6:", "cannot be a file name");
	fails("[[ays]]\nid = '..'\n", "t.toml:2:6:", "cannot be a file name");
	fails("ays = 1\n", "t.toml:1:7:", "ays: expected [[ays]] tables");
	fails("[main]\nrediscover = 99999999999999999999\n", "t.toml:2:14:", "does not fit in 64 bits");
	fails("[main]\nid = \"a\\qb\"\n", "t.toml:2:8:", "invalid escape sequence \\q");
	fails("[main]\nid = \"abc\n", "t.toml:2:6:", "unterminated string");
	fails("[main]\ncache_size = 1.5\n", "t.toml:2:14:", "floats are not supported");
	fails("[main]\nid = 'a'\n[main]\n", "t.toml:3:2:", "table [main] defined twice");
	fails("[main]\nid = 'a'\nid = 'b'\n", "t.toml:3:1:", "duplicate key id");
}

static void test_warnings(void)
{
	struct config c;
	struct warnings w;

	is_int(load("[main]\nid = 'x'\nfoo = 1\n[[cache]]\nurl = '/c'\nbar.baz = 2\n[extra]\n"
		    "[[ays]]\nid = 'a'\nqux = 1\n", &c, &w), 0, "unknown keys load");
	is_int(w.n, 4, "four warnings");
	is_str(w.text, "t.toml:3: unknown key main.foo\nt.toml:7: unknown key extra\n"
	       "t.toml:10: unknown key ays.qux\nt.toml:6: unknown key cache.bar\n", "warning texts");
	config_free(&c);

	/* A NULL callback is allowed. */
	ok(config_parse("t.toml", "x = 1\n", 6, &c, NULL, NULL, NULL, 0) == 0, "no callback, no err buffer");
	config_free(&c);
}

static void test_defaults_and_load(void)
{
	char path[] = "/tmp/test_config.XXXXXX", err[256];
	struct config c;
	FILE *f;
	int fd;

	config_defaults(&c);
	ok(!strcmp(c.namespace, "dedupe") && !strcmp(c.cache_dir, "/var/cache/aysfs") &&
	   !strcmp(c.flist_dir, "/etc/ays/local") && !strcmp(c.user, "aysfs") && !c.cafile &&
	   !c.id && !c.prefix && c.rediscover == 60 && c.entry_ttl == 60 && c.attr_ttl == 60 &&
	   c.negative_ttl == 10 && c.cache_size == 0 && c.nlayers == 0 && c.nays == 0 &&
	   !c.debug.present, "config_defaults");
	config_free(&c);

	is_int(load("", &c, NULL), 0, "an empty file is the defaults");
	ok(!strcmp(c.namespace, "dedupe") && c.negative_ttl == 10, "defaults after parsing");
	config_free(&c);

	is_int(load("[main]\ncache_size = 1048576\nnamespace = 'ns-2.x'\nproxy = ['socks5h://p:1080']\n"
		    "[[store]]\nurl = 'https://s'\nproxy = ['http://p:3128']\n", &c, NULL), 0,
	       "integer cache_size, proxies");
	ok(c.cache_size == 1048576 && !strcmp(c.namespace, "ns-2.x") && c.nproxy == 1 &&
	   c.nlayers == 1 && c.layers[0].nproxy == 1 && !strcmp(c.layers[0].proxy[0], "http://p:3128"),
	   "values read");
	config_free(&c);

	fd = mkstemp(path);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		abort();
	fputs(original_000, f);
	fclose(f);
	is_int(config_load(path, &c, NULL, NULL, err, sizeof err), 0, "config_load");
	ok(c.nlayers == 3 && !strcmp(c.file, path), "config_load: read the file");
	config_free(&c);
	unlink(path);
	is_int(config_load(path, &c, NULL, NULL, err, sizeof err), -ENOENT, "missing file");
	ok(strstr(err, path) == err && strstr(err, ": No such file or directory") && is_zeroed(&c),
	   "missing file: \"%s\"", err);
	is_int(config_load("/tmp", &c, NULL, NULL, err, sizeof err), -EINVAL, "a folder");
	is_str(err, "/tmp: not a regular file", "a folder: message");
}

static void test_parse_size(void)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t want;
	} cases[] = {
		{ "0", 0, 0 }, { "512", 0, 512 }, { "1K", 0, 1024 }, { "5M", 0, 5ULL << 20 },
		{ "10G", 0, 10ULL << 30 }, { "2T", 0, 2ULL << 40 }, { "10g", 0, 10ULL << 30 },
		{ "10GB", 0, 10ULL << 30 }, { "10GiB", 0, 10ULL << 30 }, { "100B", 0, 100 },
		{ "18446744073709551615", 0, UINT64_MAX }, { "16777215T", 0, 16777215ULL << 40 },
		{ "", -EINVAL, 0 }, { "G", -EINVAL, 0 }, { "10X", -EINVAL, 0 }, { "1.5G", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 }, { " 1G", -EINVAL, 0 }, { "1G ", -EINVAL, 0 }, { "1Gi", -EINVAL, 0 },
		{ "1GG", -EINVAL, 0 }, { "0x10", -EINVAL, 0 },
		{ "18446744073709551616", -ERANGE, 0 }, { "16777216T", -ERANGE, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint64_t got = 12345;
		int rc = config_parse_size(cases[i].s, &got);

		ok(rc == cases[i].rc && (rc || got == cases[i].want), "size \"%s\"", cases[i].s);
	}
}

/* What aysfs-config answers: the workers' payload decodes on their side to the configuration's
 * values, root's part decodes on root's side, and root's part refuses every truncation. */
static const struct config_req_in req = { .log_level = 5, .mountpoint = "/mnt/x", .resolv = "" };

static void relay(const char *name, const struct config *c, struct rootconf *rc)
{
	static uint8_t a[IPC_MAX_PAYLOAD], b[IPC_MAX_PAYLOAD];
	static struct rootconf d;
	struct worker_conf wc, back;
	struct ipc_wr w1, w2;

	ok(relay_worker_conf(&wc, c, &req) == 0, "%s: the workers' configuration", name);
	ipc_wr_init(&w1, a, sizeof a);
	proto_conf_encode(&w1, &wc);
	ipc_wr_init(&w2, b, sizeof b);
	relay_root_conf(&w2, c, &wc);
	ok(!w1.bad && !w2.bad, "%s: encodes", name);
	free(wc.layers);
	free(wc.services);
	is_int(proto_conf_decode(a, w1.len, &back), 0, "%s: the workers decode theirs", name);
	ok(back.nlayers == c->nlayers && back.nservices == c->nays &&
	   !strcmp(back.cache_dir, c->cache_dir) && back.entry_ttl == c->entry_ttl &&
	   back.cache_size == c->cache_size && back.log_level == 5 &&
	   !strcmp(back.prefix, c->prefix ? c->prefix : "/mnt/x"), "%s: their fields", name);
	for (size_t i = 0; i < c->nlayers && i < back.nlayers; i++)
		ok(!strcmp(back.layers[i].url, c->layers[i].url) &&
		   !(back.layers[i].flags & WL_CACHE) == !c->layers[i].is_cache &&
		   !(back.layers[i].flags & WL_PUSH) == !c->layers[i].push &&
		   !(back.layers[i].flags & WL_PURGE) == !c->layers[i].purge, "%s: layer %zu", name, i);
	proto_conf_free(&back);
	is_int(rootconf_decode(b, w2.len, rc), 0, "%s: root decodes its part", name);
	ok(!strcmp(rc->user, c->user) && !strcmp(rc->cache_dir, c->cache_dir) &&
	   !strcmp(rc->namespace, c->namespace) && !strcmp(rc->state_dir, c->state_dir),
	   "%s: root's fields", name);
	for (size_t n = 0; n < w2.len; n++)
		if (rootconf_decode(b, n, &d) != -EPROTO) {
			ok(0, "%s: a prefix of %zu bytes is refused", name, n);
			return;
		}
	b[w2.len] = 0;
	is_int(rootconf_decode(b, w2.len + 1, &d), -EPROTO, "%s: a byte too many is refused", name);
}

static void test_wire(void)
{
	static struct rootconf r1, r2;
	struct config c;

	config_defaults(&c);
	relay("defaults", &c, &r1);
	config_free(&c);
	if (load(spec_example, &c, NULL) == 0)
		relay("SPEC example", &c, &r1);
	/* The indexer's folders: a network layer more does not change them, a local one does. */
	free(c.layers[c.nlayers - 1].url);
	c.layers[c.nlayers - 1].url = strdup("https://elsewhere/store");
	relay("SPEC example, another network store", &c, &r2);
	ok(r1.folders == r2.folders, "a network layer changed: the indexer keeps its folders");
	free(c.layers[0].url);
	c.layers[0].url = strdup("/mnt/store2");
	relay("SPEC example, another local cache", &c, &r2);
	ok(r1.folders != r2.folders, "a local layer changed: the indexer's folders change");
	config_free(&c);
	if (load(original_000, &c, NULL) == 0)
		relay("original 000", &c, &r1);
	config_free(&c);
	is_int(load("[[cache]]\nurl = \"s3://bkt/p\"\nendpoint = \"http://127.0.0.1:9000\"\n"
		    "region = \"eu-west-1\"\ncredentials = \"/etc/aysfs/s3\"\npush = true\n"
		    "[[store]]\nurl = \"s3://pub.bucket\"\n", &c, NULL), 0, "s3:// layers load");
	ok(c.nlayers == 2 && !strcmp(c.layers[0].endpoint, "http://127.0.0.1:9000") &&
	   !strcmp(c.layers[0].region, "eu-west-1") && !strcmp(c.layers[0].credentials, "/etc/aysfs/s3") &&
	   !c.layers[1].endpoint && !c.layers[1].region && !c.layers[1].credentials,
	   "endpoint, region and credentials, or none");
	relay("s3 layers", &c, &r1);
	ok(r1.ns3 == 2 && !strcmp(r1.s3cred[0], "/etc/aysfs/s3") && !r1.s3cred[1][0],
	   "s3 layers: root is told which credentials files to read, and only that");
	{
		static uint8_t a[IPC_MAX_PAYLOAD];
		struct ipc_wr w3;
		struct ipc_rd rd;
		char url[64], ep[64], region[64], cred[64];

		ipc_wr_init(&w3, a, sizeof a);
		ok(relay_s3_conf(&w3, &c) == 0, "s3 layers: the fetcher's part");
		ipc_rd_init(&rd, a, w3.len);
		ok(ipc_rd_u32(&rd) == 2 && ipc_rd_cstr(&rd, url, sizeof url) &&
		   ipc_rd_cstr(&rd, ep, sizeof ep) && ipc_rd_cstr(&rd, region, sizeof region) &&
		   ipc_rd_cstr(&rd, cred, sizeof cred) && !strcmp(url, "s3://bkt/p") &&
		   !strcmp(ep, "http://127.0.0.1:9000") && !strcmp(region, "eu-west-1") &&
		   !strcmp(cred, "/etc/aysfs/s3"), "s3 layers: URL, endpoint, region, credentials name");
	}
	config_free(&c);

	/* Root refuses what it would act on wrongly: no user, a relative folder. */
	{
		static uint8_t buf[IPC_MAX_PAYLOAD];
		struct worker_conf wc;
		struct ipc_wr w;

		config_defaults(&c);
		free(c.cache_dir);
		c.cache_dir = strdup("relative/cache");
		relay_worker_conf(&wc, &c, &req);
		ipc_wr_init(&w, buf, sizeof buf);
		relay_root_conf(&w, &c, &wc);
		free(wc.layers);
		free(wc.services);
		is_int(rootconf_decode(buf, w.len, &r1), -EPROTO, "a relative cache_dir is refused");
		config_free(&c);
	}
}

int main(void)
{
	test_spec_example();
	test_original_000();
	test_original_001();
	test_legacy();
	test_toml_features();
	test_toml_errors();
	test_config_errors();
	test_warnings();
	test_defaults_and_load();
	test_parse_size();
	test_wire();
	return done_testing();
}
