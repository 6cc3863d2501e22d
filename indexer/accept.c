/* accept.c — the node's side of signed flists (SPEC §8).
 *
 * A flist is accepted when its .sig parses (sig.c), names a key found in the trusted_keys folder
 * (each *.pub read again at every check, so that a key added or removed counts at the next
 * reload or refresh: that is how keys rotate and are revoked), verifies with it, names the
 * service's id and the flist's SHA-256, has not expired, and carries a revision no lower than
 * the floor: the highest revision this node accepted for that id.
 *
 * The floor is STATE_DIR/revision-ID (ID with bytes other than letters, digits, '.', '_' and '-'
 * written %XX, and a leading '.' too): "REVISION SHA256\n", replaced through a temporary file,
 * fsync and rename, and written before the tree that uses the flist is built, so before it is
 * served. The state folder is the indexer's own (0700), outside every cache: a purge or a lost
 * cache does not lower it. Mounts of one node that share state_dir share their floors.
 *
 * Where SPEC is silent: the copy last accepted (same revision and SHA-256 as the floor) stays
 * acceptable after it expired, with a warning, so that a node cut off from its stores keeps its
 * tree across a restart too; any other expired flist is refused. An equal revision with other
 * bytes is accepted (SPEC: "not below"); the floor then names the new bytes.
 */
#include "indexer/accept.h"

#include "indexer/hash.h"
#include "indexer/sig.h"
#include "ipc/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEYS_MAX        64      /* *.pub files read from trusted_keys */
#define KEY_FILE_MAX    8192
#define SERVICES_MAX    WCONF_MAX_SERVICES

struct record {
	char id[SIG_ID_MAX + 1];
	bool signed_ok;                 /* an accepted signature (else only the last check) */
	uint64_t revision;
	int64_t expires;
	char key[SIG_FP_HEX + 1];
	time_t accepted_at, checked_at, warned_at;
	char check[160];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *keys_dir, *state_dir;
static unsigned min_hash = 16;
static struct record *records;
static size_t nrecords;

void accept_configure(const struct worker_conf *c)
{
	pthread_mutex_lock(&lock);
	free(keys_dir);
	free(state_dir);
	keys_dir = c->trusted_keys && c->trusted_keys[0] ? strdup(c->trusted_keys) : NULL;
	state_dir = c->state_dir ? strdup(c->state_dir) : NULL;
	min_hash = c->min_hash_len == 32 ? 32 : 16;
	pthread_mutex_unlock(&lock);
}

bool accept_required(void)
{
	bool r;

	pthread_mutex_lock(&lock);
	r = keys_dir != NULL;
	pthread_mutex_unlock(&lock);
	return r;
}

unsigned accept_min_hash(void)
{
	return accept_required() ? min_hash : 16;
}

long accept_read_small(int dirfd, const char *path, size_t max, char **out)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	size_t got = 0;
	struct stat st;
	char *buf;
	ssize_t n;

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || !(buf = malloc(max + 1))) {
		close(fd);
		return -EINVAL;
	}
	while (got <= max && (n = read(fd, buf + got, max + 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			free(buf);
			return (long)n;
		}
		got += (size_t)n;
	}
	close(fd);
	if (got > max) {
		free(buf);
		return -EFBIG;
	}
	buf[got] = '\0';
	*out = buf;
	return (long)got;
}

/* The trusted key of fingerprint fp from dir, into *k. 0, -ENOENT (none), or -errno (the folder). */
static int key_find(const char *dir, const char *fp, struct sig_key *k)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned seen = 0;
	int rc = -ENOENT;

	if (!d)
		return -errno;
	while (rc == -ENOENT && seen < KEYS_MAX && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char *text;
		long len;

		if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 4, ".pub"))
			continue;
		seen++;
		len = accept_read_small(dirfd(d), de->d_name, KEY_FILE_MAX, &text);
		if (len < 0) {
			log_warn("trusted key %s/%s: %s: skipped", dir, de->d_name, strerror((int)-len));
			continue;
		}
		if (sig_key_read(text, (size_t)len, false, k)) {
			log_warn("trusted key %s/%s: not an Ed25519 public key in PEM: skipped", dir,
				 de->d_name);
		} else if (strcmp(k->fp, fp) == 0) {
			rc = 0;
		} else {
			sig_key_free(k);
		}
		free(text);
	}
	closedir(d);
	return rc;
}

