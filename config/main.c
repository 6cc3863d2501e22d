/* main.c — aysfs-config: reads the configuration file for the supervisor.
 *
 * The supervisor runs as root and parses nothing: at start-up and at each reload it opens the
 * file, starts this program as the workers' user (as it starts a worker: fixed fds, no
 * capabilities, empty environment) and hands it the open file on fd 3. This program parses it
 * (config/toml.c, config/config.c), logs warnings itself, and answers with the configuration in
 * the bounded encoding of supervisor/confwire.c, or with the error "FILE:LINE:COLUMN: reason".
 * Then it exits. It runs for milliseconds and holds nothing.
 */
#include "config/config.h"
#include "supervisor/confwire.h"

#include "ipc/log.h"
#include "ipc/proto_workers.h"
#include "policy/policy.h"
#include "policy/seccomp.h"

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

int main(int argc, char **argv)
{
	static uint8_t out[IPC_MAX_PAYLOAD];
	static struct ipc_msg m;
	char file[WCONF_MAX_STR + 1], err[1024];
	struct config c;
	struct ipc_rd r;
	struct ipc_wr w;
	int rc;

	log_init("config", argc > 2 && strcmp(argv[1], "-l") == 0 ? atoi(argv[2]) : LOG_INFO);
	policy_worker_start("config");
	rc = ipc_recv_wait(FD_SUPERVISOR, proto_config_from_supervisor,
			   proto_config_from_supervisor_n, &m, REQUEST_DEADLINE_MS);
	if (rc <= 0)
		die(64, "no request from the supervisor: %s", rc ? strerror(-rc) : "it is gone");
	/* From here on: read the fd received, write the answer, exit. */
	seccomp_lockdown(SECCOMP_CONFIG, "config");
	if (m.hdr.type == MSG_CONFIG_DEFAULTS) {
		config_defaults(&c);
	} else {
		ipc_rd_init(&r, m.payload, m.hdr.len);
		if (!ipc_rd_cstr(&r, file, sizeof file) || !ipc_rd_done(&r))
			die(64, "a malformed request from the supervisor");
		rc = config_load_fd(file, m.fds[0], &c, warning, NULL, err, sizeof err);
		close(m.fds[0]);
		if (rc)
			return fail(err) ? 65 : 0;
	}
	c.warnings = warnings;
	ipc_wr_init(&w, out, sizeof out);
	config_encode(&w, &c);
	if (w.bad) {
		snprintf(err, sizeof err, "%s: too large: over %d layers, %d services, %d proxies or "
			 "filters, or %d bytes in all", c.file ? c.file : "the configuration",
			 WCONF_MAX_LAYERS, WCONF_MAX_SERVICES, 64, IPC_MAX_PAYLOAD);
		return fail(err) ? 65 : 0;
	}
	rc = ipc_send(FD_SUPERVISOR, MSG_CONFIG_DONE, 0, out, w.len, NULL, 0);
	config_free(&c);
	return rc ? 65 : 0;
}
