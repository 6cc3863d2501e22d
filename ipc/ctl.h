/* ctl.h — the control socket of a mount: its path, which the supervisor binds and aysfs-ctl finds;
 * its requests' parser is ipc/ctl_parse.h's (the status worker's and aysfs-ctl's, not root's).
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
/* The socket of the mount at `mnt` (a real path, as the supervisor mounts it). Short paths give a
 * readable name ('/' as '_', '%', '_' and bytes outside printable ASCII as %XX); a path whose name
 * would not fit in sun_path gives "h" + a 64-bit FNV-1a hash in hex. Returns 0 or -ENAMETOOLONG. */
int ctl_socket_path(const char *mnt, char *out, size_t size);

#endif