/* The floor's file name for id: "revision-" and the id escaped, or, when that is long,
 * "revision-h" and the SHA-256 of the id. */
static void floor_name(const char *id, char *out, size_t size)
{
	size_t n = (size_t)snprintf(out, size, "revision-");
	struct hasher h;
	uint8_t d[32];

	if (strlen(id) * 3 > 200 && hasher_init(&h, 32) == 0) {
		hasher_update(&h, id, strlen(id));
		hasher_final(&h, d);
		for (int i = 0; i < 32; i++)
			n += (size_t)snprintf(out + n, size - n, "%s%02x", i ? "" : "h", d[i]);
		return;
	}

	for (const char *p = id; *p && n + 4 < size; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || (c == '.' && p != id))
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, size - n, "%%%02X", c);
	}
	out[n] = '\0';
}

/* The floor of id: 0 (*rev, sha set), -ENOENT (none yet), or -errno. */
static int floor_read(int dfd, const char *name, uint64_t *rev, uint8_t sha[32])
{
	char *text, hex[65];
	unsigned long long r;
	long len = accept_read_small(dfd, name, 128, &text);
	int rc = -EINVAL;

	if (len < 0)
		return (int)len;
	if (sscanf(text, "%llu %64[0-9a-f]", &r, hex) == 2 && strlen(hex) == 64) {
		for (int i = 0; i < 32; i++) {
			unsigned b;

			sscanf(hex + 2 * i, "%2x", &b);
			sha[i] = (uint8_t)b;
		}
		*rev = r;
		rc = 0;
	}
	free(text);
	return rc;
}

static int floor_write(int dfd, const char *name, uint64_t rev, const uint8_t sha[32])
{
	char tmp[SIG_ID_MAX * 3 + 64], line[128];
	int fd, n, rc = 0;

	n = snprintf(line, sizeof line, "%" PRIu64 " ", rev);
	for (int i = 0; i < 32; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, "%02x", sha[i]);
	line[n++] = '\n';
	snprintf(tmp, sizeof tmp, ".%s.%ld.tmp", name, (long)getpid());
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, line, (size_t)n) != n || fsync(fd))
		rc = errno ? -errno : -EIO;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && renameat(dfd, tmp, dfd, name))
		rc = -errno;
	if (rc)
		unlinkat(dfd, tmp, 0);
	else
		fsync(dfd);
	return rc;
}

static void when(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, size, "@%" PRId64, t);
}

static struct record *record_get(const char *id)
{
	struct record *nr;

	for (size_t i = 0; i < nrecords; i++)
		if (strcmp(records[i].id, id) == 0)
			return &records[i];
	if (nrecords == SERVICES_MAX || !(nr = realloc(records, (nrecords + 1) * sizeof *nr)))
		return NULL;
	records = nr;
	memset(&records[nrecords], 0, sizeof *records);
	snprintf(records[nrecords].id, sizeof records->id, "%s", id);
	return &records[nrecords++];
}

static int refuse(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EPERM;
}

