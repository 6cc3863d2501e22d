/* relay.h — aysfs-config's answers to root: the workers' configurations and root's own part
 * (config/relay.c). */
#ifndef AYSFS_CONFIG_RELAY_H
#define AYSFS_CONFIG_RELAY_H

#include "config/config.h"
#include "ipc/proto_workers.h"

/* The indexer's and the fetcher's configuration from the file's and the command line's (q). Its
 * strings point into c and q (and a static buffer). Returns 0, or -1 out of memory; free the
 * layers and services arrays (only) when done. */
int relay_worker_conf(struct worker_conf *wc, const struct config *c, const struct config_req_in *q);

/* Root's part (MSG_CONFIG_DONE, decoded by supervisor/rootconf.c) into w; w->bad when it does
 * not fit. */
void relay_root_conf(struct ipc_wr *w, const struct config *c, const struct worker_conf *wc);

/* aysfs-debug's configuration (MSG_DEBUG_CONF) into buf: its length, 0 without [debug], SIZE_MAX
 * when it does not fit (over DBG_FILTER_MAX filters). */
size_t relay_debug_conf(uint8_t *buf, size_t cap, const struct config *c);

/* The first part of the fetcher's MSG_S3 (ipc/proto.h): every s3:// layer's URL, endpoint, region
 * and credentials file name; root appends the files' bytes. Returns 0, or -1 when the layers are
 * too many or a setting too long (w->bad: it does not fit). */
int relay_s3_conf(struct ipc_wr *w, const struct config *c);

#endif
