/* toml.c — a strict TOML 1.0 reader, small enough to audit (see toml.h for what it leaves out).
 *
 * The configuration is read by the privileged supervisor, so this is one recursive-descent pass
 * over bounded input with no library behind it, and it is fuzzed (tests/fuzz/fuzz_config.c).
 * The text is checked once up front (UTF-8, no control characters but tab and newline), which keeps
 * every scanner below simple. Every error names the line and column of the character at fault;
 * for an unterminated string that is its opening quote, which is where a reader wants to look.
 */
#include "config/toml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* toml_value.flags: TOML forbids defining a table twice, and which later lines may add to a table
 * depends on how it came to be. */
enum {
	F_IMPLICIT = 1,  /* made as a step of a [header]'s path: its own [header] may still come */
	F_DOTTED = 2,    /* made by a dotted key: only dotted keys of the same block may add to it */
	F_FROZEN = 4,    /* inline table or [...] array: complete as written */
	F_AOT = 8,       /* made by [[header]]: later [[header]]s append to it */
};

struct parser {
	const char *s;
	size_t len, pos;
	unsigned line, col;
	struct toml_value *root;
	struct toml_value *cur;         /* the table key = value lines go into */
	struct toml_error *err;
};

/* A key as written, split at its dots: every part but the last names a table. */
struct key {
	size_t n;
	struct key_part {
		char *s;
		unsigned line, col;
	} part[TOML_MAX_DEPTH];
};

struct buf {
	char *p;
	size_t len, cap;
};

static int parse_value(struct parser *p, unsigned depth, struct toml_value **out);
static int parse_keyval(struct parser *p, struct toml_value *t);

/* ---- reading characters ---------------------------------------------------------------------- */

static int peek_at(const struct parser *p, size_t off)
{
	return off < p->len - p->pos ? (unsigned char)p->s[p->pos + off] : -1;
}

#define peek(p) peek_at((p), 0)

static void advance(struct parser *p)
{
	unsigned char c;

	if (p->pos >= p->len)
		return;
	c = p->s[p->pos++];
	if (c == '\n') {
		p->line++;
		p->col = 1;
	} else if ((c & 0xc0) != 0x80) {
		p->col++;       /* a UTF-8 continuation byte is not a new column */
	}
}

