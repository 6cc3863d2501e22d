/* store.c — Redis, through hiredis: SPEC §7's three keys of this mount (MOUNT = [main] id):
 * hash debug:paths:MOUNT (path → "md5,size"), hash debug:files:MOUNT (md5 → content) and list
 * debug:log:MOUNT (the journal, [epoch,"path","md5"] per completed write).
 *
 * One connection, made again after any failure (the next request reconnects). The host name is
 * resolved once before the lock-down, so a reconnect needs no name service: hiredis gets the
 * numeric address. Timeouts: 1 s to connect, 3 s per reply: a Redis that went away costs a
 * writer an EIO within seconds, not a hang. Nothing read from Redis is trusted: a content whose
 * md5 or size differs from its path's entry is skipped, with a warning.
 */
#include "debug/debug.h"

#include "ipc/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static redisContext *rc_ctx;
static char addr[256], unix_path[108], passwd[4096];
static int port;
static char k_paths[300], k_files[300], k_log[300];

void md5_hex(const void *data, size_t len, char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
	for (unsigned i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[32] = '\0';
}

static void drop(const char *why)
{
	log_err("redis %s: %s", unix_path[0] ? unix_path : addr,
		why ? why : rc_ctx && rc_ctx->errstr[0] ? rc_ctx->errstr : "connection lost");
	if (rc_ctx)
		redisFree(rc_ctx);
	rc_ctx = NULL;
}

static int connect_now(void)
{
	struct timeval conn = { 1, 0 }, io = { 3, 0 };

	if (rc_ctx)
		return 0;
	rc_ctx = unix_path[0] ? redisConnectUnixWithTimeout(unix_path, conn) :
		 redisConnectWithTimeout(addr, port, conn);
	if (!rc_ctx || rc_ctx->err) {
		drop(NULL);
		return -EIO;
	}
	redisSetTimeout(rc_ctx, io);
	if (passwd[0]) {
		redisReply *r = redisCommand(rc_ctx, "AUTH %s", passwd);
		bool okay = r && r->type == REDIS_REPLY_STATUS;

		if (r && r->type == REDIS_REPLY_ERROR)
			log_err("redis AUTH: %s", r->str);
		freeReplyObject(r);
		if (!okay) {
			drop("AUTH refused");
			return -EIO;
		}
	}
	return 0;
}

int store_open(const struct debug_conf *c)
{
	char host[256], dummy[33];

	snprintf(k_paths, sizeof k_paths, "debug:paths:%s", c->id);
	snprintf(k_files, sizeof k_files, "debug:files:%s", c->id);
	snprintf(k_log, sizeof k_log, "debug:log:%s", c->id);
	snprintf(passwd, sizeof passwd, "%s", c->passwd);
	md5_hex("", 0, dummy);  /* OpenSSL loads what it needs now, before the lock-down */
	if (c->redis[0] == '/') {
		snprintf(unix_path, sizeof unix_path, "%s", c->redis);
		snprintf(addr, sizeof addr, "%s", c->redis);
	} else {
		const char *colon = strrchr(c->redis, ':');
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
		size_t n = colon ? (size_t)(colon - c->redis) : 0;

		if (!colon || n >= sizeof host)
			return -EIO;
		memcpy(host, c->redis, n);
		host[n] = '\0';
		if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
			memmove(host, host + 1, n - 2);
			host[n - 2] = '\0';
		}
		port = atoi(colon + 1);
		if (getaddrinfo(host, NULL, &hints, &ai) || !ai ||
		    getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr, NULL, 0, NI_NUMERICHOST)) {
			if (ai)
				freeaddrinfo(ai);
			log_err("redis %s: cannot resolve %s", c->redis, host);
			snprintf(addr, sizeof addr, "%s", host);
			return -EIO;
		}
		freeaddrinfo(ai);
	}
	return connect_now();
}

