/* proto_workers.c — the protocol as the indexer, the fetcher and aysfs-config speak it: their accept
 * tables, the worker configuration (encoded for aysfs-config, config/relay.c; decoded here) and the worker side
 * of the supervisor's channel. Neither the supervisor nor the fuser links it. */
#include "ipc/proto_workers.h"
#include "fetcher/probe_wire.h"
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define STR(max) (4 + (max))

const struct ipc_type proto_from_supervisor[] = {
	{ MSG_CONF, 0, 16, IPC_MAX_PAYLOAD, "conf" },
	{ MSG_PEER, 1, 4, 4, "peer" },
	{ MSG_CTL, 0, 8, STR(CTL_CMD_MAX) + STR(CTL_ARG_MAX), "ctl" },
	{ MSG_FUSE_INIT, 0, 4 + FUSE_INIT_MIN, 4 + FUSE_INIT_MAX, "fuse-init" },
};
const size_t proto_from_supervisor_n = N(proto_from_supervisor);

/* The fetcher's: the same, and the s3:// layers' settings (MSG_S3, sent to it alone). */
const struct ipc_type proto_fetcher_from_supervisor[] = {
	{ MSG_CONF, 0, 16, IPC_MAX_PAYLOAD, "conf" },
	{ MSG_PEER, 1, 4, 4, "peer" },
	{ MSG_CTL, 0, 8, STR(CTL_CMD_MAX) + STR(CTL_ARG_MAX), "ctl" },
	{ MSG_S3, 0, 4, IPC_MAX_PAYLOAD, "s3" },
};
const size_t proto_fetcher_from_supervisor_n = N(proto_fetcher_from_supervisor);

const struct ipc_type proto_config_from_supervisor[] = {
	{ MSG_CONFIG_READ, 1, 4 + CONFIG_REQ_MIN, STR(WCONF_MAX_STR) + CONFIG_REQ_MAX, "config-read" },
	{ MSG_CONFIG_DEFAULTS, 0, CONFIG_REQ_MIN, CONFIG_REQ_MAX, "config-defaults" },
};
const size_t proto_config_from_supervisor_n = N(proto_config_from_supervisor);

const struct ipc_type proto_indexer_from_fuser[] = {
	{ MSG_OPEN, 0, 1 + 8 + 4, 1 + 32 + 8 + STR(4096), "open" },
	{ MSG_PREFETCH, 0, 1 + 8 + 4, 1 + 32 + 8 + STR(4096), "prefetch" },
	{ MSG_OPENED, 0, 1 + 8 + 4, 1 + 32 + 8 + STR(4096), "opened" },
	{ MSG_INDEX, 1, 16, 16, "index" },     /* to a restarted indexer: the tree being served */
	{ MSG_BLOB_CLOSED, 0, 1 + 16, 1 + 32, "blob-closed" },
	{ MSG_BLOB_HELD, 0, 1 + 16, 1 + 32, "blob-held" },
};
const size_t proto_indexer_from_fuser_n = N(proto_indexer_from_fuser);

const struct ipc_type proto_fetcher_from_indexer[] = {
	{ MSG_FETCH, 1, 1 + 8 + 4 + 4, IPC_MAX_PAYLOAD, "fetch" },
	{ MSG_PUSH, 1, 8 + 4 + 1, 8 + STR(WCONF_MAX_STR), "push" },
	{ MSG_PROBE, 0, 4 + 4 + 5 + 4, 8 + PROBE_MAX_HOSTS * (STR(PROBE_HOST_MAX) + 4), "probe" },
};
const size_t proto_fetcher_from_indexer_n = N(proto_fetcher_from_indexer);

const struct ipc_type proto_indexer_from_fetcher[] = {
	{ MSG_FETCH_DONE, 0, 4 + 4 + 8 + 4 + 1 + 4 + 4,
	  4 + 4 + 8 + STR(1024) + 1 + STR(FETCH_ETAG_MAX) + STR(FETCH_DATE_MAX), "fetch-done" },
	{ MSG_PROBE_DONE, 0, 4 + 8, 4 + PROBE_MAX_HOSTS * (4 + STR(PROBE_DETAIL_MAX)), "probe-done" },
	{ MSG_FETCH_ALIVE, 0, 0, 0, "fetch-alive" },
};
const size_t proto_indexer_from_fetcher_n = N(proto_indexer_from_fetcher);

/* A u32 count (at most WCONF_MAX_PROXIES) then that many strings. Returns 0, -EPROTO, -ENOMEM. */
static int read_strings(struct ipc_rd *r, char ***v, uint32_t *n)
{
	*n = ipc_rd_u32(r);
	if (r->bad || *n > WCONF_MAX_PROXIES) {
		*n = 0;
		return -EPROTO;
	}
	if (*n && !(*v = calloc(*n, sizeof **v))) {
		*n = 0;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < *n; i++)
		if (!((*v)[i] = ipc_rd_strdup(r, WCONF_MAX_STR)))
			return -EPROTO;
	return 0;
}

