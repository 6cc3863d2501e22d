/* confwire.h — struct config (config/config.h) on the wire between aysfs-config and the
 * supervisor; see confwire.c. */
#ifndef AYSFS_CONFWIRE_H
#define AYSFS_CONFWIRE_H

#include "config/config.h"
#include "ipc/proto.h"

/* Serialise into w (sets w->bad when it does not fit or exceeds a bound the decoder enforces). */
void config_encode(struct ipc_wr *w, const struct config *c);

/* Parse what config_encode wrote. Returns 0, or -EPROTO with *c freed. */
int config_decode(const void *buf, size_t len, struct config *c);

#endif
