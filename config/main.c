/* main.c — aysfs-config: reads the configuration file for the supervisor.
 *
 * The supervisor runs as root and parses nothing: at start-up and at each reload it opens the
 * file, starts this program as the workers' user (as it starts a worker: fixed fds, no
 * capabilities, empty environment) and hands it the open file on fd 3 with what the command line
 * says. This program parses it (config/toml.c, config/config.c), logs warnings itself, and
 * answers with each process's configuration (config/relay.c) — or with the error
 * "FILE:LINE:COLUMN: reason". Then it exits. It runs for milliseconds and holds nothing.
 */
#include "config/config.h"
#include "config/relay.h"
#include "ipc/proto_debug.h"

#include "ipc/log.h"
#include "ipc/proto_workers.h"
#include "policy/policy.h"
#include "policy/seccomp.h"
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REQUEST_DEADLINE_MS 10000

static uint32_t warnings;

static void warning(void *ctx, const char *msg)
{
	log_warn("%s", msg);
	warnings++;
}

static int fail(const char *why)
{
	uint8_t buf[4 + 1024];
	struct ipc_wr w;

	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_str(&w, why, strnlen(why, 1024));
	return ipc_send(FD_SUPERVISOR, MSG_CONFIG_FAIL, 0, buf, w.len, NULL, 0);
}

/* The three answers, in the order root expects them (ipc/proto.h). */
static int answer(const struct config *c, const struct config_req_in *q)
{
	static uint8_t out[IPC_MAX_PAYLOAD], dconf[IPC_MAX_PAYLOAD], s3[IPC_MAX_PAYLOAD];
	uint8_t fconf[FUSER_CONF_LEN];
	size_t dlen;
	struct worker_conf wc;
	struct ipc_wr w, root, s3w;
	char err[1024];
	int rc;

	if (relay_worker_conf(&wc, c, q))
		return fail("aysfs-config: out of memory") ? 65 : 0;
	ipc_wr_init(&w, out, sizeof out);
	proto_conf_encode(&w, &wc);
	ipc_wr_init(&root, out + w.len, sizeof out - w.len);
	relay_root_conf(&root, c, &wc);
	free(wc.layers);
	free(wc.services);
	if (w.bad || root.bad) {
		snprintf(err, sizeof err, "%s: too large: over %d layers, %d services, %d proxies or "
			 "filters, or %d bytes in all",
			 c->file ? c->file : "the configuration", WCONF_MAX_LAYERS, WCONF_MAX_SERVICES,
			 WCONF_MAX_PROXIES, IPC_MAX_PAYLOAD);
		return fail(err) ? 65 : 0;
	}
	ipc_wr_init(&s3w, s3, sizeof s3);
	if (relay_s3_conf(&s3w, c)) {
		snprintf(err, sizeof err, "%s: the s3:// layers: over %d, or a setting too long",
			 c->file ? c->file : "the configuration", S3_MAX_LAYERS);
		return fail(err) ? 65 : 0;
	}
	dlen = relay_debug_conf(dconf, sizeof dconf, c);
	if (dlen == SIZE_MAX) {
		snprintf(err, sizeof err, "%s: [debug] does not fit in a message (at most %d filters)",
			 c->file ? c->file : "the configuration", DBG_FILTER_MAX);
		return fail(err) ? 65 : 0;
	}
	proto_fuser_conf_encode(fconf, q->log_level, (uint32_t)c->entry_ttl, (uint32_t)c->attr_ttl,
				(uint32_t)c->negative_ttl, c->debug.present ? FUSER_DEBUG : 0);
	rc = ipc_send(FD_SUPERVISOR, MSG_CONFIG_WORKERS, 0, out, w.len, NULL, 0);
	if (!rc)
		rc = ipc_send(FD_SUPERVISOR, MSG_CONFIG_FUSER, 0, fconf, sizeof fconf, NULL, 0);
	if (!rc)
		rc = ipc_send(FD_SUPERVISOR, MSG_CONFIG_DEBUG, 0, dconf, dlen, NULL, 0);
	if (!rc)
		rc = ipc_send(FD_SUPERVISOR, MSG_CONFIG_S3, 0, s3, s3w.len, NULL, 0);
	if (!rc)
		rc = ipc_send(FD_SUPERVISOR, MSG_CONFIG_DONE, 0, out + w.len, root.len, NULL, 0);
	return rc ? 65 : 0;
}

int main(int argc, char **argv)
{
	static struct ipc_msg m;
	static struct config_req_in q;
	char file[WCONF_MAX_STR + 1], err[1024];
	struct config c;
	struct ipc_rd r;
	int rc;

	log_init("config", argc > 2 && strcmp(argv[1], "-l") == 0 ? atoi(argv[2]) : LOG_INFO);
	policy_worker_start("config");
	rc = ipc_recv_wait(FD_SUPERVISOR, proto_config_from_supervisor,
			   proto_config_from_supervisor_n, &m, REQUEST_DEADLINE_MS);
	if (rc <= 0)
		die(64, "no request from the supervisor: %s", rc ? strerror(-rc) : "it is gone");
	/* From here on: read the fd received, write the answer, exit. */
	seccomp_lockdown(SECCOMP_CONFIG, "config");
	ipc_rd_init(&r, m.payload, m.hdr.len);
	if (m.hdr.type == MSG_CONFIG_READ && !ipc_rd_cstr(&r, file, sizeof file))
		die(64, "a malformed request from the supervisor");
	if (proto_config_req_decode(&r, &q))
		die(64, "a malformed request from the supervisor");
	if (m.hdr.type == MSG_CONFIG_DEFAULTS) {
		config_defaults(&c);
	} else {
		rc = config_load_fd(file, m.fds[0], &c, warning, NULL, err, sizeof err);
		close(m.fds[0]);
		if (rc)
			return fail(err) ? 65 : 0;
	}
	if (c.prefix && c.prefix[0] != '/') {
		snprintf(err, sizeof err, "%s: prefix must be an absolute path",
			 c.file ? c.file : "the configuration");
		config_free(&c);
		return fail(err) ? 65 : 0;
	}
	c.warnings = warnings;
	rc = answer(&c, &q);
	config_free(&c);
	return rc;
}
