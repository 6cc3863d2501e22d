/* ctl.h — the control socket of a mount, shared by the supervisor (its server) and aysfs-ctl.
 *
 * Where: CTL_RUN_DIR/NAME.sock, NAME derived from the mountpoint's real path (ctl_socket_path), so
 * that each mount has its own socket and aysfs-ctl finds it from the mountpoint alone. The folder
 * is root's, mode 0700, and the socket 0600; the supervisor also checks each caller's uid with
 * SO_PEERCRED, so only root is ever served.
 *
 * Protocol (SOCK_SEQPACKET, one datagram each way):
 *   request: "COMMAND" or "COMMAND ARGUMENT", optionally one trailing newline, at most CTL_REQ_MAX
 *            bytes, no NUL; COMMAND one of status, reload, cache, evict, verify, debug, order;
 *            evict takes (and needs) an absolute path, order a service id (no '/', no space).
 *   reply:   u32 status (0, or a positive errno; little-endian), then text for people.
 */
#ifndef AYSFS_CTL_H
#define AYSFS_CTL_H

#include <stddef.h>
#include <stdint.h>

#define CTL_RUN_DIR     "/run/aysfs"
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

/* The socket of the mount at `mnt` (a real path, as the supervisor mounts it). Short paths give a
 * readable name ('/' as '_', '%', '_' and bytes outside printable ASCII as %XX); a path whose name
 * would not fit in sun_path gives "h" + a 64-bit FNV-1a hash in hex. Returns 0 or -ENAMETOOLONG. */
int ctl_socket_path(const char *mnt, char *out, size_t size);

#endif
