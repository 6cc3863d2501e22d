/* wire.c — what aysfs-debug decodes: the fuser's requests, its configuration (from the
 * supervisor) and the journal's lines (from Redis, which anyone who can reach it may have
 * written); and the replies it encodes. */
#include "debug/debug.h"
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define REQ_MIN (4 + 8 + 4)
#define REQ_MAX (REQ_MIN + DBG_PATH_MAX)

/* aysfs-debug's side of its channel to the fuser (the fuser's is ipc/proto_debug.c). */
const struct ipc_type proto_debug_from_fuser[] = {
	{ MSG_DBG_OPEN, 0, REQ_MIN, REQ_MAX, "dbg-open" },
	{ MSG_DBG_OPEN_FROM, 1, REQ_MIN, REQ_MAX, "dbg-open-from" },
	{ MSG_DBG_COMMIT, 1, REQ_MIN, REQ_MAX, "dbg-commit" },
	{ MSG_DBG_UNLINK, 0, REQ_MIN, REQ_MAX, "dbg-unlink" },
};
const size_t proto_debug_from_fuser_n = N(proto_debug_from_fuser);

void dbg_reply_encode(struct ipc_wr *w, uint32_t status, uint32_t kind, uint64_t size)
{
	ipc_wr_u32(w, status);
	ipc_wr_u32(w, kind);
	ipc_wr_u64(w, size);
}

void dbg_entry_encode(struct ipc_wr *w, int64_t mtime, uint64_t size, const char *path,
		      size_t path_len)
{
	ipc_wr_i64(w, mtime);
	ipc_wr_u64(w, size);
	ipc_wr_str(w, path, path_len);
}

int dbg_req_decode(const void *buf, size_t len, struct dbg_req *q)
{
	struct ipc_rd r;

	ipc_rd_init(&r, buf, len);
	q->flags = ipc_rd_u32(&r);
	q->mtime = ipc_rd_i64(&r);
	q->path = ipc_rd_str(&r, DBG_PATH_MAX, &q->path_len);
	if (!ipc_rd_done(&r) || !dbg_good_path(q->path, q->path_len) ||
	    (q->flags & ~(DBG_F_TRUNC | DBG_F_CHECK)))
		return -EPROTO;
	return 0;
}


void debug_conf_free(struct debug_conf *c)
{
	free(c->id);
	free(c->redis);
	free(c->passwd);
	for (uint32_t i = 0; i < c->nfilter; i++)
		free(c->filter[i]);
	memset(c, 0, sizeof *c);
}

int debug_conf_decode(const void *buf, size_t len, struct debug_conf *c)
{
	struct ipc_rd r;
	uint32_t n;

	memset(c, 0, sizeof *c);
	ipc_rd_init(&r, buf, len);
	c->max_size = ipc_rd_u64(&r);
	c->id = ipc_rd_strdup(&r, 255);
	c->redis = ipc_rd_strdup(&r, 4095);
	c->passwd = ipc_rd_strdup(&r, 4095);
	n = ipc_rd_u32(&r);
	if (!c->id || !c->redis || !c->passwd || !c->redis[0] || n > DBG_FILTER_MAX ||
	    c->max_size == 0 || c->max_size > (512ull << 20)) {
		debug_conf_free(c);
		return -EPROTO;
	}
	for (; c->nfilter < n; c->nfilter++)
		if (!(c->filter[c->nfilter] = ipc_rd_strdup(&r, DBG_FILTER_LEN)))
			break;
	if (c->nfilter < n || !ipc_rd_done(&r)) {
		debug_conf_free(c);
		return -EPROTO;
	}
	return 0;
}

size_t journal_encode(char *buf, int64_t epoch, const char *path, const char *md5)
{
	size_t n = (size_t)sprintf(buf, "[%" PRId64 ",\"", epoch);

	/* JSON string escapes: the quote, the backslash and control bytes; other bytes as they are.
	 * JOURNAL_LINE_MAX has room for every byte of the longest path escaped: never cut short. */
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p == '"' || *p == '\\')
			n += (size_t)sprintf(buf + n, "\\%c", *p);
		else if (*p < 0x20)
			n += (size_t)sprintf(buf + n, "\\u%04x", *p);
		else
			buf[n++] = (char)*p;
	}
	n += (size_t)sprintf(buf + n, "\",\"%.32s\"]", md5);
	return n;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A JSON string at *s (after its opening quote) into out (at most max bytes, then a NUL); bytes
 * only (\uXXXX below 0x100). Returns 0 with *s after the closing quote, or -EINVAL. */
static int json_str(const char **s, const char *end, char *out, size_t max)
{
	size_t n = 0;
	const char *p = *s;

	while (p < end && *p != '"') {
		int c = (unsigned char)*p++;

		if (c == '\\') {
			if (p >= end)
				return -EINVAL;
			c = *p++;
			if (c == 'u') {
				int v = 0;

				for (int i = 0; i < 4; i++) {
					int h = p < end ? hexval(*p++) : -1;

					if (h < 0)
						return -EINVAL;
					v = v * 16 + h;
				}
				if (v == 0 || v > 0xff)
					return -EINVAL;
				c = v;
			} else if (c == 'n') {
				c = '\n';
			} else if (c == 't') {
				c = '\t';
			} else if (c != '"' && c != '\\' && c != '/') {
				return -EINVAL;
			}
		} else if (c == 0) {
			return -EINVAL;
		}
		if (n >= max)
			return -EINVAL;
		out[n++] = (char)c;
	}
	if (p >= end)
		return -EINVAL;
	out[n] = '\0';
	*s = p + 1;
	return 0;
}

int journal_parse(const char *s, size_t len, int64_t *epoch, char *path, char *md5)
{
	const char *end = s + len;
	int64_t v = 0;
	size_t digits = 0;

	if (len < 2 || *s++ != '[')
		return -EINVAL;
	while (s < end && *s >= '0' && *s <= '9' && digits < 18) {
		v = v * 10 + (*s++ - '0');
		digits++;
	}
	if (!digits || s + 2 > end || *s++ != ',' || *s++ != '"' ||
	    json_str(&s, end, path, DBG_PATH_MAX) || path[0] != '/')
		return -EINVAL;
	if (s + 2 > end || *s++ != ',' || *s++ != '"' || json_str(&s, end, md5, 32))
		return -EINVAL;
	if (s + 1 != end || *s != ']')
		return -EINVAL;
	for (const char *h = md5; *h; h++)
		if (hexval(*h) < 0)
			return -EINVAL;
	if (md5[0] && strlen(md5) != 32)
		return -EINVAL;
	*epoch = v;
	return 0;
}
