/* ssh.c — what sftp:// layers need that the network does not give: the client key and the known
 * host keys, both read at start-up.
 *
 * The client key. The supervisor (root) opens [main] ssh_key and hands the open file to this
 * process as fd 5 (FD_SSH_KEY); this process could not open a root-only key itself. libcurl 7.88
 * takes a private key only as a file name (CURLOPT_SSH_PRIVATE_KEYFILE), which libssh2 opens at
 * each SSH login. So the key's bytes are copied at start-up into a sealed memfd of this process,
 * fd 5 is closed, and libcurl is given "/proc/self/fd/N": the one path this process opens after
 * start-up, read-only, naming its own memfd (an open() through procfs all the same).
 *
 * The known host keys. libcurl would read CURLOPT_SSH_KNOWNHOSTS at each connection; instead the
 * file ([main] ssh_known_hosts, default FETCH_KNOWN_HOSTS) is parsed into memory here, and
 * CURLOPT_SSH_HOSTKEYFUNCTION (http.c) asks ssh_hostkey_check. Lines are those of OpenSSH's
 * known_hosts: "[marker] patterns keytype base64-key [comment]". Patterns are host names, with
 * "[host]:port" for ports other than 22, "*" and "?" wildcards, "!" negation, and hashed entries
 * ("|1|salt|hmac", HMAC-SHA1); the marker @revoked refuses a key; @cert-authority lines are
 * skipped (no certificates here). A host with no line, or none whose key matches, is refused:
 * host keys are always checked.
 */
#include "fetcher/fetcher.h"

#include "ipc/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_MAX         (64 << 10)      /* bytes of private key: an RSA-16384 PEM fits */
#define KH_MAX          (4 << 20)       /* bytes of known_hosts read */
#define KH_LINE_MAX     (64 << 10)
#define KH_BLOB_MAX     (16 << 10)      /* decoded host key */
#define SHA1_LEN        20

static struct known_hosts kh;
static char kh_name[256];
static bool kh_loaded;
static int key_fd = -1;
static char key_path[32];

/* ---- base64 ------------------------------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode len characters of standard base64 (padding optional) into out (room: max). Returns the
 * decoded length or -1. */
static long b64_decode(const char *in, size_t len, unsigned char *out, size_t max)
{
	uint32_t acc = 0;
	size_t n = 0, bits = 0;

	while (len > 0 && in[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* Leftover bits must be zero padding, and a lone sextet is not a byte. */
	if (bits >= 6 || (acc & ((1u << bits) - 1)))
		return -1;
	return (long)n;
}

/* ---- known_hosts ---------------------------------------------------------------------------------- */

/* The next whitespace-separated field of [*p, end); NULL at the end. */
static const char *field(const char **p, const char *end, size_t *len)
{
	const char *s = *p, *f;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end)
		return NULL;
	f = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	*len = (size_t)(s - f);
	*p = s;
	return f;
}

/* "|1|base64-salt|base64-hmac" */
static int parse_hashed(struct kh_entry *e, const char *f, size_t len)
{
	const char *bar;
	long n;

	if (len < 3 || memcmp(f, "|1|", 3))
		return -1;
	f += 3;
	len -= 3;
	bar = memchr(f, '|', len);
	if (!bar)
		return -1;
	n = b64_decode(f, (size_t)(bar - f), e->salt, sizeof e->salt);
	if (n <= 0)
		return -1;
	e->salt_len = (size_t)n;
	len -= (size_t)(bar - f) + 1;
	if (b64_decode(bar + 1, len, e->hash, sizeof e->hash) != SHA1_LEN)
		return -1;
	e->hashed = true;
	return 0;
}

/* One line (without its newline). Returns 1 with *e filled, 0 for a line with nothing to keep,
 * -1 for a malformed line (*why says what). */
static int parse_line(const char *s, size_t len, struct kh_entry *e, const char **why)
{
	const char *end = s + len, *f, *type, *b64;
	size_t flen, tlen, blen;
	unsigned char *blob;
	long n;

	memset(e, 0, sizeof *e);
	f = field(&s, end, &flen);
	if (!f || *f == '#')
		return 0;
	if (*f == '@') {
		if (flen == 8 && !memcmp(f, "@revoked", 8)) {
			e->revoked = true;
		} else if (flen == 15 && !memcmp(f, "@cert-authority", 15)) {
			*why = "@cert-authority lines are not supported; skipped";
			return -1;
		} else {
			*why = "unknown marker";
			return -1;
		}
		f = field(&s, end, &flen);
		if (!f) {
			*why = "no host patterns";
			return -1;
		}
	}
	type = field(&s, end, &tlen);
	b64 = field(&s, end, &blen);
	if (!type || !b64) {
		*why = "expected: host patterns, key type, base64 key";
		return -1;
	}
	if (tlen >= sizeof e->type) {
		*why = "key type too long";
		return -1;
	}
	memcpy(e->type, type, tlen);
	if (*f == '|') {
		if (parse_hashed(e, f, flen)) {
			*why = "bad hashed host name";
			return -1;
		}
	} else {
		e->patterns = malloc(flen + 1);
		if (!e->patterns) {
			*why = "out of memory";
			return -1;
		}
		for (size_t i = 0; i < flen; i++)
			e->patterns[i] = (char)tolower((unsigned char)f[i]);
		e->patterns[flen] = '\0';
	}
	blob = malloc(blen / 4 * 3 + 3);
	if (!blob) {
		*why = "out of memory";
		free(e->patterns);
		return -1;
	}
	n = b64_decode(b64, blen, blob, blen / 4 * 3 + 3);
	/* The blob starts with its own type name: it must be the line's. */
	if (n < 4 || n > KH_BLOB_MAX ||
	    ((size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 | blob[3]) != tlen ||
	    (size_t)n < 4 + tlen || memcmp(blob + 4, type, tlen)) {
		*why = n < 0 ? "key is not base64" : "key does not match its type";
		free(blob);
		free(e->patterns);
		return -1;
	}
	e->key = blob;
	e->key_len = (size_t)n;
	return 1;
}

void known_hosts_free(struct known_hosts *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->e[i].patterns);
		free(k->e[i].key);
	}
	free(k->e);
	k->e = NULL;
	k->n = k->cap = 0;
}

