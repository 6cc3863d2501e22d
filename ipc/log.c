/* log.c — one line per event, written with one write(2) so that lines of several processes sharing
 * stderr never interleave. Control characters in messages (which may quote a flist or a URL) are
 * shown as '?', so a hostile input cannot forge log lines. */
#include "ipc/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *log_component = "aysfs";
static int log_threshold = LOG_INFO;

static const char *const level_names[] = { "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG" };

void log_init(const char *component, int level)
{
	log_component = component;
	log_threshold = level < LOG_CRIT ? LOG_CRIT : level > LOG_DEBUG ? LOG_DEBUG : level;
}

int log_level(void)
{
	return log_threshold;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[1024];
	int n, head;

	if ((int)lvl > log_threshold)
		return;
	head = snprintf(line, sizeof line, "%s %s: ", level_names[lvl], log_component);
	if (head < 0 || head >= (int)sizeof line)
		return;
	n = vsnprintf(line + head, sizeof line - head - 1, fmt, ap);
	if (n < 0)
		return;
	n = head + (n < (int)sizeof line - head - 1 ? n : (int)sizeof line - head - 2);
	for (int i = head; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
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
