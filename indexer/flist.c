/* flist.c — the flist parser (SPEC section 4).
 *
 * A flist comes from a store, so it is untrusted: every field is checked, nothing is allocated
 * (a line decodes into three stack buffers of FLIST_PATH_MAX + 1 bytes), and the first bad line
 * rejects the whole flist with "NAME:LINE: reason". The indexer parses a flist twice per mount
 * (validate, then build), so the hot path is memchr and memcpy over the line: a path without '%'
 * is copied and checked for NUL with two memchr-class calls, its components found with memchr.
 *
 * Decisions where SPEC is silent are listed in flist.h, where callers read them.
 */
#include "indexer/flist.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Hex digit value + 1, 0 for a byte that is not a hex digit (one lookup per byte, no branches on
 * ranges). */
static const uint8_t hexv[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

enum { DEC_BADPCT = -1, DEC_NUL = -2, DEC_LONG = -3 };

/* Scratch space of one flist_parse() call: a stack frame, not per-line allocations. */
struct flist_bufs {
	char path[FLIST_PATH_MAX + 1];
	char link[FLIST_PATH_MAX + 1];
	char value[FLIST_PATH_MAX + 1];
	char why[160];                  /* reasons that quote the input */
};

/* Decode %XX escapes of s[0..n) into out (room for max bytes and a NUL). Returns the decoded
 * length or DEC_*: a NUL (raw or decoded) would cut a path short in every later C call, so it is
 * refused here once for all callers. */
static long pct_decode(const char *s, size_t n, char *out, size_t max)
{
	const char *pct = memchr(s, '%', n);
	size_t i, o = 0;

	if (!pct) {
		if (n > max)
			return DEC_LONG;
		if (memchr(s, '\0', n))
			return DEC_NUL;
		memcpy(out, s, n);
		out[n] = '\0';
		return (long)n;
	}
	/* Bytes before the first '%' are copied in one go, the rest byte by byte. */
	i = (size_t)(pct - s);
	if (i > max)
		return DEC_LONG;
	if (memchr(s, '\0', i))
		return DEC_NUL;
	memcpy(out, s, i);
	o = i;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (n - i < 3 || !hexv[(unsigned char)s[i + 1]] ||
			    !hexv[(unsigned char)s[i + 2]])
				return DEC_BADPCT;
			c = (unsigned char)((hexv[(unsigned char)s[i + 1]] - 1) << 4 |
					    (hexv[(unsigned char)s[i + 2]] - 1));
			i += 3;
		} else {
			i++;
		}
		if (c == '\0')
			return DEC_NUL;
		if (o == max)
			return DEC_LONG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

/* Check a decoded path: absolute and normalised, components bounded. Returns a reason or NULL. */
static const char *path_check(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return "path is empty";
	if (p[0] != '/')
		return "path is not absolute";
	if (n == 1)
		return NULL;
	if (p[n - 1] == '/')
		return "path ends with '/'";
	for (i = 1; i < n;) {
		const char *slash = memchr(p + i, '/', n - i);
		size_t end = slash ? (size_t)(slash - p) : n;
		size_t clen = end - i;

		if (clen == 0)
			return "path has an empty component ('//')";
		if (clen > FLIST_NAME_MAX)
			return "path component is longer than 255 bytes";
		if (p[i] == '.') {
			if (clen == 1)
				return "path component is '.'";
			if (clen == 2 && p[i + 1] == '.')
				return "path component is '..'";
		}
		i = end + 1;
	}
	return NULL;
}

static const char *hash_parse(const char *s, size_t n, struct flist_entry *e)
{
	if (n == 0)
		return NULL;
	if (n != 32 && n != 64)
		return "hash must be 32 or 64 hex digits";
	for (size_t i = 0; i < n; i += 2) {
		uint8_t hi = hexv[(unsigned char)s[i]], lo = hexv[(unsigned char)s[i + 1]];

		if (!hi || !lo)
			return "hash must be 32 or 64 hex digits";
		e->hash[i / 2] = (uint8_t)((hi - 1) << 4 | (lo - 1));
	}
	e->hash_len = (uint8_t)(n / 2);
	return NULL;
}

static const char *size_parse(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return "size is empty";
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return "size is not a number";
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return "size is too large (must be below 2^63)";
		v = v * 10 + d;
	}
	*out = v;
	return NULL;
}

