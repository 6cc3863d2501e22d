/* restart.c — a restarted indexer or fetcher: new channels between them (and to the fuser), each
 * handed its end, and the configuration in force (root's relayed payloads, rootconf). */
#include "supervisor/supervisor.h"

#include "ipc/log.h"
#include "ipc/proto.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int ssh_key_fd = -1;

/* The fetcher's MSG_S3 (ipc/proto.h), after each of its MSG_CONF and at reloads. */
int send_s3(struct worker *f, const struct rootconf *c)
{
	return worker_send(f, MSG_S3, 0, c->s3, c->s3_len, NULL, 0);
}

/* A new fetcher with new channels; the indexer is handed its end and sends again what waited. */
int restart_fetcher(struct worker *f, struct worker *idx, const struct rootconf *c,
			   int log_level)
{
	int sp[2], ip[2], rc;
	uint8_t peer[4];
	struct ipc_wr w;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		return -errno;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ip)) {
		close(sp[0]);
		close(sp[1]);
		return -errno;
	}
	f->ctl = sp[0];
	f->fds[0] = sp[1];
	f->fds[1] = ip[1];
	f->fds[2] = ssh_key_fd;
	rc = spawn_worker(f, log_level, true);
	close(sp[1]);
	close(ip[1]);
	if (!rc)
		rc = worker_send(f, MSG_CONF, 0, c->conf, c->conf_len, NULL, 0);
	if (!rc)
		rc = send_s3(f, c);
	ipc_wr_init(&w, peer, sizeof peer);
	ipc_wr_u32(&w, PEER_FETCHER);
	if (!rc && idx->ctl >= 0)
		rc = worker_send(idx, MSG_PEER, 0, peer, w.len, &ip[0], 1);
	close(ip[0]);
	if (rc)
		log_crit("cannot restart the %s: %s", f->name, strerror(-rc));
	else
		log_notice("the %s is restarted (pid %d)", f->name, (int)f->pid);
	return rc;
}

/* A new indexer, and with it a new fetcher (whose only peer it is): fresh channels for both; the
 * fuser is handed its end and asks again for every blob still pending. */
int restart_indexer(struct worker *idx, struct worker *f, struct worker *fuser,
			   const struct rootconf *c, int log_level)
{
	int si[2], sf[2], fi[2], xf[2], rc;
	uint8_t peer[4];
	struct ipc_wr w;

	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
	f->restart_at = 0;
	if (f->ctl >= 0)
		close(f->ctl);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, si) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sf) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fi) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, xf))
		return -errno;   /* fds of a failed start do not matter: the mount stops */
	idx->ctl = si[0];
	memcpy(idx->fds, (int[]){ si[1], fi[1], xf[0] }, sizeof idx->fds);
	f->ctl = sf[0];
	memcpy(f->fds, (int[]){ sf[1], xf[1], ssh_key_fd }, sizeof f->fds);
	rc = spawn_worker(idx, log_level, true);
	if (!rc)
		rc = spawn_worker(f, log_level, true);
	close(si[1]);
	close(fi[1]);
	close(xf[0]);
	close(sf[1]);
	close(xf[1]);
	if (!rc)
		rc = worker_send(idx, MSG_CONF, 0, c->conf, c->conf_len, NULL, 0);
	if (!rc)
		rc = worker_send(f, MSG_CONF, 0, c->conf, c->conf_len, NULL, 0);
	if (!rc)
		rc = send_s3(f, c);
	ipc_wr_init(&w, peer, sizeof peer);
	ipc_wr_u32(&w, PEER_INDEXER);
	if (!rc && fuser->ctl >= 0)
		rc = worker_send(fuser, MSG_PEER, 0, peer, w.len, &fi[0], 1);
	close(fi[0]);
	if (rc)
		log_crit("cannot restart the %s: %s", idx->name, strerror(-rc));
	else
		log_notice("the %s is restarted (pid %d), with a new %s (pid %d)", idx->name,
			   (int)idx->pid, f->name, (int)f->pid);
	return rc;
}
