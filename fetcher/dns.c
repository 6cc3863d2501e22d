/* dns.c — names to addresses for libcurl, with c-ares in the fetcher's own poll loop.
 *
 * libcurl never resolves a name itself (http.c refuses it): every transfer gets the addresses
 * from here as a CURLOPT_RESOLVE entry. The hosts file is read once at start-up and answers
 * first; then a small cache of DNS answers, each kept for its TTL clamped to [60 s, 1 day]; then
 * a c-ares query to the servers of the resolver configuration (also read at start-up only: c-ares
 * is told to look up nothing but DNS, so it never opens /etc/hosts itself). Failures are
 * remembered briefly, so that requests waiting on one query all see its answer.
 */
#include "fetcher/fetcher.h"

#include "ipc/log.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOSTS_FILE_MAX  (1 << 20)      /* bytes of the hosts file read */
#define HOSTS_MAX       1024           /* name → address pairs kept */
#define NAME_MAX_LEN    253
#define CACHE_MAX       128
#define ADDRS_PER_NAME  8
#define DNS_NEG_MS      5000           /* how long a failed lookup is remembered */
#define DNS_TRY_MS      2000           /* c-ares: per server and try */
#define DNS_TRIES       2

struct host_pair {
	char name[NAME_MAX_LEN + 1];
	char addr[INET6_ADDRSTRLEN + 2];   /* "[v6]" or v4, as CURLOPT_RESOLVE wants it */
};

enum { E_FREE, E_PENDING, E_OK, E_FAILED };

struct dns_entry {
	int state;
	char name[NAME_MAX_LEN + 1];
	char text[DNS_ADDRS_MAX];     /* E_OK: the address list; E_FAILED: why */
	uint64_t expires, used;
};

static struct host_pair *hosts;
static size_t nhosts;
static struct dns_entry cache[CACHE_MAX];
static ares_channel channel;
static bool ares_up;

/* Lower-case copy of a host name made of letters, digits, '-', '_' and '.'; -EINVAL otherwise. */
static int name_norm(const char *host, char *out)
{
	size_t n = strlen(host);

	if (n == 0 || n > NAME_MAX_LEN)
		return -EINVAL;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)host[i];

		if (c && !isalnum(c) && c != '-' && c != '_' && c != '.')
			return -EINVAL;
		out[i] = (char)tolower(c);
	}
	return 0;
}

