/* aysfs-fuser — answers the kernel for the mount.
 *
 * Started by the supervisor as an unprivileged user with fd 3 (supervisor), fd 4 (indexer) and
 * fd 5 (/dev/fuse, already mounted). It takes its configuration from the supervisor, waits for
 * the first index from the indexer, then serves: a server thread per CPU reads /dev/fuse (below),
 * the main thread's poll loop both channels, all of them one at a time under one lock; opens parked
 * for a blob never hold up other requests. It opens no path.
 */
#include "fuser/fh.h"
#include "fuser/fuser.h"
#include "fuser/reload.h"

#include "ipc/log.h"
#include "ipc/proto.h"
#include "policy/policy.h"
#include "policy/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define START_DEADLINE_MS 30000  /* the first index of a large tree may take a while to build */

static struct ipc_msg msg;

/* Wait up to ms for one message on fd. Returns what ipc_recv returns, or -ETIMEDOUT. */
static int recv_within(int fd, const struct ipc_type *accept, size_t n, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc = poll(&p, 1, ms);

	if (rc == 0)
		return -ETIMEDOUT;
	if (rc < 0)
		return -errno;
	return ipc_recv(fd, accept, n, &msg);
}

/* MSG_INDEX in msg (generation, size; the image's memfd): check the seals and the image, then map
 * it; the fd is closed either way. */
static int take_index(struct fuser *f)
{
	char err[256] = "a malformed MSG_INDEX";
	struct ix ix;
	struct ipc_rd r;
	void *map;
	int fd = msg.fds[0], rc;
	uint64_t size;

	ipc_rd_init(&r, msg.payload, msg.hdr.len);
	ipc_rd_u64(&r);
	size = ipc_rd_u64(&r);
	rc = ipc_rd_done(&r) ? ix_map_sealed(&ix, fd, size, &map, err, sizeof err) : -EPROTO;
	if (rc) {
		close(fd);
		log_err("index rejected: %s", err);
		return rc;
	}
	if (f->map) {
		unsigned n;

		if (ix.hdr->generation <= f->ix.hdr->generation) {
			close(fd);
			munmap(map, size);
			log_err("index of generation %llu is not newer than %llu; ignored",
				(unsigned long long)ix.hdr->generation,
				(unsigned long long)f->ix.hdr->generation);
			return 0;
		}
		n = reload_invalidate(&f->ix, &ix);
		munmap(f->map, f->map_size);
		close(f->index_fd);
		log_info("reloaded: %u kernel cache entries to invalidate", n);
	}
	f->index_fd = fd;
	fuser_set_index(f, map, size, &ix);
	log_info("serving %u entries (generation %llu)", ix.ninodes,
		 (unsigned long long)ix.hdr->generation);
	return 0;
}

static int on_indexer_msg(struct fuser *f)
{
	struct ipc_rd r;
	int rc = ipc_recv(f->idx_fd, proto_fuser_from_indexer, proto_fuser_from_indexer_n, &msg);

	if (rc <= 0)
		return rc == -EAGAIN ? 1 : rc;
	ipc_rd_init(&r, msg.payload, msg.hdr.len);
	switch (msg.hdr.type) {
	case MSG_INDEX:
		rc = take_index(f);
		return rc == -EPROTO ? rc : 1;
	case MSG_BLOB: {
		size_t len;
		const char *layer = ipc_rd_str(&r, WCONF_MAX_STR, &len);

		if (!ipc_rd_done(&r)) {
			close(msg.fds[0]);
			return -EPROTO;
		}
		blob_ready(f, msg.hdr.id, msg.fds[0], layer, len);
		return 1;
	}
	case MSG_BLOB_ERR: {
		uint32_t err = ipc_rd_u32(&r);

		if (!ipc_rd_done(&r) || err == 0 || err > 4095)
			return -EPROTO;
		blob_failed(f, msg.hdr.id, (int)err);
		return 1;
	}
	case MSG_BLOB_UNPIN:
		blobs_unpin(f, true);
		return 1;
	case MSG_AHEAD:
		blobs_ahead(f, msg.payload, msg.hdr.len);
		return 1;
	case MSG_BLOB_GONE: {
		uint8_t hash[32];
		int n = proto_blob_closed_decode(msg.payload, msg.hdr.len, hash);

		if (n < 0)
			return n;
		blob_gone(f, hash, (uint8_t)n);
		return 1;
	}
	}
	return -EPROTO;
}

