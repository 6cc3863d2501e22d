/* http.c — the indexer's fetch requests and their transfers on the libcurl multi interface.
 *
 * A request (MSG_FETCH) walks its URL list in order, one transfer at a time, into the pipe the
 * indexer gave; a push (MSG_PUSH) is one HTTP PUT of its fd. A body that breaks off after its
 * first bytes went into the pipe ends the request (the indexer asks again from the next layer,
 * with a new pipe); a full pipe pauses its transfer until the indexer has read from it. Up to
 * FETCH_MAX_ACTIVE requests run in parallel, the rest wait in a FIFO; read-ahead (FETCH_BLOB_AHEAD) waits in a second FIFO that
 * gets a free slot only when the first is empty, and never more than FETCH_MAX_AHEAD of them. All
 * transfers share one multi handle, hence one connection cache: keep-alive and HTTP/2
 * multiplexing come with it. libcurl's sockets and timer are driven by the fetcher's poll loop
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION and curl_multi_socket_action).
 *
 * What libcurl may do is pinned per transfer: the URL's own protocol only (http and https, or
 * sftp), no redirect, no proxy but the configured ones (layer.c), TLS verified against the CA
 * bundle read at start-up, and no name resolution of its own (dns.c answers through
 * CURLOPT_RESOLVE; a resolver-start callback refuses anything else).
 *
 * sftp:// URLs log in with the [main] ssh_key only (public-key authentication, as the URL's user,
 * else FETCH_SSH_USER), and the server's host key is checked against the known hosts read at
 * start-up (ssh.c) by CURLOPT_SSH_HOSTKEYFUNCTION, so libcurl reads no known_hosts file. A missing
 * file ("No such file") is what a 404 is over http.
 *
 * Layer health (layer.c): a layer that fails — 5xx, timeout, refused or reset connection, short
 * body, name that does not resolve — is skipped for a back-off period; a 404 or 410 is "not here"
 * and costs nothing. A proxy that cannot be reached is skipped the same way, and the URL is tried
 * through the next proxy of its list.
 */
#include "fetcher/fetcher.h"

#include "ipc/log.h"
#include "ipc/proto_workers.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CA_MAX          (8 << 20)   /* bytes of CA bundle read */
#define SOCKS_MAX       64          /* curl sockets watched: 16 transfers, 2 each while connecting */
#define CONN_CACHE      24          /* idle connections kept for reuse */
#define DISCARD_MAX     (64 << 10)  /* body bytes of an error answer read before giving up */
#define DEADLINE_EXTRA_MAX (24ull * 3600 * 1000)

enum req_state { R_QUEUED, R_RESOLVING, R_TRANSFER };

struct req {
	struct req *next;               /* in the queue */
	enum req_state state;
	struct fetch_req q;             /* what the indexer asked */
	uint64_t deadline;
	uint32_t cur;                   /* the URL being tried */
	/* the current URL, and the proxy it goes through (NULL: none) */
	struct url_parts target, px;
	const char *proxy;
	/* the current transfer */
	CURL *easy;
	struct curl_slist *resolve;
	uint64_t written;               /* body bytes in the pipe */
	uint64_t taken;                 /* body bytes libcurl handed over for good (≤ written) */
	uint64_t sent, discarded;
	bool dirty;                     /* body bytes went into the pipe: no other URL may follow */
	bool paused;                    /* the pipe was full: resumed when it can take more */
	bool length_checked, too_long, discard_abort;
	bool sftp;                      /* the current URL is sftp:// */
	bool stalled;                   /* no byte for FETCH_STALL_MS: given up */
	curl_off_t moved;               /* body bytes at the last progress call */
	curl_off_t took_us;             /* the last transfer's whole time (libcurl's) */
	uint64_t progress_at;           /* when they last changed (or the transfer resumed) */
	char hostkey_why[HOST_MAX + 512];       /* why the host key was refused */
	int werr;
	char errbuf[CURL_ERROR_SIZE];
	/* the outcome so far */
	bool all_404;                   /* every URL tried answered 404/410 */
	bool not_tried;                 /* read-ahead stopped before a layer not known to answer */
	int last_err;                   /* errno of the last other failure */
	char reason[REASON_MAX + 1];
	size_t rlen;
	/* flists (SPEC §8): the conditional request's headers, and the answer's validators */
	struct curl_slist *headers;
	bool not_modified;
	char etag[FETCH_ETAG_MAX + 1], last_modified[FETCH_DATE_MAX + 1];
	/* s3:// (s3.c): the layer, the URL asked for over HTTP, and the start of an error answer */
	const struct s3_layer *s3;
	const struct s3_layer *s3_refused;      /* refused this request (403 …): not asked again */
	char s3url[PATH_MAX + S3_ENDPOINT_MAX];
	char errbody[S3_ERRBODY_MAX];
	size_t errlen;
};

struct csock {
	curl_socket_t fd;
	short events;
};

