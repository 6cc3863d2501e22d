/* logring.h — a worker's last warnings and errors in memory (ipc/logring.c), linked into the
 * unprivileged workers only: log_vmsg hands each to log_keep (ipc/log.h), the last LOG_RING_MAX are
 * kept, and log_ring_print writes them, the oldest first, as lines "log UNIX_MS LEVEL TEXT" (part
 * of a worker's "stats" answer, read by status/pages.c). */
#ifndef AYSFS_LOGRING_H
#define AYSFS_LOGRING_H

#include <stdio.h>

#define LOG_RING_MAX 20

void log_ring_print(FILE *out);

#endif