static struct fuser fuser;

/* Start-up's next message from the supervisor, which must be of this type: in msg and r, or the
 * fuser exits 64 saying what it waited for. */
static void recv_root(uint16_t type, struct ipc_rd *r, const char *what)
{
	int rc = recv_within(FD_SUPERVISOR, proto_fuser_from_supervisor,
			     proto_fuser_from_supervisor_n, START_DEADLINE_MS);

	if (rc != 1 || msg.hdr.type != type) {
		if (rc == 1)
			ipc_msg_close_fds(&msg);
		die(64, "no %s from the supervisor: %s", what, strerror(rc < 0 ? -rc : EPROTO));
	}
	ipc_rd_init(r, msg.payload, msg.hdr.len);
}

/* The fuser's whole configuration (MSG_FUSER_CONF): its log level and the kernel's cache
 * lifetimes. */
static void recv_conf(struct fuser *f)
{
	struct ipc_rd r;
	uint32_t level, flags;

	recv_root(MSG_FUSER_CONF, &r, "valid configuration");
	level = ipc_rd_u32(&r);
	f->entry_ttl = ipc_rd_u32(&r);
	f->attr_ttl = ipc_rd_u32(&r);
	f->negative_ttl = ipc_rd_u32(&r);
	flags = ipc_rd_u32(&r);
	f->debug = flags & FUSER_DEBUG;
	if (f->debug && !&fuser_debug_ops)
		die(64, "[debug] is served by aysfs-fuser-debug, not by this fuser");
	if (!ipc_rd_done(&r) || level > LOG_DEBUG || (flags & ~FUSER_DEBUG))
		die(64, "no valid configuration from the supervisor: %s", strerror(EPROTO));
	log_init("fuser", (int)level);
}

/* A restarted fuser takes the mount over: the supervisor sends the instance number (the top of
 * every file handle) and the kernel's FUSE_INIT as the first fuser saw it. */
static void recv_takeover(uint8_t *init, size_t *len)
{
	struct ipc_rd r;
	const void *p;
	uint32_t instance;

	recv_root(MSG_FUSE_INIT, &r, "FUSE_INIT to take the mount over");
	instance = ipc_rd_u32(&r);
	*len = r.left;
	p = ipc_rd_bytes(&r, *len);
	if (!p || !ipc_rd_done(&r) || instance == 0 || instance > UINT16_MAX ||
	    *len < FUSE_INIT_MIN || *len > FUSE_INIT_MAX)
		die(64, "malformed FUSE_INIT from the supervisor");
	memcpy(init, p, *len);
	fh_set_instance((uint16_t)instance);
}

/* Wait for the first index (a large tree may take a while to build). */
static void first_index(struct fuser *f)
{
	int rc;

	do {
		rc = recv_within(f->idx_fd, proto_fuser_from_indexer, proto_fuser_from_indexer_n,
				 START_DEADLINE_MS);
		if (rc != 1 || msg.hdr.type != MSG_INDEX)
			die(64, "no index from the indexer (%s)", rc < 0 ? strerror(-rc) : "wrong message");
		rc = take_index(f);
	} while (rc == -ENOMEM);
	if (rc)
		die(64, "the first index is unusable");
}

/* Debug mode: the debug worker's channel, and the contents it stored, before the tree is served
 * (a restarted mount shows the files edited before). */
static void debug_first(struct fuser *f)
{
	struct ipc_rd r;

	recv_root(MSG_PEER, &r, "channel to the debug worker");
	if (ipc_rd_u32(&r) != PEER_DEBUG || !ipc_rd_done(&r))
		die(64, "no channel to the debug worker from the supervisor");
	if (debug_connect(f, msg.fds[0]))
		log_err("the files stored in debug mode are not shown");
}