int proto_conf_decode(const void *buf, size_t len, struct worker_conf *c)
{
	struct ipc_rd r;
	int rc = -EPROTO;

	memset(c, 0, sizeof *c);
	ipc_rd_init(&r, buf, len);
	c->log_level = ipc_rd_u32(&r);
	c->mountpoint = ipc_rd_strdup(&r, WCONF_MAX_STR);
	c->prefix = ipc_rd_strdup(&r, WCONF_MAX_STR);
	c->namespace = ipc_rd_strdup(&r, 255);
	c->flist_dir = ipc_rd_strdup(&r, WCONF_MAX_STR);
	c->cache_dir = ipc_rd_strdup(&r, WCONF_MAX_STR);
	c->state_dir = ipc_rd_strdup(&r, WCONF_MAX_STR);
	c->entry_ttl = ipc_rd_u32(&r);
	c->attr_ttl = ipc_rd_u32(&r);
	c->negative_ttl = ipc_rd_u32(&r);
	c->cache_size = ipc_rd_u64(&r);
	c->cache_expiration = ipc_rd_u32(&r);
	c->flist_max_size = ipc_rd_u64(&r);
	c->flist_max_entries = ipc_rd_u32(&r);
	c->nlayers = ipc_rd_u32(&r);
	if (r.bad || c->nlayers > WCONF_MAX_LAYERS || c->log_level > 5)
		goto fail;
	if (c->nlayers && !(c->layers = calloc(c->nlayers, sizeof *c->layers))) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < c->nlayers; i++) {
		c->layers[i].url = ipc_rd_strdup(&r, WCONF_MAX_STR);
		c->layers[i].flags = ipc_rd_u32(&r);
		if (r.bad || !c->layers[i].url || c->layers[i].flags & ~(WL_CACHE | WL_PURGE | WL_PUSH))
			goto fail;
		if ((rc = read_strings(&r, &c->layers[i].proxy, &c->layers[i].nproxy)))
			goto fail;
	}
	c->nservices = ipc_rd_u32(&r);
	if (r.bad || c->nservices > WCONF_MAX_SERVICES)
		goto fail;
	if (c->nservices && !(c->services = calloc(c->nservices, sizeof *c->services))) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < c->nservices; i++) {
		c->services[i].id = ipc_rd_strdup(&r, 255);
		c->services[i].flist = ipc_rd_strdup(&r, WCONF_MAX_STR);
		c->services[i].flags = ipc_rd_u32(&r);
		if (r.bad || !c->services[i].id || !c->services[i].id[0] || !c->services[i].flist ||
		    c->services[i].flags & ~WS_PREFETCH)
			goto fail;
	}
	c->cafile = ipc_rd_strdup(&r, WCONF_MAX_STR);
	c->resolv = ipc_rd_strdup(&r, WCONF_MAX_STR);
	if (r.bad || !c->cafile || !c->resolv || (rc = read_strings(&r, &c->proxy, &c->nproxy)))
		goto fail;
	c->flags = ipc_rd_u32(&r);
	if (r.bad || c->flags & ~(WC_VERIFY_CACHE | WC_CHECK))
		goto fail;
	c->auto_root = ipc_rd_strdup(&r, WCONF_MAX_STR);
	c->cache_port = ipc_rd_u32(&r);
	c->master_port = ipc_rd_u32(&r);
	c->rediscover_s = ipc_rd_u32(&r);
	if (!c->auto_root || (c->auto_root[0] && (c->auto_root[0] != '/' || c->cache_port - 1 > 65534 ||
	    c->master_port - 1 > 65534)))
		goto fail;
	c->ssh_known_hosts = ipc_rd_strdup(&r, WCONF_MAX_STR);
	c->trusted_keys = ipc_rd_strdup(&r, WCONF_MAX_STR);
	c->min_hash_len = ipc_rd_u32(&r);
	c->refresh_s = ipc_rd_u32(&r);
	c->config_file = ipc_rd_strdup(&r, WCONF_MAX_STR);
	if (!c->ssh_known_hosts || !c->trusted_keys || (c->min_hash_len != 16 && c->min_hash_len != 32) ||
	    !c->config_file || (c->config_file[0] && c->config_file[0] != '/'))
		goto fail;
	/* Exact length, and the strings every worker relies on are there. */
	if (!ipc_rd_done(&r) || !c->mountpoint || !c->mountpoint[0] || !c->prefix ||
	    !c->prefix[0] || !c->namespace || !c->namespace[0] || !c->flist_dir || !c->cache_dir ||
	    !c->cache_dir[0] || !c->state_dir)
		goto fail;
	return 0;
fail:
	proto_conf_free(c);
	return rc < 0 ? rc : -EPROTO;   /* rc may hold an earlier success */
}