static CURLM *multi;
static struct curl_blob ca_blob;
static bool ca_loaded;
static struct req *active[FETCH_MAX_ACTIVE];
static struct queue {
	struct req *head, *tail;
} queue, ahead_queue;
static unsigned held;                   /* queued + active */
static unsigned ahead_active;           /* active read-ahead requests */
static struct csock socks[SOCKS_MAX];
static int nsocks;
static uint64_t timer_at;               /* 0: no curl timeout pending */
static int polled_socks;                /* how many of http_pollfds' entries are curl's sockets */

/* ---- requests ---------------------------------------------------------------------------------- */

/* Append "URL: what" to the request's reason, "; "-separated, cut with "..." when full. */
static void __attribute__((format(printf, 2, 3))) note(struct req *r, const char *fmt, ...)
{
	size_t room = sizeof r->reason - r->rlen, start = r->rlen;
	va_list ap;
	int n;

	if (room <= 1)
		return;
	n = snprintf(r->reason + r->rlen, room, "%s%s: ", r->rlen ? "; " : "", r->q.url[r->cur]);
	if (n > 0 && (size_t)n < room) {
		va_start(ap, fmt);
		n += vsnprintf(r->reason + r->rlen + n, room - (size_t)n, fmt, ap);
		va_end(ap);
	}
	if (n < 0 || (size_t)n >= room) {
		r->rlen = sizeof r->reason - 1;
		memcpy(r->reason + r->rlen - 3, "...", 3);
	} else {
		r->rlen += (size_t)n;
	}
	log_debug("%s %llu: %s", r->q.push ? "push" : "fetch", (unsigned long long)r->q.id,
		  r->reason + start + (start ? 2 : 0));
}

/* A failure of the current URL; `down` marks its layer, `kind` (FK_NONE: not the layer's fault)
 * counts it. */
static void failed(struct req *r, int err, bool down, enum fail_kind kind, const char *why)
{
	note(r, "%s", why);
	r->all_404 = false;
	r->last_err = err;
	if (r->target.key[0])
		layer_count(r->target.key, kind);
	if (down && r->target.key[0])
		layer_fail(r->target.key, why);
}

/* The proxy could not be reached: mark it down; the caller tries the URL again (next proxy). */
static void proxy_failed(struct req *r, enum fail_kind kind, const char *why)
{
	note(r, "proxy %s: %s", r->proxy, why);
	r->all_404 = false;
	r->last_err = EIO;
	layer_count(r->px.key, kind);
	layer_fail(r->px.key, why);
}

/* What a transfer that got no usable answer was. */
static enum fail_kind kind_of(CURLcode res)
{
	switch (res) {
	case CURLE_OPERATION_TIMEDOUT:
		return FK_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
		return FK_REFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return FK_DNS;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return FK_TLS;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		return FK_DROPPED;
	default:
		return FK_OTHER;
	}
}

static void transfer_end(struct req *r)
{
	if (r->easy) {
		curl_multi_remove_handle(multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	curl_slist_free_all(r->resolve);
	r->resolve = NULL;
	curl_slist_free_all(r->headers);
	r->headers = NULL;
}

static void req_free(struct req *r)
{
	request_free(&r->q);
	free(r);
}

/* Answer the indexer and forget the request (closing the pipe: the indexer reads to its end).
 * status 0 means the current URL's body is in the pipe. */
static void finish(struct req *r, int status)
{
	uint64_t bytes = status == 0 || r->dirty ? r->written : 0;

	transfer_end(r);
	if (status)
		status = r->not_tried ? EAGAIN : r->all_404 ? ENOENT : r->last_err ? r->last_err : EIO;
	if (r->q.push) {
		if (status)
			log_warn("push failed: %s", r->reason);
		else
			log_debug("pushed %s", r->reason);
		goto out;
	}
	log_debug("fetch %llu: %s, %llu bytes", (unsigned long long)r->q.id,
		  status ? strerror(status) : "done", (unsigned long long)bytes);
	/* A failure names the URL whose body broke off in the pipe, if one did (proto.h). */
	request_reply(r->q.id, status, status == 0 || r->dirty ? r->cur : r->q.n, bytes, r->reason,
		      r->rlen, status == 0 && r->not_modified, r->etag, r->last_modified);
	if (status == 0)
		fctl_note_fetch(r->q.url[r->cur], bytes, r->q.ahead, !r->q.flist,
				r->took_us > 0 ? (uint64_t)r->took_us : 0);
out:
	for (int i = 0; i < FETCH_MAX_ACTIVE; i++)
		if (active[i] == r) {
			active[i] = NULL;
			ahead_active -= r->q.ahead;
		}
	held--;
	req_free(r);
}

/* ---- one transfer ------------------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t len = size * nmemb, done = 0;
	long code = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if ((code != 200 && !r->sftp) || r->q.push) {
		/* An error page: read it (the connection stays usable) unless it is large; S3's
		 * says why in its XML (s3_error_code). */
		if (r->s3 && r->errlen < sizeof r->errbody) {
			size_t k = len < sizeof r->errbody - r->errlen ? len : sizeof r->errbody - r->errlen;

			memcpy(r->errbody + r->errlen, p, k);
			r->errlen += k;
		}
		r->discarded += len;
		if (r->discarded > DISCARD_MAX) {
			r->discard_abort = true;
			return 0;
		}
		return len;
	}
	if (!r->length_checked) {
		curl_off_t cl = -1;

		r->length_checked = true;
		curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (cl > 0 && (uint64_t)cl > r->q.max_size) {
			r->too_long = true;
			return 0;
		}
	}
	if (len > r->q.max_size - r->taken) {
		r->too_long = true;
		return 0;
	}
	/* libcurl hands a paused chunk over again from its start: skip what the pipe has of it. */
	done = (size_t)(r->written - r->taken);
	if (done > len) {
		r->werr = EIO;
		return 0;
	}
	r->dirty = true;
	while (done < len) {
		ssize_t n = write(r->q.fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			r->written = r->taken + done;
			r->paused = true;
			return CURL_WRITEFUNC_PAUSE;
		}
		if (n <= 0) {
			r->werr = n < 0 ? errno : EIO;      /* EPIPE: the indexer gave up */
			return 0;
		}
		done += (size_t)n;
	}
	r->taken += len;
	r->written = r->taken;
	return len;
}

