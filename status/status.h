/* status.h — aysfs-status, the unprivileged worker that serves aysfs-ctl's control socket and, with
 * -pprof, the loopback HTTP status server (/metrics, /debug/status, /debug/status.json).
 *
 * fd 3: the supervisor; fd 4: the control socket, listening (root made and bound it); fd 5: the
 * TCP socket of -pprof, listening, or nothing. It opens no path, connects nowhere, and accepts
 * only on those two fds. Questions to the indexer and the fetcher go through root, which relays
 * them unread (MSG_RELAY); root's own numbers arrive as MSG_ST_FACTS (ipc/proto.h).
 */
#ifndef AYSFS_STATUS_H
#define AYSFS_STATUS_H

#include "ipc/proto_workers.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FD_CTL_LISTEN   4
#define FD_HTTP_LISTEN  5

/* ---- facts.c: what root told, the configuration --------------------------------------------- */

struct st_role {
	uint32_t pid, restarts, backoff;
	int64_t exit_at, restart_in_ms;
	char last_exit[161];
	uint32_t cause[ST_CAUSES];      /* restarts by the cause of the death before */
};

struct st_facts {
	bool have;
	uint32_t sup_pid;
	int64_t started;
	char config[4097];
	struct st_role role[ST_ROLES];
	bool tree_have;
	bool debug;                     /* the mount has [debug]: aysfs-debug answers "debug" */
	uint32_t trees_built, reloads_failed;   /* the first tree and each reload's; failed reloads */
	uint64_t generation, entries;
	uint32_t services, rejected;
	int64_t tree_at, fail_at;
	char fail[ST_WHY_MAX + 1];
	int64_t received_ms;            /* monotonic, when these came */
};

extern struct st_facts facts;
extern const char *const st_role_name[ST_ROLES];
extern const char *const st_cause_name[ST_CAUSES];

/* Decode a MSG_ST_FACTS payload into *f (control characters of the failure replaced). Returns 0
 * with the event and its role, or -EPROTO. */
int facts_decode(const void *buf, size_t len, struct st_facts *f, uint32_t *event, uint32_t *role);

/* Lower *timeout_ms (a poll timeout, -1: none) to what is left until deadline. */
void timeout_lower(int *timeout_ms, int64_t deadline, int64_t now);

/* ---- ask.c: questions to the workers, through root ------------------------------------------ */

#define ASK_INDEXER (1u << RELAY_INDEXER)
#define ASK_FETCHER (1u << RELAY_FETCHER)
#define ASK_FUSER   (1u << RELAY_FUSER)
#define ASK_DEBUG   (1u << RELAY_DEBUG)

struct query {
	uint64_t id;
	unsigned pending;               /* ASK_* still to answer */
	uint32_t status[RELAY_LAST + 1];        /* by RELAY_* */
	char *text[RELAY_LAST + 1];                  /* each answer, sanitised (NUL-terminated), or NULL */
	void (*done)(struct query *q);  /* called once nothing is pending */
	bool live;
};

/* Ask `roles` command (arg "" when none). done() may run before this returns (nothing could be
 * asked). */
void ask(struct query *q, unsigned roles, const char *cmd, const char *arg,
	 void (*done)(struct query *q));
/* A worker will not answer q: note why in its place (done() when nothing is left). */
void ask_give_up(struct query *q, unsigned roles, uint32_t status, const char *why);
/* Forget q (its answers freed; late answers are dropped). */
void ask_forget(struct query *q);
/* MSG_RELAY_REPLY. Returns 0 or -EPROTO. */
int ask_on_reply(uint64_t id, const void *payload, size_t len);
/* The worker of RELAY_* `relay` died. */
void ask_worker_died(unsigned relay);
/* Worker text is untrusted: bounded, no control characters but newline and tab, ends with a
 * newline. malloc'd. */
char *sanitise(const char *text, size_t len);

/* ---- ctl.c: the control socket -------------------------------------------------------------- */

#define CONTROL_MAX_CLIENTS 8

void control_init(const char *mountpoint);
int control_pollfds(struct pollfd *p, int *timeout_ms);
void control_process(const struct pollfd *p, int n);
/* From main.c: a reload's answer, and events. */
void control_reloaded(uint64_t id, uint32_t status, const char *why);
void control_event(uint32_t event, uint32_t role);
/* Root's part of `status` (also on the status page), and the whole answer of `status` from the
 * indexer's and the fetcher's answers in q (also /debug/status.json, as JSON). */
void control_own_status(FILE *out);
void control_status_text(FILE *out, const struct query *q);

/* ---- http.c: the -pprof server -------------------------------------------------------------- */

#define HTTP_MAX_CONNS   64             /* at once; more wait in the kernel's backlog */
#define HTTP_REQ_MAX     4096           /* request line and headers */
#define HTTP_DEADLINE_MS 5000           /* for the whole request and the answer */

struct http_req {
	bool head;                      /* HEAD, else GET */
	char path[256];                 /* without the query */
};

/* Parse what has arrived of a request (buf, len). Returns 1 with *req filled when the headers are
 * complete, 0 when more is needed, or a negative HTTP status (-400, -405, -414, -431, -505) for a
 * request that is refused. */
int http_parse(const char *buf, size_t len, struct http_req *req);

void http_init(int listen_fd);
int http_pollfds(struct pollfd *p, int max, int *timeout_ms);
void http_process(const struct pollfd *p, int n);

/* ---- pages.c: /metrics, /debug/status, /debug/status.json ----------------------------------- */

/* The page for `path` from the workers' answers (q) to pages_question(path), into out. Returns the
 * HTTP status (200, 404) and sets *type. */
int pages_render(const char *path, const struct query *q, FILE *out, const char **type);
/* What `path` asks the workers ("stats" or "status"), or NULL for a path that is not served. */
const char *pages_question(const char *path, unsigned *roles);

#endif
