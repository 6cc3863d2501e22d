/* fetcher.h — the network process: the indexer's requests (request.c), the transfer engine
 * (http.c), layer and proxy health (layer.c), the resolver (dns.c) and -auto's host probes
 * (probe.c).
 *
 * One thread, one poll loop (main.c). Each module adds its fds to the loop's pollfd array, says
 * how long the loop may sleep, and handles what poll reported. Nothing here opens a path after
 * start-up: the CA bundle, /etc/resolv.conf and /etc/hosts are read by the *_init functions.
 */
#ifndef AYSFS_FETCHER_H
#define AYSFS_FETCHER_H

#include "ipc/ipc.h"
#include "ipc/proto_workers.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FETCH_CAFILE      "/etc/ssl/certs/ca-certificates.crt"
#define FETCH_RESOLV_CONF "/etc/resolv.conf"
#define FETCH_HOSTS       "/etc/hosts"
#define FETCH_KNOWN_HOSTS "/etc/aysfs/known_hosts"
#define FETCH_SSH_USER    "root"        /* for an sftp:// URL that names no user */

/* Limits of the engine. A request holds one transfer at a time; requests beyond FETCH_MAX_ACTIVE
 * wait in a queue; beyond FETCH_MAX_HELD the indexer's channel is not read (back-pressure).
 * Read-ahead (FETCH_BLOB_AHEAD) waits in a queue of its own, served after the other, and holds
 * at most FETCH_MAX_AHEAD transfers: the rest are always there for opens. */
#define FETCH_MAX_ACTIVE  16
#define FETCH_MAX_AHEAD   12
#define FETCH_MAX_HELD    64

/* Deadlines. A request (all its URLs, name lookups and queueing included) ends by
 * FETCH_DEADLINE_MS + max_size / FETCH_DEADLINE_RATE bytes-per-ms after it arrived; a transfer
 * slower than FETCH_LOW_SPEED bytes/s for FETCH_LOW_SPEED_S seconds fails, and so does a download
 * whose server has answered and then sends no byte for FETCH_STALL_MS (a paused transfer, whose
 * pipe is full, is not stalled). */
#define FETCH_CONNECT_MS    5000
#define FETCH_LOW_SPEED     1024
#define FETCH_LOW_SPEED_S   10
#define FETCH_STALL_MS      4000
/* While it holds requests, the fetcher tells the indexer it is alive this often (MSG_FETCH_ALIVE):
 * the indexer gives requests up after seconds without a word (indexer/fetch.h). */
#define FETCH_ALIVE_MS      1000
#define FETCH_DEADLINE_MS   30000
#define FETCH_DEADLINE_RATE 1024        /* bytes per ms: about 1 MiB/s */

/* A failing layer (scheme://host:port) is skipped for 2 s, 4 s … up to 5 min, minus jitter. */
#define BACKOFF_MIN_S 2
#define BACKOFF_MAX_S 300

/* Milliseconds of CLOCK_MONOTONIC. */
static inline uint64_t now_ms(void)
{
	return (uint64_t)mono_ms();
}

/* ---- layer.c: URLs, health of layers and proxies, proxy choice --------------------------------- */

#define HOST_MAX        255
#define PLACE_KEY_MAX   300     /* "proxy " + "socks5h://" + host + ":65535" */

struct url_parts {
	char scheme[16];        /* lower case */
	char host[HOST_MAX + 1];        /* lower case; an IPv6 literal keeps its brackets */
	long port;              /* the scheme's default when the URL has none */
	bool v4_literal, v6_literal;
	bool user;              /* the URL names a user ("sftp://user@host/") */
	char key[PLACE_KEY_MAX];        /* "scheme://host:port" ("proxy …" for a proxy) */
};

/* Split a layer URL (proxy false) or a proxy URL. Returns 0 or -EINVAL; the scheme is filled
 * whenever the URL has one. */
int url_split(const char *url, struct url_parts *u, bool proxy);

/* Health, by key: a success clears the back-off; a failure starts or lengthens it (logged once
 * per failure); layer_down_s says how many seconds are left (0: may be tried). */
void layer_ok(const char *key);
void layer_fail(const char *key, const char *why);
/* What a failed transfer was, for /metrics (aysfs_layer_failures_total{kind}): a small fixed
 * set, from libcurl's result and the answer (http.c). */
enum fail_kind {
	FK_NONE = -1,           /* not a failure of the place (not tried, a local error) */
	FK_TIMEOUT, FK_REFUSED, FK_DNS, FK_TLS, FK_DROPPED, FK_HTTP_5XX, FK_HTTP_4XX, FK_S3,
	FK_OTHER, FK_COUNT
};
extern const char *const fail_kind_name[FK_COUNT];
/* Count a failed transfer of that place (never goes down). */
void layer_count(const char *key, enum fail_kind kind);
unsigned layer_down_s(const char *key);
/* Has that place answered, with no failure since? (What read-ahead may use.) */
bool layer_trusted(const char *key);
/* Failures in a row of that place (0: healthy). */
unsigned layer_fails(const char *key);
/* Failed transfers of that place of that kind since the fetcher started (those during a back-off
 * included). */