/* A push's body: the blob, read with pread so that libcurl may rewind. */
static size_t on_upload(char *p, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t len = size * nmemb;
	ssize_t n;

	if (len > r->q.max_size - r->sent)
		len = (size_t)(r->q.max_size - r->sent);
	if (len == 0)
		return 0;
	do
		n = pread(r->q.fd, p, len, (off_t)r->sent);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		r->werr = n < 0 ? errno : EIO;     /* the blob shrank or cannot be read */
		return CURL_READFUNC_ABORT;
	}
	r->sent += (uint64_t)n;
	return (size_t)n;
}

static int on_seek(void *arg, curl_off_t offset, int origin)
{
	struct req *r = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->q.max_size)
		return CURL_SEEKFUNC_CANTSEEK;
	r->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* libcurl's progress call (about once a second, even when nothing arrives): a download whose
 * server has answered and then sends nothing for FETCH_STALL_MS is given up, so that the next
 * layer serves it in seconds (libcurl's own low-speed check averages over FETCH_LOW_SPEED_S,
 * longer, to leave slow starts and slow links alone). */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct req *r = arg;
	uint64_t now = now_ms();
	long code = 0;

	if (!r->sftp)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (dlnow != r->moved || r->paused || (code == 0 && dlnow == 0)) {
		r->moved = dlnow;
		r->progress_at = now;
		return 0;
	}
	if (now - r->progress_at < FETCH_STALL_MS)
		return 0;
	r->stalled = true;
	return 1;
}

/* libcurl found no CURLOPT_RESOLVE entry and wants to resolve: only an IPv6 literal (which
 * libcurl converts without a lookup) may go on. */
static int on_resolver_start(void *state, void *reserved, void *arg)
{
	struct req *r = arg;

	if (r->target.v6_literal || (r->proxy && r->px.v6_literal))
		return 0;
	log_err("libcurl was about to resolve a name itself (%s); refused", r->target.host);
	return 1;
}

/* The sftp server's host key, before anything is sent to it: one of the known keys for its name
 * and port, or the login stops. */
static int on_hostkey(void *arg, int keytype, const char *key, size_t len)
{
	struct req *r = arg;

	(void)keytype;          /* the key blob names its type: ssh.c compares whole blobs */
	if (ssh_hostkey_check(r->target.host, r->target.port, (const unsigned char *)key, len,
			      r->hostkey_why, sizeof r->hostkey_why) == 0)
		return CURLKHMATCH_OK;
	log_err("%s: %s", r->target.key, r->hostkey_why);
	return CURLKHMATCH_MISMATCH;
}

/* One CURLOPT_RESOLVE entry, "host:port:addresses". */
static int resolve_add(struct req *r, const struct url_parts *u, const char *addrs)
{
	char entry[HOST_MAX + 16 + DNS_ADDRS_MAX];
	struct curl_slist *l;

	snprintf(entry, sizeof entry, "%s:%ld:%s", u->host, u->port, addrs);
	l = curl_slist_append(r->resolve, entry);
	if (!l)
		return -ENOMEM;
	r->resolve = l;
	return 0;
}

/* A flist asked for again: If-None-Match and If-Modified-Since from the copy the indexer holds
 * (request.c checked that they are printable ASCII, so no header can be smuggled in). Flists
 * change (SPEC §9): a shared cache on the way (squid, a CDN) must ask the store again rather than
 * answer from its copy, hence max-age=0, which it revalidates with a conditional request of its
 * own. Blob requests carry nothing of the sort, nor any header that varies: any cache may keep
 * them. */