int known_hosts_parse(struct known_hosts *k, const char *buf, size_t len, const char *name)
{
	const char *p = buf, *end = buf + len;
	unsigned line = 0;

	memset(k, 0, sizeof *k);
	snprintf(k->name, sizeof k->name, "%s", name);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *why = NULL;
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct kh_entry e;
		int rc;

		line++;
		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (l > KH_LINE_MAX || memchr(p, '\0', l)) {
			rc = -1;
			why = l > KH_LINE_MAX ? "line too long" : "NUL byte";
		} else {
			rc = parse_line(p, l, &e, &why);
		}
		if (rc < 0)
			log_warn("%s:%u: %s", name, line, why);
		if (rc > 0) {
			if (k->n == k->cap) {
				size_t cap = k->cap ? k->cap * 2 : 16;
				struct kh_entry *ne = realloc(k->e, cap * sizeof *ne);

				if (!ne) {
					free(e.patterns);
					free(e.key);
					known_hosts_free(k);
					return -ENOMEM;
				}
				k->e = ne;
				k->cap = cap;
			}
			e.line = line;
			k->e[k->n++] = e;
		}
		p += (nl ? (size_t)(nl - p) + 1 : (size_t)(end - p));
	}
	return 0;
}

/* OpenSSH's patterns: "*" any run, "?" any one character, everything else itself ("[" too). */
static bool wildcard_match(const char *pat, const char *s)
{
	const char *star = NULL, *retry = NULL;

	while (*s) {
		if (*pat == '*') {
			star = ++pat;
			retry = s;
		} else if (*pat == '?' || *pat == *s) {
			pat++;
			s++;
		} else if (star) {
			pat = star;
			s = ++retry;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

/* Does one pattern list ("a,!b,*.c") match name? A negated match wins, as in OpenSSH. */
static bool patterns_match(const char *patterns, const char *name)
{
	bool yes = false;
	const char *p = patterns;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);
		bool neg = *p == '!';
		char pat[HOST_MAX + 16];

		if (neg) {
			p++;
			l--;
		}
		if (l > 0 && l < sizeof pat) {
			memcpy(pat, p, l);
			pat[l] = '\0';
			if (wildcard_match(pat, name)) {
				if (neg)
					return false;
				yes = true;
			}
		}
		p += l;
		if (*p == ',')
			p++;
	}
	return yes;
}

static bool hashed_match(const struct kh_entry *e, const char *name)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;

	if (!HMAC(EVP_sha1(), e->salt, (int)e->salt_len, (const unsigned char *)name, strlen(name),
		  md, &mlen) || mlen != SHA1_LEN)
		return false;
	return memcmp(md, e->hash, SHA1_LEN) == 0;
}

