/* refresh.c — asking again for the flists that came from network layers (SPEC §8).
 *
 * load.c notes, for each service whose flist came from a network layer, the URL, the answer's
 * ETag and Last-Modified and the SHA-256 of the copy kept (CACHE/md/ID.flist). A thread asks each
 * URL again every `refresh` seconds plus up to 20% (random per round, so that nodes spread out)
 * with those validators: a 304 costs one small answer and no parsing. A body with the SHA-256 of
 * the copy served only takes its validators. A changed body is checked as the reload would check
 * it (its signature, when trusted_keys is set, without raising the floor); if it would be
 * accepted, the main loop is woken to reload, which fetches it again, checks it for real and
 * builds the tree. A changed body that is refused is logged once (one line naming it and why),
 * and not again until the store serves other bytes. Failures (offline) only update `status` and
 * a debug line: the fetcher already warns once per layer per back-off.
 *
 * With refresh = 0 nothing is asked again; the thread then only warns, once a day, of a served
 * flist whose signature expired.
 */
#include "indexer/refresh.h"

#include "indexer/accept.h"
#include "indexer/hash.h"
#include "indexer/sig.h"
#include "ipc/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FLIST_MAX       (1ull << 30)    /* as load.c's */
#define FETCH_WAIT_S    120

struct remote {
	char *id, *url;
	struct fetch_validators v;
	uint8_t sha[32];
	bool has_sha;
	uint8_t tried[32];              /* the last changed body (and .sig) judged: judged once */
	bool has_tried;
	bool stale;                     /* not noted by the load under way */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct remote *remotes;
static size_t nremotes;
static unsigned interval_s;
static int wake = -1;

void refresh_configure(const struct worker_conf *c, int wake_fd)
{
	pthread_mutex_lock(&lock);
	interval_s = c->refresh_s;
	if (wake_fd >= 0)
		wake = wake_fd;
	pthread_mutex_unlock(&lock);
}

static struct remote *find(const char *id)
{
	for (size_t i = 0; i < nremotes; i++)
		if (strcmp(remotes[i].id, id) == 0)
			return &remotes[i];
	return NULL;
}

void refresh_load_begin(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nremotes; i++) {
		remotes[i].stale = true;
		remotes[i].has_tried = false;   /* keys may have changed: judge again */
	}
	pthread_mutex_unlock(&lock);
}

void refresh_load_end(void)
{
	size_t k = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nremotes; i++) {
		if (remotes[i].stale) {
			free(remotes[i].id);
			free(remotes[i].url);
		} else {
			remotes[k++] = remotes[i];
		}
	}
	nremotes = k;
	pthread_mutex_unlock(&lock);
}

bool refresh_validators(const char *id, const char *url, struct fetch_validators *v)
{
	struct remote *r;
	bool ok;

	pthread_mutex_lock(&lock);
	r = find(id);
	ok = r && strcmp(r->url, url) == 0 && (r->v.etag[0] || r->v.last_modified[0]);
	if (ok)
		*v = r->v;
	pthread_mutex_unlock(&lock);
	return ok;
}

void refresh_note(const char *id, const char *url, const struct fetch_validators *v,
		  const uint8_t *sha)
{
	struct remote *r, *nr;

	pthread_mutex_lock(&lock);
	r = find(id);
	if (!r && (nr = realloc(remotes, (nremotes + 1) * sizeof *nr))) {
		remotes = nr;
		r = &remotes[nremotes];
		memset(r, 0, sizeof *r);
		if ((r->id = strdup(id)))
			nremotes++;
		else
			r = NULL;
	}
	if (r && (!r->url || strcmp(r->url, url))) {
		char *u = strdup(url);

		if (u) {
			free(r->url);
			r->url = u;
			r->has_sha = false;
		}
	}
	if (r && r->url) {
		r->stale = false;
		r->v = *v;
		if (sha) {
			memcpy(r->sha, sha, 32);
			r->has_sha = true;
			r->has_tried = false;
		}
	}
	pthread_mutex_unlock(&lock);
}

static int fetch_to_memfd(const char *url, const struct fetch_validators *cond, uint64_t max,
			  struct hasher *h, struct fetch_result *res, int *fd)
{
	int rc;