static int cond_headers(struct req *r)
{
	char h[32 + FETCH_ETAG_MAX];
	struct curl_slist *l = curl_slist_append(r->headers, "Cache-Control: max-age=0");

	if (!l)
		return -ENOMEM;
	r->headers = l;
	for (int i = 0; i < 2; i++) {
		const char *v = i ? r->q.last_modified : r->q.etag;

		if (!v[0])
			continue;
		snprintf(h, sizeof h, "%s: %s", i ? "If-Modified-Since" : "If-None-Match", v);
		if (!(l = curl_slist_append(r->headers, h)))
			return -ENOMEM;
		r->headers = l;
	}
	return 0;
}

/* S3 wants the payload's SHA-256 named in a signed request (libcurl 7.88 signs the header, but
 * does not add it): that of the empty body for a GET, none for a push, whose body is streamed. */
static int s3_headers(struct req *r)
{
	struct curl_slist *l = curl_slist_append(r->headers, r->q.push ?
		"x-amz-content-sha256: UNSIGNED-PAYLOAD" :
		"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	if (!l)
		return -ENOMEM;
	r->headers = l;
	return 0;
}

/* The answer's ETag and Last-Modified, kept for the indexer's next conditional request. */
static void take_validators(struct req *r)
{
	struct curl_header *h;

	r->etag[0] = r->last_modified[0] = '\0';
	if (curl_easy_header(r->easy, "ETag", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
	    request_validator_ok(h->value, strlen(h->value), FETCH_ETAG_MAX))
		snprintf(r->etag, sizeof r->etag, "%s", h->value);
	if (curl_easy_header(r->easy, "Last-Modified", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
	    request_validator_ok(h->value, strlen(h->value), FETCH_DATE_MAX))
		snprintf(r->last_modified, sizeof r->last_modified, "%s", h->value);
}

/* Start the transfer of the current URL; taddrs and paddrs are the addresses of the target and of
 * the proxy, for the names libcurl will connect to (NULL: a literal, or not needed). */
static int transfer_start(struct req *r, const char *taddrs, const char *paddrs)
{
	const char *url = r->s3 ? r->s3url : r->q.url[r->cur];
	uint64_t now = now_ms(), left = r->deadline > now ? r->deadline - now : 1;
	CURLcode bad = CURLE_OK;
	CURL *e;

	r->written = r->taken = r->sent = r->discarded = 0;
	r->paused = r->stalled = false;
	r->moved = 0;
	r->progress_at = now;
	r->length_checked = r->too_long = r->discard_abort = false;
	r->errbuf[0] = '\0';
	r->hostkey_why[0] = '\0';
	r->errlen = 0;
	/* A reload may have replaced the s3:// settings while the name was looked up. */
	if (r->s3 && !(r->s3 = s3_find(r->q.url[r->cur])))
		return -EINVAL;
	if ((taddrs && resolve_add(r, &r->target, taddrs)) ||
	    (paddrs && resolve_add(r, &r->px, paddrs)))
		return -ENOMEM;
	e = r->easy = curl_easy_init();
	if (!e)
		return -ENOMEM;
	bad |= curl_easy_setopt(e, CURLOPT_URL, url);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, r->sftp ? "sftp" : "http,https");
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	bad |= curl_easy_setopt(e, CURLOPT_PROXY, r->proxy ? r->proxy : "");
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_RESOLVE, r->resolve);
	bad |= curl_easy_setopt(e, CURLOPT_RESOLVER_START_FUNCTION, on_resolver_start);
	bad |= curl_easy_setopt(e, CURLOPT_RESOLVER_START_DATA, r);
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)FETCH_CONNECT_MS);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left);
	bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)FETCH_LOW_SPEED);
	bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)FETCH_LOW_SPEED_S);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	/* Only the bundle in memory: no file or folder of CAs is opened during a handshake. Given
	 * for TLS only: libcurl copies the bundle (about 200 KB) into every connection it sets up
	 * and compares it when it looks for one to reuse, a request over plain http included. */
	bad |= curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	bad |= curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	if (ca_loaded && !strcmp(r->target.scheme, "https"))
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca_blob);
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (r->proxy) {
		bad |= curl_easy_setopt(e, CURLOPT_PROXY_CAINFO, NULL);
		bad |= curl_easy_setopt(e, CURLOPT_PROXY_CAPATH, NULL);
		if (ca_loaded && !strcmp(r->px.scheme, "https"))
			bad |= curl_easy_setopt(e, CURLOPT_PROXY_CAINFO_BLOB, &ca_blob);
		bad |= curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
		bad |= curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
	}
	bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	bad |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "aysfs/" AYSFS_VERSION);
	if (r->s3 && r->s3->access[0]) {
		/* libcurl's own AWS Signature Version 4, with the layer's keys (s3.c). */
		char sigv4[32 + S3_REGION_MAX];

		snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", r->s3->region);
		bad |= curl_easy_setopt(e, CURLOPT_AWS_SIGV4, sigv4);
		bad |= curl_easy_setopt(e, CURLOPT_USERNAME, r->s3->access);
		bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, r->s3->secret);
	}
	if (r->sftp) {
		/* The key in memory (ssh.c) and no other way in; no known_hosts file is read. */
		bad |= curl_easy_setopt(e, CURLOPT_SSH_AUTH_TYPES, (long)CURLSSH_AUTH_PUBLICKEY);
		bad |= curl_easy_setopt(e, CURLOPT_SSH_PRIVATE_KEYFILE, ssh_key_path());
		bad |= curl_easy_setopt(e, CURLOPT_SSH_PUBLIC_KEYFILE, "");
		bad |= curl_easy_setopt(e, CURLOPT_SSH_KNOWNHOSTS, NULL);
		bad |= curl_easy_setopt(e, CURLOPT_SSH_HOSTKEYFUNCTION, on_hostkey);
		bad |= curl_easy_setopt(e, CURLOPT_SSH_HOSTKEYDATA, r);
		if (!r->target.user)
			bad |= curl_easy_setopt(e, CURLOPT_USERNAME, FETCH_SSH_USER);
		/* Through an HTTP proxy, SSH needs a CONNECT tunnel. */
		if (r->proxy)
			bad |= curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
	}
	if (!r->q.push) {
		bad |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
		bad |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
		bad |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	}
	if (r->q.flist && !r->sftp && cond_headers(r))
		return -ENOMEM;
	if (r->s3 && r->s3->access[0] && s3_headers(r))
		return -ENOMEM;

	if (r->headers)
		bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	if (r->q.push) {
		bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		bad |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->q.max_size);
		bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
		bad |= curl_easy_setopt(e, CURLOPT_READDATA, r);
		bad |= curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		bad |= curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
		/* The body at once after "Expect: 100-continue": a cache that does not answer it
		 * would cost each push a second. */
		bad |= curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
	}
	if (bad != CURLE_OK)
		return -EINVAL;
	if (curl_multi_add_handle(multi, e) != CURLM_OK)
		return -ENOMEM;
	r->state = R_TRANSFER;
	return 0;
}

