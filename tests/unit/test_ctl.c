/* test_ctl.c — the control socket's request parser and socket names (ipc/ctl.c): what aysfs-ctl may
 * send and what the supervisor refuses, and names that stay distinct and fit in sun_path. */
#include "ipc/ctl_parse.h"
#include "tests/tap.h"

#include <errno.h>
#include <sys/un.h>

static int parse(const char *s, struct ctl_req *r)
{
	char err[256];

	return ctl_parse(s, strlen(s), r, err, sizeof err);
}

int main(void)
{
	struct ctl_req r;
	char err[256], a[sizeof(((struct sockaddr_un *)0)->sun_path)], b[sizeof a], big[5000];

	ok(parse("status", &r) == 0 && r.cmd == CTL_STATUS && !r.arg[0], "status");
	ok(parse("reload\n", &r) == 0 && r.cmd == CTL_RELOAD, "one trailing newline is allowed");
	ok(parse("cache", &r) == 0 && r.cmd == CTL_CACHE, "cache");
	ok(parse("verify", &r) == 0 && r.cmd == CTL_VERIFY, "verify");
	ok(parse("evict /opt/app/x y", &r) == 0 && r.cmd == CTL_EVICT, "evict PATH");
	is_str(r.arg, "/opt/app/x y", "the path keeps its spaces");
	is_int(parse("evict", &r), -EINVAL, "evict needs a path");
	is_int(parse("evict ", &r), -EINVAL, "an empty path is refused");
	is_int(parse("evict opt/x", &r), -EINVAL, "a relative path is refused");
	ok(parse("order base", &r) == 0 && r.cmd == CTL_ORDER, "order SERVICE");
	is_str(r.arg, "base", "the service id");
	is_int(parse("order", &r), -EINVAL, "order needs a service id");
	is_int(parse("order a/b", &r), -EINVAL, "a service id has no '/'");
	is_int(parse("order a b", &r), -EINVAL, "nor a space");
	is_int(parse("status now", &r), -EINVAL, "status takes no argument");
	is_int(parse("status\n\n", &r), -EINVAL, "two newlines are refused");
	is_int(parse("Status", &r), -EINVAL, "commands are lower case");
	is_int(parse("statu", &r), -EINVAL, "no prefixes");
	is_int(ctl_parse("stat\0us", 7, &r, err, sizeof err), -EINVAL, "a NUL byte is refused");
	ok(err[0] != '\0', "and the refusal says why: %s", err);
	is_int(ctl_parse("", 0, &r, err, sizeof err), -EINVAL, "an empty request is refused");
	memset(big, 'a', sizeof big);
	memcpy(big, "evict /", 7);
	is_int(ctl_parse(big, CTL_REQ_MAX + 1, &r, err, sizeof err), -EINVAL, "an oversized request is refused");
	is_int(ctl_parse(big, 6 + 4096, &r, err, sizeof err), -EINVAL, "a path of 4096 bytes is refused");
	is_int(ctl_parse(big, 6 + 4095, &r, err, sizeof err), 0, "a path of 4095 bytes is taken");

	is_int(ctl_socket_path("/opt", a, sizeof a), 0, "a socket name for /opt");
	is_str(a, CTL_RUN_DIR "/_opt.sock", "readable");
	ctl_socket_path("/a_b", a, sizeof a);
	ctl_socket_path("/a/b", b, sizeof b);
	ok(strcmp(a, b) != 0, "/a_b and /a/b get different names (%s, %s)", a, b);
	is_str(a, CTL_RUN_DIR "/_a%5Fb.sock", "'_' is escaped");
	ctl_socket_path("/x y\n%", a, sizeof a);
	is_str(a, CTL_RUN_DIR "/_x%20y%0A%25.sock", "spaces, control bytes and '%%' are escaped");
	memset(big, 'd', 300);
	big[0] = '/';
	big[300] = '\0';
	is_int(ctl_socket_path(big, a, sizeof a), 0, "a long mountpoint gets a name");
	ok(strlen(a) < sizeof a && strncmp(a, CTL_RUN_DIR "/h", sizeof CTL_RUN_DIR + 1) == 0,
	   "a hashed one that fits (%s)", a);
	big[299] = 'e';
	ctl_socket_path(big, b, sizeof b);
	ok(strcmp(a, b) != 0, "another long mountpoint gets another name");
	return done_testing();
}
