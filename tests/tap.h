/* tap.h — a tiny TAP producer for the C unit tests (prove reads it).
 *
 *   ok(cond, "name %d", i);   is_int(got, want, "name");   is_str(got, want, "name");
 *   done_testing();           returns the exit status: 0 when every test passed
 */
#ifndef AYSFS_TAP_H
#define AYSFS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_run, tap_failed;

__attribute__((format(printf, 2, 3)))
static int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

#define is_int(got, want, ...) do {                                                        \
		long long g_ = (long long)(got), w_ = (long long)(want);                   \
		if (!ok(g_ == w_, __VA_ARGS__))                                            \
			printf("#   got %lld, want %lld (%s:%d)\n", g_, w_, __FILE__, __LINE__); \
	} while (0)

#define is_str(got, want, ...) do {                                                        \
		const char *g_ = (got), *w_ = (want);                                      \
		if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))                     \
			printf("#   got \"%s\", want \"%s\" (%s:%d)\n", g_ ? g_ : "(null)",   \
			       w_ ? w_ : "(null)", __FILE__, __LINE__);                     \
	} while (0)

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int done_testing(void)
{
	printf("1..%d\n", tap_run);
	if (tap_failed)
		printf("# failed %d of %d\n", tap_failed, tap_run);
	return tap_failed ? 1 : 0;
}

#endif