static const char *mode_parse(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;

	if (n == 0)
		return "mode is not octal";
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 7)
			return "mode is not octal";
		v = v << 3 | d;
	}
	/* Checked after the digits so that "mode=99999" says "not octal", the likelier mistake. */
	if (n > 4)
		return "mode must be 1 to 4 octal digits";
	*out = v;
	return NULL;
}

static const char *mtime_parse(const char *s, size_t n, int64_t *out)
{
	bool neg = n > 0 && s[0] == '-';
	uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	size_t i = neg;

	if (i == n)
		return "mtime is not a number";
	for (; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return "mtime is not a number";
		if (v > (limit - d) / 10)
			return "mtime is out of range";
		v = v * 10 + d;
	}
	if (!neg)
		*out = (int64_t)v;
	else if (v == (uint64_t)INT64_MAX + 1)
		*out = INT64_MIN;
	else
		*out = -(int64_t)v;
	return NULL;
}

/* Copy at most `max` bytes of s for a message, control and non-ASCII bytes shown as '?', so that a
 * reason quoting the input cannot forge a log line or break a terminal. */
static void sanitize(char *out, size_t outsz, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[i] = '\0';
}

enum { K_TYPE = 1, K_MODE = 2, K_MTIME = 4, K_LINK = 8, K_ORDER = 16 };

static unsigned key_bit(const char *k, size_t n)
{
	if (n == 4) {
		if (memcmp(k, "type", 4) == 0)
			return K_TYPE;
		if (memcmp(k, "mode", 4) == 0)
			return K_MODE;
		if (memcmp(k, "link", 4) == 0)
			return K_LINK;
	} else if (n == 5 && memcmp(k, "mtime", 5) == 0) {
		return K_MTIME;
	} else if (n == 5 && memcmp(k, "order", 5) == 0) {
		return K_ORDER;
	}
	return 0;
}

static const char *key_name(unsigned bit)
{
	return bit == K_TYPE ? "type" : bit == K_MODE ? "mode" : bit == K_MTIME ? "mtime" :
	       bit == K_ORDER ? "order" : "link";
}

/* One key=value field after the third. Returns a reason or NULL. */
static const char *field_parse(const char *f, size_t n, unsigned fieldno, unsigned *seen,
			       struct flist_entry *e, struct flist_bufs *b, struct flist_stats *st)
{
	const char *eq = memchr(f, '=', n);
	size_t klen, vlen;
	const char *v;
	unsigned bit;
	long dl;

	if (!eq) {
		snprintf(b->why, sizeof b->why, "field %u is not key=value", fieldno);
		return b->why;
	}
	klen = (size_t)(eq - f);
	v = eq + 1;
	vlen = n - klen - 1;
	if (klen == 0) {
		snprintf(b->why, sizeof b->why, "field %u has an empty key", fieldno);
		return b->why;
	}
	bit = key_bit(f, klen);
	if (!bit) {
		/* Newer flists may carry keys this version does not know: counted, not refused. */
		if (st) {
			if (st->unknown_keys++ == 0) {
				st->first_unknown_line = e->line;
				sanitize(st->first_unknown_key, sizeof st->first_unknown_key, f, klen);
			}
		}
		return NULL;
	}
	if (*seen & bit) {
		snprintf(b->why, sizeof b->why, "duplicate key '%s'", key_name(bit));
		return b->why;
	}
	*seen |= bit;