/* A command's reply, or NULL (the connection is dropped, the reason logged). */
static redisReply *cmd(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	if (connect_now())
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(rc_ctx, fmt, ap);
	va_end(ap);
	if (!r) {
		drop(NULL);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		log_err("redis: %s", r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

int store_seal(const void *data, size_t len)
{
	int fd = memfd_create("aysfs-debug", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t done = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, (const char *)data + done, len - done);

		if (n <= 0) {
			close(fd);
			return -EIO;
		}
		done += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* The journal's epoch of each path, latest last: into st[i].mtime. */
static void journal_times(struct stored *st, int n)
{
	redisReply *r = cmd("LRANGE %s -100000 -1", k_log);
	static char path[DBG_PATH_MAX + 1];
	char md5[33];
	int64_t epoch;

	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *e = r->element[i];

		if (e->type != REDIS_REPLY_STRING || journal_parse(e->str, e->len, &epoch, path, md5))
			continue;
		for (int j = 0; j < n; j++)
			if (!strcmp(st[j].path, path))
				st[j].mtime = epoch;
	}
	freeReplyObject(r);
}

int store_load(struct stored **out)
{
	redisReply *all = cmd("HGETALL %s", k_paths);
	struct stored *st;
	int n = 0;

	*out = NULL;
	if (!all)
		return -EIO;
	if (all->type != REDIS_REPLY_ARRAY || all->elements % 2) {
		freeReplyObject(all);
		return -EIO;
	}
	st = calloc(all->elements / 2 + 1, sizeof *st);
	for (size_t i = 0; st && i + 1 < all->elements; i += 2) {
		redisReply *k = all->element[i], *v = all->element[i + 1], *c;
		char md5[33], *end, got[33];
		unsigned long long size;

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len < 1 ||
		    k->len > DBG_PATH_MAX || k->str[0] != '/' || memchr(k->str, '\0', k->len) ||
		    v->len < 34 || v->len > 60 || v->str[32] != ',')
			continue;
		memcpy(md5, v->str, 32);
		md5[32] = '\0';
		size = strtoull(v->str + 33, &end, 10);
		if (*end || size > 512ull << 20)
			continue;
		c = cmd("HGET %s %s", k_files, md5);
		if (!c) {
			free(st);
			freeReplyObject(all);
			return -EIO;
		}
		if (c->type != REDIS_REPLY_STRING || c->len != size ||
		    (md5_hex(c->str, c->len, got), strcmp(got, md5))) {
			log_warn("redis: %s: its content %s is missing or differs; not served", k->str, md5);
			freeReplyObject(c);
			continue;
		}
		st[n].fd = store_seal(c->str, c->len);
		freeReplyObject(c);
		if (st[n].fd < 0 || !(st[n].path = strdup(k->str))) {
			if (st[n].fd >= 0)
				close(st[n].fd);
			continue;
		}
		memcpy(st[n].md5, md5, 33);
		st[n].size = size;
		st[n].mtime = time(NULL);
		n++;
	}
	freeReplyObject(all);
	if (!st)
		return -ENOMEM;
	journal_times(st, n);
	*out = st;
	return n;
}

/* Each pipelined reply in turn; true when all came and EXEC ran every command. */
static bool transaction(unsigned queued)
{
	bool okay = true;

	for (unsigned i = 0; i < queued; i++) {
		void *p = NULL;
		redisReply *r;

		if (redisGetReply(rc_ctx, &p) != REDIS_OK) {
			drop(NULL);
			return false;
		}
		r = p;
		if (r->type == REDIS_REPLY_ERROR) {
			log_err("redis: %s", r->str);
			okay = false;
		}
		if (i == queued - 1 && (r->type != REDIS_REPLY_ARRAY || r->elements != queued - 2))
			okay = false;   /* EXEC aborted */
		freeReplyObject(r);
	}
	return okay;
}

int store_commit(const char *path, const void *data, size_t len, const char *md5, int64_t now)
{
	static char line[JOURNAL_LINE_MAX];
	char value[64];
	size_t n = journal_encode(line, now, path, md5);

	if (connect_now())
		return -EIO;
	snprintf(value, sizeof value, "%s,%zu", md5, len);
	redisAppendCommand(rc_ctx, "MULTI");
	redisAppendCommand(rc_ctx, "HSET %s %s %b", k_files, md5, data, len);
	redisAppendCommand(rc_ctx, "HSET %s %s %s", k_paths, path, value);
	redisAppendCommand(rc_ctx, "RPUSH %s %b", k_log, line, n);
	redisAppendCommand(rc_ctx, "EXEC");
	return transaction(5) ? 0 : -EIO;
}

int store_remove(const char *path, int64_t now)
{
	static char line[JOURNAL_LINE_MAX];
	size_t n = journal_encode(line, now, path, "");

	if (connect_now())
		return -EIO;
	redisAppendCommand(rc_ctx, "MULTI");
	redisAppendCommand(rc_ctx, "HDEL %s %s", k_paths, path);
	redisAppendCommand(rc_ctx, "RPUSH %s %b", k_log, line, n);
	redisAppendCommand(rc_ctx, "EXEC");
	return transaction(4) ? 0 : -EIO;
}

int store_list(char *buf, size_t cap, size_t *len)
{
	redisReply *r = cmd("LRANGE %s -2000 -1", k_log);
	static char path[DBG_PATH_MAX + 1];
	char md5[33], when[32];
	int64_t epoch;
	size_t n = 0;

	if (!r)
		return -EIO;
	/* The last entry of each path: walk from the end, skipping paths already listed. */
	for (size_t i = r->type == REDIS_REPLY_ARRAY ? r->elements : 0; i-- > 0;) {
		redisReply *e = r->element[i], *v;
		bool seen = false;
		struct tm tm;
		time_t t;

		if (e->type != REDIS_REPLY_STRING || journal_parse(e->str, e->len, &epoch, path, md5))
			continue;
		for (size_t j = i + 1; j < r->elements && !seen; j++) {
			static char other[DBG_PATH_MAX + 1];
			char m2[33];
			int64_t e2;
			redisReply *o = r->element[j];

			seen = o->type == REDIS_REPLY_STRING &&
			       !journal_parse(o->str, o->len, &e2, other, m2) && !strcmp(other, path);
		}
		if (seen)
			continue;
		t = (time_t)epoch;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		v = md5[0] ? cmd("HGET %s %s", k_paths, path) : NULL;
		n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s %s %s %s\n", path,
				      md5[0] ? md5 : "-",
				      v && v->type == REDIS_REPLY_STRING && v->len > 33 ? v->str + 33 :
				      md5[0] ? "?" : "removed", when);
		freeReplyObject(v);
		if (n >= cap) {
			n = cap - 1;
			break;
		}
	}
	freeReplyObject(r);
	*len = n;
	return 0;
}
