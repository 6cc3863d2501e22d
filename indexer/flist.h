/* flist.h — the flist format of SPEC section 4: one entry per line, PATH|HASH|SIZE[|key=value…].
 *
 * flist_parse() validates a whole flist and hands each entry to a callback. A malformed line
 * rejects the flist: the function returns -EINVAL with "NAME:LINE: reason" in err. Callers that
 * must not act on a flist that is later rejected call it twice: once with fn == NULL to validate,
 * then with their callback (parsing is fast; the second pass cannot fail on input).
 *
 * Where SPEC is silent:
 *  - LINE counts every line from 1, blank and comment lines included. A line of only spaces and
 *    tabs is blank; '#' starts a comment only as the line's first byte. One '\r' before the end
 *    of a line is stripped (also on a last line without '\n'); a leading UTF-8 BOM is skipped.
 *  - HASH, SIZE and keys are taken as written; values of known keys are percent-decoded; values
 *    of unknown keys are not looked at. Keys are case-sensitive; an empty key is malformed, and
 *    so is an empty field (a trailing '|').
 *  - SIZE and mtime accept leading zeros; mode is 1 to 4 octal digits.
 *  - For d and l, HASH and SIZE must still be well-formed; the entry carries hash_len 0, size 0.
 *  - link= on a file or directory must be well-formed and is then ignored (link NULL).
 *  - The path "/" may only be a directory. Duplicate paths are not the parser's business.
 *  - When fn returns non-zero, parsing stops and flist_parse returns it (a positive value becomes
 *    -ECANCELED) with "NAME:LINE: strerror" in err.
 *  - st (zeroed first) and err may be NULL; name NULL reads "flist". */
#ifndef AYSFS_FLIST_H
#define AYSFS_FLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLIST_PATH_MAX  4095    /* bytes of a whole path */
#define FLIST_NAME_MAX  255     /* bytes of one component */
#define FLIST_HASH_MAX  32      /* bytes of a binary hash (SHA-256) */

enum flist_type { FLIST_FILE = 'f', FLIST_DIR = 'd', FLIST_LINK = 'l' };

#define FLIST_ORDER_MAX 1000000   /* order=N, N at most this */

struct flist_entry {
	const char *path;       /* decoded, absolute, normalised, NUL-terminated; valid only during
				 * the callback */
	size_t path_len;
	const char *link;       /* decoded symlink target (type l), NUL-terminated, else NULL */
	size_t link_len;
	uint64_t size;          /* < 2^63; 0 for d and l */
	int64_t mtime;          /* valid when has_mtime */
	uint32_t mode;          /* permission bits (& 07777), valid when has_mode */
	uint32_t order;         /* order=N: its place in the published order of first opens; 0 none */
	bool has_mtime, has_mode;
	char type;              /* enum flist_type */
	uint8_t hash_len;       /* 0 (no blob), 16 (MD5) or 32 (SHA-256) */
	uint8_t hash[FLIST_HASH_MAX];
	unsigned line;
};

/* Return 0 to go on, or a negative errno to stop parsing (flist_parse returns it). */
typedef int (*flist_entry_fn)(void *ctx, const struct flist_entry *e);

struct flist_stats {
	unsigned long entries;          /* valid entries */
	unsigned long unknown_keys;     /* fields with an unknown key (ignored) */
	unsigned first_unknown_line;    /* line of the first one, for the one warning per flist */
	char first_unknown_key[32];     /* its key, truncated, non-printable bytes as '?' */
};

int flist_parse(const char *name, const char *buf, size_t len, flist_entry_fn fn, void *ctx,
		struct flist_stats *st, char *err, size_t errlen);

/* The same over one window of a larger flist: buf holds whole lines that follow line first_line
 * (0 for the start, where a byte order mark may stand). Line numbers in entries and messages
 * continue from there; *st covers this window only. */
int flist_parse_at(const char *name, const char *buf, size_t len, unsigned first_line,
		   flist_entry_fn fn, void *ctx, struct flist_stats *st, char *err, size_t errlen);

/* Is `path` (absolute, normalised) at or below `prefix` by whole components? "/" holds every
 * path; "/opt" holds "/opt" and "/opt/x" but not "/optx". On true, *rest points at the part below
 * the prefix ("" for the prefix itself, else starting with '/') and *rest_len is its length.
 * Trailing slashes of the prefix are ignored ("/opt/" is "/opt"; "" is "/"). */
bool flist_under_prefix(const char *prefix, size_t prefix_len, const char *path, size_t path_len,
			const char **rest, size_t *rest_len);

/* Percent-encode `in` for a flist field ('%', '|', newline and carriage return → %XX).
 * Writes at most outsz bytes including the NUL; returns the length needed (like snprintf).
 * On truncation no escape is cut in half. */
size_t flist_encode(const char *in, size_t len, char *out, size_t outsz);

/* Lowercase hex of a binary hash into out (2*len+1 bytes). */
void flist_hash_hex(const uint8_t *hash, size_t len, char *out);

#endif
