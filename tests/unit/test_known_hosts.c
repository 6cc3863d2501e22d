/* test_known_hosts.c — the fetcher's known_hosts parser and host key check (fetcher/ssh.c): which
 * lines name which host and port, wildcards and negation, hashed names, revoked keys, bad lines. */
#include "fetcher/fetcher.h"
#include "ipc/log.h"
#include "tests/tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define K1 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOn9XoWSk1HGiYvnN0lLzeYh/9U+qIwF2MVbOAdRe13h"
#define K2 "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGEOj4myCRjkjQ50ahwhY0kKo8OfsA65mWGhFiy69NAEfDOUd0rOMQHbCEVtHkqigYNNzQwajuod1p6xOXXVoeg="
/* "store.example" with K1, hashed by ssh-keygen -H */
#define HASHED "|1|RQ5Ktn+ZOye10TbHT2qwSvLH4xA=|QYf+ziqpnY6IpZfsEBFClPh2Ebw="

static struct known_hosts k;
static char why[1024];

static void load(const char *text)
{
	known_hosts_free(&k);
	is_int(known_hosts_parse(&k, text, strlen(text), "kh"), 0, "parse");
}

/* The raw blob of the n-th entry (0-based), as a server would send it. */
static const struct kh_entry *key(size_t n)
{
	return &k.e[n];
}

static int check(const char *host, long port, const struct kh_entry *e)
{
	return known_hosts_check(&k, host, port, e->key, e->key_len, why, sizeof why);
}

int main(void)
{
	struct known_hosts keys;
	const char *both = "a.example " K1 "\nb.example " K2 "\n";

	log_init("test", LOG_CRIT);
	/* Two keys to present to the check. */
	is_int(known_hosts_parse(&keys, both, strlen(both), "keys"), 0, "two keys parse");
	is_int((int)keys.n, 2, "two entries");

	load("127.0.0.1 " K1 "\n[127.0.0.1]:2222 " K2 " a comment\n");
	is_int((int)k.n, 2, "plain: two entries");
	is_int(check("127.0.0.1", 22, &keys.e[0]), 0, "port 22: the bare name");
	is_int(check("127.0.0.1", 2222, &keys.e[1]), 0, "another port: [host]:port");
	is_int(check("127.0.0.1", 2222, &keys.e[0]), -EPERM, "the port 22 key is not the 2222 one");
	ok(strstr(why, "does not match the 1 key kh has") != NULL, "... a mismatch: %s", why);
	is_int(check("127.0.0.1", 2223, &keys.e[0]), -EPERM, "an unlisted port");
	ok(strstr(why, "host [127.0.0.1]:2223 is not in kh") != NULL, "... unknown: %s", why);

	load("*.example,!bad.example " K1 "\nst?re.example " K2 "\n");
	is_int(check("Store.EXAMPLE", 22, &keys.e[0]), 0, "wildcard *, names in any case");
	is_int(check("store.example", 22, &keys.e[1]), 0, "wildcard ?");
	is_int(check("bad.example", 22, &keys.e[0]), -EPERM, "a negated pattern wins");
	is_int(check("example", 22, &keys.e[0]), -EPERM, "* does not match an empty label and dot");

	load("@revoked 127.0.0.1 " K1 "\n127.0.0.1 " K1 "\n");
	is_int(check("127.0.0.1", 22, &keys.e[0]), -EPERM, "a revoked key is refused");
	ok(strstr(why, "revoked") != NULL, "... and said so: %s", why);

	load(HASHED " " K1 "\n");
	ok(k.n == 1 && key(0)->hashed, "a hashed name is kept");
	is_int(check("store.example", 22, &keys.e[0]), 0, "a hashed name matches its host");
	is_int(check("other.example", 22, &keys.e[0]), -EPERM, "... and no other");

	load("[::1]:2222 " K1 "\n");
	is_int(check("[::1]", 2222, &keys.e[0]), 0, "an IPv6 literal of a URL, brackets and all");

	load("# comment\n\n@cert-authority *.example " K1 "\nx ssh-ed25519 AAAA!!!\n"
	     "y ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOn9\nz ssh-ed25519\n|1|AAAA|BBBB " K1 "\r\n"
	     "ok.example " K2 "\r\n");
	is_int((int)k.n, 1, "bad lines, markers and comments are skipped; a good CRLF line is kept");
	is_int(check("ok.example", 22, &keys.e[1]), 0, "... and matches");

	load("");
	is_int(check("ok.example", 22, &keys.e[1]), -EPERM, "an empty file knows no host");
	known_hosts_free(&k);
	known_hosts_free(&keys);
	return done_testing();
}