/* Look up the names libcurl will connect to — the target, unless a proxy resolves it (http,
 * https, socks4a, socks5h), and the proxy — then start the transfer. Returns 0, -EINPROGRESS
 * (a lookup is under way), -EAGAIN (the proxy failed: try again), or another -errno (noted). */
static int resolve_start(struct req *r)
{
	char taddrs[DNS_ADDRS_MAX], paddrs[DNS_ADDRS_MAX];
	const char *t = NULL, *p = NULL;
	bool local = !r->proxy || !strcmp(r->px.scheme, "socks4") || !strcmp(r->px.scheme, "socks5");
	int rt = 0, rp = 0;

	if (local && !r->target.v6_literal) {
		t = r->target.v4_literal ? r->target.host : taddrs;
		if (!r->target.v4_literal)
			rt = dns_lookup(r->target.host, taddrs, sizeof taddrs);
	}
	if (r->proxy && !r->px.v6_literal) {
		p = r->px.v4_literal ? r->px.host : paddrs;
		if (!r->px.v4_literal)
			rp = dns_lookup(r->px.host, paddrs, sizeof paddrs);
	}
	if (rt == -EINPROGRESS || rp == -EINPROGRESS)
		return -EINPROGRESS;
	if (rp) {
		proxy_failed(r, FK_DNS, paddrs);
		return -EAGAIN;
	}
	if (rt) {
		failed(r, EIO, true, FK_DNS, taddrs);
		return -EHOSTUNREACH;
	}
	return transfer_start(r, t, p);
}

/* Walk the request's URLs from the current one until a transfer runs, a lookup is awaited, or the
 * list (or the deadline) ends. */
