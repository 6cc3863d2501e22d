/* log.h — one line per event on stderr: "LEVEL component: message" (journald reads stderr), after
 * the time ("2024-05-01T10:00:00.123Z ", RFC 3339, UTC) when stderr is not the journal. */
#ifndef AYSFS_LOG_H
#define AYSFS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* The original tool's scale: 0 critical only … 4 info (default) … 5 debug. */
enum log_level { LOG_CRIT = 0, LOG_ERROR = 1, LOG_WARN = 2, LOG_NOTICE = 3, LOG_INFO = 4, LOG_DEBUG = 5 };

/* LOG_STAMP in log_init's level turns the time on for the rest of the process's life: the
 * supervisor decides (log_to_journal) and hands log_flags() to its workers with their level. */
#define LOG_STAMP 0x100
/* LOG_TOOL: a command's own messages, "PROGRAM: LEVEL: message" (component = the program). */
#define LOG_TOOL 0x200
/* LOG_RELAYED: stderr is a pipe to root, which puts on the time and this process's name
 * (supervisor/logrelay.c): a line is its level as one byte, then the message. */
#define LOG_RELAYED 0x400
/* LOG_NOWAIT: a line that stderr cannot take at once is dropped (and counted, in a line written
 * later): root's, whose stderr carries every worker's lines, so that a worker flooding it cannot
 * make root wait on a full pipe or socket. */
#define LOG_NOWAIT 0x800
void log_init(const char *component, int level);
bool log_relayed(void);
int log_flags(void);

/* Whether stderr is the stream systemd's journal reads (JOURNAL_STREAM names its device:inode). */
bool log_to_journal(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line of `component`'s, as log_msg writes its own (root's relay of a worker's lines): msg is
 * len bytes, control characters shown as '?'. */
void log_line(enum log_level lvl, const char *component, const char *msg, size_t len);

/* ipc/logring.c's hook (weak: NULL in the supervisor and the fuser, which link no ring): each
 * warning, error and critical message, without the line's head. */
void log_keep(enum log_level lvl, const char *msg, size_t len) __attribute__((weak));

/* Log at CRIT and exit with `status`. */
void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#define log_crit(...)   log_msg(LOG_CRIT, __VA_ARGS__)
#define log_err(...)    log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