	dl = pct_decode(v, vlen, bit == K_LINK ? b->link : b->value, FLIST_PATH_MAX);
	if (dl == DEC_BADPCT) {
		snprintf(b->why, sizeof b->why, "bad percent-encoding in %s", key_name(bit));
		return b->why;
	}
	if (dl == DEC_NUL) {
		snprintf(b->why, sizeof b->why, "%s contains a NUL byte", key_name(bit));
		return b->why;
	}

	switch (bit) {
	case K_TYPE:
		if (dl == 1 && (b->value[0] == FLIST_FILE || b->value[0] == FLIST_DIR ||
				b->value[0] == FLIST_LINK)) {
			e->type = b->value[0];
			return NULL;
		}
		{
			char shown[34];

			if (dl == DEC_LONG)
				sanitize(shown, sizeof shown, v, vlen);
			else
				sanitize(shown, sizeof shown, b->value, (size_t)dl);
			snprintf(b->why, sizeof b->why, "unknown type '%s'", shown);
		}
		return b->why;
	case K_MODE:
		if (dl == DEC_LONG)
			return "mode must be 1 to 4 octal digits";
		e->has_mode = true;
		return mode_parse(b->value, (size_t)dl, &e->mode);
	case K_MTIME:
		if (dl == DEC_LONG)
			return "mtime is out of range";
		e->has_mtime = true;
		return mtime_parse(b->value, (size_t)dl, &e->mtime);
	case K_ORDER: {
		int64_t o;

		/* 1 … FLIST_ORDER_MAX: the place of the file in the publisher's list of first opens. */
		if (dl == DEC_LONG || (dl > 0 && b->value[0] == '-') ||
		    mtime_parse(b->value, (size_t)dl, &o) || o < 1 || o > FLIST_ORDER_MAX)
			return "order must be a number from 1 to 1000000";
		e->order = (uint32_t)o;
		return NULL;
	}
	default: /* K_LINK */
		if (dl == DEC_LONG)
			return "link target is longer than 4095 bytes";
		if (dl == 0)
			return "link target is empty";
		e->link = b->link;
		e->link_len = (size_t)dl;
		return NULL;
	}
}

/* One entry line (no '\n', '\r' already stripped, not blank, not a comment). Fills e; returns a
 * reason or NULL. */
static const char *line_parse(const char *s, size_t n, struct flist_entry *e, struct flist_bufs *b,
			      struct flist_stats *st)
{
	const char *end = s + n, *bar1, *bar2, *bar3, *why;
	unsigned seen = 0, fieldno = 4;
	long dl;

	bar1 = memchr(s, '|', n);
	bar2 = bar1 ? memchr(bar1 + 1, '|', (size_t)(end - bar1 - 1)) : NULL;
	if (!bar2)
		return "too few fields (need PATH|HASH|SIZE)";
	bar3 = memchr(bar2 + 1, '|', (size_t)(end - bar2 - 1));
	if (!bar3)
		bar3 = end;

	dl = pct_decode(s, (size_t)(bar1 - s), b->path, FLIST_PATH_MAX);
	if (dl == DEC_BADPCT)
		return "bad percent-encoding in path";
	if (dl == DEC_NUL)
		return "path contains a NUL byte";
	if (dl == DEC_LONG)
		return "path is longer than 4095 bytes";
	if ((why = path_check(b->path, (size_t)dl)))
		return why;
	e->path = b->path;
	e->path_len = (size_t)dl;

	if ((why = hash_parse(bar1 + 1, (size_t)(bar2 - bar1 - 1), e)))
		return why;
	if ((why = size_parse(bar2 + 1, (size_t)(bar3 - bar2 - 1), &e->size)))
		return why;

	e->type = FLIST_FILE;
	while (bar3 < end) {
		const char *f = bar3 + 1, *next = memchr(f, '|', (size_t)(end - f));

		if (!next)
			next = end;
		if ((why = field_parse(f, (size_t)(next - f), fieldno++, &seen, e, b, st)))
			return why;
		bar3 = next;
	}

