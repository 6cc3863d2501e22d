/* aysfs-fetcher — the only process that touches the network.
 *
 * Started by the supervisor as its own unprivileged user with fd 3 (supervisor), fd 4 (indexer)
 * and, when an sftp:// layer is configured, fd 5 (the ssh_key, which only root can open), in an
 * empty environment. It reads what it will ever read from files at start-up — the CA bundle, the
 * resolver configuration, the hosts file, the known SSH host keys — and from then on opens no
 * path but one: libcurl takes the SSH client key only by name, so it is given
 * /proc/self/fd/N, a sealed memfd holding the key (ssh.c). The indexer sends each download as
 * MSG_FETCH with a pipe to write the body into (http.c), and names are resolved with c-ares
 * (dns.c); -auto's host probes arrive as MSG_PROBE (probe.c). One thread and one poll loop drive the indexer's
 * channel, c-ares' sockets, libcurl's sockets and the probes' sockets; every wait has a deadline.
 */
#include "fetcher/fetcher.h"

#include "ipc/log.h"
#include "ipc/proto_workers.h"
#include "policy/policy.h"
#include "policy/seccomp.h"
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CONF_DEADLINE_MS 10000
#define DNS_FDS          16
#define POLL_MAX         (2 + DNS_FDS + 64 + FETCH_MAX_ACTIVE + PROBE_FDS)

static struct ipc_msg msg;

/* The supervisor's channel: end of file means stop; a new configuration only changes the log
 * level (nothing else in it concerns this process yet). */
static bool on_supervisor(void)
{
	struct worker_conf conf;
	int rc = ipc_recv(FD_SUPERVISOR, proto_fetcher_from_supervisor,
			  proto_fetcher_from_supervisor_n, &msg);

	if (rc == -EAGAIN)
		return true;
	if (rc == 0)
		return false;
	if (rc > 0 && msg.hdr.type == MSG_S3) {
		if (s3_load(msg.payload, msg.hdr.len))
			die(68, "supervisor channel: malformed %s", msg.desc->name);
		explicit_bzero(msg.payload, msg.hdr.len);
		return true;
	}
	if (rc > 0 && msg.hdr.type == MSG_CTL) {
		if (fctl_request(&msg))
			die(68, "supervisor channel: malformed %s", msg.desc->name);
		return true;
	}
	if (rc < 0 || msg.hdr.type != MSG_CONF || proto_conf_decode(msg.payload, msg.hdr.len, &conf)) {
		die(68, "supervisor channel: %s", strerror(rc < 0 ? -rc : EPROTO));
	}
	log_init("fetcher", (int)conf.log_level);
	proto_conf_free(&conf);
	return true;
}

/* While requests are held, a word to the indexer every FETCH_ALIVE_MS: a fetcher that stops
 * (stopped, wedged) is noticed by its silence, and the indexer stops waiting for it. */
static void tell_alive(int *timeout)
{
	static uint64_t next;
	uint64_t now = now_ms();
	int rc;

	if (http_idle())
		return;
	if (now >= next) {
		if ((rc = ipc_send(FD_PEER1, MSG_FETCH_ALIVE, 0, NULL, 0, NULL, 0)))
			die(67, "indexer channel: %s", strerror(-rc));
		next = now + FETCH_ALIVE_MS;
	}
	if (*timeout < 0 || next - now < (uint64_t)*timeout)
		*timeout = (int)(next - now);
}

/* The indexer's channel: one MSG_FETCH or MSG_PUSH per wake-up. Returns false at end of file. */
static bool on_indexer(void)
{
	int rc = ipc_recv(FD_PEER1, proto_fetcher_from_indexer, proto_fetcher_from_indexer_n, &msg);
	struct fetch_req q;

	if (rc == -EAGAIN)
		return true;
	if (rc == 0)
		return false;
	if (rc > 0 && msg.hdr.type == MSG_PROBE) {
		if ((rc = probe_take(&msg)))
			die(67, "indexer channel: %s", strerror(-rc));
		return true;
	}
	if (rc < 0 || (rc = request_take(&msg, &q)) < 0)
		die(67, "indexer channel: %s", strerror(-rc));
	if (rc == 0)
		http_submit(&q);
	return true;
}

int main(int argc, char **argv)
{
	struct worker_conf conf;
	int rc;

	log_init("fetcher", argc > 2 && strcmp(argv[1], "-l") == 0 ? atoi(argv[2]) : LOG_INFO);
	policy_worker_start("fetcher");
	if ((rc = proto_recv_conf(FD_SUPERVISOR, CONF_DEADLINE_MS, &conf)))
		die(64, "no valid configuration from the supervisor: %s", strerror(-rc));
	log_init("fetcher", (int)conf.log_level);
	/* The s3:// layers' settings and keys follow the configuration, from the supervisor alone. */
	rc = ipc_recv_wait(FD_SUPERVISOR, proto_fetcher_from_supervisor,
			   proto_fetcher_from_supervisor_n, &msg, CONF_DEADLINE_MS);
	if (rc <= 0 || msg.hdr.type != MSG_S3 || s3_load(msg.payload, msg.hdr.len))
		die(64, "no valid s3:// settings from the supervisor");
	explicit_bzero(msg.payload, msg.hdr.len);
	/* First, while fd 5 is still the supervisor's ssh_key (or nothing): libraries open fds too. */
	if ((rc = ssh_init(&conf)))
		die(65, "cannot read the SSH keys: %s", strerror(-rc));

	/* Every file this process reads, read now; OpenSSL's certificate checks read the time zone
	 * on first use (glibc's localtime): load it now too. */
	tzset();
	if ((rc = http_init(&conf)))
		die(65, "cannot set up libcurl: %s", strerror(-rc));
	if ((rc = dns_init(conf.resolv[0] ? conf.resolv : FETCH_RESOLV_CONF, FETCH_HOSTS)))
		die(65, "cannot set up the resolver: %s", strerror(-rc));
	fctl_init(&conf);
	proto_conf_free(&conf);
	/* From here on nothing opens a path, but the SSH key's memfd (ssh.c) when a layer is
	 * sftp://: that role's list allows read-only opens. */
	seccomp_lockdown(ssh_key_path() ? SECCOMP_FETCHER_SFTP : SECCOMP_FETCHER, "fetcher");

	for (;;) {
		struct pollfd p[POLL_MAX];
		int n = 2, nd, nh, np, timeout = -1;

		p[0] = (struct pollfd){ .fd = FD_SUPERVISOR, .events = POLLIN };
		/* With FETCH_MAX_HELD requests held, the indexer waits (back-pressure). */
		p[1] = (struct pollfd){ .fd = http_full() ? -1 : FD_PEER1, .events = POLLIN };
		nd = dns_pollfds(p + n, DNS_FDS, &timeout);
		n += nd;
		nh = http_pollfds(p + n, POLL_MAX - PROBE_FDS - n, &timeout);
		n += nh;
		np = probe_pollfds(p + n, PROBE_FDS, &timeout);
		n += np;
		tell_alive(&timeout);
		if (poll(p, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die(66, "poll: %s", strerror(errno));
		}
		if (p[0].revents && !on_supervisor())
			break;
		dns_process(p + 2, nd);
		http_process(p + 2 + nd, nh);
		probe_process(p + 2 + nd + nh, np);
		if (p[1].revents && !on_indexer())
			break;
	}
	http_free();
	s3_free();
	dns_free();
	ssh_free();
	return 0;
}