int accept_check(const char *id, const char *name, const uint8_t sha[32], const char *sig,
		 size_t len, bool commit, char *why, size_t whylen)
{
	char err[160], date[64], fname[SIG_ID_MAX * 3 + 16], dir[4097] = "", sdir[4097] = "";
	uint8_t floor_sha[32];
	uint64_t floor_rev = 0;
	struct sig_key k;
	struct sig s;
	bool expired, last_copy;
	int dfd, rc;

	pthread_mutex_lock(&lock);
	if (keys_dir)
		snprintf(dir, sizeof dir, "%s", keys_dir);
	if (state_dir)
		snprintf(sdir, sizeof sdir, "%s", state_dir);
	pthread_mutex_unlock(&lock);
	if (!dir[0])
		return 0;
	if (!sig)
		return refuse(why, whylen, "no signature (%s.sig)", name);
	if (sig_parse(sig, len, &s, err, sizeof err))
		return refuse(why, whylen, "bad signature file: %s", err);
	rc = key_find(dir, s.key, &k);
	if (rc == -ENOENT)
		return refuse(why, whylen, "unknown key %s", s.key);
	if (rc)
		return refuse(why, whylen, "trusted keys %s: %s", dir, strerror(-rc));
	rc = sig_verify(&k, &s, sig);
	sig_key_free(&k);
	if (!rc)
		return refuse(why, whylen, "bad signature (key %s)", s.key);
	if (strcmp(s.id, id))
		return refuse(why, whylen, "wrong id: the signature is for %s", s.id);
	if (memcmp(s.sha256, sha, 32))
		return refuse(why, whylen, "hash mismatch: the flist is not the one signed");
	floor_name(id, fname, sizeof fname);
	dfd = open(sdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* Without commit (-check), a state folder not made yet is one with no floor. */
	if (dfd < 0 && (commit || errno != ENOENT))
		return refuse(why, whylen, "state folder %s: %s (the revision floor cannot be kept)",
			      sdir, strerror(errno));
	rc = dfd < 0 ? -ENOENT : floor_read(dfd, fname, &floor_rev, floor_sha);
	if (rc && rc != -ENOENT) {
		close(dfd);
		return refuse(why, whylen, "revision floor %s/%s: %s", sdir, fname, strerror(-rc));
	}
	if (rc == 0 && s.revision < floor_rev) {
		close(dfd);
		return refuse(why, whylen, "revision %" PRIu64 " below floor %" PRIu64, s.revision,
			      floor_rev);
	}
	last_copy = rc == 0 && s.revision == floor_rev && memcmp(floor_sha, sha, 32) == 0;
	expired = s.expires < (int64_t)time(NULL);
	when(s.expires, date, sizeof date);
	if (expired && !last_copy) {
		close(dfd);
		return refuse(why, whylen, "expired on %s", date);
	}
	rc = commit && !last_copy ? floor_write(dfd, fname, s.revision, sha) : 0;
	close(dfd);
	if (rc)
		return refuse(why, whylen, "cannot record revision %" PRIu64 " in %s: %s", s.revision,
			      sdir, strerror(-rc));
	if (expired && commit)
		log_warn("service %s: %s: the signature expired on %s; still served, as the copy this "
			 "node accepted last", id, name, date);
	if (commit) {
		struct record *r;

		pthread_mutex_lock(&lock);
		if ((r = record_get(id))) {
			r->signed_ok = true;
			r->revision = s.revision;
			r->expires = s.expires;
			memcpy(r->key, s.key, sizeof r->key);
			r->accepted_at = time(NULL);
			if (expired)
				r->warned_at = r->accepted_at;
		}
		pthread_mutex_unlock(&lock);
	}
	return 0;
}

void accept_note_check(const char *id, const char *what)
{
	struct record *r;

	pthread_mutex_lock(&lock);
	if ((r = record_get(id))) {
		r->checked_at = time(NULL);
		snprintf(r->check, sizeof r->check, "%s", what);
	}
	pthread_mutex_unlock(&lock);
}

void accept_expiry_warnings(void)
{
	time_t now = time(NULL);
	char date[64];

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nrecords; i++) {
		struct record *r = &records[i];

		if (!r->signed_ok || r->expires >= (int64_t)now || now - r->warned_at < 86400)
			continue;
		r->warned_at = now;
		when(r->expires, date, sizeof date);
		log_warn("service %s: the signature of the flist being served (revision %" PRIu64
			 ") expired on %s; still served", r->id, r->revision, date);
	}
	pthread_mutex_unlock(&lock);
}

int accept_report(FILE *out)
{
	char date[64], at[64];

	pthread_mutex_lock(&lock);
	if (!keys_dir)
		fprintf(out, "signatures: not required (no trusted_keys)\n");
	else
		fprintf(out, "signatures: required, trusted keys in %s, min_hash %s\n", keys_dir,
			min_hash == 32 ? "sha256" : "md5");
	for (size_t i = 0; i < nrecords; i++) {
		const struct record *r = &records[i];

		fprintf(out, "%s:", r->id);
		if (r->signed_ok) {
			when(r->expires, date, sizeof date);
			fprintf(out, " revision %" PRIu64 ", key %s, expires %s%s", r->revision, r->key,
				date, r->expires < (int64_t)time(NULL) ? " (expired)" : "");
		}
		if (r->checked_at) {
			when((int64_t)r->checked_at, at, sizeof at);
			fprintf(out, "%s last check %s: %s", r->signed_ok ? "," : "", at, r->check);
		} else {
			fprintf(out, "%s no check of a remote copy yet", r->signed_ok ? "," : "");
		}
		fputc('\n', out);
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

void accept_stats(FILE *out)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nrecords; i++)
		if (records[i].signed_ok)
			fprintf(out, "service_revision %s %" PRIu64 "\n", records[i].id, records[i].revision);
	pthread_mutex_unlock(&lock);
}