static bool is_bare(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static void skip_ws(struct parser *p)
{
	while (peek(p) == ' ' || peek(p) == '\t')
		advance(p);
}

static void skip_comment(struct parser *p)
{
	while (peek(p) >= 0 && peek(p) != '\n' && peek(p) != '\r')
		advance(p);
}

/* Whitespace, newlines and comments: what may sit between the items of an array. */
static void skip_blank(struct parser *p)
{
	for (;;) {
		int c = peek(p);

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			advance(p);
		else if (c == '#')
			skip_comment(p);
		else
			return;
	}
}

/* ---- errors ---------------------------------------------------------------------------------- */

__attribute__((format(printf, 4, 5)))
static int fail_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	p->err->line = line;
	p->err->col = col;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

#define fail(p, ...) fail_at((p), (p)->line, (p)->col, __VA_ARGS__)

static int no_memory(struct parser *p)
{
	fail(p, "out of memory");
	return -ENOMEM;
}

static int unexpected(struct parser *p, const char *what)
{
	int c = peek(p);

	if (c < 0)
		return fail(p, "expected %s, found the end of the file", what);
	if (c == '\n' || c == '\r')
		return fail(p, "expected %s, found the end of the line", what);
	if (c > ' ' && c < 0x7f)
		return fail(p, "expected %s, found '%c'", what, c);
	return fail(p, "expected %s", what);
}

/* Length of the valid UTF-8 sequence at s (overlong forms and surrogates are invalid), or 0. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };   /* by length */
	size_t n = s[0] < 0x80 ? 1 : s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 :
		   s[0] < 0xf5 ? 4 : 0;
	uint32_t cp = s[0] & (0x7f >> n);

	if (n <= 1 || avail < n)
		return n == 1;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* TOML text is UTF-8 without control characters other than tab and newline (CRLF included),
 * anywhere: in comments and strings as much as between tokens. */
static int check_text(struct parser *p)
{
	while (p->pos < p->len) {
		unsigned char c = p->s[p->pos];
		size_t n = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);

		if (n == 0)
			return fail(p, "invalid UTF-8");
		if (c == '\r' && peek_at(p, 1) != '\n')
			return fail(p, "carriage return without a newline");
		if ((c < ' ' && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			return fail(p, "control character U+%04X is not allowed", c);
		while (n--)
			advance(p);
	}
	p->pos = 0;
	p->line = 1;
	p->col = 1;
	return 0;
}

/* ---- values ---------------------------------------------------------------------------------- */

static int buf_add(struct parser *p, struct buf *b, const char *s, size_t n)
{
	if (n >= b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 32;
		char *q;

		while (n >= cap - b->len)
			cap *= 2;       /* no overflow: a string is never longer than the text */
		q = realloc(b->p, cap);
		if (!q)
			return no_memory(p);
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int new_value(struct parser *p, enum toml_type type, unsigned depth, unsigned line,
		     unsigned col, struct toml_value **out)
{
	struct toml_value *v;

	if ((type == TOML_TABLE || type == TOML_ARRAY) && depth > TOML_MAX_DEPTH)
		return fail_at(p, line, col, "nested deeper than %d levels", TOML_MAX_DEPTH);
	v = calloc(1, sizeof *v);
	if (!v)
		return no_memory(p);
	v->type = type;
	v->depth = depth;
	v->line = line;
	v->col = col;
	*out = v;
	return 0;
}

/* Room for one more item in *items (n used of *cap); frees `v` if there is none. */
static int grow(struct parser *p, void *items, size_t n, size_t *cap, size_t size,
		struct toml_value *v)
{
	void *more;

	if (n < *cap)
		return 0;
	more = reallocarray(*(void **)items, *cap ? 2 * *cap : 8, size);
	if (!more) {
		toml_free(v);
		return no_memory(p);
	}
	*(void **)items = more;
	*cap = *cap ? 2 * *cap : 8;
	return 0;
}

/* Appends v to array a; frees v if it cannot. */
static int array_push(struct parser *p, struct toml_value *a, struct toml_value *v)
{
	int rc = grow(p, &a->arr.v, a->arr.n, &a->arr.cap, sizeof *a->arr.v, v);

	if (rc == 0)
		a->arr.v[a->arr.n++] = v;
	return rc;
}

static struct toml_entry *find(const struct toml_value *t, const char *key)
{
	for (size_t i = 0; i < t->tab.n; i++)
		if (strcmp(t->tab.e[i].key, key) == 0)
			return &t->tab.e[i];
	return NULL;
}

/* Adds part → v to table t, which does not hold that key yet. Takes part->s and v (freed if it
 * cannot). */
static int table_put(struct parser *p, struct toml_value *t, struct key_part *part,
		     struct toml_value *v)
{
	int rc;

	if (t->tab.n == TOML_MAX_KEYS) {
		toml_free(v);
		return fail_at(p, part->line, part->col, "more than %d keys in one table", TOML_MAX_KEYS);
	}
	rc = grow(p, &t->tab.e, t->tab.n, &t->tab.cap, sizeof *t->tab.e, v);
	if (rc == 0)
		t->tab.e[t->tab.n++] = (struct toml_entry){ part->s, v, part->line, part->col };
	if (rc == 0)
		part->s = NULL;
	return rc;
}

/* A new table or array under `part` in t, or an error if it would be nested too deep. */
static int add_value(struct parser *p, struct toml_value *t, struct key_part *part,
		     enum toml_type type, unsigned flags, unsigned line, unsigned col,
		     struct toml_value **out)
{
	struct toml_value *v = NULL;
	int rc = new_value(p, type, t->depth + 1u, line, col, &v);

	if (rc)
		return rc;
	v->flags = flags;
	rc = table_put(p, t, part, v);
	if (rc == 0)
		*out = v;
	return rc;
}

static int hex_digit(int c)
{
	static const char digits[] = "0123456789abcdef";
	const char *d = c > 0 ? strchr(digits, c | 0x20) : NULL;   /* c | 0x20: lower case */

	return d ? (int)(d - digits) : -1;
}

/* \uXXXX or \UXXXXXXXX; the backslash was at line:col. */
static int parse_unicode(struct parser *p, struct buf *b, int ndigits, unsigned line, unsigned col)
{
	static const unsigned char lead[] = { 0, 0, 0xc0, 0xe0, 0xf0 };   /* by length */
	char utf8[4];
	uint32_t cp = 0;
	size_t n;

	advance(p);
	for (int i = 0; i < ndigits; i++) {
		int d = hex_digit(peek(p));

		if (d < 0)
			return fail_at(p, line, col, "\\%c needs %d hexadecimal digits",
				       ndigits == 4 ? 'u' : 'U', ndigits);
		cp = cp << 4 | (uint32_t)d;
		advance(p);
	}
	if (cp == 0)
		return fail_at(p, line, col, "NUL characters are not supported");
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail_at(p, line, col, "U+%04X is not a Unicode scalar value", cp);
	n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	for (size_t i = n - 1; i > 0; i--, cp >>= 6)
		utf8[i] = (char)(0x80 | (cp & 0x3f));
	utf8[0] = (char)(lead[n] | cp);
	return buf_add(p, b, utf8, n);
}

static int parse_escape(struct parser *p, struct buf *b, bool multi)
{
	static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
	unsigned line = p->line, col = p->col;
	int c = peek_at(p, 1);
	const char *hit = c > 0 ? strchr(from, c) : NULL;

	advance(p);
	if (hit) {
		advance(p);
		return buf_add(p, b, &to[hit - from], 1);
	}
	if (c == 'u' || c == 'U')
		return parse_unicode(p, b, c == 'u' ? 4 : 8, line, col);
	if (multi && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
		/* A backslash ending a line drops the newline and the whitespace after it. */
		skip_ws(p);
		if (peek(p) == '\n' || peek(p) == '\r') {
			while ((c = peek(p)) == ' ' || c == '\t' || c == '\n' || c == '\r')
				advance(p);
			return 0;
		}
	}
	if (c > ' ' && c < 0x7f)
		return fail_at(p, line, col, "invalid escape sequence \\%c", c);
	return fail_at(p, line, col, "invalid escape sequence");
}

/* Any of the four kinds of string, its opening quote at the current position, into b. */
static int parse_string(struct parser *p, struct buf *b, bool allow_multi)
{
	static const char quotes[2][3] = { "\"\"", "''" };
	unsigned line = p->line, col = p->col;
	int q = peek(p), c, rc = buf_add(p, b, "", 0);
	bool multi = peek_at(p, 1) == q && peek_at(p, 2) == q;

	if (rc)
		return rc;
	if (multi && !allow_multi)
		return fail(p, "a key cannot be a multi-line string");
	advance(p);
	if (multi) {
		advance(p);
		advance(p);
		/* A newline right after the opening quotes is not part of the string. */
		if (peek(p) == '\r')
			advance(p);
		if (peek(p) == '\n')
			advance(p);
	}
	for (;;) {
		c = peek(p);
		if (c < 0 || (!multi && (c == '\n' || c == '\r')))
			return fail_at(p, line, col, "unterminated string");
		if (c == q && (!multi || (peek_at(p, 1) == q && peek_at(p, 2) == q))) {
			/* Up to two more quotes belong to the content: """a""""" is a"". */
			int extra = 0, end;

			while (multi && extra < 2 && peek_at(p, 3 + extra) == q)
				extra++;
			if (extra && (rc = buf_add(p, b, quotes[q == '\''], extra)))
				return rc;
			for (end = multi ? 3 + extra : 1; end > 0; end--)
				advance(p);
			return 0;
		}
		if (c == '\\' && q == '"') {
			rc = parse_escape(p, b, multi);
			if (rc)
				return rc;
			continue;
		}
		/* CRLF is read as a newline: check_text() saw that an LF follows every CR. */
		if (c != '\r' && (rc = buf_add(p, b, p->s + p->pos, 1)))
			return rc;
		advance(p);
	}
}

/* The number-like token: integers in all four bases; floats and dates only to say so. */
static int parse_number(struct parser *p, unsigned depth, struct toml_value **out)
{
	const char *t = p->s + p->pos;
	size_t avail = p->len - p->pos, n = 0, i = 0;
	unsigned base = 10, col = p->col;     /* the token is ASCII: offset = column */
	uint64_t mag = 0, lim;
	struct toml_value *v;
	bool neg = false;
	int rc;

	while (n < avail && (is_bare(t[n]) || t[n] == '+' || t[n] == '.' || t[n] == ':'))
		n++;
	if (n && (t[0] == '+' || t[0] == '-')) {
		neg = t[0] == '-';
		i = 1;
	}
	if (n - i == 3 && (!memcmp(t + i, "inf", 3) || !memcmp(t + i, "nan", 3)))
		return fail(p, "floats are not supported");
	if (i == n || t[i] < '0' || t[i] > '9')
		return unexpected(p, "a value");
	if (memchr(t, ':', n) || (n - i > 4 && t[i + 4] == '-' && strspn(t + i, "0123456789") == 4))
		return fail(p, "dates and times are not supported");
	if (i == 0 && n > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
		base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
		i = 2;
		if (n == 2)
			return fail_at(p, p->line, col + 2, "expected digits after 0%c", t[1]);
	} else if (memchr(t, '.', n) || memchr(t, 'e', n) || memchr(t, 'E', n)) {
		return fail(p, "floats are not supported");
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
	for (size_t j = i; j < n; j++) {
		int d = hex_digit(t[j]);

		if (t[j] == '_') {
			if (j == i || j + 1 == n || t[j - 1] == '_')
				return fail_at(p, p->line, col + j, "'_' must sit between digits");
			continue;
		}
		if (d < 0 || (unsigned)d >= base)
			return fail_at(p, p->line, col + j, "invalid character '%c' in an integer", t[j]);
		if (base == 10 && j > i && t[i] == '0')
			return fail_at(p, p->line, col + i, "leading zeros are not allowed");
		if (mag > (lim - d) / base)
			return fail(p, "integer does not fit in 64 bits");
		mag = mag * base + d;
	}
	rc = new_value(p, TOML_INTEGER, depth, p->line, col, &v);
	if (rc)
		return rc;
	v->i = neg && mag ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
	while (n--)
		advance(p);
	*out = v;
	return 0;
}

static int parse_array(struct parser *p, unsigned depth, struct toml_value **out)
{
	struct toml_value *a, *v;
	int rc = new_value(p, TOML_ARRAY, depth, p->line, p->col, &a);

	if (rc)
		return rc;
	a->flags = F_FROZEN;
	advance(p);
	for (skip_blank(p); rc == 0 && peek(p) != ']'; skip_blank(p)) {
		rc = parse_value(p, depth + 1, &v);
		if (rc == 0)
			rc = array_push(p, a, v);
		skip_blank(p);
		if (rc == 0 && peek(p) == ',')
			advance(p);
		else if (rc == 0 && peek(p) != ']')
			rc = unexpected(p, "',' or ']'");
	}
	if (rc) {
		toml_free(a);
		return rc;
	}
	advance(p);
	*out = a;
	return 0;
}

/* { a = 1, b.c = 2 }: on one line, no trailing comma, complete once closed. */
static int parse_inline(struct parser *p, unsigned depth, struct toml_value **out)
{
	struct toml_value *t;
	int rc = new_value(p, TOML_TABLE, depth, p->line, p->col, &t);

	if (rc)
		return rc;
	advance(p);
	for (skip_ws(p); rc == 0 && peek(p) != '}'; skip_ws(p)) {
		rc = parse_keyval(p, t);
		skip_ws(p);
		if (rc == 0 && peek(p) == ',') {
			advance(p);
			skip_ws(p);
			if (peek(p) == '}')
				rc = fail(p, "no trailing comma in an inline table");
		} else if (rc == 0 && peek(p) != '}') {
			rc = unexpected(p, "',' or '}' (an inline table ends on its own line)");
		}
	}
	if (rc) {
		toml_free(t);
		return rc;
	}
	advance(p);
	t->flags = F_FROZEN;
	*out = t;
	return 0;
}

static bool match_word(const struct parser *p, const char *word)
{
	size_t n = strlen(word);

	return n <= p->len - p->pos && memcmp(p->s + p->pos, word, n) == 0 && !is_bare(peek_at(p, n));
}

static int parse_value(struct parser *p, unsigned depth, struct toml_value **out)
{
	unsigned line = p->line, col = p->col;
	struct buf b = { 0 };
	struct toml_value *v;
	int c = peek(p), rc;

	if (c == '[')
		return parse_array(p, depth, out);
	if (c == '{')
		return parse_inline(p, depth, out);
	if (c == '"' || c == '\'') {
		rc = parse_string(p, &b, true);
		if (rc == 0)
			rc = new_value(p, TOML_STRING, depth, line, col, &v);
		if (rc) {
			free(b.p);
			return rc;
		}
		v->str.s = b.p;
		v->str.len = b.len;
		*out = v;
		return 0;
	}
	if (match_word(p, "true") || match_word(p, "false")) {
		rc = new_value(p, TOML_BOOLEAN, depth, line, col, &v);
		if (rc)
			return rc;
		v->b = c == 't';
		for (size_t n = v->b ? 4 : 5; n > 0; n--)
			advance(p);
		*out = v;
		return 0;
	}
	return parse_number(p, depth, out);
}

/* ---- keys, key = value lines and [headers] ---------------------------------------------------- */

static void key_free(struct key *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->part[i].s);
	k->n = 0;
}

/* a."b c".'d', with the whitespace after it. */
static int parse_key(struct parser *p, struct key *k)
{
	for (;;) {
		struct key_part *part;
		struct buf b = { 0 };
		int c = peek(p), rc;

		if (k->n == TOML_MAX_DEPTH)
			return fail(p, "nested deeper than %d levels", TOML_MAX_DEPTH);
		part = &k->part[k->n];
		part->line = p->line;
		part->col = p->col;
		if (c == '"' || c == '\'') {
			rc = parse_string(p, &b, false);
		} else if (is_bare(c)) {
			size_t start = p->pos;

			while (is_bare(peek(p)))
				advance(p);
			rc = buf_add(p, &b, p->s + start, p->pos - start);
		} else {
			return unexpected(p, "a key");
		}
		if (rc) {
			free(b.p);
			return rc;
		}
		part->s = b.p;
		k->n++;
		skip_ws(p);
		if (peek(p) != '.')
			return 0;
		advance(p);
		skip_ws(p);
	}
}

/* "a.b.c", the first n parts of k, for messages (truncated if long). */
static const char *key_name(const struct key *k, size_t n, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "." : "", k->part[i].s);
	return out;
}

/* Walks from *t down the tables named by every part of k but the last, making missing ones.
 * A [header] may pass through any table but an inline one (and into the last table of an
 * array of tables); a dotted key only through tables that dotted keys of its block made. */
static int walk(struct parser *p, struct key *k, bool header, struct toml_value **t)
{
	char name[80];
	int rc;

	for (size_t i = 0; i + 1 < k->n; i++) {
		struct key_part *part = &k->part[i];
		struct toml_entry *e = find(*t, part->s);
		struct toml_value *v;

		if (!e) {
			rc = add_value(p, *t, part, TOML_TABLE, header ? F_IMPLICIT : F_DOTTED,
				       part->line, part->col, t);
			if (rc)
				return rc;
			continue;
		}
		v = e->value;
		if (header && v->type == TOML_ARRAY && (v->flags & F_AOT))
			v = v->arr.v[v->arr.n - 1];
		if (v->type != TOML_TABLE || (v->flags & F_FROZEN) || (!header && !(v->flags & F_DOTTED)))
			return fail_at(p, part->line, part->col, "%s was defined at line %u; %s cannot "
				       "add to it", key_name(k, i + 1, name, sizeof name), v->line,
				       header ? "a [header]" : "a dotted key");
		*t = v;
	}
	return 0;
}

static int parse_keyval(struct parser *p, struct toml_value *t)
{
	struct key k = { 0 };
	struct key_part *last;
	struct toml_entry *e;
	struct toml_value *v;
	char name[80];
	int rc = parse_key(p, &k);

	if (rc == 0 && peek(p) != '=')
		rc = unexpected(p, "'=' after the key");
	if (rc)
		goto out;
	advance(p);
	skip_ws(p);
	rc = walk(p, &k, false, &t);
	if (rc)
		goto out;
	last = &k.part[k.n - 1];
	e = find(t, last->s);
	if (e)
		rc = fail_at(p, last->line, last->col, "duplicate key %s (first defined at line %u)",
			     key_name(&k, k.n, name, sizeof name), e->line);
	if (rc == 0)
		rc = parse_value(p, t->depth + 1u, &v);
	if (rc == 0)
		rc = table_put(p, t, last, v);
out:
	key_free(&k);
	return rc;
}

/* [a.b] or [[a.b]]: makes the table that the following key = value lines go into. */
static int parse_header(struct parser *p)
{
	unsigned line = p->line, col = p->col;
	bool aot = peek_at(p, 1) == '[';
	struct toml_value *t = p->root, *v = NULL, *arr = NULL;
	struct key k = { 0 };
	struct key_part *last;
	struct toml_entry *e;
	char name[80];
	int rc;

	advance(p);
	if (aot)
		advance(p);
	skip_ws(p);
	rc = parse_key(p, &k);
	if (rc == 0 && (peek(p) != ']' || (aot && peek_at(p, 1) != ']')))
		rc = unexpected(p, aot ? "']]'" : "']'");
	if (rc == 0)
		rc = walk(p, &k, true, &t);
	if (rc)
		goto out;
	advance(p);
	if (aot)
		advance(p);
	last = &k.part[k.n - 1];
	key_name(&k, k.n, name, sizeof name);
	e = find(t, last->s);
	if (aot) {
		if (!e)
			rc = add_value(p, t, last, TOML_ARRAY, F_AOT, line, col, &arr);
		else if (e->value->type == TOML_ARRAY && (e->value->flags & F_AOT))
			arr = e->value;
		else
			rc = fail_at(p, last->line, last->col, "[[%s]]: %s was defined at line %u as %s, "
				     "not as an array of tables", name, name, e->value->line,
				     toml_type_name(e->value->type));
		if (rc == 0)
			rc = new_value(p, TOML_TABLE, arr->depth + 1u, line, col, &v);
		if (rc == 0)
			rc = array_push(p, arr, v);
	} else if (!e) {
		rc = add_value(p, t, last, TOML_TABLE, 0, line, col, &v);
	} else if (e->value->type == TOML_TABLE && e->value->flags == F_IMPLICIT) {
		v = e->value;   /* [a.b] then [a]: a is defined now */
		v->flags = 0;
		v->line = line;
		v->col = col;
	} else {
		rc = fail_at(p, last->line, last->col, "table [%s] defined twice (first at line %u)",
			     name, e->value->line);
	}
	if (rc == 0)
		p->cur = v;
out:
	key_free(&k);
	return rc;
}

/* After a key = value or a [header], only a comment may follow on the line. */
static int end_of_line(struct parser *p)
{
	skip_ws(p);
	if (peek(p) == '#')
		skip_comment(p);
	if (peek(p) == '\r')
		advance(p);
	if (peek(p) < 0)
		return 0;
	if (peek(p) != '\n')
		return unexpected(p, "the end of the line");
	advance(p);
	return 0;
}

int toml_parse(const char *text, size_t len, struct toml_value **root, struct toml_error *err)
{
	struct parser p = { .s = text, .len = len, .line = 1, .col = 1, .err = err };
	int rc;

	*root = NULL;
	memset(err, 0, sizeof *err);
	if (len > TOML_MAX_SIZE)
		return fail(&p, "larger than %u bytes", TOML_MAX_SIZE);
	rc = check_text(&p);
	if (rc)
		return rc;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		p.pos = 3;      /* a byte-order mark, which some editors write */
	rc = new_value(&p, TOML_TABLE, 0, 1, 1, &p.root);
	if (rc)
		return rc;
	p.cur = p.root;
	for (;;) {
		int c;

		skip_ws(&p);
		c = peek(&p);
		if (c < 0)
			break;
		if (c == '[')
			rc = parse_header(&p);
		else if (c != '#' && c != '\n' && c != '\r')
			rc = parse_keyval(&p, p.cur);
		if (rc == 0)
			rc = end_of_line(&p);
		if (rc) {
			toml_free(p.root);
			return rc;
		}
	}
	*root = p.root;
	return 0;
}

void toml_free(struct toml_value *v)
{
	if (!v)
		return;
	if (v->type == TOML_TABLE) {
		for (size_t i = 0; i < v->tab.n; i++) {
			free(v->tab.e[i].key);
			toml_free(v->tab.e[i].value);
		}
		free(v->tab.e);
	} else if (v->type == TOML_ARRAY) {
		for (size_t i = 0; i < v->arr.n; i++)
			toml_free(v->arr.v[i]);
		free(v->arr.v);
	} else if (v->type == TOML_STRING) {
		free(v->str.s);
	}
	free(v);
}

const struct toml_value *toml_get(const struct toml_value *t, const char *key)
{
	const struct toml_entry *e = t && t->type == TOML_TABLE ? find(t, key) : NULL;

	return e ? e->value : NULL;
}

const char *toml_type_name(enum toml_type type)
{
	static const char *const names[] = {
		[TOML_TABLE] = "a table", [TOML_ARRAY] = "an array", [TOML_STRING] = "a string",
		[TOML_INTEGER] = "an integer", [TOML_BOOLEAN] = "a boolean",
	};

	return (unsigned)type < sizeof names / sizeof *names ? names[type] : "a value";
}