/* One address in the form CURLOPT_RESOLVE takes; -EINVAL when text is not an IP address. */
static int addr_text(int family, const void *bin, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(family, bin, a, sizeof a))
		return -EINVAL;
	if ((size_t)snprintf(out, size, family == AF_INET6 ? "[%s]" : "%s", a) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* Append addr to a comma-separated list unless it is there already or the list is full. */
static void list_add(char *list, size_t size, unsigned *count, const char *addr)
{
	size_t len = strlen(list), alen = strlen(addr);
	const char *p = list;

	if (*count >= ADDRS_PER_NAME)
		return;
	while ((p = strstr(p, addr))) {
		if ((p == list || p[-1] == ',') && (p[alen] == ',' || p[alen] == '\0'))
			return;
		p += alen;
	}
	if (len + (len > 0) + alen + 1 > size)
		return;
	snprintf(list + len, size - len, "%s%s", len ? "," : "", addr);
	(*count)++;
}

static void hosts_line(char *line)
{
	char *save, *tok, *addr = strtok_r(line, " \t\r", &save);
	unsigned char bin[sizeof(struct in6_addr)];
	char text[INET6_ADDRSTRLEN + 2], name[NAME_MAX_LEN + 1];
	int family = AF_INET;

	if (!addr)
		return;
	if (inet_pton(AF_INET, addr, bin) != 1) {
		family = AF_INET6;
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return;
	}
	if (addr_text(family, bin, text, sizeof text))
		return;
	while ((tok = strtok_r(NULL, " \t\r", &save))) {
		if (name_norm(tok, name))
			continue;
		if (nhosts == HOSTS_MAX) {
			log_warn("hosts file: more than %d names; the rest is ignored", HOSTS_MAX);
			return;
		}
		memcpy(hosts[nhosts].name, name, sizeof name);
		memcpy(hosts[nhosts].addr, text, sizeof text);
		nhosts++;
	}
}

/* Read the whole hosts file once (bounded); a missing one is no error. */
static int hosts_load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *buf, *line, *save;
	size_t len = 0;
	ssize_t n;

	hosts = calloc(HOSTS_MAX, sizeof *hosts);
	if (!hosts) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	if (fd < 0) {
		log_info("no hosts file %s: %s", path, strerror(errno));
		return 0;
	}
	buf = malloc(HOSTS_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < HOSTS_FILE_MAX && (n = read(fd, buf + len, HOSTS_FILE_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_warn("hosts file %s: %s", path, strerror(errno));
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');

		if (hash)
			*hash = '\0';
		hosts_line(line);
	}
	free(buf);
	log_debug("hosts file %s: %zu names", path, nhosts);
	return 0;
}

static void log_servers(void)
{
	struct ares_addr_port_node *servers = NULL, *s;
	char list[256] = "", a[INET6_ADDRSTRLEN];
	size_t len = 0;

	if (ares_get_servers_ports(channel, &servers) != ARES_SUCCESS)
		return;
	for (s = servers; s && len < sizeof list; s = s->next) {
		if (!inet_ntop(s->family, &s->addr, a, sizeof a))
			continue;
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? " " : "", a);
	}
	ares_free_data(servers);
	log_info("resolver: DNS servers %s", len ? list : "(none)");
}

int dns_init(const char *resolv_conf, const char *hosts_path)
{
	struct ares_options o = {
		.lookups = (char *)"b",          /* DNS only: the hosts file is ours, read now */
		.timeout = DNS_TRY_MS,
		.tries = DNS_TRIES,
		.resolvconf_path = (char *)resolv_conf,
	};
	int rc = hosts_load(hosts_path), fd;

	if (rc)
		return rc;
	/* c-ares takes a missing file for "no servers given" and asks 127.0.0.1: say so. */
	fd = open(resolv_conf, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		log_warn("resolver configuration %s: %s", resolv_conf, strerror(errno));
	else
		close(fd);
	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc == ARES_SUCCESS)
		rc = ares_init_options(&channel, &o, ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS |
				       ARES_OPT_TRIES | ARES_OPT_RESOLVCONF);
	if (rc != ARES_SUCCESS) {
		log_err("resolver: %s: %s", resolv_conf, ares_strerror(rc));
		return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
	}
	ares_up = true;
	log_servers();
	return 0;
}

void dns_free(void)
{
	if (ares_up) {
		ares_destroy(channel);
		ares_library_cleanup();
		ares_up = false;
	}
	free(hosts);
	hosts = NULL;
	nhosts = 0;
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_entry *e = arg;
	struct ares_addrinfo_node *n;
	char a[INET6_ADDRSTRLEN + 2];
	unsigned count = 0;
	int ttl = DNS_TTL_MAX_S;

	e->text[0] = '\0';
	if (status == ARES_SUCCESS && res) {
		for (n = res->nodes; n; n = n->ai_next) {
			const void *bin;

			if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(struct sockaddr_in))
				bin = &((const struct sockaddr_in *)(void *)n->ai_addr)->sin_addr;
			else if (n->ai_family == AF_INET6 &&
				 n->ai_addrlen >= sizeof(struct sockaddr_in6))
				bin = &((const struct sockaddr_in6 *)(void *)n->ai_addr)->sin6_addr;
			else
				continue;
			if (addr_text(n->ai_family, bin, a, sizeof a))
				continue;
			list_add(e->text, sizeof e->text, &count, a);
			if (n->ai_ttl < ttl)
				ttl = n->ai_ttl;
		}
	}
	ares_freeaddrinfo(res);
	if (count == 0) {
		snprintf(e->text, sizeof e->text, "cannot resolve %s: %s", e->name,
			 status == ARES_SUCCESS ? "no address" : ares_strerror(status));
		e->state = E_FAILED;
		e->expires = now_ms() + DNS_NEG_MS;
		log_debug("%s", e->text);
		return;
	}
	if (ttl < DNS_TTL_MIN_S)
		ttl = DNS_TTL_MIN_S;
	e->state = E_OK;
	e->expires = now_ms() + (uint64_t)ttl * 1000;
	log_debug("resolved %s: %s (kept %d s)", e->name, e->text, ttl);
}