static void walk(struct req *r)
{
	const char *scheme = r->target.scheme;
	char why[64];
	unsigned down;
	int rc;

	while (r->cur < r->q.n) {
		if (now_ms() >= r->deadline) {
			failed(r, ETIMEDOUT, false, r->state == R_RESOLVING ? FK_DNS : FK_NONE,
			       r->state == R_RESOLVING ?
			       "name lookup did not end before the request's deadline" :
			       "not tried: the request's deadline passed");
			break;
		}
		if (r->state != R_RESOLVING) {
			const char *url = r->q.url[r->cur];

			r->s3 = NULL;
			if (!strncmp(url, "s3://", 5)) {
				/* HASH.bro after HASH was refused: one line per layer says it. */
				if (r->s3_refused && r->s3_refused == s3_find(url))
					goto next;
				if (!(r->s3 = s3_find(url)) ||
				    s3_http_url(r->s3, url, r->s3url, sizeof r->s3url)) {
					failed(r, EIO, false, FK_NONE, r->s3 ? "too long" :
					       "under no s3:// layer of the configuration");
					goto next;
				}
				url = r->s3url;
			}
			rc = url_split(url, &r->target, false);
			r->sftp = strcmp(scheme, "sftp") == 0;
			if (r->sftp && r->q.push) {
				failed(r, EIO, false, FK_NONE, "push caches are written over http only");
				goto next;
			}
			if (r->sftp && !ssh_key_path()) {
				failed(r, EIO, false, FK_NONE, "no ssh_key to log in with");
				goto next;
			}
			if (!r->sftp && strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
				failed(r, EIO, false, FK_NONE, scheme[0] ? "not an http, https or sftp URL" :
				       "not a valid URL");
				goto next;
			}
			if (rc) {
				failed(r, EIO, false, FK_NONE, "not a valid URL");
				goto next;
			}
			if ((down = layer_down_s(r->target.key))) {
				snprintf(why, sizeof why, "down for %u s", down);
				failed(r, EIO, false, FK_NONE, why);
				goto next;
			}
			if (proxy_pick(r->q.url[r->cur], &r->proxy, &r->px, &down)) {
				snprintf(why, sizeof why, "every proxy is down (for %u s)", down);
				failed(r, EIO, false, FK_NONE, why);
				goto next;
			}
			/* Read-ahead leaves a place that has not proved itself to the opens, and SFTP:
			 * each transfer in parallel is an SSH login of its own (and servers cap the
			 * logins under way, sshd's MaxStartups). */
			if (r->q.ahead && r->sftp) {
				note(r, "not tried ahead: sftp");
				r->not_tried = true;
				break;
			}
			if (r->q.ahead && (!layer_trusted(r->target.key) ||
					   (r->proxy && layer_fails(r->px.key)))) {
				note(r, "not tried ahead: %s has not answered yet",
				     layer_trusted(r->target.key) ? r->proxy : r->target.key);
				r->not_tried = true;
				break;
			}
		}
		r->state = R_QUEUED;
		rc = resolve_start(r);
		if (rc == -EINPROGRESS) {
			r->state = R_RESOLVING;
			return;
		}
		if (rc == 0)
			return;
		transfer_end(r);
		if (rc == -EAGAIN)
			continue;               /* the same URL through the next proxy */
		if (rc != -EHOSTUNREACH)
			failed(r, EIO, false, FK_NONE, "cannot set up the transfer");
next:
		r->cur++;
	}
	finish(r, -1);
}

/* A transfer ended: judge it, then go on with the next URL or answer. */
static void transfer_done(struct req *r, CURLcode res)
{
	bool answered = res == CURLE_OK || r->discard_abort;
	curl_off_t cl = -1, connected = 0;
	long code = 0, tunnel = 0;
	char why[HOST_MAX + 512 + CURL_ERROR_SIZE], s3code[S3_CODE_MAX + 2] = "";

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connected);
	curl_easy_getinfo(r->easy, CURLINFO_HTTP_CONNECTCODE, &tunnel);
	curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &r->took_us);
	if (r->q.flist && !r->sftp && (code == 200 || code == 304))
		take_validators(r);
	transfer_end(r);
	r->state = R_QUEUED;
	/* What S3 said: " SignatureDoesNotMatch", " NoSuchBucket", … */
	if (r->s3 && code >= 300 && s3_error_code(r->errbody, r->errlen, s3code + 1, sizeof s3code - 1))
		s3code[0] = ' ';
	if (r->sftp) {
		/* No status line: a whole body is a 200, a missing file a 404. */
		code = res == CURLE_OK ? 200 : res == CURLE_REMOTE_FILE_NOT_FOUND ? 404 : 0;
		answered = code != 0;
	}
	if (r->hostkey_why[0])
		snprintf(why, sizeof why, "%s", r->hostkey_why);
	else if (r->stalled)
		snprintf(why, sizeof why, "stalled: no byte for %d s after %llu bytes of the body",
			 FETCH_STALL_MS / 1000, (unsigned long long)r->written);
	else
		snprintf(why, sizeof why, "%s%s", res == CURLE_PARTIAL_FILE ? "short body: " : "",
			 r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
	/* Never connected through a proxy, or the proxy refused the tunnel (CONNECT answered with
	 * an error): the proxy failed, not the layer; try the next proxy. */
	if (r->proxy && !answered && !r->dirty && (tunnel >= 300 || (!connected &&
	    (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_PROXY ||
	     res == CURLE_OPERATION_TIMEDOUT)))) {
		proxy_failed(r, tunnel >= 300 ? FK_HTTP_4XX : kind_of(res), why);
		walk(r);
		return;
	}
	if (r->werr) {
		snprintf(why, sizeof why, "cannot %s the blob %s: %s", r->q.push ? "read" : "write",
			 r->q.push ? "fd" : "pipe", strerror(r->werr));
		failed(r, EIO, false, FK_NONE, why);
		finish(r, -1);
		return;
	}
	if (r->q.push && answered && code >= 200 && code < 300) {
		layer_ok(r->target.key);
		note(r, "%ld, %llu bytes", code, (unsigned long long)r->q.max_size);
		finish(r, 0);
		return;
	}
	if (r->too_long) {
		snprintf(why, sizeof why, "too long (over %llu bytes)",
			 (unsigned long long)r->q.max_size);
		failed(r, EIO, false, FK_OTHER, why);
	} else if (answered && code == 200 && !r->q.push) {
		if (cl >= 0 && (uint64_t)cl != r->written) {
			snprintf(why, sizeof why, "short body (%llu of %lld bytes)",
				 (unsigned long long)r->written, (long long)cl);
			failed(r, EIO, true, FK_DROPPED, why);
		} else {
			layer_ok(r->target.key);
			note(r, "200, %llu bytes", (unsigned long long)r->written);
			finish(r, 0);
			return;
		}
	} else if (answered && code == 304 && r->q.flist && (r->q.etag[0] || r->q.last_modified[0])) {
		/* The copy the indexer holds is current: no body, nothing to parse. */
		layer_ok(r->target.key);
		note(r, "304, not modified");
		r->not_modified = true;
		finish(r, 0);
		return;
	} else if (answered && code == 404 && !strcmp(s3code, " NoSuchBucket")) {
		failed(r, EIO, false, FK_S3, "HTTP 404 NoSuchBucket");
	} else if (answered && (code == 404 || code == 410) && !r->q.push) {
		layer_ok(r->target.key);
		if (r->sftp)
			note(r, "no such file");
		else
			note(r, "%ld", code);
	} else if (answered) {
		snprintf(why, sizeof why, "HTTP %ld%s", code, s3code);
		if (r->s3 && code >= 400 && code < 500)
			r->s3_refused = r->s3;
		failed(r, EIO, code >= 500, code >= 500 ? FK_HTTP_5XX : r->s3 && code >= 400 ? FK_S3 :
		       code >= 400 ? FK_HTTP_4XX : FK_OTHER, why);
	} else {
		failed(r, res == CURLE_OPERATION_TIMEDOUT || r->stalled ? ETIMEDOUT : EIO, true,
		       r->hostkey_why[0] ? FK_TLS : r->stalled ? FK_TIMEOUT : kind_of(res), why);
	}
	if (r->dirty) {
		finish(r, -1);  /* part of this body is in the pipe: the indexer asks again */
		return;
	}
	r->cur++;
	walk(r);
}

