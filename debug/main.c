/* aysfs-debug — debug mode's worker (SPEC §7), started only when the configuration has [debug].
 *
 * Started by the supervisor as the network account (`user`-fetch) with fd 3 (supervisor); the
 * channel to the fuser comes in a MSG_PEER, again for each new fuser. It takes its configuration (MSG_DEBUG_CONF), compiles the filter, connects to
 * Redis and loads every stored path, locks itself down, hands the fuser those contents, then
 * answers the fuser's requests one at a time:
 *   open    a writable copy (memfd) of a file's content, for a path the filter matches (or an
 *           editor's temporary name); EROFS for any other path;
 *   commit  the content written: md5, one Redis transaction (file, path, journal entry), then a
 *           sealed copy that the fuser serves from then on; EIO when Redis fails (nothing
 *           changes), EFBIG over max_size;
 *   unlink  the path leaves debug:paths (with a journal entry).
 * Temporary names (editors' backup, swap and probe files) are kept in memory only, never in
 * Redis: see is_scratch(). It opens no path; its only sockets are Redis's.
 */
#include "debug/debug.h"

#include "ipc/log.h"
#include "ipc/proto.h"
#include "ipc/proto_workers.h"
#include "policy/policy.h"
#include "policy/seccomp.h"
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define START_DEADLINE_MS 30000

static struct debug_conf conf;
static regex_t filters[DBG_FILTER_MAX];
static struct stored *stored;   /* what debug:paths holds, kept up to date by commits */
static int nstored;
static bool loaded;             /* Redis answered at start-up: stored paths may be written */
static int fuser_fd = -1;      /* the supervisor hands it (MSG_PEER) */
static struct ipc_msg msg;

static const struct ipc_type from_supervisor[] = {
	{ MSG_DEBUG_CONF, 0, 8 + 4 * 4, IPC_MAX_PAYLOAD, "debug-conf" },
	{ MSG_PEER, 1, 4, 4, "peer" },
	{ MSG_CTL, 0, 8, 4 + CTL_CMD_MAX + 4 + CTL_ARG_MAX, "ctl" },
};

/* Editors' temporary files: backups (x.py~), vim's swap files (.x.py.swp, .swo, … .swa) and
 * its probe (4913, any name of digits only), emacs' auto-saves (#x.py#), sed -i's (sedXXXXXX),
 * names ending in .tmp. */
static bool is_scratch(const char *name)
{
	size_t n = strlen(name);

	if (n && name[n - 1] == '~')
		return true;
	if (n > 2 && name[0] == '#' && name[n - 1] == '#')
		return true;
	if (n == 9 && !strncmp(name, "sed", 3) && !strchr(name, '.'))
		return true;
	if (n > 5 && name[0] == '.' && !strncmp(name + n - 4, ".sw", 3) && name[n - 1] >= 'a' &&
	    name[n - 1] <= 'z')
		return true;
	if (n >= 4 && !strcmp(name + n - 4, ".tmp"))
		return true;
	return n && strspn(name, "0123456789") == n;
}

/* DBG_K_SCRATCH, DBG_K_STORED (the filter matches), or 0 (read-only). */
static uint32_t kind_of(const char *path)
{
	const char *base = strrchr(path, '/') + 1;

	if (is_scratch(base))
		return DBG_K_SCRATCH;
	for (uint32_t i = 0; i < conf.nfilter; i++)
		if (regexec(&filters[i], path, 0, NULL, 0) == 0)
			return DBG_K_STORED;
	return 0;
}

static int reply(uint64_t id, uint16_t type, uint32_t status, uint32_t kind, uint64_t size, int fd)
{
	uint8_t buf[16];
	struct ipc_wr w;

	ipc_wr_init(&w, buf, sizeof buf);
	dbg_reply_encode(&w, status, kind, size);
	return ipc_send(fuser_fd, type, id, buf, w.len, fd >= 0 ? &fd : NULL, fd >= 0);
}

