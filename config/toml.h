/* toml.h — a strict reader for the part of TOML 1.0 the configuration file uses (SPEC section 3).
 *
 * Everything TOML 1.0 has except floats and dates/times, which are reported as unsupported, and NUL
 * characters in strings (ours are C strings). The result is a tree of values, each knowing the line
 * and column where it was written so that the caller can name them in its own messages.
 */
#ifndef AYSFS_TOML_H
#define AYSFS_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds against hostile input: the parser and toml_free() recurse once per level of nesting, and
 * a key is looked up linearly in its table. */
#define TOML_MAX_SIZE  (1024u * 1024)   /* bytes of text */
#define TOML_MAX_DEPTH 32               /* tables and arrays inside each other, the root not counted */
#define TOML_MAX_KEYS  512              /* keys in one table */

enum toml_type { TOML_TABLE, TOML_ARRAY, TOML_STRING, TOML_INTEGER, TOML_BOOLEAN };

struct toml_value;

struct toml_entry {
	char *key;
	struct toml_value *value;
	unsigned line, col;             /* of the key (the last part of a dotted key) */
};

struct toml_value {
	enum toml_type type;
	unsigned line, col;             /* where it was written; for a [table] or [[table]], its '[' */
	unsigned char depth;            /* the root is 0 */
	unsigned char flags;            /* the parser's bookkeeping of how a table was defined */
	union {
		struct { struct toml_entry *e; size_t n, cap; } tab;   /* in the order first written */
		struct { struct toml_value **v; size_t n, cap; } arr;
		struct { char *s; size_t len; } str;                    /* NUL-terminated, no NUL inside */
		int64_t i;
		bool b;
	};
};

struct toml_error {
	unsigned line, col;             /* 1-based; the column counts characters, not bytes */
	char msg[160];
};

/* Parse `len` bytes of `text` (need not be NUL-terminated). Returns 0 and the root table in *root,
 * or -EINVAL (-ENOMEM) with *root NULL and *err saying where and why. */
int toml_parse(const char *text, size_t len, struct toml_value **root, struct toml_error *err);

void toml_free(struct toml_value *v);

/* The value of `key` in table `t`, or NULL (also when `t` is NULL or not a table). */
const struct toml_value *toml_get(const struct toml_value *t, const char *key);

/* "a string", "an integer", … for messages. */
const char *toml_type_name(enum toml_type type);

#endif
