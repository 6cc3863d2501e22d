/* fuzz_flist.c — flist_parse() on arbitrary bytes. Beyond "no crash", every entry handed out must
 * satisfy what the index builder relies on (absolute, normalised, bounded, consistent type), the
 * validation pass must agree with the building pass, a rejection must name a real line, and each
 * path and link must survive flist_encode() and a second parse unchanged. Any violation aborts. */
#include "tests/fuzz/fuzz.h"
#include "indexer/flist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run {
	unsigned long entries;
	unsigned last_line;
};

static char enc_path[3 * FLIST_PATH_MAX + 1], enc_link[3 * FLIST_PATH_MAX + 1];
static char line[2 * sizeof enc_path + 64];

static void check(bool cond)
{
	if (!cond)
		abort();
}

static void check_path(const char *p, size_t n)
{
	size_t comp = 0;

	check(p && n >= 1 && n <= FLIST_PATH_MAX && p[0] == '/' && p[n] == '\0');
	if (n == 1)
		return;
	check(p[n - 1] != '/');
	for (size_t i = 1; i <= n; i++) {
		if (i == n || p[i] == '/') {
			check(comp >= 1 && comp <= FLIST_NAME_MAX);
			check(!(comp == 1 && p[i - 1] == '.'));
			check(!(comp == 2 && p[i - 1] == '.' && p[i - 2] == '.'));
			comp = 0;
		} else {
			check(p[i] != '\0');
			comp++;
		}
	}
}

/* The re-parsed entry must be the one that was encoded. */
static int same(void *ctx, const struct flist_entry *e)
{
	const struct flist_entry *want = ctx;

	check(e->path_len == want->path_len && memcmp(e->path, want->path, e->path_len) == 0);
	check(e->type == want->type && e->link_len == want->link_len);
	if (want->link)
		check(e->link && memcmp(e->link, want->link, e->link_len) == 0);
	return 0;
}

static int entry(void *ctx, const struct flist_entry *e)
{
	struct run *r = ctx;
	const char *rest;
	size_t rest_len, n;
	int len;

	check(e->line > r->last_line);
	r->last_line = e->line;
	r->entries++;

	check_path(e->path, e->path_len);
	check(e->type == FLIST_FILE || e->type == FLIST_DIR || e->type == FLIST_LINK);
	check(e->size < (1ULL << 63));
	check(e->hash_len == 0 || e->hash_len == 16 || e->hash_len == 32);
	check(!e->has_mode || e->mode <= 07777);
	check(e->path_len > 1 || e->type == FLIST_DIR);
	if (e->type == FLIST_FILE)
		check(e->size == 0 || e->hash_len != 0);
	else
		check(e->hash_len == 0 && e->size == 0);
	if (e->type == FLIST_LINK) {
		check(e->link && e->link_len >= 1 && e->link_len <= FLIST_PATH_MAX);
		check(e->link[e->link_len] == '\0' && !memchr(e->link, '\0', e->link_len));
	} else {
		check(!e->link && e->link_len == 0);
	}

	/* Prefix matching by whole components. */
	check(flist_under_prefix("/", 1, e->path, e->path_len, &rest, &rest_len));
	if (flist_under_prefix("/a", 2, e->path, e->path_len, &rest, &rest_len)) {
		check(e->path_len >= 2 && memcmp(e->path, "/a", 2) == 0);
		check(rest_len == 0 || rest[0] == '/');
		check(rest == e->path + 2 && rest_len == e->path_len - 2);
	} else {
		check(!(e->path_len >= 2 && memcmp(e->path, "/a", 2) == 0 &&
			(e->path_len == 2 || e->path[2] == '/')));
	}

	/* Encode and parse again: what pack writes, the indexer must read back unchanged. */
	n = flist_encode(e->path, e->path_len, enc_path, sizeof enc_path);
	check(n < sizeof enc_path && strlen(enc_path) == n);
	if (e->link) {
		n = flist_encode(e->link, e->link_len, enc_link, sizeof enc_link);
		check(n < sizeof enc_link && strlen(enc_link) == n);
		len = snprintf(line, sizeof line, "%s||0|type=l|link=%s\n", enc_path, enc_link);
	} else {
		len = snprintf(line, sizeof line, "%s||0|type=%c\n", enc_path, e->type);
	}
	check(len > 0 && (size_t)len < sizeof line);
	{
		struct flist_entry want = *e;

		want.link_len = e->link ? e->link_len : 0;
		check(flist_parse("again", line, (size_t)len, same, &want, NULL, NULL, 0) == 0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct flist_stats st0, st1;
	struct run r = { 0 };
	char err0[256], err1[256];
	unsigned long lines = 1, bad_line;
	char *end;
	int rc0, rc1;

	rc0 = flist_parse("fuzz", buf, size, NULL, NULL, &st0, err0, sizeof err0);
	rc1 = flist_parse("fuzz", buf, size, entry, &r, &st1, err1, sizeof err1);

	check(rc0 == 0 || rc0 == -EINVAL);
	check(rc0 == rc1 && strcmp(err0, err1) == 0);
	check(st0.entries == st1.entries && st1.entries == r.entries);
	check(st0.unknown_keys == st1.unknown_keys);
	check(strlen(st1.first_unknown_key) < sizeof st1.first_unknown_key);
	check((st1.unknown_keys == 0) == (st1.first_unknown_line == 0));

	if (rc0 == 0) {
		check(err0[0] == '\0');
		return 0;
	}
	/* "fuzz:LINE: reason" with LINE after the last entry and within the input. */
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	check(strncmp(err0, "fuzz:", 5) == 0);
	bad_line = strtoul(err0 + 5, &end, 10);
	check(end[0] == ':' && end[1] == ' ' && end[2] != '\0');
	check(bad_line >= 1 && bad_line <= lines && bad_line > r.last_line);
	return 0;
}
