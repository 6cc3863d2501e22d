/* proto_supervisor.c — the supervisor's side of the protocol: what it accepts from the workers and
 * from aysfs-config, the payloads it writes (the workers' configurations, aysfs-ctl's commands) and
 * the one it reads back (a command's answer). The workers decode them in proto_workers.c; the
 * fuser reads its own configuration itself (fuser/main.c). */
#include "ipc/proto.h"

#include <errno.h>
#include <stdlib.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define STR(max) (4 + (max))

const struct ipc_type proto_supervisor_from_worker[] = {
	{ MSG_READY, 0, 0, 0, "ready" },
	{ MSG_TREE_DONE, 0, 24, 24, "tree-done" },
	{ MSG_TREE_FAIL, 0, 4, STR(1024), "tree-fail" },
	{ MSG_CTL_REPLY, 0, 8, 4 + STR(CTL_TEXT_MAX), "ctl-reply" },
	{ MSG_FUSE_INIT, 0, FUSE_INIT_MIN, FUSE_INIT_MAX, "fuse-init" },
	{ MSG_SYSCALL, 0, 8, 8, "syscall" },
};
const size_t proto_supervisor_from_worker_n = N(proto_supervisor_from_worker);

const struct ipc_type proto_supervisor_from_config[] = {
	{ MSG_CONFIG_DONE, 0, 1, IPC_MAX_PAYLOAD, "config-done" },
	{ MSG_CONFIG_FAIL, 0, 4, STR(1024), "config-fail" },
};
const size_t proto_supervisor_from_config_n = N(proto_supervisor_from_config);

void proto_conf_encode(struct ipc_wr *w, const struct worker_conf *c)
{
	ipc_wr_u32(w, c->log_level);
	ipc_wr_cstr(w, c->mountpoint);
	ipc_wr_cstr(w, c->prefix);
	ipc_wr_cstr(w, c->namespace);
	ipc_wr_cstr(w, c->flist_dir);
	ipc_wr_cstr(w, c->cache_dir);
	ipc_wr_cstr(w, c->state_dir);
	ipc_wr_u32(w, c->entry_ttl);
	ipc_wr_u32(w, c->attr_ttl);
	ipc_wr_u32(w, c->negative_ttl);
	ipc_wr_u64(w, c->cache_size);
	ipc_wr_u32(w, c->cache_expiration);
	ipc_wr_u64(w, c->flist_max_size);
	ipc_wr_u32(w, c->flist_max_entries);
	ipc_wr_u32(w, c->nlayers);
	for (uint32_t i = 0; i < c->nlayers; i++) {
		ipc_wr_cstr(w, c->layers[i].url);
		ipc_wr_u32(w, c->layers[i].flags);
		ipc_wr_u32(w, c->layers[i].nproxy);
		for (uint32_t j = 0; j < c->layers[i].nproxy; j++)
			ipc_wr_cstr(w, c->layers[i].proxy[j]);
	}
	ipc_wr_u32(w, c->nservices);
	for (uint32_t i = 0; i < c->nservices; i++) {
		ipc_wr_cstr(w, c->services[i].id);
		ipc_wr_cstr(w, c->services[i].flist);
		ipc_wr_u32(w, c->services[i].flags);
	}
	ipc_wr_cstr(w, c->cafile);
	ipc_wr_cstr(w, c->resolv);
	ipc_wr_u32(w, c->nproxy);
	for (uint32_t i = 0; i < c->nproxy; i++)
		ipc_wr_cstr(w, c->proxy[i]);
	ipc_wr_u32(w, c->flags);
	ipc_wr_cstr(w, c->auto_root);
	ipc_wr_u32(w, c->cache_port);
	ipc_wr_u32(w, c->master_port);
	ipc_wr_u32(w, c->rediscover_s);
	ipc_wr_cstr(w, c->ssh_known_hosts);
	ipc_wr_cstr(w, c->trusted_keys);
	ipc_wr_u32(w, c->min_hash_len);
	ipc_wr_u32(w, c->refresh_s);
}

size_t proto_fuser_conf_encode(uint8_t buf[FUSER_CONF_LEN], uint32_t log_level, uint32_t entry_ttl,
			       uint32_t attr_ttl, uint32_t negative_ttl, uint32_t flags)
{
	struct ipc_wr w;

	ipc_wr_init(&w, buf, FUSER_CONF_LEN);
	ipc_wr_u32(&w, log_level);
	ipc_wr_u32(&w, entry_ttl);
	ipc_wr_u32(&w, attr_ttl);
	ipc_wr_u32(&w, negative_ttl);
	ipc_wr_u32(&w, flags);
	return w.len;
}

void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void proto_ctl_encode(struct ipc_wr *w, const char *cmd, const char *arg)
{
	ipc_wr_cstr(w, cmd);
	ipc_wr_cstr(w, arg);
}

int proto_ctl_reply_decode(const void *buf, size_t len, uint32_t *status, const char **text,
			   size_t *text_len)
{
	struct ipc_rd r;

	ipc_rd_init(&r, buf, len);
	*status = ipc_rd_u32(&r);
	*text = ipc_rd_str(&r, CTL_TEXT_MAX, text_len);
	if (!*text || !ipc_rd_done(&r) || *status > 4095)
		return -EPROTO;
	return 0;
}