uint64_t layer_failures(const char *key, enum fail_kind kind);

/* The proxies of the configuration (a layer's own list, else [main]'s). */
int proxies_init(const struct worker_conf *c);
void proxies_free(void);
/* The proxy for url: 0 with *proxy NULL (direct) or the first of its list that is not down (its
 * parts in *u); -EHOSTUNREACH when every proxy of the list is down (*down_s: the shortest wait). */
int proxy_pick(const char *url, const char **proxy, struct url_parts *u, unsigned *down_s);

/* ---- request.c: the indexer's messages --------------------------------------------------------- */

#define REASON_MAX      1024    /* MSG_FETCH_DONE's reason */

/* One MSG_FETCH, or one MSG_PUSH (an upload of fd, max_size bytes, to url[0]; nothing answers). */
struct fetch_req {
	uint64_t id;
	int fd;
	bool push;
	bool ahead;             /* FETCH_BLOB_AHEAD: read-ahead (proto.h) */
	uint64_t max_size;
	uint32_t n;
	const char *url[FETCH_MAX_URLS];
	char *urlbuf;           /* holds the URLs */
	bool flist;             /* FETCH_FLIST: may be conditional, answers carry validators */
	char etag[FETCH_ETAG_MAX + 1];          /* "" or If-None-Match */
	char last_modified[FETCH_DATE_MAX + 1]; /* "" or If-Modified-Since */
};

/* Parse m (its fd included) into q. Returns 0; 1 when the request was well-formed but is already
 * dealt with (answered or dropped: its fd is unusable); or -EPROTO when it is malformed (the fd is
 * closed; the caller treats the indexer as hostile). */
int request_take(const struct ipc_msg *m, struct fetch_req *q);
/* MSG_FETCH_DONE (proto.h); dies when the indexer's channel is broken. etag and last_modified
 * may be NULL (none); ones that are too long or not printable ASCII are sent as "". */
void request_reply(uint64_t id, int status, uint32_t url_index, uint64_t bytes,
		   const char *reason, size_t len, bool not_modified, const char *etag,
		   const char *last_modified);
/* A validator (ETag, Last-Modified) fit to be a header value: at most max printable ASCII bytes. */
bool request_validator_ok(const char *s, size_t n, size_t max);
/* Answer a fetch that will not be tried (a push is only logged), then request_free. */
void request_refuse(struct fetch_req *q, int err, const char *why);
/* Close the fd, free the URLs. */
void request_free(struct fetch_req *q);

/* ---- http.c: requests and transfers ---------------------------------------------------------- */

/* Read the CA bundle (c->cafile, else FETCH_CAFILE; a missing one is logged: every https transfer
 * then fails verification) and set up libcurl. Returns 0 or -errno. */
int http_init(const struct worker_conf *c);
void http_free(void);

/* Start (or queue) a parsed request; it owns q's fd and URLs from now on. */
void http_submit(struct fetch_req *q);

/* True when no request is held. */
bool http_idle(void);
/* True when FETCH_MAX_HELD requests are held: stop reading the indexer's channel. */
bool http_full(void);

/* The loop's share: fill up to max pollfds (returns how many), lower *timeout_ms to the next
 * deadline, then handle what poll returned in the same entries. */
int http_pollfds(struct pollfd *pfd, int max, int *timeout_ms);
void http_process(const struct pollfd *pfd, int n);

/* ---- ctl.c: the fetcher's share of aysfs-ctl status ------------------------------------------- */

/* Remember the configuration's network layers (call before the configuration is freed). */
void fctl_init(const struct worker_conf *c);
/* A download of `bytes` from url succeeded (counted for the layer url is under: for opens, or
 * for read-ahead when `ahead`); a blob's (not a flist's) also counts its transfer's `us`
 * microseconds in the layer's latency histogram. */
void fctl_note_fetch(const char *url, uint64_t bytes, bool ahead, bool blob, uint64_t us);
/* Answer a MSG_CTL at once. Returns 0, or -EPROTO when it is malformed. */
int fctl_request(const struct ipc_msg *m);

/* ---- ssh.c: the client key and the known host keys of sftp:// layers ---------------------------- */

struct kh_entry {
	bool revoked;
	bool hashed;                    /* "|1|salt|hmac": salt and hash, else patterns */
	char *patterns;                 /* comma-separated, lower case */
	unsigned char salt[64], hash[20];
	size_t salt_len;
	unsigned char *key;             /* the raw key blob, as the server sends it */
	size_t key_len;
	char type[32];
	unsigned line;
};

