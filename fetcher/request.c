/* request.c — the indexer's side of the channel: MSG_FETCH and MSG_PUSH in, MSG_FETCH_DONE out.
 *
 * Every field is read through the bounded reader and the payload length must match exactly; a
 * malformed message is a protocol error and the caller stops. A well-formed request whose fd is
 * unusable is answered (MSG_FETCH) or logged (MSG_PUSH), not fatal.
 */
#include "fetcher/fetcher.h"

#include "ipc/log.h"
#include "ipc/proto_workers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool request_validator_ok(const char *s, size_t n, size_t max)
{
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

void request_reply(uint64_t id, int status, uint32_t url_index, uint64_t bytes,
		   const char *reason, size_t len, bool not_modified, const char *etag,
		   const char *last_modified)
{
	uint8_t buf[4 + 4 + 8 + 4 + REASON_MAX + 1 + 4 + FETCH_ETAG_MAX + 4 + FETCH_DATE_MAX];
	struct ipc_wr w;
	int rc;

	if (!etag || !request_validator_ok(etag, strlen(etag), FETCH_ETAG_MAX))
		etag = "";
	if (!last_modified || !request_validator_ok(last_modified, strlen(last_modified),
						    FETCH_DATE_MAX))
		last_modified = "";
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u32(&w, (uint32_t)status);
	ipc_wr_u32(&w, url_index);
	ipc_wr_u64(&w, bytes);
	ipc_wr_str(&w, reason, len < REASON_MAX ? len : REASON_MAX);
	ipc_wr_u8(&w, not_modified);
	ipc_wr_cstr(&w, etag);
	ipc_wr_cstr(&w, last_modified);
	rc = ipc_send(FD_PEER1, MSG_FETCH_DONE, id, buf, w.len, NULL, 0);
	if (rc)
		die(67, "indexer channel: cannot answer fetch %llu: %s", (unsigned long long)id,
		    strerror(-rc));
}

void request_free(struct fetch_req *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	free(q->urlbuf);
	q->urlbuf = NULL;
}

void request_refuse(struct fetch_req *q, int err, const char *why)
{
	if (q->push) {
		log_err("push %llu to %s dropped: %s", (unsigned long long)q->id, q->url[0], why);
	} else {
		log_err("fetch %llu refused: %s", (unsigned long long)q->id, why);
		request_reply(q->id, err, q->n, 0, why, strlen(why), false, NULL, NULL);
	}
	request_free(q);
}

/* n URLs into q->urlbuf (NUL-terminated copies; cap bytes, the payload's size, bound them all). */
static int read_urls(struct ipc_rd *rd, struct fetch_req *q, size_t cap)
{
	size_t used = 0;

	for (uint32_t i = 0; i < q->n; i++) {
		size_t len;
		const char *s = ipc_rd_str(rd, WCONF_MAX_STR, &len);

		/* Each string loses its 4-byte length and gains a NUL: it fits in cap. */
		if (!s || len == 0 || memchr(s, '\0', len) || used + len + 1 > cap)
			return -EPROTO;
		memcpy(q->urlbuf + used, s, len);
		q->urlbuf[used + len] = '\0';
		q->url[i] = q->urlbuf + used;
		used += len + 1;
	}
	return 0;
}

/* A pipe whose read end is closed reports POLLERR. */
static bool pipe_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

/* FETCH_FLIST's validators: str etag, str last_modified, each bounded printable ASCII. */
static int read_validators(struct ipc_rd *rd, struct fetch_req *q)
{
	size_t el, ll;
	const char *e = ipc_rd_str(rd, FETCH_ETAG_MAX, &el);
	const char *l = e ? ipc_rd_str(rd, FETCH_DATE_MAX, &ll) : NULL;

	if (!e || !l || !request_validator_ok(e, el, FETCH_ETAG_MAX) ||
	    !request_validator_ok(l, ll, FETCH_DATE_MAX))
		return -EPROTO;
	memcpy(q->etag, e, el);
	q->etag[el] = '\0';
	memcpy(q->last_modified, l, ll);
	q->last_modified[ll] = '\0';
	return 0;
}

/* MSG_FETCH: u8 kind, u64 max_size, u32 n, n × str url, and for FETCH_FLIST its validators; the
 * fd: the write end of a non-blocking pipe, which the indexer reads the body from. */
static int parse_fetch(const struct ipc_msg *m, struct fetch_req *q)
{
	struct ipc_rd rd;
	struct stat st;
	uint8_t kind;
	int fl;

	ipc_rd_init(&rd, m->payload, m->hdr.len);
	kind = ipc_rd_u8(&rd);
	q->max_size = ipc_rd_u64(&rd);
	q->n = ipc_rd_u32(&rd);
	if (rd.bad || (kind != FETCH_BLOB && kind != FETCH_FLIST && kind != FETCH_BLOB_AHEAD) ||
	    q->n == 0 || q->n > FETCH_MAX_URLS || read_urls(&rd, q, m->hdr.len) ||
	    (kind == FETCH_FLIST && read_validators(&rd, q)) || !ipc_rd_done(&rd))
		return -EPROTO;
	q->ahead = kind == FETCH_BLOB_AHEAD;
	q->flist = kind == FETCH_FLIST;
	/* A pipe, never a file: what the fetcher writes is read, hashed and stored by the indexer
	 * alone, so nothing this process does later can change a blob once it is verified. Not
	 * blocking, so that a full pipe pauses one transfer (http.c) rather than the poll loop. */
	if (fstat(q->fd, &st) || !S_ISFIFO(st.st_mode) || (fl = fcntl(q->fd, F_GETFL)) < 0 ||
	    (fl & O_ACCMODE) != O_WRONLY || !(fl & O_NONBLOCK)) {
		request_refuse(q, EBADF, "the fd is not the write end of a non-blocking pipe");
		return 1;
	}
	/* The indexer gave it up while this process was not reading (stopped, wedged): no GET for a
	 * body no one reads. */
	if (pipe_gone(q->fd)) {
		log_info("fetch %llu: dropped, the indexer gave it up", (unsigned long long)q->id);
		request_reply(q->id, EPIPE, q->n, 0, "given up", 8, false, NULL, NULL);
		request_free(q);
		return 1;
	}
	log_debug("fetch %llu: %u URLs, at most %llu bytes", (unsigned long long)q->id, q->n,
		  (unsigned long long)q->max_size);
	return 0;
}

/* MSG_PUSH: u64 size, str url; the fd: the verified blob, read-only. No answer. */
static int parse_push(const struct ipc_msg *m, struct fetch_req *q)
{
	struct ipc_rd rd;
	struct stat st;

	ipc_rd_init(&rd, m->payload, m->hdr.len);
	q->max_size = ipc_rd_u64(&rd);
	q->n = 1;
	if (rd.bad || read_urls(&rd, q, m->hdr.len) || !ipc_rd_done(&rd))
		return -EPROTO;
	if (fstat(q->fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != q->max_size) {
		log_err("push to %s dropped: the fd is not a regular file of %llu bytes", q->url[0],
			(unsigned long long)q->max_size);
		request_free(q);
		return 1;
	}
	log_debug("push %llu: %s, %llu bytes", (unsigned long long)q->id, q->url[0],
		  (unsigned long long)q->max_size);
	return 0;
}

int request_take(const struct ipc_msg *m, struct fetch_req *q)
{
	static uint64_t push_ids;
	int rc;

	*q = (struct fetch_req){ .fd = m->fds[0], .push = m->hdr.type == MSG_PUSH };
	/* Pushes carry no id (nothing answers them); number them for the log. */
	q->id = q->push ? ++push_ids : m->hdr.id;
	q->urlbuf = malloc(m->hdr.len);
	if (!q->urlbuf) {
		if (q->push) {
			log_err("out of memory: a push is dropped");
			request_free(q);
		} else {
			request_refuse(q, ENOMEM, "out of memory");
		}
		return 1;
	}
	if (m->hdr.type == MSG_FETCH)
		rc = parse_fetch(m, q);
	else if (q->push)
		rc = parse_push(m, q);
	else
		rc = -EPROTO;
	if (rc < 0)
		request_free(q);
	return rc;
}