/* Once serving, the supervisor sends a restarted indexer's channel (MSG_PEER), which gets the tree
 * being served (the base of its next reload) and every blob still pending, in debug mode a
 * restarted debug worker's, which sends its stored files first, and the status worker's
 * question for the counters (MSG_CTL, whatever it asks: "stats"). Returns false when the
 * supervisor is gone. */
static bool on_supervisor_msg(struct fuser *f)
{
	uint8_t cur[192];
	char text[160];
	struct ipc_wr w;
	struct ipc_rd r;
	int rc = ipc_recv(FD_SUPERVISOR, proto_fuser_from_supervisor, proto_fuser_from_supervisor_n,
			  &msg);
	uint32_t peer;

	if (rc == 0)
		return false;
	if (rc > 0 && msg.hdr.type == MSG_CTL) {
		int n = snprintf(text, sizeof text,
				 "opens %llu\nopens_waited %llu\nreads %llu\nread_bytes %llu\n",
				 (unsigned long long)f->n_opens, (unsigned long long)f->n_waited,
				 (unsigned long long)f->n_reads, (unsigned long long)f->read_bytes);

		ipc_wr_init(&w, cur, sizeof cur);
		ipc_wr_u32(&w, 0);
		ipc_wr_str(&w, text, n > 0 && (size_t)n < sizeof text ? (size_t)n : 0);
		ipc_send(FD_SUPERVISOR, MSG_CTL_REPLY, msg.hdr.id, cur, w.len, NULL, 0);
		return true;
	}
	ipc_rd_init(&r, msg.payload, msg.hdr.len);
	peer = ipc_rd_u32(&r);
	if (rc < 0 || msg.hdr.type != MSG_PEER || !ipc_rd_done(&r) ||
	    (peer != PEER_INDEXER && !(peer == PEER_DEBUG && f->debug)))
		die(67, "supervisor channel: %s", strerror(rc < 0 ? -rc : EPROTO));
	if (peer == PEER_DEBUG) {
		debug_connect(f, msg.fds[0]);
		return true;
	}
	close(f->idx_fd);
	outbox_drop(&f->out);   /* for the dead indexer: the new one is asked anew */
	f->idx_fd = msg.fds[0];
	fcntl(f->idx_fd, F_SETFL, O_NONBLOCK);
	/* First on a new channel: it has room. */
	ipc_wr_init(&w, cur, sizeof cur);
	ipc_wr_u64(&w, f->ix.hdr->generation);
	ipc_wr_u64(&w, f->map_size);
	ipc_send(f->idx_fd, MSG_INDEX, 0, cur, w.len, &f->index_fd, 1);
	log_info("a new indexer is connected; %u opens asked again", blobs_ask_again(f));
	return true;
}

/* ---- serving each request on the CPU that made it ----------------------------------------------
 * A program blocked on a request leaves its CPU idle; a fuser woken on another CPU answers, and
 * the program is woken back on its own: two wake-ups of an idle CPU per request, each as dear as
 * the answer itself where an idle vCPU halts (a warm open + ioctl + close, 130 us that way on a
 * 2-vCPU VM, 18 us with both on one CPU). So one server thread per CPU, each bound to it, waits on
 * /dev/fuse: the kernel wakes them all, the one on the requester's CPU runs as soon as the
 * requester blocks, and the others find nothing left to read. Requests are still answered one at
 * a time (serve_lock): the handlers share all of the fuser's state. The main thread keeps the
 * channels and blobs_unpin's timer. */
#define SERVERS_MAX 8           /* every request wakes every server: no more than this many */

static pthread_mutex_t serve_lock = PTHREAD_MUTEX_INITIALIZER;
static int wake_pipe[2] = { -1, -1 };   /* servers to the main thread: WAKE_* bytes */
#define WAKE_END   'e'          /* the session is over */
#define WAKE_TIMER 't'          /* a pinned idle blob: blobs_unpin has a deadline again */
#define WAKE_OUT   'o'          /* messages wait for room on the indexer's channel */
static bool timer_set;          /* the main thread waits with blobs_unpin's deadline */
static bool out_polled;         /* and for room on the indexer's channel */
static bool init_sent;          /* the kernel's FUSE_INIT was handed to the supervisor */
static uint8_t init[FUSE_INIT_MAX];
static size_t init_len;

