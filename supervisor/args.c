/* args.c — the supervisor's command line (SPEC section 1): options, the usage text, and what is
 * refused (a non-loopback -pprof-addr, a port out of range, an unknown option: exit 1). */
#include "supervisor/supervisor.h"

#include "supervisor/ctl.h"

#include "ipc/ctl.h"
#include "ipc/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char usage_text[] =
	"usage: aysfs-supervisor [options] MOUNTPOINT\n"
	"Mounts the read-only tree described by flists and serves it until SIGTERM or SIGINT.\n"
	"\n"
	"  -config FILE, -c FILE  configuration (TOML); default config.toml when it exists\n"
	"  -auto                  auto-discovery of layers (ROOT/mnt/ays/..., hosts ayscache*, aysmaster*)\n"
	"                         and flists (ROOT/etc/ays/local); may be combined with -config\n"
	"  -pprof                 live status on http://127.0.0.1:6060 (/metrics, /debug/status)\n"
	"  -pprof-addr HOST:PORT  the same on another loopback address (127.x.x.x, [::1], localhost)\n"
	"  -root DIR              prefix of -auto's well-known paths (default /)\n"
	"  -resolv FILE           resolver configuration for the network process\n"
	"  -cafile FILE           CA bundle for the network process\n"
	"  -master-port N         port probed by -auto for masters (default 443)\n"
	"  -cache-port N          port probed by -auto for LAN caches (default 9990)\n"
	"  -l LEVEL               log level 0 (critical only) … 4 (info, default) … 5 (debug)\n"
	"  -pidfile FILE          write the supervisor's pid there\n"
	"  -verify-cache          re-hash the local cache at start-up and drop blobs that do not match\n"
	"  -check                 check the configuration, the workers' accounts, the cache, each layer\n"
	"                         and the mountpoint without mounting; exit 0 when nothing is wrong\n"
	"  -v                     print the version and exit\n"
	"  -h, -help              this text\n"
	"Both -name and --name spellings are accepted, and -name=value as well as -name value.\n"
	"Reload: SIGHUP, SIGUSR1, `aysfs-ctl MOUNTPOINT reload`, or a change of the config file or of\n"
	"flist_dir. Control socket for aysfs-ctl (root only): " CTL_RUN_DIR "/NAME.sock.\n"
	"Exit status: 0 clean stop, 1 usage or configuration error, 2 mount failed, 3 a worker kept\n"
	"crashing (5 deaths within 60 s).\n";

__attribute__((format(printf, 1, 2), noreturn))
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "aysfs-supervisor: ERROR: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text);
	exit(EXIT_USAGE);
}

static long parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end || v < 1 || v > 65535)
		usage_error("not a port number: %s", s);
	return v;
}

static void check_options(struct options *o);

void parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .root = "/", .resolv = "/etc/resolv.conf", .master_port = 443,
			       .cache_port = 9990, .log_level = LOG_INFO, .config = "config.toml" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char name[32];
		size_t len;

		if (a[0] != '-' || a[1] == '\0') {
			if (o->mountpoint)
				usage_error("more than one mountpoint: %s", a);
			o->mountpoint = a;
			continue;
		}
		a += a[1] == '-' ? 2 : 1;
		len = strcspn(a, "=");
		if (len >= sizeof name)
			usage_error("unknown option %s", argv[i]);
		memcpy(name, a, len);
		name[len] = '\0';
		if (a[len] == '=')
			val = a + len + 1;

#define FLAG(n) (strcmp(name, n) == 0 && !val)
#define OPT(n) (strcmp(name, n) == 0 && (val || (i + 1 < argc ? (val = argv[++i]) : \
		(usage_error("option needs a value: %s", argv[i]), NULL))))
		if (FLAG("h") || FLAG("help")) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (FLAG("v") || FLAG("version")) {
			printf("aysfs %s\n", AYSFS_VERSION);
			exit(0);
		} else if (FLAG("auto")) {
			o->auto_discover = true;
		} else if (FLAG("pprof")) {
			o->pprof = true;
		} else if (FLAG("check")) {
			o->check = true;
		} else if (FLAG("verify-cache")) {
			o->verify_cache = true;
		} else if (OPT("config") || OPT("c")) {
			o->config = val;
			o->config_given = true;
		} else if (OPT("pprof-addr")) {
			o->pprof_addr = val;
		} else if (OPT("root")) {
			o->root = val;
		} else if (OPT("resolv")) {
			o->resolv = val;
		} else if (OPT("cafile")) {
			o->cafile = val;
		} else if (OPT("master-port")) {
			o->master_port = parse_port(val);
		} else if (OPT("cache-port")) {
			o->cache_port = parse_port(val);
		} else if (OPT("pidfile")) {
			o->pidfile = val;
		} else if (OPT("l")) {
			char *end;

			o->log_level = (int)strtol(val, &end, 10);
			if (*val == '\0' || *end || o->log_level < 0 || o->log_level > 5)
				usage_error("log level must be 0 to 5: %s", val);
		} else {
			usage_error("unknown option %s", argv[i]);
		}
#undef FLAG
#undef OPT
	}
	check_options(o);
}

/* What no single option says: a mountpoint was given; -pprof's address is loopback's. */
static void check_options(struct options *o)
{
	if (!o->mountpoint)
		usage_error("%s", "no mountpoint given");
	/* Say so rather than run without a feature the operator asked for. */
	if (o->pprof && !o->pprof_addr)
		o->pprof_addr = "127.0.0.1:6060";
	if (o->pprof_addr) {
		struct sockaddr_storage ss;
		socklen_t sl;
		int prc = sctl_pprof_parse(o->pprof_addr, &ss, &sl);

		if (prc)
			usage_error("-pprof-addr %s: %s", o->pprof_addr, prc == -EADDRNOTAVAIL ?
				    "not a loopback address (the status server is for this host only)" :
				    "not HOST:PORT");
	}
}