	*fd = memfd_create("aysfs-flist", MFD_CLOEXEC);
	if (*fd < 0) {
		snprintf(res->reason, sizeof res->reason, "memfd: %s", strerror(errno));
		return -errno;
	}
	rc = fetch_flist(&(struct fetch_sink){ .fd = *fd }, h, max, url, cond, FETCH_WAIT_S, res);
	if (rc) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

int refresh_fetch_sig(const char *url, char **sig, size_t *len, char *why, size_t whylen)
{
	char sig_url[WCONF_MAX_STR + 8];
	struct fetch_result res;
	ssize_t n;
	int fd, rc;

	*sig = NULL;
	*len = 0;
	if (snprintf(sig_url, sizeof sig_url, "%s.sig", url) >= (int)sizeof sig_url) {
		snprintf(why, whylen, "URL too long");
		return -ENAMETOOLONG;
	}
	rc = fetch_to_memfd(sig_url, NULL, SIG_FILE_MAX, NULL, &res, &fd);
	if (rc) {
		snprintf(why, whylen, "%s", res.reason);
		return rc;
	}
	if (!(*sig = malloc(SIG_FILE_MAX + 1))) {
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, *sig, SIG_FILE_MAX, 0);
	close(fd);
	if (n < 0) {
		free(*sig);
		*sig = NULL;
		snprintf(why, whylen, "%s", strerror(errno));
		return -EIO;
	}
	(*sig)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

/* Ask for one flist again. Returns true when the main loop should reload. */
static bool check_one(struct remote *snap)
{
	char why[1200], *sig = NULL;
	struct fetch_result res;
	struct hasher h;
	uint8_t sha[32], judged[32] = { 0 };
	size_t sig_len = 0;
	bool reload = false;
	int fd, rc;

	if (hasher_init(&h, 32))
		return false;
	rc = fetch_to_memfd(snap->url, &snap->v, FLIST_MAX, &h, &res, &fd);
	hasher_final(&h, sha);
	if (rc) {
		log_debug("refresh: service %s: %s", snap->id, res.reason);
		snprintf(why, sizeof why, "failed: %.140s", res.reason);
		accept_note_check(snap->id, why);
		return false;
	}
	close(fd);
	if (res.not_modified) {
		accept_note_check(snap->id, "not modified");
		return false;
	}
	if (snap->has_sha && memcmp(sha, snap->sha, 32) == 0) {
		refresh_note(snap->id, snap->url, &res.got, NULL);
		accept_note_check(snap->id, "unchanged");
		return false;
	}
	rc = 0;
	if (accept_required()) {
		rc = refresh_fetch_sig(snap->url, &sig, &sig_len, why, sizeof why);
		if (rc && rc != -ENOENT) {
			log_debug("refresh: service %s: %s.sig: %s", snap->id, snap->url, why);
			snprintf(res.reason, sizeof res.reason, "failed: %s.sig: %.100s", snap->url, why);
			accept_note_check(snap->id, res.reason);
			return false;
		}
	}
	/* What was judged: these flist bytes with this .sig (a .sig that lagged behind its flist
	 * is judged again once it is replaced). */
	if (hasher_init(&h, 32) == 0) {
		hasher_update(&h, sha, 32);
		if (sig)
			hasher_update(&h, sig, sig_len);
		hasher_final(&h, judged);
	}
	if (snap->has_tried && memcmp(judged, snap->tried, 32) == 0) {
		free(sig);
		accept_note_check(snap->id, "changed, refused (see the log)");
		return false;
	}
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nremotes; i++)
		if (strcmp(remotes[i].id, snap->id) == 0) {
			memcpy(remotes[i].tried, judged, 32);
			remotes[i].has_tried = true;
		}
	pthread_mutex_unlock(&lock);
	if (accept_required())
		rc = accept_check(snap->id, snap->url, sha, sig, sig_len, false, why, sizeof why);
	free(sig);
	if (rc) {
		log_err("service %s: %s refused: %s; the flist being served is kept", snap->id,
			snap->url, why);
		accept_note_check(snap->id, "changed, refused (see the log)");
	} else {
		log_notice("service %s: %s changed; reloading", snap->id, snap->url);
		accept_note_check(snap->id, "changed: reloaded");
		reload = true;
	}
	return reload;
}

static void *refresh_thread(void *arg)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

	for (;;) {
		unsigned every;
		struct remote *snap = NULL;
		size_t n = 0;
		bool reload = false;
		struct timespec ts;

		pthread_mutex_lock(&lock);
		every = interval_s;
		pthread_mutex_unlock(&lock);
		/* refresh + 0 … 20%, in milliseconds; with refresh 0, an hour (expiry warnings) */
		if (every) {
			uint64_t ms = (uint64_t)every * 1000;

			ms += ms / 5 * (uint64_t)(rand_r(&seed) % 1001) / 1000;
			ts.tv_sec = (time_t)(ms / 1000);
			ts.tv_nsec = (long)(ms % 1000) * 1000000;
		} else {
			ts = (struct timespec){ 3600, 0 };
		}
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		accept_expiry_warnings();
		if (!every)
			continue;
		pthread_mutex_lock(&lock);
		if (nremotes && (snap = calloc(nremotes, sizeof *snap))) {
			for (size_t i = 0; i < nremotes; i++) {
				snap[n] = remotes[i];
				snap[n].id = strdup(remotes[i].id);
				snap[n].url = strdup(remotes[i].url);
				if (snap[n].id && snap[n].url)
					n++;
				else {
					free(snap[n].id);
					free(snap[n].url);
				}
			}
		}
		pthread_mutex_unlock(&lock);
		for (size_t i = 0; i < n; i++) {
			reload |= check_one(&snap[i]);
			free(snap[i].id);
			free(snap[i].url);
		}
		free(snap);
		if (reload && wake >= 0 && write(wake, "r", 1) < 0)
			log_warn("refresh: cannot wake the main loop: %s", strerror(errno));
	}
	return NULL;
}

int refresh_start(void)
{
	pthread_t t;

	return pthread_create(&t, NULL, refresh_thread, NULL) ? -EAGAIN : 0;
}
