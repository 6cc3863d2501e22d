/* upload.c — aysfs-pack into a remote store (SPEC §9): an s3:// bucket (requests signed by
 * libcurl's AWS Signature Version 4 when credentials are given) or an http(s):// store that takes
 * PUT (WebDAV, nginx's dav_methods PUT).
 *
 * aysfs-pack first packs into a local folder laid out as a store; this publishes that folder.
 * Every blob is asked for with HEAD, UPLOAD_HEADS at a time on one libcurl multi handle: one
 * there with the same size is kept, the others are sent with PUT, UPLOAD_PUTS at a time. A 5xx
 * answer or a broken connection is tried again (UPLOAD_TRIES in all, waiting longer each time);
 * anything else fails the publication. Only when every blob is there does the flist go, then its
 * .sig: a reader never sees a flist whose blobs are not all in the store, and a run stopped half
 * way leaves the previous flist serving. A progress line on a terminal, unless -q.
 *
 * The credentials file is read here (aysfs-pack is the user's own program) and parsed by the
 * fetcher's parser (fetcher/s3.c); no message holds a key.
 */
#include "tools/upload.h"

#include "fetcher/fetcher.h"
#include "ipc/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UPLOAD_HEADS    16
#define UPLOAD_PUTS     8
#define UPLOAD_TRIES    5
#define UPLOAD_TIMEOUT_S 600
#define EMPTY_SHA256    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum phase { HEAD, PUT, DONE };

struct item {
	char *rel;                      /* NS/H0/H1/HASH[.bro] or NS/md/… */
	uint64_t size;
	enum phase phase;
	unsigned tries;
	double not_before;              /* a retry waits */
	/* while a transfer runs */
	CURL *easy;
	struct curl_slist *headers;
	FILE *body;
	char err[S3_ERRBODY_MAX];
	size_t errlen;
	char curlerr[CURL_ERROR_SIZE];
};

static struct {
	const char *local, *remote;
	bool s3, quiet, progress;
	struct s3_layer layer;          /* s3://: endpoint, region, keys */
	struct item *v;
	size_t n, cap;
	unsigned long uploaded, present, checked;
	uint64_t bytes;
	bool failed;
} U;

