/* logring.c — a worker's last warnings and errors, kept in memory (LOG_RING_MAX of them) for the
 * status page: log.c hands each one here (a weak hook: the supervisor and the fuser link no ring,
 * theirs stay on stderr only), and the worker's "stats" answer prints them. The text is log.c's,
 * control characters already replaced. The indexer logs from several threads: a lock, only tried
 * by log_keep (a message that finds it held stays on stderr only, nothing waits). */
#include "ipc/log.h"
#include "ipc/logring.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define RING_TEXT 240

static struct {
	int64_t ms;             /* Unix time */
	enum log_level lvl;
	char text[RING_TEXT];
} ring[LOG_RING_MAX];
static unsigned next, held;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const names[] = { "CRIT", "ERROR", "WARN" };

void log_keep(enum log_level lvl, const char *msg, size_t len)
{
	struct timespec ts;

	if (lvl > LOG_WARN || pthread_mutex_trylock(&lock))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ring[next].ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ring[next].lvl = lvl;
	if (len >= RING_TEXT)
		len = RING_TEXT - 1;
	memcpy(ring[next].text, msg, len);
	ring[next].text[len] = '\0';
	next = (next + 1) % LOG_RING_MAX;
	if (held < LOG_RING_MAX)
		held++;
	pthread_mutex_unlock(&lock);
}

void log_ring_print(FILE *out)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < held; i++) {
		unsigned k = (next + LOG_RING_MAX - held + i) % LOG_RING_MAX;

		fprintf(out, "log %lld %s %s\n", (long long)ring[k].ms, names[ring[k].lvl], ring[k].text);
	}
	pthread_mutex_unlock(&lock);
}
