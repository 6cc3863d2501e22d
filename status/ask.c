/* ask.c — questions to the indexer and the fetcher, relayed by root (MSG_RELAY), and root's facts
 * (MSG_ST_FACTS). */
#include "status/status.h"

#include "ipc/log.h"
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LIVE (CONTROL_MAX_CLIENTS + HTTP_MAX_CONNS)

struct st_facts facts;
const char *const st_role_name[ST_ROLES] = { "fuser", "indexer", "fetcher", "status", "debug" };
const char *const st_cause_name[ST_CAUSES] = { "exited", "signal", "seccomp", "undrained", "reload",
					       "with_indexer" };
static const char *const relay_name[] = { "?", "indexer", "fetcher", "fuser" };

static struct query *live[MAX_LIVE];
static uint64_t next_id;

void timeout_lower(int *timeout_ms, int64_t deadline, int64_t now)
{
	int64_t left = deadline > now ? deadline - now : 0;

	if (*timeout_ms < 0 || left < *timeout_ms)
		*timeout_ms = (int)left;
}

char *sanitise(const char *text, size_t len)
{
	char *s = malloc(len + 2);

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		s[i] = (ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f ? '?' : (char)ch;
	}
	if (len && s[len - 1] != '\n')
		s[len++] = '\n';
	s[len] = '\0';
	return s;
}

static void finish_if_done(struct query *q)
{
	if (!q->live || q->pending)
		return;
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == q)
			live[i] = NULL;
	q->live = false;
	q->done(q);
}

void ask_give_up(struct query *q, unsigned roles, uint32_t status, const char *why)
{
	char line[256];

	for (unsigned r = RELAY_INDEXER; r <= RELAY_LAST; r++) {
		if (!(roles & q->pending & (1u << r)))
			continue;
		q->pending &= ~(1u << r);
		snprintf(line, sizeof line, "  (%s)", why);
		free(q->text[r]);
		q->text[r] = sanitise(line, strlen(line));
		q->status[r] = status;
	}
	finish_if_done(q);
}

void ask(struct query *q, unsigned roles, const char *cmd, const char *arg,
	 void (*done)(struct query *q))
{
	static uint8_t buf[RELAY_MAX];
	struct ipc_wr w;
	int slot = -1;

	if (!next_id)   /* a restarted status worker does not take the ids of its predecessor */
		next_id = (uint64_t)mono_ms() << 20;
	memset(q, 0, sizeof *q);
	q->id = ++next_id;
	q->pending = roles;
	q->done = done;
	q->live = true;
	for (int i = 0; i < MAX_LIVE && slot < 0; i++)
		if (!live[i])
			slot = i;
	if (slot < 0) {
		ask_give_up(q, roles, EBUSY, "too many questions at once");
		return;
	}
	live[slot] = q;
	for (unsigned r = RELAY_INDEXER; r <= RELAY_LAST; r++) {
		if (!(roles & (1u << r)))
			continue;
		ipc_wr_init(&w, buf, sizeof buf);
		ipc_wr_u32(&w, r);
		proto_ctl_encode(&w, cmd, arg);
		if (w.bad || ipc_send(FD_SUPERVISOR, MSG_RELAY, q->id, buf, w.len, NULL, 0))
			ask_give_up(q, 1u << r, EAGAIN, "not running right now; try again");
		if (!q->live)
			return;
	}
}

void ask_forget(struct query *q)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == q)
			live[i] = NULL;
	for (int r = 0; r <= RELAY_LAST; r++) {
		free(q->text[r]);
		q->text[r] = NULL;
	}
	q->live = false;
	q->pending = 0;
}

int ask_on_reply(uint64_t id, const void *payload, size_t len)
{
	struct ipc_rd r;
	uint32_t relay, status;
	const char *text;
	size_t tlen;

	ipc_rd_init(&r, payload, len);
	relay = ipc_rd_u32(&r);
	if (r.bad || relay < RELAY_INDEXER || relay > RELAY_LAST)
		return -EPROTO;
	for (int i = 0; i < MAX_LIVE; i++) {
		struct query *q = live[i];

		if (!q || q->id != id || !(q->pending & (1u << relay)))
			continue;
		if (len == 4) {         /* root could not deliver it */
			ask_give_up(q, 1u << relay, EAGAIN, "not running right now; try again");
			return 0;
		}
		if (proto_ctl_reply_decode((const uint8_t *)payload + 4, len - 4, &status, &text, &tlen)) {
			log_warn("a malformed answer from the %s", relay_name[relay]);
			ask_give_up(q, 1u << relay, EIO, "a malformed answer");
			return 0;
		}
		q->pending &= ~(1u << relay);
		q->status[relay] = status;
		q->text[relay] = sanitise(text, tlen);
		finish_if_done(q);
		return 0;
	}
	return 0;               /* its caller left or timed out */
}

void ask_worker_died(unsigned relay)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] && (live[i]->pending & (1u << relay)))
			ask_give_up(live[i], 1u << relay, EIO, "it died before answering");
}

static void copy_clean(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		len = size - 1;
	for (size_t i = 0; i < len; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
	dst[len] = '\0';
}

int facts_decode(const void *buf, size_t len, struct st_facts *f, uint32_t *event, uint32_t *role)
{
	struct ipc_rd r;
	const char *s;
	size_t sl;
	uint32_t n;

	memset(f, 0, sizeof *f);
	ipc_rd_init(&r, buf, len);
	*event = ipc_rd_u32(&r);
	*role = ipc_rd_u32(&r);
	f->sup_pid = ipc_rd_u32(&r);
	f->started = ipc_rd_i64(&r);
	if ((s = ipc_rd_str(&r, sizeof f->config - 1, &sl)))
		copy_clean(f->config, sizeof f->config, s, sl);
	n = ipc_rd_u32(&r);
	if (n != ST_ROLES || *role >= ST_ROLES)
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		struct st_role *k = &f->role[i];

		k->pid = ipc_rd_u32(&r);
		k->restarts = ipc_rd_u32(&r);
		k->exit_at = ipc_rd_i64(&r);
		if ((s = ipc_rd_str(&r, sizeof k->last_exit - 1, &sl)))
			copy_clean(k->last_exit, sizeof k->last_exit, s, sl);
		k->restart_in_ms = ipc_rd_i64(&r);
		k->backoff = ipc_rd_u32(&r);
		for (int c = 0; c < ST_CAUSES; c++)
			k->cause[c] = ipc_rd_u32(&r);
	}
	f->tree_have = ipc_rd_u8(&r) != 0;
	f->generation = ipc_rd_u64(&r);
	f->entries = ipc_rd_u64(&r);
	f->services = ipc_rd_u32(&r);
	f->rejected = ipc_rd_u32(&r);
	f->tree_at = ipc_rd_i64(&r);
	f->fail_at = ipc_rd_i64(&r);
	if ((s = ipc_rd_str(&r, ST_WHY_MAX, &sl)))
		copy_clean(f->fail, sizeof f->fail, s, sl);
	f->debug = ipc_rd_u8(&r) != 0;
	f->trees_built = ipc_rd_u32(&r);
	f->reloads_failed = ipc_rd_u32(&r);
	if (!ipc_rd_done(&r) || *event > ST_EV_TREE_FAIL)
		return -EPROTO;
	f->have = true;
	f->received_ms = mono_ms();
	return 0;
}