bool upload_is_remote(const char *store)
{
	return !strncmp(store, "s3://", 5) || !strncmp(store, "http://", 7) ||
	       !strncmp(store, "https://", 8);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int upload_prepare(const char *remote, const struct upload_opts *o)
{
	struct s3_layer *l = &U.layer;
	size_t n = strlen(remote);

	U.remote = remote;
	U.s3 = !strncmp(remote, "s3://", 5);
	U.quiet = o->quiet;
	if (!U.s3 && (o->endpoint || o->region || o->credentials)) {
		log_err("-endpoint, -region and -credentials are for s3:// stores");
		return 1;
	}
	if (!U.s3)
		return 0;
	while (n > 5 && remote[n - 1] == '/')
		n--;
	if (n <= 5 || n > S3_URL_MAX || (o->endpoint && strlen(o->endpoint) > S3_ENDPOINT_MAX) ||
	    (o->region && strlen(o->region) > S3_REGION_MAX) ||
	    (o->endpoint && strncmp(o->endpoint, "http://", 7) && strncmp(o->endpoint, "https://", 8))) {
		log_err("%s: a bucket, an http(s):// -endpoint and a -region of sane lengths are needed",
			remote);
		return 1;
	}
	memcpy(l->url, remote, n);
	l->url_len = n;
	snprintf(l->endpoint, sizeof l->endpoint, "%s", o->endpoint ? o->endpoint :
		 "https://s3.amazonaws.com");
	snprintf(l->region, sizeof l->region, "%s", o->region ? o->region : "us-east-1");
	if (o->credentials) {
		char buf[S3_KEYFILE_MAX + 1], why[128];
		int fd = open(o->credentials, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof buf);
		int err = errno;

		if (fd >= 0)
			close(fd);
		if (len < 0 || len > S3_KEYFILE_MAX) {
			log_err("-credentials %s: %s", o->credentials,
				len < 0 ? strerror(err) : "longer than 1024 bytes");
			return 1;
		}
		if (s3_creds_parse(buf, (size_t)len, l->access, l->secret, why, sizeof why)) {
			explicit_bzero(buf, sizeof buf);
			log_err("-credentials %s: %s", o->credentials, why);
			return 1;
		}
		explicit_bzero(buf, sizeof buf);
	}
	return 0;
}

/* ---- what to send ------------------------------------------------------------------------------ */

static int add_item(const char *rel, uint64_t size, enum phase phase)
{
	if (U.n == U.cap) {
		size_t cap = U.cap ? U.cap * 2 : 1024;
		struct item *v = realloc(U.v, cap * sizeof *v);

		if (!v)
			return -ENOMEM;
		U.v = v;
		U.cap = cap;
	}
	U.v[U.n] = (struct item){ .rel = strdup(rel), .size = size, .phase = phase };
	return U.v[U.n++].rel ? 0 : -ENOMEM;
}

static size_t md_len;           /* strlen("NS/md/") */
static char md_prefix[300];

static int on_file(const char *path, const struct stat *st, int type, struct FTW *f)
{
	const char *rel = path + strlen(U.local) + 1, *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	if (type != FTW_F || !S_ISREG(st->st_mode) || !strncmp(rel, md_prefix, md_len) ||
	    base[0] == '.')
		return 0;       /* folders, md/, and temporary ".name" files */
	return add_item(rel, (uint64_t)st->st_size, HEAD) ? -1 : 0;
}

/* ---- one transfer ------------------------------------------------------------------------------ */

static int url_of(const char *rel, char *out, size_t size)
{
	char s3url[PATH_MAX + S3_URL_MAX];
	size_t n = strlen(U.remote);
	int k;

	while (n > 0 && U.remote[n - 1] == '/')
		n--;
	if (!U.s3) {
		k = snprintf(out, size, "%.*s/%s", (int)n, U.remote, rel);
		return k < 0 || (size_t)k >= size ? -ENAMETOOLONG : 0;
	}
	k = snprintf(s3url, sizeof s3url, "%s/%s", U.layer.url, rel);
	if (k < 0 || (size_t)k >= sizeof s3url)
		return -ENAMETOOLONG;
	return s3_http_url(&U.layer, s3url, out, size);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct item *it = arg;
	size_t len = size * nmemb, k = sizeof it->err - 1 - it->errlen;

	k = len < k ? len : k;
	memcpy(it->err + it->errlen, p, k);
	it->errlen += k;
	it->err[it->errlen] = '\0';
	return len;
}

static int start(CURLM *multi, struct item *it)
{
	char url[PATH_MAX + S3_URL_MAX], path[PATH_MAX];
	CURLcode bad = CURLE_OK;
	CURL *e;

	if (url_of(it->rel, url, sizeof url) ||
	    snprintf(path, sizeof path, "%s/%s", U.local, it->rel) >= (int)sizeof path)
		return -ENAMETOOLONG;
	it->errlen = 0;
	it->curlerr[0] = '\0';
	if (it->phase == PUT && !(it->body = fopen(path, "rbe")))
		return -errno;
	e = it->easy = curl_easy_init();
	if (!e)
		return -ENOMEM;
	bad |= curl_easy_setopt(e, CURLOPT_URL, url);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, it);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)UPLOAD_TIMEOUT_S);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, it);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, it->curlerr);
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "aysfs-pack/" AYSFS_VERSION);
	if (it->phase == HEAD) {
		bad |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		bad |= curl_easy_setopt(e, CURLOPT_READDATA, it->body);
		bad |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)it->size);
		/* The body at once after "Expect: 100-continue": a store that does not answer it
		 * would cost each PUT a second. (Leaving the header out instead breaks libcurl
		 * 7.88's signature, which names it among the signed headers.) */
		bad |= curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
	}
	if (U.s3 && U.layer.access[0]) {
		char sigv4[32 + S3_REGION_MAX];
		struct curl_slist *h = curl_slist_append(it->headers, it->phase == HEAD ?
			"x-amz-content-sha256: " EMPTY_SHA256 : "x-amz-content-sha256: UNSIGNED-PAYLOAD");

		if (!h)
			return -ENOMEM;
		it->headers = h;
		snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", U.layer.region);
		bad |= curl_easy_setopt(e, CURLOPT_AWS_SIGV4, sigv4);
		bad |= curl_easy_setopt(e, CURLOPT_USERNAME, U.layer.access);
		bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, U.layer.secret);
	}
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->headers);
	if (bad != CURLE_OK)
		return -EINVAL;
	return curl_multi_add_handle(multi, e) == CURLM_OK ? 0 : -ENOMEM;
}

static void end(CURLM *multi, struct item *it)
{
	curl_multi_remove_handle(multi, it->easy);
	curl_easy_cleanup(it->easy);
	it->easy = NULL;
	curl_slist_free_all(it->headers);
	it->headers = NULL;
	if (it->body)
		fclose(it->body);
	it->body = NULL;
}

