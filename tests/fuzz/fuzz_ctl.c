/* fuzz_ctl.c — the control socket's request parser (ipc/ctl.c), which the supervisor (root) runs on
 * every datagram a caller sends. Any input is either refused with a reason or parsed into a known
 * command whose argument is bounded, NUL-free and, when present, an absolute path (evict) or a
 * service id without '/' or space (order); and a parsed
 * request, written back the way aysfs-ctl writes it, parses to the same thing. The socket name
 * derived from the input (as if it were a mountpoint) always fits sun_path. */
#include "ipc/ctl_parse.h"
#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define check(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], again[CTL_REQ_MAX + 8], mnt[4200], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctl_req req, req2;
	int n;

	if (ctl_parse(data, size, &req, err, sizeof err) == 0) {
		size_t alen = strlen(req.arg);

		check(req.name && size <= CTL_REQ_MAX);
		check(alen < sizeof req.arg);
		check((req.cmd == CTL_EVICT || req.cmd == CTL_ORDER) == (alen > 0));
		check(req.cmd != CTL_EVICT || req.arg[0] == '/');
		check(req.cmd != CTL_ORDER || (!strchr(req.arg, '/') && !strchr(req.arg, ' ')));
		check(!strchr(req.arg, '\n'));
		n = snprintf(again, sizeof again, "%s%s%s", req.name, alen ? " " : "", req.arg);
		check(n > 0 && (size_t)n < sizeof again);
		check(ctl_parse(again, (size_t)n, &req2, err, sizeof err) == 0);
		check(req2.cmd == req.cmd && strcmp(req2.arg, req.arg) == 0);
	} else {
		check(err[0] != '\0');
	}
	/* The same bytes as a mountpoint (up to a NUL). */
	n = snprintf(mnt, sizeof mnt, "%.*s", (int)(size < sizeof mnt - 1 ? size : sizeof mnt - 1),
		     (const char *)data);
	if (ctl_socket_path(mnt, path, sizeof path) == 0) {
		check(strncmp(path, CTL_RUN_DIR "/", sizeof CTL_RUN_DIR) == 0);
		check(strlen(path) < sizeof path);
		check(!strchr(path + sizeof CTL_RUN_DIR, '/'));
	}
	return 0;
}