/* Answer every request waiting on /dev/fuse (non-blocking), with serve_lock held. Returns 0, or -1
 * when the session is over. */
static int serve_all(struct fuse_buf *buf)
{
	for (;;) {
		int rc = fuse_session_receive_buf(fuser.se, buf);

		if (rc == -EAGAIN)
			return 0;
		/* -ENOENT: the request was interrupted before we read it. */
		if (rc == -EINTR || rc == -ENOENT)
			continue;
		if (rc <= 0 || fuse_session_exited(fuser.se))
			return -1;      /* unmounted (-ENODEV) or gone */
		/* A copy of the kernel's INIT lets a successor take the mount over. */
		if (!init_sent && takeover_is_init(buf, (size_t)rc, init, &init_len)) {
			init_sent = true;
			if (ipc_send(FD_SUPERVISOR, MSG_FUSE_INIT, 0, init, init_len, NULL, 0))
				log_warn("cannot hand FUSE_INIT to the supervisor: a restart will remount");
		}
		fuse_session_process_buf(fuser.se, buf);
	}
}

static void wake_main(char why)
{
	/* A full pipe wakes the main thread as well. */
	if (write(wake_pipe[1], &why, 1) != 1 && errno != EAGAIN)
		die(66, "cannot wake the main thread: %s", strerror(errno));
}

static void *server(void *arg)
{
	struct fuse_buf buf = { 0 };
	struct pollfd p = { .fd = fuse_session_fd(fuser.se), .events = POLLIN };
	bool busy = false;

	(void)arg;
	for (;;) {
		int rc;

		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(66, "poll: %s", strerror(errno));
		}
		/* Busy: most often the server that won this request, which reads until nothing is left,
		 * so poll again (waiting on the lock would make it wake this thread when done). Busy
		 * twice in a row, requests are waiting: wait for the lock. */
		if (pthread_mutex_trylock(&serve_lock)) {
			if (!busy) {
				busy = true;
				continue;
			}
			pthread_mutex_lock(&serve_lock);
		}
		busy = false;
		rc = serve_all(&buf);
		/* The main thread told when its wait has a deadline again (an idle blob pinned), or
		 * when messages wait for room on the indexer's channel. */
		if (rc == 0 && fuser.blobs.unpin_next && !timer_set) {
			timer_set = true;
			wake_main(WAKE_TIMER);
		}
		if (fuser.out.head && !out_polled) {
			out_polled = true;
			wake_main(WAKE_OUT);
		}
		pthread_mutex_unlock(&serve_lock);
		if (rc < 0) {
			wake_main(WAKE_END);
			return NULL;    /* the main thread ends the process */
		}
	}
}

/* One server thread per CPU this process may run on; none with one CPU, or more than SERVERS_MAX
 * (the main thread serves then). Returns how many run. */
static unsigned servers_start(void)
{
	cpu_set_t all;
	unsigned n = 0;

	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK))
		die(65, "pipe: %s", strerror(errno));
	if (sched_getaffinity(0, sizeof all, &all) || CPU_COUNT(&all) < 2 ||
	    CPU_COUNT(&all) > SERVERS_MAX)
		return 0;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		cpu_set_t one;
		pthread_attr_t a;
		pthread_t t;

		if (!CPU_ISSET(cpu, &all))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (pthread_attr_init(&a) || pthread_attr_setaffinity_np(&a, sizeof one, &one) ||
		    pthread_create(&t, &a, server, NULL))
			die(65, "cannot start a server thread");
		pthread_attr_destroy(&a);
		n++;
	}
	return n;
}

/* The main thread once serving: the channels to the indexer and to root, the servers' wake-ups
 * and the blob timers, under serve_lock between polls; with no server thread, /dev/fuse too.
 * Returns when the session or root's channel ends, serve_lock held. */