/* A transfer ended: what next for the item. */
static void judge(CURLM *multi, struct item *it, CURLcode res)
{
	long code = 0;
	curl_off_t cl = -1;
	char what[S3_CODE_MAX + 2] = "";
	bool retry;

	curl_easy_getinfo(it->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(it->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	end(multi, it);
	if (res == CURLE_OK && it->phase == HEAD && code == 200 && cl >= 0 &&
	    (uint64_t)cl == it->size) {
		U.checked++;
		U.present++;
		it->phase = DONE;
		return;
	}
	if (res == CURLE_OK && it->phase == HEAD && (code == 200 || code == 404)) {
		U.checked++;
		it->phase = PUT;        /* missing, or another size: sent */
		it->tries = 0;
		return;
	}
	if (res == CURLE_OK && it->phase == PUT && code >= 200 && code < 300) {
		U.uploaded++;
		U.bytes += it->size;
		it->phase = DONE;
		return;
	}
	retry = res != CURLE_OK || code >= 500;
	if (retry && ++it->tries < UPLOAD_TRIES) {
		it->not_before = now_s() + 0.25 * (1u << it->tries);
		return;
	}
	if (U.s3 && code >= 300 && s3_error_code(it->err, it->errlen, what + 1, sizeof what - 1))
		what[0] = ' ';
	if (U.failed) {         /* the first failure is said; the transfers under way just end */
		it->phase = DONE;
		return;
	}
	if (U.progress)
		fputs("\r\033[K", stderr);
	if (res != CURLE_OK)
		log_err("%s/%s: %s %s", U.remote, it->rel, it->phase == HEAD ? "HEAD" : "PUT",
			it->curlerr[0] ? it->curlerr : curl_easy_strerror(res));
	else
		log_err("%s/%s: %s: HTTP %ld%s", U.remote, it->rel, it->phase == HEAD ? "HEAD" : "PUT",
			code, what);
	U.failed = true;
	it->phase = DONE;
}

static void progress(double *last, bool force)
{
	double t = now_s();

	if (!U.progress || (!force && t - *last < 0.5))
		return;
	*last = t;
	fprintf(stderr, "\r\033[Kaysfs-pack: %s: %lu of %zu blobs checked, %lu there, %lu uploaded "
		"(%" PRIu64 " bytes)", U.remote, U.checked, U.n, U.present, U.uploaded, U.bytes);
}

/* Run items [from, to) until each is DONE or the publication failed. */
static int run(CURLM *multi, size_t from, size_t to)
{
	double last = 0;
	unsigned heads = 0, puts = 0;

	for (;;) {
		bool left = false;
		int running, msgs;
		CURLMsg *m;

		for (size_t i = from; i < to && !U.failed; i++) {
			struct item *it = &U.v[i];
			unsigned *busy = it->phase == HEAD ? &heads : &puts;

			if (it->phase == DONE)
				continue;
			left = true;
			if (it->easy || it->not_before > now_s() ||
			    *busy >= (it->phase == HEAD ? UPLOAD_HEADS : UPLOAD_PUTS))
				continue;
			if (start(multi, it)) {
				log_err("%s/%s: cannot start the transfer", U.remote, it->rel);
				U.failed = true;
				break;
			}
			(*busy)++;
		}
		if (U.failed ? !heads && !puts : !left)
			break;
		curl_multi_perform(multi, &running);
		while ((m = curl_multi_info_read(multi, &msgs))) {
			struct item *it;
			char *priv;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
			it = (struct item *)(void *)priv;
			(*(it->phase == HEAD ? &heads : &puts))--;
			judge(multi, it, m->data.result);
		}
		progress(&last, false);
		curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	progress(&last, true);
	return U.failed ? 2 : 0;
}

int upload_store(const char *local, const char *remote, const char *ns, const char *id,
		 unsigned long *uploaded, unsigned long *present, uint64_t *bytes)
{
	char root[PATH_MAX], rel[600];
	struct stat st;
	size_t blobs;
	CURLM *multi;
	int r = 2;

	U.local = local;
	U.progress = !U.quiet && isatty(STDERR_FILENO);
	snprintf(md_prefix, sizeof md_prefix, "%s/md/", ns);
	md_len = strlen(md_prefix);
	snprintf(root, sizeof root, "%s/%s", local, ns);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(multi = curl_multi_init())) {
		log_err("cannot set up libcurl");
		return 2;
	}
	if (nftw(root, on_file, 32, FTW_PHYS)) {
		log_err("%s: cannot list the blobs: %s", root, strerror(errno));
		goto out;
	}
	blobs = U.n;
	/* The flist, then its signature: each only once everything before it is there. */
	snprintf(rel, sizeof rel, "%s/md/%s.flist", ns, id);
	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX];

		if (i)
			snprintf(rel + strlen(rel), sizeof rel - strlen(rel), ".sig");
		snprintf(path, sizeof path, "%s/%s", local, rel);
		if (stat(path, &st) == 0 && add_item(rel, (uint64_t)st.st_size, PUT)) {
			log_err("out of memory");
			goto out;
		}
	}
	if (run(multi, 0, blobs))
		goto out;
	for (size_t i = blobs; i < U.n; i++)
		if (run(multi, i, i + 1))
			goto out;
	/* Count blobs only. */
	U.uploaded -= U.n - blobs;
	for (size_t i = blobs; i < U.n; i++)
		U.bytes -= U.v[i].size;
	r = 0;
out:
	if (U.progress)
		fputs("\r\033[K", stderr);
	*uploaded = U.uploaded;
	*present = U.present;
	*bytes = U.bytes;
	for (size_t i = 0; i < U.n; i++)
		free(U.v[i].rel);
	free(U.v);
	U.v = NULL;
	U.n = U.cap = 0;
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	explicit_bzero(&U.layer, sizeof U.layer);
	return r;
}
