/* config.h — the configuration of SPEC section 3, read from TOML (config/toml.c). */
#ifndef AYSFS_CONFIG_H
#define AYSFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg_layer {
	char *url;          /* as written (after mapping `ssh://` → `sftp://`); logs and xattrs show this */
	bool is_cache;      /* [[cache]] (may be written) or [[store]] (never written) */
	bool purge;
	bool push;
	char **proxy;       /* per-layer proxies, tried in order */
	size_t nproxy;
	/* s3:// layers (SPEC §9): NULL for the defaults / anonymous requests */
	char *endpoint;     /* "http(s)://host[:port]"; default https://s3.amazonaws.com */
	char *region;       /* default us-east-1 */
	char *credentials;  /* a file of root's: access_key = …, secret_key = … */
	unsigned line;      /* where the table starts, for messages */
};

struct cfg_ays {
	char *id;
	char *flist;        /* NULL unless `flist = "…"` was given */
	bool prefetch;
	unsigned line;
};

struct cfg_debug {
	bool present;
	char **filter;      /* POSIX extended regular expressions */
	size_t nfilter;
	char *redis;        /* "host:port", or the path of a Unix socket; NULL: 127.0.0.1:6379 */
	char *redis_passwd;
	uint64_t max_size;  /* bytes of one file, default 64 MiB, at most 512 MiB (Redis's limit) */
};

struct config {
	char *file;         /* the file it was read from */
	char *id;
	char *namespace;    /* default "dedupe" */
	char *prefix;       /* NULL: the mountpoint's own path */
	char *cache_dir;    /* default "/var/cache/aysfs" */
	uint64_t cache_size;        /* bytes; 0 = default (10% of the cache filesystem, at most 10 GiB) */
	int64_t cache_expiration;   /* hours; 0 = never */
	int64_t rediscover;         /* seconds, default 60 */
	char *cafile;
	char **proxy;
	size_t nproxy;
	char *ssh_key;
	char *ssh_known_hosts;
	char *flist_dir;    /* default "/etc/ays/local" */
	char *state_dir;    /* default "/var/lib/aysfs": what this node verified (SPEC §6) */
	char *trusted_keys; /* NULL: flists need no signature; else a folder of *.pub (SPEC §8) */
	char *min_hash;     /* NULL or "md5": any; "sha256": signed flists with md5 entries refused */
	int64_t refresh;    /* seconds between asking again for remote flists, default 60; 0 never */
	char *user;         /* default "aysfs" */
	uint32_t warnings;  /* how many aysfs-config logged (unknown keys): -check counts them */
	int64_t entry_ttl, attr_ttl, negative_ttl;   /* defaults 60, 60, 10 */
	uint64_t flist_max_size;    /* bytes of one flist; default 512 MiB */
	int64_t flist_max_entries;  /* entries of one flist; default 10,000,000 */

	struct cfg_layer *layers;   /* every [[cache]] in the order written, then every [[store]] */
	size_t nlayers;
	struct cfg_ays *ays;
	size_t nays;
	struct cfg_debug debug;
};

/* Called once per warning (unknown key, deprecated spelling): `msg` already names file:line. */
typedef void (*config_warn_fn)(void *ctx, const char *msg);

/* Set every field to its default (no layers, no services). */
void config_defaults(struct config *c);

/* Parse `text` (len bytes, need not be NUL-terminated) read from `file`. On success fills *c
 * (which it first sets to defaults) and returns 0. On a syntax error or a wrong type returns
 * -EINVAL with `err` holding "FILE:LINE:COLUMN: reason" and *c freed. */
int config_parse(const char *file, const char *text, size_t len, struct config *c,
		 config_warn_fn warn, void *ctx, char *err, size_t errlen);

/* Read and parse an open file (named `file` in messages); an unreadable one is "FILE: strerror". */
int config_load_fd(const char *file, int fd, struct config *c, config_warn_fn warn, void *ctx,
		   char *err, size_t errlen);

/* Read and parse a file; an unreadable file is "FILE: strerror". */
int config_load(const char *file, struct config *c, config_warn_fn warn, void *ctx,
		char *err, size_t errlen);

/* Free every string and array of *c and zero it. */
void config_free(struct config *c);

/* "10G" → bytes (K, M, G, T powers of 1024; a bare number is bytes). -EINVAL if malformed. */
int config_parse_size(const char *s, uint64_t *out);

#endif