struct known_hosts {
	struct kh_entry *e;
	size_t n, cap;
	char name[256];                 /* the file, for messages */
};

/* Parse a known_hosts file's bytes (name: for warnings about bad lines, which are skipped).
 * Returns 0 or -ENOMEM; known_hosts_free in both cases is safe. */
int known_hosts_parse(struct known_hosts *k, const char *buf, size_t len, const char *name);
void known_hosts_free(struct known_hosts *k);
/* 0 when key (the raw blob) is a key k holds for host:port and not revoked; else -EPERM with the
 * reason in why. */
int known_hosts_check(const struct known_hosts *k, const char *host, long port,
		      const unsigned char *key, size_t key_len, char *why, size_t size);

/* Take the key the supervisor passed as fd 5 into memory and, when a layer is sftp://, read the
 * known hosts (c->ssh_known_hosts, else FETCH_KNOWN_HOSTS). Returns 0 or -ENOMEM; what cannot
 * be read is logged, and sftp layers then fail. */
int ssh_init(const struct worker_conf *c);
void ssh_free(void);
/* The path libcurl may open for the client key ("/proc/self/fd/N"), or NULL without a key. */
const char *ssh_key_path(void);
/* known_hosts_check against the file read by ssh_init. */
int ssh_hostkey_check(const char *host, long port, const unsigned char *key, size_t key_len,
		      char *why, size_t size);

/* ---- s3.c: s3:// layers (SPEC §9) ------------------------------------------------------------ */

#define S3_KEY_MAX      128     /* bytes of an access or secret key */
#define S3_CODE_MAX     64      /* an error answer's <Code> */
#define S3_ERRBODY_MAX  2048    /* bytes of an error answer kept to find it */

struct s3_layer {
	char url[S3_URL_MAX + 1];               /* s3://BUCKET/PATH, no trailing slash */
	size_t url_len;
	char endpoint[S3_ENDPOINT_MAX + 1];
	char region[S3_REGION_MAX + 1];
	char keyfile[S3_URL_MAX + 1];           /* the credentials file's name, for messages */
	char access[S3_KEY_MAX + 1], secret[S3_KEY_MAX + 1];    /* "" and "": anonymous */
};

/* Take a MSG_S3 payload (proto.h): the settings of every s3:// layer, replacing the ones held.
 * Returns 0 or -EPROTO (malformed: nothing changes). */
int s3_load(const void *buf, size_t len);
void s3_free(void);
/* The layer url (s3://…) is under, or NULL. */
const struct s3_layer *s3_find(const char *url);
/* The HTTP URL of an s3:// URL under l. Returns 0 or -ENAMETOOLONG. */
int s3_http_url(const struct s3_layer *l, const char *url, char *out, size_t size);
/* A credentials file's bytes: access_key and secret_key (each S3_KEY_MAX + 1 bytes). Returns 0,
 * or -EINVAL with why naming the line (never a value). */
int s3_creds_parse(const char *buf, size_t len, char *access, char *secret, char *why,
		   size_t whylen);
/* The <Code> of an S3 error answer's XML into code (a word of at most size - 1 bytes: letters,
 * digits, '.', '_', '-'). False when there is none. */
bool s3_error_code(const char *body, size_t len, char *code, size_t size);

/* ---- dns.c: names to addresses ----------------------------------------------------------------- */

#define DNS_TTL_MIN_S   60
#define DNS_TTL_MAX_S   86400
#define DNS_ADDRS_MAX   512     /* room for the CURLOPT_RESOLVE address list */

/* Read the resolver configuration and the hosts file (kept in memory) and start c-ares.
 * Returns 0 or -errno. */
int dns_init(const char *resolv_conf, const char *hosts);
void dns_free(void);

/* Addresses of host as a CURLOPT_RESOLVE list ("192.0.2.1,[2001:db8::1]") in out.
 * Returns 0; -EINPROGRESS while a query is in flight (ask again after dns_process); or -errno
 * with the reason in out. From /etc/hosts, then the cache, then DNS. */
int dns_lookup(const char *host, char *out, size_t size);

int dns_pollfds(struct pollfd *pfd, int max, int *timeout_ms);
void dns_process(const struct pollfd *pfd, int n);

/* ---- probe.c: -auto's host probes (MSG_PROBE) ---------------------------------------------- */

#define PROBE_FDS       64      /* sockets of one probe: PROBE_MAX_HOSTS × 2 addresses */

/* Start the probe m asks for (answered when done or at its deadline). Returns 0, or -EPROTO
 * when the message is malformed (the caller treats the indexer as hostile). */
int probe_take(const struct ipc_msg *m);
int probe_pollfds(struct pollfd *pfd, int max, int *timeout_ms);
void probe_process(const struct pollfd *pfd, int n);

#endif