/* A slot for a new query: a free or expired one, else the least recently used that is not
 * waiting on a query (at most FETCH_MAX_ACTIVE are). */
static struct dns_entry *cache_slot(uint64_t now)
{
	struct dns_entry *best = NULL;

	for (size_t i = 0; i < CACHE_MAX; i++) {
		struct dns_entry *e = &cache[i];

		if (e->state == E_FREE || (e->state != E_PENDING && e->expires <= now))
			return e;
		if (e->state != E_PENDING && (!best || e->used < best->used))
			best = e;
	}
	return best;
}

int dns_lookup(const char *host, char *out, size_t size)
{
	struct ares_addrinfo_hints hints = {
		.ai_flags = ARES_AI_NOSORT,      /* sorting would connect() a socket to each */
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	char name[NAME_MAX_LEN + 1];
	uint64_t now = now_ms();
	unsigned count = 0;
	struct dns_entry *e = NULL;

	out[0] = '\0';
	if (name_norm(host, name)) {
		snprintf(out, size, "not a valid host name");
		return -EINVAL;
	}
	for (size_t i = 0; i < nhosts; i++)
		if (strcmp(hosts[i].name, name) == 0)
			list_add(out, size, &count, hosts[i].addr);
	if (count)
		return 0;

	for (size_t i = 0; i < CACHE_MAX && !e; i++)
		if (cache[i].state != E_FREE && strcmp(cache[i].name, name) == 0)
			e = &cache[i];
	if (e && e->state != E_PENDING && e->expires <= now)
		e->state = E_FREE;
	if (!e || e->state == E_FREE) {
		if (!ares_up) {
			snprintf(out, size, "cannot resolve %s: no resolver", name);
			return -EHOSTUNREACH;
		}
		if (!e)
			e = cache_slot(now);
		if (!e) {
			snprintf(out, size, "cannot resolve %s: too many lookups", name);
			return -EAGAIN;
		}
		*e = (struct dns_entry){ .state = E_PENDING };
		memcpy(e->name, name, sizeof name);
		/* The callback may run at once (a bad name, no server): look at the state after. */
		ares_getaddrinfo(channel, name, NULL, &hints, on_answer, e);
	}
	e->used = now;
	switch (e->state) {
	case E_PENDING:
		return -EINPROGRESS;
	case E_OK:
		if ((size_t)snprintf(out, size, "%s", e->text) >= size)
			return -ENAMETOOLONG;
		return 0;
	default:
		snprintf(out, size, "%s", e->text);
		return -EHOSTUNREACH;
	}
}

int dns_pollfds(struct pollfd *pfd, int max, int *timeout_ms)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	struct timeval tv, *tp;
	unsigned bits;
	int n = 0;

	if (!ares_up)
		return 0;
	/* The bit tests of ares.h shift a signed 1 into the sign bit: test as unsigned. */
	bits = (unsigned)ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
	for (int i = 0; i < ARES_GETSOCK_MAXNUM && n < max; i++) {
		short ev = 0;

		if (bits & (1u << i))
			ev |= POLLIN;
		if (bits & (1u << (i + ARES_GETSOCK_MAXNUM)))
			ev |= POLLOUT;
		if (ev)
			pfd[n++] = (struct pollfd){ .fd = socks[i], .events = ev };
	}
	tp = ares_timeout(channel, NULL, &tv);
	if (tp) {
		long ms = (long)tp->tv_sec * 1000 + (tp->tv_usec + 999) / 1000;

		if (*timeout_ms < 0 || ms < *timeout_ms)
			*timeout_ms = (int)ms;
	}
	return n;
}

void dns_process(const struct pollfd *pfd, int n)
{
	if (!ares_up)
		return;
	for (int i = 0; i < n; i++) {
		ares_socket_t r = ARES_SOCKET_BAD, w = ARES_SOCKET_BAD;

		if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
			r = pfd[i].fd;
		if (pfd[i].revents & POLLOUT)
			w = pfd[i].fd;
		if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD)
			ares_process_fd(channel, r, w);
	}
	/* Timeouts and retries. */
	ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}
