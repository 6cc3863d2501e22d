/* ctl_parse.h — the control socket's requests and replies (the protocol: ipc/ctl.h), parsed by the
 * status worker, which serves the socket, and written by aysfs-ctl (ipc/ctl_parse.c). */
#ifndef AYSFS_CTL_PARSE_H
#define AYSFS_CTL_PARSE_H

#include "ipc/ctl.h"

#define CTL_REQ_MAX     (16 + 1 + 4095 + 1)
#define CTL_REPLY_MAX   (4 + 96 * 1024)

enum ctl_cmd { CTL_STATUS, CTL_RELOAD, CTL_CACHE, CTL_EVICT, CTL_VERIFY, CTL_DEBUG, CTL_ORDER };

struct ctl_req {
	enum ctl_cmd cmd;
	const char *name;       /* the command's name */
	char arg[4096];         /* "" unless evict (a path) or order (a service id) */
};

/* Parse one request datagram. Returns 0, or -EINVAL with a reason in err. */
int ctl_parse(const void *buf, size_t len, struct ctl_req *req, char *err, size_t errsz);

#endif