	switch (e->type) {
	case FLIST_FILE:
		if (e->size > 0 && e->hash_len == 0)
			return "file of non-zero size has no hash";
		e->link = NULL;
		e->link_len = 0;
		break;
	case FLIST_DIR:
		e->hash_len = 0;
		e->size = 0;
		e->link = NULL;
		e->link_len = 0;
		break;
	default: /* FLIST_LINK */
		if (!e->link)
			return "symlink has no link= target";
		e->hash_len = 0;
		e->size = 0;
		break;
	}
	if (e->path_len == 1 && e->type != FLIST_DIR)
		return "path '/' must be a directory";
	return NULL;
}

static bool is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

int flist_parse(const char *name, const char *buf, size_t len, flist_entry_fn fn, void *ctx,
		struct flist_stats *st, char *err, size_t errlen)
{
	return flist_parse_at(name, buf, len, 0, fn, ctx, st, err, errlen);
}

int flist_parse_at(const char *name, const char *buf, size_t len, unsigned first_line,
		   flist_entry_fn fn, void *ctx, struct flist_stats *st, char *err, size_t errlen)
{
	struct flist_bufs b;
	const char *p = buf, *end;
	unsigned lineno = first_line;

	if (!name)
		name = "flist";
	if (st)
		memset(st, 0, sizeof *st);
	if (err && errlen)
		err[0] = '\0';
	if (len == 0)
		return 0;       /* also spares NULL + 0, which UBSan flags */
	end = buf + len;
	if (first_line == 0 && len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *next = nl ? nl + 1 : end, *why;
		struct flist_entry e;
		size_t n;
		int rc;

		lineno++;
		n = (size_t)(le - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0 || p[0] == '#' || ((p[0] == ' ' || p[0] == '\t') && is_blank(p, n))) {
			p = next;
			continue;
		}
		memset(&e, 0, sizeof e);
		e.line = lineno;
		if ((why = line_parse(p, n, &e, &b, st))) {
			if (err && errlen)
				snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
			return -EINVAL;
		}
		if (st)
			st->entries++;
		if (fn && (rc = fn(ctx, &e)) != 0) {
			/* A positive value breaks the contract; it still stops, as an error. */
			if (rc > 0 || rc == INT_MIN)
				rc = -ECANCELED;
			if (err && errlen)
				snprintf(err, errlen, "%s:%u: %s", name, lineno, strerror(-rc));
			return rc;
		}
		p = next;
	}
	return 0;
}

bool flist_under_prefix(const char *prefix, size_t prefix_len, const char *path, size_t path_len,
			const char **rest, size_t *rest_len)
{
	/* "/opt/" in a config file means "/opt"; "" and "/" both mean the whole tree. */
	while (prefix_len > 0 && prefix[prefix_len - 1] == '/')
		prefix_len--;
	if (prefix_len == 0) {
		if (path_len == 0 || path[0] != '/')
			return false;
		*rest = path_len == 1 ? path + 1 : path;
		*rest_len = path_len == 1 ? 0 : path_len;
		return true;
	}
	if (path_len < prefix_len || memcmp(path, prefix, prefix_len) != 0)
		return false;
	if (path_len > prefix_len && path[prefix_len] != '/')
		return false;
	*rest = path + prefix_len;
	*rest_len = path_len - prefix_len;
	return true;
}

size_t flist_encode(const char *in, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t need = 0, o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		bool esc = c == '%' || c == '|' || c == '\n' || c == '\r';
		size_t w = esc ? 3 : 1;

		need += w;
		/* Never half an escape: a truncated result still decodes. */
		if (outsz && o + w < outsz && o == need - w) {
			if (esc) {
				out[o] = '%';
				out[o + 1] = hex[c >> 4];
				out[o + 2] = hex[c & 15];
			} else {
				out[o] = (char)c;
			}
			o += w;
		}
	}
	if (outsz)
		out[o] = '\0';
	return need;
}

void flist_hash_hex(const uint8_t *hash, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[2 * len] = '\0';
}