void proto_conf_free(struct worker_conf *c)
{
	free(c->mountpoint);
	free(c->prefix);
	free(c->namespace);
	free(c->flist_dir);
	free(c->cache_dir);
	free(c->state_dir);
	for (uint32_t i = 0; c->layers && i < c->nlayers; i++) {
		free(c->layers[i].url);
		strv_free(c->layers[i].proxy, c->layers[i].nproxy);
	}
	free(c->layers);
	for (uint32_t i = 0; c->services && i < c->nservices; i++) {
		free(c->services[i].id);
		free(c->services[i].flist);
	}
	free(c->services);
	free(c->cafile);
	free(c->resolv);
	strv_free(c->proxy, c->nproxy);
	free(c->auto_root);
	free(c->ssh_known_hosts);
	free(c->trusted_keys);
	free(c->config_file);
	memset(c, 0, sizeof *c);
}

int proto_recv_conf(int fd, int ms, struct worker_conf *c)
{
	static struct ipc_msg m;
	int rc = ipc_recv_wait(fd, proto_from_supervisor, proto_from_supervisor_n, &m, ms);

	if (rc <= 0)
		return rc == 0 ? -EPROTO : rc;
	if (m.hdr.type != MSG_CONF) {
		ipc_msg_close_fds(&m);
		return -EPROTO;
	}
	return proto_conf_decode(m.payload, m.hdr.len, c);
}

int proto_recv_supervisor_any(int fd, struct ipc_msg *m, int *peer, uint32_t *kind)
{
	struct ipc_rd r;
	int rc = ipc_recv(fd, proto_from_supervisor, proto_from_supervisor_n, m);

	*peer = -1;
	*kind = 0;
	if (rc <= 0)
		return rc;
	ipc_rd_init(&r, m->payload, m->hdr.len);
	if (m->hdr.type == MSG_CONF)
		return 2;
	if (m->hdr.type == MSG_CTL)
		return 3;
	if (m->hdr.type == MSG_PEER) {
		*kind = ipc_rd_u32(&r);
		if (ipc_rd_done(&r) && *kind >= PEER_FETCHER && *kind <= PEER_FUSER) {
			*peer = m->fds[0];
			return 1;
		}
	}
	ipc_msg_close_fds(m);
	return -EPROTO;
}

int proto_recv_supervisor(int fd, uint32_t want, struct ipc_msg *m, int *peer)
{
	uint32_t kind;
	int rc = proto_recv_supervisor_any(fd, m, peer, &kind);

	if (rc == 1 && kind != want) {
		close(*peer);
		*peer = -1;
		return -EPROTO;
	}
	return rc;
}

int proto_ctl_decode(const void *buf, size_t len, struct ctl_msg *c)
{
	struct ipc_rd r;

	ipc_rd_init(&r, buf, len);
	if (!ipc_rd_cstr(&r, c->cmd, sizeof c->cmd) || !ipc_rd_cstr(&r, c->arg, sizeof c->arg) ||
	    !ipc_rd_done(&r) || !c->cmd[0])
		return -EPROTO;
	return 0;
}

void proto_ctl_reply_encode(struct ipc_wr *w, uint32_t status, const char *text, size_t len)
{
	/* Too long: cut after the last whole line that fits, never inside one (a "stats" line cut
	 * short would read as another number). */
	if (len > CTL_TEXT_MAX) {
		const char *nl = memrchr(text, '\n', CTL_TEXT_MAX);

		len = nl ? (size_t)(nl - text) + 1 : CTL_TEXT_MAX;
	}
	ipc_wr_u32(w, status);
	ipc_wr_str(w, text, len);
}

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
	ipc_wr_cstr(w, c->config_file);
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

int proto_config_req_decode(struct ipc_rd *r, struct config_req_in *q)
{
	q->log_level = ipc_rd_u32(r);
	q->flags = ipc_rd_u32(r);
	ipc_rd_cstr(r, q->mountpoint, sizeof q->mountpoint);
	ipc_rd_cstr(r, q->cafile, sizeof q->cafile);
	ipc_rd_cstr(r, q->resolv, sizeof q->resolv);
	ipc_rd_cstr(r, q->auto_root, sizeof q->auto_root);
	ipc_rd_cstr(r, q->config_file, sizeof q->config_file);
	q->cache_port = ipc_rd_u32(r);
	q->master_port = ipc_rd_u32(r);
	if (!ipc_rd_done(r) || q->log_level > 5 || (q->flags & ~(WC_VERIFY_CACHE | WC_CHECK)) ||
	    !q->mountpoint[0] || (q->config_file[0] && q->config_file[0] != '/') ||
	    q->cache_port > 65535 || q->master_port > 65535)
		return -EPROTO;
	return 0;
}

const char *layer_local_path(const char *url)
{
	if (url[0] == '/')
		return url;
	if (strncmp(url, "file:///", 8) == 0)
		return url + 7;
	return NULL;
}

void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}