static void enqueue(struct queue *q, struct req *r)
{
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
}

static struct req *dequeue(struct queue *q)
{
	struct req *r = q->head;

	if (r && !(q->head = r->next))
		q->tail = NULL;
	if (r)
		r->next = NULL;
	return r;
}

/* Give free slots to queued requests, read-ahead last (a request may end at once and free its
 * slot again). */
static void schedule(void)
{
	while (queue.head || (ahead_queue.head && ahead_active < FETCH_MAX_AHEAD)) {
		struct req *r;
		int i;

		for (i = 0; i < FETCH_MAX_ACTIVE && active[i]; i++)
			;
		if (i == FETCH_MAX_ACTIVE)
			return;
		r = queue.head ? dequeue(&queue) : dequeue(&ahead_queue);
		active[i] = r;
		ahead_active += r->q.ahead;
		walk(r);
	}
}

/* ---- requests in ---------------------------------------------------------------------------- */

void http_submit(struct fetch_req *q)
{
	struct req *r = calloc(1, sizeof *r);
	uint64_t extra = q->max_size / FETCH_DEADLINE_RATE;

	if (!r) {
		request_refuse(q, ENOMEM, "out of memory");
		return;
	}
	r->q = *q;
	r->deadline = now_ms() + FETCH_DEADLINE_MS +
		      (extra < DEADLINE_EXTRA_MAX ? extra : DEADLINE_EXTRA_MAX);
	r->all_404 = true;
	r->state = R_QUEUED;
	enqueue(q->ahead ? &ahead_queue : &queue, r);
	held++;
	schedule();
}

bool http_idle(void)
{
	return held == 0;
}

bool http_full(void)
{
	return held >= FETCH_MAX_HELD;
}

/* ---- libcurl's sockets and timer --------------------------------------------------------------- */

static int on_socket(CURL *e, curl_socket_t s, int what, void *clientp, void *socketp)
{
	int i;

	for (i = 0; i < nsocks && socks[i].fd != s; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < nsocks)
			socks[i] = socks[--nsocks];
		return 0;
	}
	if (i == nsocks) {
		if (nsocks == SOCKS_MAX) {
			log_err("more than %d sockets in use; a transfer fails", SOCKS_MAX);
			return -1;
		}
		nsocks++;
	}
	socks[i].fd = s;
	socks[i].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
				  (what & CURL_POLL_OUT ? POLLOUT : 0));
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *clientp)
{
	timer_at = timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms;
	return 0;
}