int known_hosts_check(const struct known_hosts *k, const char *host, long port,
		      const unsigned char *key, size_t key_len, char *why, size_t size)
{
	char name[HOST_MAX + 16], bare[HOST_MAX + 1];
	size_t hl = strlen(host);
	const struct kh_entry *good = NULL;
	unsigned other = 0;

	/* An IPv6 literal keeps its brackets in URLs; known_hosts names it without. */
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
		snprintf(bare, sizeof bare, "%.*s", (int)(hl - 2), host + 1);
	else
		snprintf(bare, sizeof bare, "%s", host);
	for (char *c = bare; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (port == 22)
		snprintf(name, sizeof name, "%s", bare);
	else
		snprintf(name, sizeof name, "[%s]:%ld", bare, port);
	for (size_t i = 0; i < k->n; i++) {
		const struct kh_entry *e = &k->e[i];
		bool same;

		if (e->hashed ? !hashed_match(e, name) : !patterns_match(e->patterns, name))
			continue;
		same = e->key_len == key_len && memcmp(e->key, key, key_len) == 0;
		if (same && e->revoked) {
			snprintf(why, size, "host key of %s is revoked (%s line %u)", name, k->name,
				 e->line);
			return -EPERM;
		}
		if (same && !good)
			good = e;
		else if (!same && !e->revoked)
			other++;
	}
	if (good)
		return 0;
	if (other)
		snprintf(why, size, "host key of %s does not match the %u key%s %s has for it", name,
			 other, other > 1 ? "s" : "", k->name);
	else
		snprintf(why, size, "host %s is not in %s: its key cannot be checked", name,
			 k->name);
	return -EPERM;
}

int ssh_hostkey_check(const char *host, long port, const unsigned char *key, size_t key_len,
		      char *why, size_t size)
{
	if (!kh_loaded) {
		snprintf(why, size, "no known host keys (%s could not be read at start-up)",
			 kh_name);
		return -EPERM;
	}
	return known_hosts_check(&kh, host, port, key, key_len, why, size);
}

/* ---- start-up ------------------------------------------------------------------------------------ */

/* Read a whole regular file of at most max bytes from fd (with pread: the supervisor keeps the
 * same open file for restarts). Returns the malloc'd bytes, or NULL with errno set. */
static char *read_fd(int fd, size_t max, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fstat(fd, &st))
		return NULL;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > max) {
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		if (S_ISREG(st.st_mode) && st.st_size <= 0)
			errno = ENODATA;
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return NULL;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			errno = n < 0 ? errno : EIO;
			return NULL;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* The supervisor's fd 5, when there is one, becomes a sealed memfd of this process. */
static void key_load(void)
{
	size_t len = 0;
	char *buf;
	int fd;

	if (fcntl(FD_SSH_KEY, F_GETFD) < 0)
		return;
	buf = read_fd(FD_SSH_KEY, KEY_MAX, &len);
	close(FD_SSH_KEY);
	if (!buf) {
		log_err("ssh_key: cannot read the key the supervisor opened: %s; sftp layers will "
			"fail", strerror(errno));
		return;
	}
	fd = memfd_create("aysfs-ssh-key", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || fchmod(fd, 0400) || write(fd, buf, len) != (ssize_t)len ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) {
		log_err("ssh_key: cannot keep the key in memory: %s; sftp layers will fail",
			strerror(errno));
		if (fd >= 0)
			close(fd);
	} else {
		key_fd = fd;
		snprintf(key_path, sizeof key_path, "/proc/self/fd/%d", fd);
	}
	explicit_bzero(buf, len);
	free(buf);
}

int ssh_init(const struct worker_conf *c)
{
	const char *path = c->ssh_known_hosts && c->ssh_known_hosts[0] ? c->ssh_known_hosts :
			   FETCH_KNOWN_HOSTS;
	bool sftp = false;
	size_t len = 0;
	char *buf;
	int fd, rc;

	for (uint32_t i = 0; i < c->nlayers; i++)
		sftp |= strncmp(c->layers[i].url, "sftp://", 7) == 0;
	key_load();
	snprintf(kh_name, sizeof kh_name, "%s", path);
	if (!sftp)
		return 0;
	if (key_fd < 0)
		log_err("no ssh_key in [main]: sftp layers will fail to log in");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	buf = fd < 0 ? NULL : read_fd(fd, KH_MAX, &len);
	if (fd >= 0)
		close(fd);
	if (!buf) {
		log_err("ssh_known_hosts %s: %s: every sftp layer will be refused", path,
			strerror(errno));
		return 0;
	}
	rc = known_hosts_parse(&kh, buf, len, path);
	free(buf);
	if (rc)
		return rc;
	kh_loaded = true;
	log_info("ssh_known_hosts %s: %zu host keys", path, kh.n);
	return 0;
}

const char *ssh_key_path(void)
{
	return key_fd >= 0 ? key_path : NULL;
}

void ssh_free(void)
{
	known_hosts_free(&kh);
	kh_loaded = false;
	if (key_fd >= 0)
		close(key_fd);
	key_fd = -1;
}
