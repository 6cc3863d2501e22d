/* rootconf.c — root's part of the configuration, as aysfs-config sends it (ipc/proto.h,
 * MSG_CONFIG_DONE). aysfs-config runs as the workers' user: every string is bounded and the paths
 * root acts on must be absolute. The workers' own configuration is not read here: root relays it. */
#include "supervisor/supervisor.h"

#include <errno.h>
#include <string.h>

static bool absolute(const char *path, bool may_be_empty)
{
	return path[0] == '/' || (may_be_empty && path[0] == '\0');
}

int rootconf_decode(const void *buf, size_t len, struct rootconf *c)
{
	struct ipc_rd r;

	ipc_rd_init(&r, buf, len);
	ipc_rd_cstr(&r, c->user, sizeof c->user);
	ipc_rd_cstr(&r, c->namespace, sizeof c->namespace);
	ipc_rd_cstr(&r, c->cache_dir, sizeof c->cache_dir);
	ipc_rd_cstr(&r, c->state_dir, sizeof c->state_dir);
	ipc_rd_cstr(&r, c->ssh_key, sizeof c->ssh_key);
	c->warnings = ipc_rd_u32(&r);
	c->folders = ipc_rd_u64(&r);
	c->ns3 = ipc_rd_u32(&r);
	if (c->ns3 > S3_MAX_LAYERS)
		return -EPROTO;
	for (uint32_t i = 0; i < c->ns3; i++)
		if (!ipc_rd_cstr(&r, c->s3cred[i], sizeof c->s3cred[i]) || !absolute(c->s3cred[i], true))
			return -EPROTO;
	if (!ipc_rd_done(&r) || !c->user[0] || !c->namespace[0] || strchr(c->namespace, '/') ||
	    !absolute(c->cache_dir, false) || !absolute(c->state_dir, false) ||
	    !absolute(c->ssh_key, true))
		return -EPROTO;
	return 0;
}
