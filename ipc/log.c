/* log.c — one line per event, written with one write(2) so that lines of several threads never
 * interleave. Control characters in messages (which may quote a flist or a URL) are shown as '?',
 * so a hostile input cannot forge log lines. Lines start with the time (UTC, so that no time zone
 * file is read in a sandbox) unless stderr is the journal, which keeps its own.
 *
 * A worker's stderr is a pipe to root (LOG_RELAYED): it writes only its level, as one byte, and
 * the message; root puts on the time and the worker's name (supervisor/logrelay.c, log_line). */
#include "ipc/log.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *log_component = "aysfs";
static int log_threshold = LOG_INFO;
static bool log_stamp, log_tool, log_relayed_, log_nowait;
static unsigned long log_dropped;       /* lines LOG_NOWAIT dropped since the last one written */

static const char *const level_names[] = { "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG" };

bool log_to_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       st.st_dev == dev && st.st_ino == ino;
}

int log_flags(void)
{
	return log_stamp ? LOG_STAMP : 0;
}

void log_init(const char *component, int level)
{
	log_component = component;
	log_stamp |= (level & LOG_STAMP) != 0;
	log_tool = (level & LOG_TOOL) != 0;
	log_relayed_ |= (level & LOG_RELAYED) != 0;
	log_nowait |= (level & LOG_NOWAIT) != 0;
	level &= ~(LOG_STAMP | LOG_TOOL | LOG_RELAYED | LOG_NOWAIT);
	log_threshold = level < LOG_CRIT ? LOG_CRIT : level > LOG_DEBUG ? LOG_DEBUG : level;
}

bool log_relayed(void)
{
	return log_relayed_;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ ". Not gmtime_r: glibc reads the time zone files on its first call,
 * which a worker's seccomp filter forbids. Days to a civil date: the proleptic Gregorian calendar
 * in 400-year eras of 146097 days, years starting in March. */
static void utc_stamp(char *out, size_t size, const struct timespec *ts)
{
	long long secs = ts->tv_sec, days = secs / 86400 - (secs % 86400 < 0), sod = secs - days * 86400;
	long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	long long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;

	snprintf(out, size, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03ldZ ", yoe + era * 400 + (m <= 2),
		 m, d, sod / 3600, sod / 60 % 60, sod % 60, ts->tv_nsec / 1000000 % 1000);
}

/* The line: its head (the time, the level, the component; for a worker's own line under
 * LOG_RELAYED, only the level as a byte), then the message with control characters shown as '?'.
 * One write. own: this process's message, not one root relays for a worker. */
static void emit(enum log_level lvl, const char *component, const char *msg, size_t len,
		 bool own)
{
	char line[1024 + 128], stamp[80] = "";
	struct timespec ts;
	int head;

	if (log_relayed_ && own) {
		line[0] = (char)lvl;
		head = 1;
	} else {
		if (log_stamp && clock_gettime(CLOCK_REALTIME, &ts) == 0)
			utc_stamp(stamp, sizeof stamp, &ts);
		head = log_tool ? snprintf(line, sizeof line, "%s%s: %s: ", stamp, component,
					   level_names[lvl]) :
				  snprintf(line, sizeof line, "%s%s %s: ", stamp, level_names[lvl],
					   component);
		if (head < 0 || head >= (int)sizeof line)
			return;
	}
	if (len > sizeof line - (size_t)head - 1)
		len = sizeof line - (size_t)head - 1;
	for (size_t i = 0; i < len; i++)
		line[head + i] = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? '?' : msg[i];
	if (own && log_keep)
		log_keep(lvl, line + head, len);
	line[head + len] = '\n';
	if (log_nowait && poll(&(struct pollfd){ .fd = STDERR_FILENO, .events = POLLOUT }, 1, 0) != 1) {
		log_dropped++;
		return;
	}
	if (log_dropped) {
		char note[80];
		int n = snprintf(note, sizeof note, "%lu lines dropped: stderr was full", log_dropped);

		log_dropped = 0;
		emit(LOG_WARN, log_component, note, (size_t)n, false);
	}
	(void)!write(STDERR_FILENO, line, (size_t)head + len + 1);
}

void log_line(enum log_level lvl, const char *component, const char *msg, size_t len)
{
	if ((unsigned)lvl <= LOG_DEBUG)
		emit(lvl, component, msg, len, false);
}

__attribute__((format(printf, 2, 0)))
static void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char msg[1024];
	int n;

	if ((int)lvl > log_threshold)
		return;
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n >= 0)
		emit(lvl, log_component, msg, n < (int)sizeof msg ? (size_t)n : sizeof msg - 1, true);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(status);
}
