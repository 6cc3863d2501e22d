/* test_deaths.c — the supervisor's crash-loop counting and restart delays (supervisor/deaths.c). */
#include "supervisor/supervisor.h"
#include "tests/tap.h"

#include <string.h>

static struct worker fresh(enum worker_role role)
{
	return (struct worker){ .role = role, .name = "w", .ctl = -1, .fds = { -1, -1, -1 } };
}

int main(void)
{
	struct worker w = fresh(ROLE_INDEXER);
	time_t t = 1000000;
	bool loop = false;

	/* Four deaths in quick succession: no loop yet; the delay doubles from 100 ms, at most 1 s. */
	for (int i = 0; i < CRASH_LOOP_DEATHS - 1; i++) {
		loop = deaths_note(&w, t + i);
		ok(!loop, "death %d within a minute: not yet a crash loop", i + 1);
		is_int(deaths_restart_delay_ms(&w), i == 0 ? 100 : i == 1 ? 200 : i == 2 ? 400 : 800,
		       "and its restart waits %d ms", deaths_restart_delay_ms(&w));
	}
	ok(deaths_note(&w, t + 10), "the fifth death within a minute is a crash loop");
	is_int(deaths_restart_delay_ms(&w), 1000, "the delay stops at a second");
	ok(!deaths_backoff(&w, true, t + 10), "the indexer does not back off: its loop stops the mount");

	/* Deaths a minute apart never make a loop, however many. */
	w = fresh(ROLE_FUSER);
	for (int i = 0; i < 20; i++)
		loop |= deaths_note(&w, t + (time_t)i * CRASH_LOOP_SECONDS);
	ok(!loop, "twenty deaths a minute apart: never a crash loop");
	is_int(w.recent_deaths, 1, "only the last one is recent");

	/* The fetcher in a loop backs off: 1 s, doubling with each death, up to a minute. */
	w = fresh(ROLE_FETCHER);
	for (int i = 0; i < CRASH_LOOP_DEATHS; i++)
		loop = deaths_note(&w, t + i);
	ok(loop && deaths_backoff(&w, loop, t + 5), "the fetcher in a crash loop backs off");
	is_int(deaths_restart_delay_ms(&w), 1000, "first back-off: 1 s");
	for (int i = 2; i <= 8; i++) {
		w.started = t + 5 + i;
		deaths_backoff(&w, deaths_note(&w, t + 6 + i), t + 6 + i);
	}
	is_int(deaths_restart_delay_ms(&w), BACKOFF_MAX_MS, "after many: %d ms at most", BACKOFF_MAX_MS);
	/* One that then runs a whole window without dying leaves its back-off. */
	w.started = t + 100;
	ok(!deaths_backoff(&w, false, t + 100 + CRASH_LOOP_SECONDS), "a minute alive ends the back-off");
	is_int(w.backoff, 0, "and its count is cleared");
	w = fresh(ROLE_STATUS);
	ok(deaths_backoff(&w, true, t), "the status worker backs off too (any local user reaches it)");
	return done_testing();
}