int http_pollfds(struct pollfd *pfd, int max, int *timeout_ms)
{
	uint64_t now = now_ms(), next = timer_at;
	int n = 0;

	for (int i = 0; i < nsocks && n < max; i++)
		pfd[n++] = (struct pollfd){ .fd = socks[i].fd, .events = socks[i].events };
	polled_socks = n;
	/* Then the pipes of paused transfers, in active[] order (http_process finds them so). */
	for (int i = 0; i < FETCH_MAX_ACTIVE && n < max; i++)
		if (active[i] && active[i]->paused)
			pfd[n++] = (struct pollfd){ .fd = active[i]->q.fd, .events = POLLOUT };
	/* Requests waiting on a lookup end at their deadline (a transfer's own timeout is libcurl's). */
	for (int i = 0; i < FETCH_MAX_ACTIVE; i++)
		if (active[i] && active[i]->state == R_RESOLVING &&
		    (!next || active[i]->deadline < next))
			next = active[i]->deadline;
	if (next) {
		uint64_t ms = next > now ? next - now : 0;

		if (*timeout_ms < 0 || ms < (uint64_t)*timeout_ms)
			*timeout_ms = (int)(ms > 60000 ? 60000 : ms);
	}
	return n;
}

void http_process(const struct pollfd *pfd, int n)
{
	int running, left;
	CURLMsg *msg;
	int ns = n < polled_socks ? n : polled_socks;

	/* A pipe that can take more (or whose reader is gone: the write fails, and says so). */
	for (int i = 0, k = ns; i < FETCH_MAX_ACTIVE && k < n; i++) {
		struct req *r = active[i];

		if (!r || !r->paused || r->q.fd != pfd[k].fd)
			continue;
		if (pfd[k++].revents) {
			r->paused = false;
			r->progress_at = now_ms();      /* the stall clock starts again */
			curl_easy_pause(r->easy, CURLPAUSE_CONT);
		}
	}
	for (int i = 0; i < ns; i++) {
		int ev = 0;

		if (!pfd[i].revents)
			continue;
		if (pfd[i].revents & (POLLIN | POLLHUP))
			ev |= CURL_CSELECT_IN;
		if (pfd[i].revents & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (pfd[i].revents & (POLLERR | POLLNVAL))
			ev |= CURL_CSELECT_ERR;
		curl_multi_socket_action(multi, pfd[i].fd, ev, &running);
	}
	if (timer_at && now_ms() >= timer_at) {
		timer_at = 0;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((msg = curl_multi_info_read(multi, &left))) {
		CURLcode res = msg->data.result;
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv)
			transfer_done((struct req *)(void *)priv, res);
	}
	/* Lookups that ended (or passed the deadline) let their requests go on. */
	for (int i = 0; i < FETCH_MAX_ACTIVE; i++)
		if (active[i] && active[i]->state == R_RESOLVING)
			walk(active[i]);
	schedule();
}

/* ---- start and end ----------------------------------------------------------------------------- */

static int ca_load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	size_t len = 0;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > CA_MAX) {
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < (size_t)st.st_size && (n = read(fd, buf + len, (size_t)st.st_size - len))) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len != (size_t)st.st_size) {
		free(buf);
		return -EIO;
	}
	ca_blob = (struct curl_blob){ .data = buf, .len = len, .flags = CURL_BLOB_NOCOPY };
	ca_loaded = true;
	return 0;
}

int http_init(const struct worker_conf *c)
{
	const char *cafile = c->cafile && c->cafile[0] ? c->cafile : FETCH_CAFILE;
	const curl_version_info_data *v;
	int rc = ca_load(cafile);

	if (rc)
		log_err("CA bundle %s: %s: https layers will fail verification", cafile,
			strerror(-rc));
	/* Loads OpenSSL and its configuration now, while files may still be opened. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	rc = proxies_init(c);
	if (rc)
		return rc;
	multi = curl_multi_init();
	if (!multi)
		return -ENOMEM;
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)CONN_CACHE);
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	v = curl_version_info(CURLVERSION_NOW);
	log_info("libcurl %s, %s%s; CA bundle %s (%zu bytes)", v->version,
		 v->ssl_version ? v->ssl_version : "no TLS",
		 v->features & CURL_VERSION_HTTP2 ? ", HTTP/2" : "", cafile, ca_blob.len);
	return 0;
}

void http_free(void)
{
	for (int i = 0; i < FETCH_MAX_ACTIVE; i++) {
		if (!active[i])
			continue;
		transfer_end(active[i]);
		req_free(active[i]);
		active[i] = NULL;
	}
	for (struct req *r; (r = dequeue(&queue)) || (r = dequeue(&ahead_queue));)
		req_free(r);
	held = 0;
	ahead_active = 0;
	if (multi)
		curl_multi_cleanup(multi);
	multi = NULL;
	curl_global_cleanup();
	proxies_free();
	free(ca_blob.data);
	ca_blob = (struct curl_blob){ 0 };
	ca_loaded = false;
}