static void main_loop(unsigned nservers, struct fuse_buf *buf)
{
	int rc;

	for (;;) {
		int timeout = blobs_unpin(&fuser, false);
		struct pollfd p[4] = {
			{ .fd = nservers ? -1 : fuse_session_fd(fuser.se), .events = POLLIN },
			{ .fd = fuser.idx_fd, .events = POLLIN },
			{ .fd = FD_SUPERVISOR, .events = POLLIN },
			{ .fd = wake_pipe[0], .events = POLLIN },
		};
		char why[16];
		ssize_t n;

		timer_set = timeout >= 0;
		rc = fuser.idx_fd >= 0 ? outbox_flush(&fuser.out, fuser.idx_fd) : 0;
		out_polled = rc != 0;
		if (rc == -EAGAIN)
			p[1].events |= POLLOUT;
		else if (rc && (timeout < 0 || timeout > OUTBOX_RETRY_MS))
			timeout = OUTBOX_RETRY_MS;
		pthread_mutex_unlock(&serve_lock);
		rc = poll(p, 4, timeout);
		pthread_mutex_lock(&serve_lock);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			die(66, "poll: %s", strerror(errno));
		}
		if (p[3].revents && (n = read(wake_pipe[0], why, sizeof why)) > 0 &&
		    memchr(why, WAKE_END, (size_t)n))
			break;          /* a server saw the session end */
		if (p[0].revents && serve_all(buf) < 0)
			break;
		if (p[1].revents & ~POLLOUT) {
			rc = on_indexer_msg(&fuser);
			/* A peer that dies with messages unread resets the channel: it is gone all the same. */
			if (rc < 0 && rc != -ECONNRESET)
				die(67, "indexer channel: %s", strerror(-rc));
			if (rc <= 0) {
				/* The indexer died: opens wait for the one the supervisor starts. */
				log_warn("the indexer is gone; waiting for a new one");
				close(fuser.idx_fd);
				fuser.idx_fd = -1;
				outbox_drop(&fuser.out);
			}
		}
		if (p[1].revents & ~POLLOUT && fuser.debug)
			debug_retry(&fuser);
		if (p[2].revents && !on_supervisor_msg(&fuser))
			break;          /* the supervisor is gone: stop */
	}
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_buf buf = { 0 };
	bool restarted = argc > 3 && strcmp(argv[3], "-restarted") == 0;
	unsigned nservers;
	int rc;

	log_init("fuser", argc > 2 && strcmp(argv[1], "-l") == 0 ? atoi(argv[2]) : LOG_INFO);
	policy_worker_start("fuser");
	fuser.idx_fd = FD_PEER1;
	fuser.dbg_fd = -1;
	blobs_init(&fuser.blobs);

	recv_conf(&fuser);
	init_sent = restarted;
	if (restarted)
		recv_takeover(init, &init_len);
	first_index(&fuser);
	if (fuser.debug)
		debug_first(&fuser);

	fuser.se = fuse_session_new(&args, fuser.debug ? &fuser_debug_ops : &fuser_ops,
				    sizeof fuser_ops, &fuser);
	if (!fuser.se)
		die(65, "cannot start a FUSE session");
	/* "/dev/fd/N" tells libfuse the fd is already open and mounted (by the supervisor). */
	if (fuse_session_mount(fuser.se, "/dev/fd/5"))
		die(65, "cannot use /dev/fuse (fd 5)");
	if (restarted) {
		if ((rc = takeover_start(fuser.se, init, init_len)))
			die(65, "cannot take the mount over: %s", strerror(-rc));
		log_notice("took the mount over; the dead fuser's pending requests are sent again");
	}
	if (reload_start(fuser.se))
		die(65, "cannot start a thread");
	/* Non-blocking: the servers that lose a request must not wait for the next one in read. The
	 * servers wait for the lock until the loop below: nothing is answered before the lock-down. */
	fcntl(fuse_session_fd(fuser.se), F_SETFL, O_NONBLOCK);
	pthread_mutex_lock(&serve_lock);
	nservers = servers_start();
	seccomp_lockdown(fuser.debug ? SECCOMP_FUSER_DEBUG : SECCOMP_FUSER, "fuser");
	fcntl(fuser.idx_fd, F_SETFL, O_NONBLOCK);
	ipc_send(FD_SUPERVISOR, MSG_READY, 0, NULL, 0, NULL, 0);

	main_loop(nservers, &buf);
	/* serve_lock stays held: no server touches the session being destroyed. */
	free(buf.mem);
	fuse_session_destroy(fuser.se);
	return 0;
}
