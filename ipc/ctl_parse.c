/* ctl_parse.c — parsing a request of the control socket (ctl.h), in the status worker. */
#include "ipc/ctl_parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	enum ctl_cmd cmd;
	int has_arg;            /* 1 an absolute path, 2 a service id */
} commands[] = {
	{ "status", CTL_STATUS, 0 },
	{ "reload", CTL_RELOAD, 0 },
	{ "cache", CTL_CACHE, 0 },
	{ "evict", CTL_EVICT, 1 },
	{ "verify", CTL_VERIFY, 0 },
	{ "debug", CTL_DEBUG, 0 },
	{ "order", CTL_ORDER, 2 },
};

int ctl_parse(const void *buf, size_t len, struct ctl_req *req, char *err, size_t errsz)
{
	const char *p = buf, *sp;
	size_t wlen, alen;

	memset(req, 0, sizeof *req);
	if (len == 0 || len > CTL_REQ_MAX) {
		snprintf(err, errsz, "a request is 1 to %d bytes", CTL_REQ_MAX);
		return -EINVAL;
	}
	if (p[len - 1] == '\n')
		len--;
	if (memchr(p, '\0', len) || memchr(p, '\n', len)) {
		snprintf(err, errsz, "a request is one line without NUL bytes");
		return -EINVAL;
	}
	sp = memchr(p, ' ', len);
	wlen = sp ? (size_t)(sp - p) : len;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strlen(commands[i].name) != wlen || memcmp(commands[i].name, p, wlen))
			continue;
		req->cmd = commands[i].cmd;
		req->name = commands[i].name;
		if (!commands[i].has_arg) {
			if (sp) {
				snprintf(err, errsz, "%s takes no argument", req->name);
				return -EINVAL;
			}
			return 0;
		}
		alen = sp ? len - wlen - 1 : 0;
		if (commands[i].has_arg == 2 && (alen == 0 || memchr(sp + 1, '/', alen) ||
						 memchr(sp + 1, ' ', alen))) {
			snprintf(err, errsz, "%s needs a service id", req->name);
			return -EINVAL;
		}
		if (commands[i].has_arg == 1 && (alen == 0 || sp[1] != '/')) {
			snprintf(err, errsz, "%s needs an absolute path", req->name);
			return -EINVAL;
		}
		if (alen >= sizeof req->arg) {
			snprintf(err, errsz, "%s: the path is over %zu bytes", req->name,
				 sizeof req->arg - 1);
			return -EINVAL;
		}
		memcpy(req->arg, sp + 1, alen);
		req->arg[alen] = '\0';
		return 0;
	}
	snprintf(err, errsz, "unknown command (status, reload, cache, evict PATH, verify, debug, order SERVICE)");
	return -EINVAL;
}