/* The whole content of fd into a fresh buffer (*len bytes); -EFBIG over max_size. */
static int read_all(int fd, char **out, size_t *len)
{
	struct stat st;
	size_t done = 0;
	char *p;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > conf.max_size)
		return -EFBIG;
	p = malloc((size_t)st.st_size + 1);
	if (!p)
		return -ENOMEM;
	while (done < (size_t)st.st_size) {
		ssize_t n = pread(fd, p + done, (size_t)st.st_size - done, (off_t)done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	*out = p;
	*len = done;
	return 0;
}

static struct stored *find_stored(const char *path)
{
	for (int i = 0; i < nstored; i++)
		if (!strcmp(stored[i].path, path))
			return &stored[i];
	return NULL;
}

static void forget_stored(const char *path)
{
	struct stored *s = find_stored(path);

	if (!s)
		return;
	close(s->fd);
	free(s->path);
	*s = stored[--nstored];
}

static void remember_stored(const char *path, const char *md5, uint64_t size, int64_t mtime, int fd)
{
	struct stored *s = find_stored(path), *grown;

	if (!s) {
		grown = realloc(stored, (size_t)(nstored + 1) * sizeof *stored);
		if (!grown || !(path = strdup(path)))
			return;
		stored = grown;
		s = &stored[nstored++];
		s->path = (char *)path;
	} else {
		close(s->fd);
	}
	memcpy(s->md5, md5, 33);
	s->size = size;
	s->mtime = mtime;
	s->fd = fd;             /* kept: a new fuser is handed it */
}

static void on_open(uint64_t id, const struct dbg_req *q, const char *path, int base)
{
	uint32_t kind = kind_of(path);
	int fd = -1, rc = 0;
	char *data = NULL;
	size_t len = 0;

	if (!kind)
		rc = -EROFS;
	else if (kind == DBG_K_STORED && !loaded)
		rc = -EIO;
	if (!rc && base >= 0 && !(q->flags & DBG_F_TRUNC))
		rc = read_all(base, &data, &len);
	if (!rc && (fd = memfd_create("aysfs-edit", MFD_CLOEXEC)) < 0)
		rc = -errno;
	if (!rc && len && pwrite(fd, data, len, 0) != (ssize_t)len)
		rc = -EIO;
	if (rc == -EIO && kind == DBG_K_STORED && !loaded)
		log_err("%s: not written: Redis was unreachable when the mount started", path);
	reply(id, rc ? MSG_DBG_REPLY : MSG_DBG_REPLY_FD, (uint32_t)-rc, kind, conf.max_size,
	      rc ? -1 : fd);
	if (fd >= 0)
		close(fd);
	free(data);
}

static void on_commit(uint64_t id, const struct dbg_req *q, const char *path, int content)
{
	uint32_t kind = kind_of(path);
	char *data = NULL, md5[33];
	size_t len = 0;
	int rc = kind ? read_all(content, &data, &len) : -EROFS, fd = -1;

	if (!rc && kind == DBG_K_STORED) {
		md5_hex(data, len, md5);
		if (!loaded)
			rc = -EIO;
		else
			rc = store_commit(path, data, len, md5, (int64_t)time(NULL));
		if (rc)
			log_err("%s: not stored: Redis %s; the previous content stays", path,
				loaded ? "failed (see above)" : "was unreachable at start-up");
	}
	if (!rc && (fd = store_seal(data, len)) < 0)
		rc = fd;
	if (!rc && kind == DBG_K_STORED) {
		remember_stored(path, md5, len, q->mtime, fd);
		log_info("%s: stored as %s (%zu bytes)", path, md5, len);
	}
	reply(id, rc ? MSG_DBG_REPLY : MSG_DBG_REPLY_FD, (uint32_t)-rc, kind, len, rc ? -1 : fd);
	if (fd >= 0 && kind != DBG_K_STORED)
		close(fd);
	free(data);
}

static void on_unlink(uint64_t id, const struct dbg_req *q, const char *path)
{
	uint32_t kind = kind_of(path);
	int rc = kind ? 0 : -EROFS;

	if (!rc && kind == DBG_K_STORED && !(q->flags & DBG_F_CHECK)) {
		rc = loaded ? store_remove(path, (int64_t)time(NULL)) : -EIO;
		if (!rc)
			forget_stored(path);
	}
	reply(id, MSG_DBG_REPLY, (uint32_t)-rc, kind, 0, -1);
}

/* A request of the fuser. Returns false when the channel is gone or broke the protocol. */
static bool on_fuser(void)
{
	static char path[DBG_PATH_MAX + 1];
	struct dbg_req q;
	int rc = ipc_recv(fuser_fd, proto_debug_from_fuser, proto_debug_from_fuser_n, &msg);
	int fd = msg.hdr.nfds && rc == 1 ? msg.fds[0] : -1;

	if (rc == -EAGAIN)
		return true;
	if (rc <= 0)
		return false;
	if (dbg_req_decode(msg.payload, msg.hdr.len, &q)) {
		ipc_msg_close_fds(&msg);
		return false;
	}
	memcpy(path, q.path, q.path_len);
	path[q.path_len] = '\0';
	switch (msg.hdr.type) {
	case MSG_DBG_OPEN:
	case MSG_DBG_OPEN_FROM:
		on_open(msg.hdr.id, &q, path, fd);
		break;
	case MSG_DBG_COMMIT:
		on_commit(msg.hdr.id, &q, path, fd);
		break;
	case MSG_DBG_UNLINK:
		on_unlink(msg.hdr.id, &q, path);
		break;
	}
	if (fd >= 0)
		close(fd);
	return true;
}

/* A new fuser (or the first): every stored content, then whether writes may be stored. */
static void send_all(void)
{
	static uint8_t buf[8 + 8 + 4 + DBG_PATH_MAX];
	struct ipc_wr w;

	for (int i = 0; i < nstored; i++) {
		ipc_wr_init(&w, buf, sizeof buf);
		dbg_entry_encode(&w, stored[i].mtime, stored[i].size, stored[i].path,
				 strlen(stored[i].path));
		if (!w.bad && ipc_send(fuser_fd, MSG_DBG_ENTRY, 0, buf, w.len, &stored[i].fd, 1))
			log_err("cannot hand %s to the fuser", stored[i].path);
	}
	ipc_wr_init(&w, buf, sizeof buf);
	dbg_reply_encode(&w, loaded ? 0 : EIO, 0, (uint64_t)nstored);
	ipc_send(fuser_fd, MSG_DBG_LOADED, 0, buf, w.len, NULL, 0);
}

static void on_ctl(const struct ipc_msg *m)
{
	static char text[CTL_TEXT_MAX], buf[CTL_TEXT_MAX + 16];
	struct ctl_msg c;
	struct ipc_wr w;
	size_t len = 0;
	uint32_t st = 0;

	if (proto_ctl_decode(m->payload, m->hdr.len, &c)) {
		st = EPROTO;
	} else if (strcmp(c.cmd, "debug")) {
		len = (size_t)snprintf(text, sizeof text, "%s: not a command of the debug worker\n", c.cmd);
		st = EINVAL;
	} else if (store_list(text, sizeof text, &len)) {
		len = (size_t)snprintf(text, sizeof text, "Redis cannot be reached (see the log)\n");
		st = EIO;
	} else if (len == 0) {
		len = (size_t)snprintf(text, sizeof text, "no file changed\n");
	}
	ipc_wr_init(&w, buf, sizeof buf);
	proto_ctl_reply_encode(&w, st, text, len);
	ipc_send(FD_SUPERVISOR, MSG_CTL_REPLY, m->hdr.id, buf, w.len, NULL, 0);
}

/* Returns false when the supervisor is gone. */
static bool on_supervisor(void)
{
	struct ipc_rd r;
	int rc = ipc_recv(FD_SUPERVISOR, from_supervisor, sizeof from_supervisor / sizeof *from_supervisor,
			  &msg);

	if (rc == -EAGAIN)
		return true;
	if (rc <= 0)
		return false;
	ipc_rd_init(&r, msg.payload, msg.hdr.len);
	if (msg.hdr.type == MSG_PEER) {
		if (ipc_rd_u32(&r) != PEER_FUSER || !ipc_rd_done(&r))
			die(67, "supervisor channel: a malformed peer message");
		close(fuser_fd);
		fuser_fd = msg.fds[0];
		log_info("a new fuser is connected");
		send_all();
	} else if (msg.hdr.type == MSG_CTL) {
		on_ctl(&msg);
	} else {
		die(67, "supervisor channel: configuration sent twice");
	}
	return true;
}

int main(int argc, char **argv)
{
	int rc;

	log_init("debug", argc > 2 && strcmp(argv[1], "-l") == 0 ? atoi(argv[2]) : LOG_INFO);
	policy_worker_start("debug");
	rc = ipc_recv_wait(FD_SUPERVISOR, from_supervisor, 1, &msg, START_DEADLINE_MS);
	if (rc != 1 || debug_conf_decode(msg.payload, msg.hdr.len, &conf))
		die(64, "no valid configuration from the supervisor");
	for (uint32_t i = 0; i < conf.nfilter; i++)
		if (regcomp(&filters[i], conf.filter[i], REG_EXTENDED | REG_NOSUB))
			die(64, "filter %s is not a regular expression", conf.filter[i]);
	if (store_open(&conf) == 0 && (nstored = store_load(&stored)) >= 0) {
		loaded = true;
		log_info("redis %s: %d stored files for mount %s", conf.redis, nstored, conf.id);
	} else {
		nstored = 0;
		log_err("redis %s cannot be reached: the mount serves its read-only content, and writes "
			"to paths the filter matches fail with EIO until it is restarted", conf.redis);
	}
	tzset();        /* glibc reads its time zone once, on the first gmtime_r: now, by path */
	seccomp_lockdown(SECCOMP_DEBUG, "debug");
	ipc_send(FD_SUPERVISOR, MSG_READY, 0, NULL, 0, NULL, 0);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = FD_SUPERVISOR, .events = POLLIN },
			{ .fd = fuser_fd, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(66, "poll: %s", strerror(errno));
		}
		if (p[0].revents && !on_supervisor())
			break;
		if (fuser_fd >= 0 && p[1].revents && !on_fuser()) {
			/* The fuser died: a new one comes with MSG_PEER. */
			log_warn("the fuser is gone; waiting for a new one");
			close(fuser_fd);
			fuser_fd = -1;
		}
	}
	return 0;
}
