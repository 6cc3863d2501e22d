/* deaths.c — what a worker's death means: a crash loop or not, a back-off or not, how long
 * until its restart. Pure functions of the worker's record and the time (tests/unit/test_deaths.c). */
#include "supervisor/supervisor.h"

/* Record a death; true when it makes a crash loop (CRASH_LOOP_DEATHS within CRASH_LOOP_SECONDS). */
bool deaths_note(struct worker *w, time_t now)
{
	int recent = 0;

	w->deaths[w->ndeaths++ % CRASH_LOOP_DEATHS] = now;
	for (int i = 0; i < CRASH_LOOP_DEATHS && i < w->ndeaths; i++)
		recent += now - w->deaths[i] < CRASH_LOOP_SECONDS;
	w->recent_deaths = recent;
	return recent >= CRASH_LOOP_DEATHS;
}

/* The fetcher in a crash loop is no reason to stop: whatever crashes it from the network would
 * take the cached tree down too, which SPEC section 6 keeps serving offline. So it is restarted
 * with a back-off instead, until it has run CRASH_LOOP_SECONDS without dying. The status worker
 * likewise: any local user reaches it through -pprof. True when w backs off. */
bool deaths_backoff(struct worker *w, bool loop, time_t now)
{
	if (w->role != ROLE_FETCHER && w->role != ROLE_STATUS)
		return false;
	if (w->backoff && now - w->started >= CRASH_LOOP_SECONDS)
		w->backoff = 0;
	if (loop || w->backoff)
		w->backoff++;
	return w->backoff > 0;
}

/* 100 ms after a first death, doubling with each recent one, never over a second; a fetcher that
 * backs off: 1 s, doubling with each death of its crash loop, up to BACKOFF_MAX_MS. */
int deaths_restart_delay_ms(const struct worker *w)
{
	int d = 100 << (w->recent_deaths > 1 ? w->recent_deaths - 1 : 0);

	if (w->backoff)
		return w->backoff > 7 ? BACKOFF_MAX_MS :
		       (1000 << (w->backoff - 1)) > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : 1000 << (w->backoff - 1);
	return d > 1000 ? 1000 : d;
}
