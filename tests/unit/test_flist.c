/* test_flist.c — the flist format of SPEC section 4, rule by rule, as a user writing a flist
 * sees it: what is accepted, what each entry carries, and the exact "NAME:LINE: reason" of each
 * rejection. */
#include "indexer/flist.h"
#include "tests/tap.h"

#include <errno.h>
#include <stdlib.h>

#define MAXE 16

static struct flist_entry ents[MAXE];
static char paths[MAXE][FLIST_PATH_MAX + 1], links[MAXE][FLIST_PATH_MAX + 1];
static int nents;
static int stop_after = -1, stop_rc;
static char err[512];
static struct flist_stats st;

/* Keeps a copy of every entry: the parser's pointers are valid only during the call. */
static int collect(void *ctx, const struct flist_entry *e)
{
	if (nents == stop_after)
		return stop_rc;
	if (nents < MAXE) {
		ents[nents] = *e;
		memcpy(paths[nents], e->path, e->path_len + 1);
		ents[nents].path = paths[nents];
		if (e->link) {
			memcpy(links[nents], e->link, e->link_len + 1);
			ents[nents].link = links[nents];
		}
	}
	nents++;
	return 0;
}

/* Parses twice, as the indexer does: validation alone must agree with the pass that builds. */
static int parse_n(const char *buf, size_t len)
{
	char err0[512];
	struct flist_stats st0;
	int rc0, rc;

	rc0 = flist_parse("t", buf, len, NULL, NULL, &st0, err0, sizeof err0);
	nents = 0;
	memset(ents, 0, sizeof ents);
	rc = flist_parse("t", buf, len, collect, NULL, &st, err, sizeof err);
	if (stop_after < 0 && (rc0 != rc || strcmp(err0, err) != 0 || st0.entries != st.entries))
		ok(0, "validation pass disagrees: %d '%s' vs %d '%s'", rc0, err0, rc, err);
	return rc;
}

static int parse(const char *text)
{
	return parse_n(text, strlen(text));
}

static void good(const char *text, const char *name)
{
	int rc = parse(text);

	if (!ok(rc == 0, "accepted: %s", name))
		diag("rc %d, err '%s'", rc, err);
}

static void bad_n(const char *buf, size_t len, const char *want, const char *name)
{
	int rc = parse_n(buf, len);

	is_int(rc, -EINVAL, "rejected: %s", name);
	is_str(err, want, "message: %s", name);
}

static void bad(const char *text, const char *want, const char *name)
{
	bad_n(text, strlen(text), want, name);
}

#define MD5  "8a3e5e03a10ecc3601a1f14fbc371019"
#define SHA  "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"

/* A path of `len` bytes: "/" then components of `comp` bytes of 'a' separated by '/'. */
static char *make_path(size_t len, size_t comp)
{
	char *p = malloc(len + 1);
	size_t c = 0;

	p[0] = '/';
	for (size_t i = 1; i < len; i++) {
		if (c == comp) {
			p[i] = '/';
			c = 0;
		} else {
			p[i] = 'a';
			c++;
		}
	}
	if (len > 1 && p[len - 1] == '/')
		p[len - 1] = 'b';
	p[len] = '\0';
	return p;
}

static void test_basic(void)
{
	good("/opt/jumpscale7/bin/jsnet|" MD5 "|4857\n", "original tool's line");
	is_int(nents, 1, "one entry");
	is_str(ents[0].path, "/opt/jumpscale7/bin/jsnet", "path");
	is_int(ents[0].path_len, 25, "path_len");
	is_int(ents[0].size, 4857, "size");
	is_int(ents[0].type, FLIST_FILE, "type defaults to f");
	is_int(ents[0].hash_len, 16, "md5 is 16 bytes");
	is_int(ents[0].hash[0], 0x8a, "first hash byte");
	is_int(ents[0].hash[15], 0x19, "last hash byte");
	ok(!ents[0].has_mode && !ents[0].has_mtime, "no mode, no mtime unless given");
	ok(ents[0].link == NULL, "no link on a file");
	is_int(ents[0].line, 1, "line number");
	is_int(st.entries, 1, "stats count the entry");

	/* SPEC section 4's example, verbatim. */
	good("/opt/jumpscale7/bin/jsnet|8a3e5e03a10ecc3601a1f14fbc371019|4857\n"
	     "/opt/app/etc/app.conf|76f87551c60336da45c379f38625144b|1553|mode=0644|mtime=1700000000\n"
	     "/opt/app/bin/python3||0|type=l|link=python3.11\n"
	     "/opt/app/empty-dir||0|type=d|mode=0755\n", "SPEC example");
	is_int(nents, 4, "four entries");
	ok(ents[1].has_mode && ents[1].mode == 0644, "mode 0644");
	ok(ents[1].has_mtime && ents[1].mtime == 1700000000, "mtime");
	is_int(ents[2].type, FLIST_LINK, "symlink");
	is_str(ents[2].link, "python3.11", "link target");
	is_int(ents[2].link_len, 10, "link_len");
	is_int(ents[3].type, FLIST_DIR, "directory");
	ok(ents[3].has_mode && ents[3].mode == 0755, "directory mode");

	good("", "empty flist");
	is_int(nents, 0, "no entries in an empty flist");
	is_int(flist_parse("t", NULL, 0, collect, NULL, &st, err, sizeof err), 0,
	       "no buffer at all is an empty flist");
}

static void test_hash(void)
{
	char hex[65];

	good("/a|" SHA "|4\n", "sha256, upper case");
	is_int(ents[0].hash_len, 32, "sha256 is 32 bytes");
	flist_hash_hex(ents[0].hash, ents[0].hash_len, hex);
	is_str(hex, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	       "shown in lower case");
	good("/a|8A3E5E03a10ecc3601a1f14fbc371019|4\n", "mixed case md5");
	flist_hash_hex(ents[0].hash, ents[0].hash_len, hex);
	is_str(hex, MD5, "md5 shown in lower case");
	good("/a|" MD5 "|4\n/b|" SHA "|5\n", "md5 and sha256 in one flist");
	ok(ents[0].hash_len == 16 && ents[1].hash_len == 32, "both kinds kept");

	bad("/a|8a3e5e03a10ecc3601a1f14fbc37101|4\n", "t:1: hash must be 32 or 64 hex digits",
	    "31 digits");
	bad("/a|8a3e5e03a10ecc3601a1f14fbc3710199|4\n", "t:1: hash must be 32 or 64 hex digits",
	    "33 digits");
	bad("/a|8a3e5e03a10ecc3601a1f14fbc37101g|4\n", "t:1: hash must be 32 or 64 hex digits", "non-hex");
	bad("/a|" MD5 MD5 "0|4\n", "t:1: hash must be 32 or 64 hex digits", "65 digits");
	bad("/a|%38a3e5e03a10ecc3601a1f14fbc37101|4\n", "t:1: hash must be 32 or 64 hex digits",
	    "hash is not percent-decoded");
	bad("/a| 8a3e5e03a10ecc3601a1f14fbc37101|4\n", "t:1: hash must be 32 or 64 hex digits",
	    "space in hash");

	good("/empty||0\n", "size 0 needs no hash");
	is_int(ents[0].hash_len, 0, "no hash");
	good("/empty|d41d8cd98f00b204e9800998ecf8427e|0\n", "size 0 may have a hash");
	is_int(ents[0].hash_len, 16, "hash kept for an empty file");
	bad("/a||5\n", "t:1: file of non-zero size has no hash", "size > 0 without hash");
}

static void test_size(void)
{
	good("/a|" MD5 "|9223372036854775807\n", "size 2^63-1");
	ok(ents[0].size == 9223372036854775807ULL, "largest size kept");
	good("/a|" MD5 "|007\n", "leading zeros");
	is_int(ents[0].size, 7, "leading zeros read as decimal");
	bad("/a|" MD5 "|9223372036854775808\n", "t:1: size is too large (must be below 2^63)",
	    "size 2^63");
	bad("/a|" MD5 "|18446744073709551616\n", "t:1: size is too large (must be below 2^63)",
	    "size 2^64");
	bad("/a|" MD5 "|99999999999999999999999\n", "t:1: size is too large (must be below 2^63)",
	    "huge size");
	bad("/a|" MD5 "|\n", "t:1: size is empty", "empty size");
	bad("/a|" MD5 "|-1\n", "t:1: size is not a number", "negative size");
	bad("/a|" MD5 "|+1\n", "t:1: size is not a number", "signed size");
	bad("/a|" MD5 "| 1\n", "t:1: size is not a number", "space before size");
	bad("/a|" MD5 "|1 \n", "t:1: size is not a number", "space after size");
	bad("/a|" MD5 "|0x10\n", "t:1: size is not a number", "hex size");
	bad("/a|" MD5 "|1e3\n", "t:1: size is not a number", "exponent");
}

static void test_fields(void)
{
	bad("/a\n", "t:1: too few fields (need PATH|HASH|SIZE)", "path only");
	bad("/a|" MD5 "\n", "t:1: too few fields (need PATH|HASH|SIZE)", "two fields");
	bad("/a|" MD5 "|4|\n", "t:1: field 4 is not key=value", "trailing '|'");
	bad("/a|" MD5 "|4|mode\n", "t:1: field 4 is not key=value", "field without '='");
	bad("/a|" MD5 "|4|mode=0644|x\n", "t:1: field 5 is not key=value", "fifth field without '='");
	bad("/a|" MD5 "|4|=x\n", "t:1: field 4 has an empty key", "empty key");
	bad("/a|" MD5 "|4||mode=0644\n", "t:1: field 4 is not key=value", "empty field");
}

static void test_path(void)
{
	char *p, line[3 * FLIST_PATH_MAX + 64];

	good("/||0|type=d\n", "the root directory");
	is_str(ents[0].path, "/", "root path");
	bad("/||0\n", "t:1: path '/' must be a directory", "root as a file");
	bad("|" MD5 "|4\n", "t:1: path is empty", "empty path");
	bad("a/b|" MD5 "|4\n", "t:1: path is not absolute", "relative path");
	bad("./a|" MD5 "|4\n", "t:1: path is not absolute", "dot-relative path");
	bad("//a|" MD5 "|4\n", "t:1: path has an empty component ('//')", "leading '//'");
	bad("/a//b|" MD5 "|4\n", "t:1: path has an empty component ('//')", "'//' inside");
	bad("/a/|" MD5 "|4\n", "t:1: path ends with '/'", "trailing '/'");
	bad("/a/b/||0|type=d\n", "t:1: path ends with '/'", "trailing '/' on a directory");
	bad("/./a|" MD5 "|4\n", "t:1: path component is '.'", "'.' component");
	bad("/a/.|" MD5 "|4\n", "t:1: path component is '.'", "final '.'");
	bad("/a/../b|" MD5 "|4\n", "t:1: path component is '..'", "'..' component");
	bad("/..|" MD5 "|4\n", "t:1: path component is '..'", "'..' at the top");
	good("/.hidden/..b/.../a.|" MD5 "|4\n", "dots inside names are fine");
	is_str(ents[0].path, "/.hidden/..b/.../a.", "dotted names kept");
	good("/caf\xc3\xa9/\xff\xfe|" MD5 "|4\n", "bytes are not checked as UTF-8");
	is_int(ents[0].path_len, 9, "raw bytes kept");
	good("/a b\tc|" MD5 "|4\n", "spaces and tabs in names");
	is_str(ents[0].path, "/a b\tc", "spaces kept");
	bad_n("/a\0b|" MD5 "|4\n", 40, "t:1: path contains a NUL byte", "literal NUL");
	bad("/a%00b|" MD5 "|4\n", "t:1: path contains a NUL byte", "decoded NUL");
	bad("/a%2F%2Fb|" MD5 "|4\n", "t:1: path has an empty component ('//')",
	    "rules apply to the decoded path");
	bad("/a/%2E%2E|" MD5 "|4\n", "t:1: path component is '..'", "encoded '..'");
	good("/a%2Fb|" MD5 "|4\n", "encoded '/' separates components");
	is_str(ents[0].path, "/a/b", "decoded separator");

	p = make_path(1 + FLIST_NAME_MAX, FLIST_NAME_MAX);
	snprintf(line, sizeof line, "%s|" MD5 "|4\n", p);
	good(line, "component of 255 bytes");
	free(p);
	p = make_path(2 + FLIST_NAME_MAX, FLIST_NAME_MAX + 1);
	snprintf(line, sizeof line, "%s|" MD5 "|4\n", p);
	bad(line, "t:1: path component is longer than 255 bytes", "component of 256 bytes");
	free(p);
	p = make_path(FLIST_PATH_MAX, 100);
	snprintf(line, sizeof line, "%s|" MD5 "|4\n", p);
	good(line, "path of 4095 bytes");
	is_int(ents[0].path_len, FLIST_PATH_MAX, "whole path kept");
	free(p);
	p = make_path(FLIST_PATH_MAX + 1, 100);
	snprintf(line, sizeof line, "%s|" MD5 "|4\n", p);
	bad(line, "t:1: path is longer than 4095 bytes", "path of 4096 bytes");
	free(p);

	/* The limit is on decoded bytes: 4095 bytes written as 3 * 4094 + 1 characters fit. */
	p = line;
	p += sprintf(p, "/");
	for (int i = 0; i < FLIST_PATH_MAX - 1; i++)
		p += sprintf(p, (i + 1) % 200 ? "%%41" : "/");
	sprintf(p, "|" MD5 "|4\n");
	good(line, "encoded path of 4095 decoded bytes");
	is_int(ents[0].path_len, FLIST_PATH_MAX, "decoded length");
	ok(ents[0].path[1] == 'A', "decoded bytes");
}

static void test_percent(void)
{
	good("/a%7Cb|" MD5 "|4\n", "%7C is '|'");
	is_str(ents[0].path, "/a|b", "pipe decoded");
	good("/a%7cb|" MD5 "|4\n", "lower-case hex");
	is_str(ents[0].path, "/a|b", "pipe decoded from %%7c");
	good("/a%0Ab|" MD5 "|4\n", "%0A is a newline");
	is_str(ents[0].path, "/a\nb", "newline decoded");
	good("/100%25|" MD5 "|4\n", "%25 is '%'");
	is_str(ents[0].path, "/100%", "percent decoded");
	good("/%41%62%63|" MD5 "|4\n", "any byte may be encoded");
	is_str(ents[0].path, "/Abc", "letters decoded");
	good("/%ff%FE|" MD5 "|4\n", "high bytes");
	ok(ents[0].path_len == 3 && (unsigned char)ents[0].path[1] == 0xff &&
	   (unsigned char)ents[0].path[2] == 0xfe, "high bytes decoded");
	good("/%2525|" MD5 "|4\n", "decoding happens once");
	is_str(ents[0].path, "/%25", "no double decoding");
	bad("/a%|" MD5 "|4\n", "t:1: bad percent-encoding in path", "'%' at the end");
	bad("/a%7|" MD5 "|4\n", "t:1: bad percent-encoding in path", "one hex digit");
	bad("/a%G0|" MD5 "|4\n", "t:1: bad percent-encoding in path", "non-hex digit");
	bad("/a%%41|" MD5 "|4\n", "t:1: bad percent-encoding in path", "'%' twice is not an escape");
	bad("/a% 1|" MD5 "|4\n", "t:1: bad percent-encoding in path", "space after '%'");
	good("/l||0|type=l|link=a%7Cb%25c%0Ad\n", "encoded link target");
	is_str(ents[0].link, "a|b%c\nd", "link decoded");
	good("/d||0|type=%64|mode=%30%37%35%35\n", "values of known keys are decoded");
	ok(ents[0].type == FLIST_DIR && ents[0].mode == 0755, "decoded type and mode");
	bad("/a||0|mode=07%5\n", "t:1: bad percent-encoding in mode", "bad encoding in mode");
	bad("/a||0|mtime=%zz\n", "t:1: bad percent-encoding in mtime", "bad encoding in mtime");
	bad("/a||0|type=%\n", "t:1: bad percent-encoding in type", "bad encoding in type");
	bad("/l||0|type=l|link=a%2\n", "t:1: bad percent-encoding in link", "bad encoding in link");
	bad("/l||0|type=l|link=a%00b\n", "t:1: link contains a NUL byte", "decoded NUL in link");
	bad_n("/l||0|type=l|link=a\0b\n", 22, "t:1: link contains a NUL byte", "literal NUL in link");
}

/* order=N (aysfs-pack -order): a known key, 1 to FLIST_ORDER_MAX. */
static void test_order(void)
{
	good("/f|" MD5 "|4|order=7\n", "order=7");
	is_int(ents[0].order, 7, "its place");
	good("/f|" MD5 "|4\n", "no order");
	is_int(ents[0].order, 0, "is 0");
	good("/f|" MD5 "|4|order=1000000\n", "order=1000000");
	bad("/f|" MD5 "|4|order=0\n", "t:1: order must be a number from 1 to 1000000", "order=0");
	bad("/f|" MD5 "|4|order=1000001\n", "t:1: order must be a number from 1 to 1000000",
	    "past the bound");
	bad("/f|" MD5 "|4|order=-3\n", "t:1: order must be a number from 1 to 1000000", "negative");
	bad("/f|" MD5 "|4|order=x\n", "t:1: order must be a number from 1 to 1000000", "not a number");
	bad("/f|" MD5 "|4|order=\n", "t:1: order must be a number from 1 to 1000000", "empty");
	bad("/f|" MD5 "|4|order=1|order=2\n", "t:1: duplicate key 'order'", "order twice");
}

static void test_type(void)
{
	good("/f|" MD5 "|4|type=f\n", "type=f");
	is_int(ents[0].type, FLIST_FILE, "file");
	good("/d||0|type=d\n", "type=d");
	is_int(ents[0].type, FLIST_DIR, "directory");
	good("/d|" MD5 "|4096|type=d\n", "hash and size of a directory are ignored");
	ok(ents[0].hash_len == 0 && ents[0].size == 0, "directory carries no hash or size");
	good("/l|" MD5 "|12|type=l|link=x\n", "hash and size of a link are ignored");
	ok(ents[0].hash_len == 0 && ents[0].size == 0, "link carries no hash or size");
	good("/d||5|type=d\n", "a directory needs no hash whatever its size");
	bad("/d||x|type=d\n", "t:1: size is not a number", "a directory's size must still be a number");
	bad("/d|xyz|0|type=d\n", "t:1: hash must be 32 or 64 hex digits",
	    "a directory's hash must still be well-formed");
	bad("/a||0|type=q\n", "t:1: unknown type 'q'", "type=q");
	bad("/a||0|type=\n", "t:1: unknown type ''", "empty type");
	bad("/a||0|type=F\n", "t:1: unknown type 'F'", "types are lower case");
	bad("/a||0|type=dir\n", "t:1: unknown type 'dir'", "long type");
	bad("/a||0|type=%1B[2J\n", "t:1: unknown type '?[2J'", "control bytes are not echoed");
	bad("/a||0|type=f|type=f\n", "t:1: duplicate key 'type'", "type twice");
}

static void test_mode(void)
{
	good("/a||0|mode=0644\n", "mode=0644");
	ok(ents[0].has_mode && ents[0].mode == 0644, "0644");
	good("/a||0|mode=755\n", "three digits");
	is_int(ents[0].mode, 0755, "755 is octal");
	good("/a||0|mode=4\n", "one digit");
	is_int(ents[0].mode, 4, "4");
	good("/a||0|mode=7777\n", "largest mode");
	is_int(ents[0].mode, 07777, "07777");
	good("/a||0|mode=0\n", "mode 0");
	ok(ents[0].has_mode && ents[0].mode == 0, "mode 0 is given, not absent");
	bad("/a||0|mode=00644\n", "t:1: mode must be 1 to 4 octal digits", "five digits");
	bad("/a||0|mode=17777\n", "t:1: mode must be 1 to 4 octal digits", "above 07777");
	bad("/a||0|mode=0648\n", "t:1: mode is not octal", "digit 8");
	bad("/a||0|mode=99x\n", "t:1: mode is not octal", "SPEC's mode=99x");
	bad("/a||0|mode=\n", "t:1: mode is not octal", "empty mode");
	bad("/a||0|mode=-1\n", "t:1: mode is not octal", "negative mode");
	bad("/a||0|mode=0x1ff\n", "t:1: mode is not octal", "hex mode");
	bad("/a||0|mode=0644|mode=0644\n", "t:1: duplicate key 'mode'", "mode twice");
}

static void test_mtime(void)
{
	good("/a||0|mtime=1700000000\n", "mtime");
	ok(ents[0].has_mtime && ents[0].mtime == 1700000000, "seconds");
	good("/a||0|mtime=-1\n", "negative mtime");
	is_int(ents[0].mtime, -1, "before 1970");
	good("/a||0|mtime=0\n", "mtime 0");
	ok(ents[0].has_mtime && ents[0].mtime == 0, "the epoch is given, not absent");
	good("/a||0|mtime=-0\n", "-0");
	is_int(ents[0].mtime, 0, "-0 is 0");
	good("/a||0|mtime=9223372036854775807\n", "largest mtime");
	ok(ents[0].mtime == INT64_MAX, "INT64_MAX");
	good("/a||0|mtime=-9223372036854775808\n", "smallest mtime");
	ok(ents[0].mtime == INT64_MIN, "INT64_MIN");
	bad("/a||0|mtime=9223372036854775808\n", "t:1: mtime is out of range", "2^63");
	bad("/a||0|mtime=-9223372036854775809\n", "t:1: mtime is out of range", "-2^63-1");
	bad("/a||0|mtime=\n", "t:1: mtime is not a number", "empty mtime");
	bad("/a||0|mtime=-\n", "t:1: mtime is not a number", "lone minus");
	bad("/a||0|mtime=+5\n", "t:1: mtime is not a number", "plus sign");
	bad("/a||0|mtime=1.5\n", "t:1: mtime is not a number", "fraction");
	bad("/a||0|mtime=2024-01-01\n", "t:1: mtime is not a number", "a date");
	bad("/a||0|mtime=1|mtime=1\n", "t:1: duplicate key 'mtime'", "mtime twice");
}

static void test_link(void)
{
	char *p, line[FLIST_PATH_MAX + 64];

	good("/l||0|type=l|link=/usr/bin/python3\n", "absolute target");
	is_str(ents[0].link, "/usr/bin/python3", "absolute target kept");
	good("/l||0|link=../lib/x|type=l\n", "relative target, link before type");
	is_str(ents[0].link, "../lib/x", "relative target kept");
	good("/l||0|type=l|link=a//b/./c/\n", "targets are not normalised");
	is_str(ents[0].link, "a//b/./c/", "target as written");
	bad("/l||0|type=l\n", "t:1: symlink has no link= target", "link missing");
	bad("/l||0|type=l|link=\n", "t:1: link target is empty", "empty target");
	bad("/l||0|type=l|link=a|link=b\n", "t:1: duplicate key 'link'", "link twice");
	good("/f|" MD5 "|4|link=elsewhere\n", "link= on a file is ignored");
	ok(ents[0].link == NULL && ents[0].type == FLIST_FILE, "the file stays a file");
	good("/d||0|type=d|link=x\n", "link= on a directory is ignored");
	ok(ents[0].link == NULL, "no link on a directory");
	bad("/f||0|link=%zz\n", "t:1: bad percent-encoding in link", "a bad link= on a file is still bad");
	bad("/f||0|link=\n", "t:1: link target is empty", "an empty link= on a file is still bad");

	p = make_path(FLIST_PATH_MAX, 100);
	snprintf(line, sizeof line, "/l||0|type=l|link=%s\n", p);
	good(line, "target of 4095 bytes");
	is_int(ents[0].link_len, FLIST_PATH_MAX, "long target kept");
	free(p);
	p = make_path(FLIST_PATH_MAX + 1, 100);
	snprintf(line, sizeof line, "/l||0|type=l|link=%s\n", p);
	bad(line, "t:1: link target is longer than 4095 bytes", "target of 4096 bytes");
	free(p);
}

static void test_unknown_keys(void)
{
	good("/a||0|owner=root|x=1\n/b||0\n/c||0|owner=me|mode=0644\n", "unknown keys are ignored");
	is_int(nents, 3, "every entry delivered");
	is_int(st.unknown_keys, 3, "each unknown field counted");
	is_int(st.first_unknown_line, 1, "line of the first");
	is_str(st.first_unknown_key, "owner", "key of the first");
	ok(ents[2].has_mode && ents[2].mode == 0644, "known keys beside unknown ones still apply");

	good("/a||0\n\n/b||0|xattr=%zz|sha512=\n", "unknown values are not checked");
	is_int(st.first_unknown_line, 3, "first unknown on line 3");
	is_str(st.first_unknown_key, "xattr", "its key");
	is_int(st.unknown_keys, 2, "two unknown fields");
	good("/a||0|owner=a|owner=b\n", "an unknown key twice is no error");

	good("/a||0|abcdefghijklmnopqrstuvwxyz0123456789=1\n", "long unknown key");
	is_str(st.first_unknown_key, "abcdefghijklmnopqrstuvwxyz01234", "truncated to 31 bytes");
	good("/a||0|a\x1b]b=1\n", "unknown key with control bytes");
	is_str(st.first_unknown_key, "a?]b", "control bytes shown as '?'");
	good("/a||0|Type=q\n", "keys are case-sensitive");
	is_str(st.first_unknown_key, "Type", "'Type' is an unknown key");
	good("/a||0\n", "no unknown keys");
	ok(st.unknown_keys == 0 && st.first_unknown_line == 0 && st.first_unknown_key[0] == '\0',
	   "stats start from zero on every call");
}

static void test_lines(void)
{
	good("# a comment\n\n/a||0\n#/b|zz|x\n   \n\t\n/c||0\n", "comments and blank lines");
	is_int(nents, 2, "two entries");
	is_str(ents[0].path, "/a", "first");
	is_int(ents[0].line, 3, "lines count comments and blanks");
	is_int(ents[1].line, 7, "second entry's line");
	good("#\n#|||\n", "only comments");
	is_int(nents, 0, "no entries");
	bad(" #c||0\n", "t:1: path is not absolute", "'#' only counts as the first byte");

	good("/a||0\r\n/b|" MD5 "|5\r\n", "CRLF line ends");
	is_int(nents, 2, "two entries");
	is_str(ents[0].path, "/a", "no CR in the path");
	is_int(ents[1].size, 5, "no CR after the size");
	good("/a||0|mode=0644\r\n", "CRLF after a value");
	is_int(ents[0].mode, 0644, "no CR in the value");
	good("/a||0\r", "CR at the very end");
	is_int(nents, 1, "entry before the final CR");
	good("#c\r\n\r\n/a||0\r\n", "CRLF comments and blank lines");
	is_int(ents[0].line, 3, "line number with CRLF");
	good("/a\rb||0\n", "a CR inside a line is a path byte");
	is_str(ents[0].path, "/a\rb", "inner CR kept");
	bad("/a||5\r\r\n", "t:1: size is not a number", "only one CR is stripped");

	good("/a||0\n/b||0", "no newline at the end");
	is_int(nents, 2, "last line read");
	is_str(ents[1].path, "/b", "last entry");
	good("\n\n\n", "only newlines");
	is_int(st.entries, 0, "nothing");
	good("\xef\xbb\xbf/a||0\n", "UTF-8 byte order mark");
	is_str(ents[0].path, "/a", "BOM skipped");
	bad("/a||0\n\xef\xbb\xbf/b||0\n", "t:2: path is not absolute", "BOM only at the start");

	/* The first bad line is named, with its own line number and the flist's name. */
	bad("/a||0\n# c\n\n/b|zz|0\n/c|zz|0\n", "t:4: hash must be 32 or 64 hex digits",
	    "line number of a later line");
	bad("/a||0\r\n\r\n/b||x\r\n", "t:3: size is not a number", "line number with CRLF");
	bad("/a||0\n/b||0\n/c||0\n/d||0\n/e||0\n/f||0\n/g||0\n/h||0\n/i||0\n/j|||\n",
	    "t:10: size is empty", "two-digit line number");
	ok(flist_parse("jumpscale__base", "/a||0\n/a/../b||0\n", 17, NULL, NULL, NULL, err,
		       sizeof err) == -EINVAL, "rejected with another name");
	is_str(err, "jumpscale__base:2: path component is '..'", "the name is the flist's");
}

static int stop_ok(void *ctx, const struct flist_entry *e)
{
	return 0;
}

static void test_callback(void)
{
	char small[12];
	int rc;

	good("/c||0\n/a||0|type=d\n/b|" MD5 "|1\n", "three entries");
	is_int(nents, 3, "callback called once per entry");
	ok(strcmp(ents[0].path, "/c") == 0 && strcmp(ents[1].path, "/a") == 0 &&
	   strcmp(ents[2].path, "/b") == 0, "in the flist's order, not sorted");
	ok(ents[0].line == 1 && ents[1].line == 2 && ents[2].line == 3, "with their lines");

	stop_after = 2;
	stop_rc = -ENOSPC;
	rc = parse("/a||0\n/b||0\n/c||0\n/d||0\n");
	is_int(rc, -ENOSPC, "the callback's error is returned");
	is_int(nents, 2, "and stops the parse");
	ok(strncmp(err, "t:3: ", 5) == 0, "error names the line: %s", err);
	stop_rc = 7;
	rc = parse("/a||0\n/b||0\n/c||0\n");
	is_int(rc, -ECANCELED, "a positive return still stops, as an error");
	stop_after = -1;

	rc = parse("/a||0\n/b||x\n/c||0\n");
	is_int(rc, -EINVAL, "a bad line fails the building pass too");
	is_int(nents, 1, "entries before it were delivered (hence the validation pass)");

	rc = flist_parse("t", "/a||0\n", 6, NULL, NULL, NULL, NULL, 0);
	is_int(rc, 0, "stats and err are optional");
	rc = flist_parse("t", "/a||x\n", 6, stop_ok, NULL, NULL, NULL, 0);
	is_int(rc, -EINVAL, "errors without an err buffer");
	rc = flist_parse(NULL, "/a||x\n", 6, NULL, NULL, NULL, err, sizeof err);
	is_str(err, "flist:1: size is not a number", "no name reads 'flist'");
	rc = flist_parse("t", "/a||x\n", 6, NULL, NULL, NULL, small, sizeof small);
	is_str(small, "t:1: size i", "a short err buffer is truncated, NUL-terminated");
	rc = flist_parse("t", "/a||0\n/b||0\n", 12, NULL, NULL, &st, NULL, 0);
	is_int(st.entries, 2, "validation alone counts entries");
}

static void test_prefix(void)
{
	const char *rest = NULL;
	size_t rl = 99;

	ok(flist_under_prefix("/", 1, "/opt/a", 6, &rest, &rl), "'/' holds everything");
	ok(rest && rl == 6 && memcmp(rest, "/opt/a", 6) == 0, "rest is the whole path");
	ok(flist_under_prefix("/", 1, "/", 1, &rest, &rl) && rl == 0, "'/' holds itself, rest empty");
	ok(flist_under_prefix("", 0, "/x", 2, &rest, &rl) && rl == 2, "an empty prefix is '/'");
	ok(flist_under_prefix("/opt", 4, "/opt/a/b", 8, &rest, &rl), "/opt holds /opt/a/b");
	ok(rl == 4 && memcmp(rest, "/a/b", 4) == 0, "rest starts with '/'");
	ok(flist_under_prefix("/opt", 4, "/opt", 4, &rest, &rl) && rl == 0,
	   "the prefix itself, rest empty");
	ok(!flist_under_prefix("/opt", 4, "/optx", 5, &rest, &rl), "/opt does not hold /optx");
	ok(!flist_under_prefix("/opt", 4, "/optx/a", 7, &rest, &rl), "nor /optx/a");
	ok(!flist_under_prefix("/opt", 4, "/op", 3, &rest, &rl), "nor a shorter path");
	ok(!flist_under_prefix("/opt", 4, "/", 1, &rest, &rl), "nor the root");
	ok(!flist_under_prefix("/opt/a", 6, "/opt", 4, &rest, &rl), "nor the prefix's parent");
	ok(!flist_under_prefix("/opt", 4, "/usr/opt", 8, &rest, &rl), "matched from the start");
	ok(flist_under_prefix("/opt/", 5, "/opt/a", 6, &rest, &rl), "trailing '/' of a prefix ignored");
	ok(rl == 2 && memcmp(rest, "/a", 2) == 0, "rest with a trailing-'/' prefix");
	ok(!flist_under_prefix("/opt/", 5, "/optx", 5, &rest, &rl), "and still whole components");
	ok(flist_under_prefix("/opt/app", 8, "/opt/app/x", 10, &rest, &rl) && rl == 2,
	   "deeper prefix");
}

static void test_encode(void)
{
	const char raw[] = "/we|ird%name\nwith\rcr and \xff bytes";
	char enc[256], line[600];
	size_t n;

	n = flist_encode(raw, sizeof raw - 1, enc, sizeof enc);
	is_str(enc, "/we%7Cird%25name%0Awith%0Dcr and \xff bytes", "encoded");
	is_int(n, strlen(enc), "returns the length");
	snprintf(line, sizeof line, "%s|" MD5 "|1|type=l|link=%s\n", enc, enc);
	good(line, "the encoding parses");
	ok(ents[0].path_len == sizeof raw - 1 && memcmp(ents[0].path, raw, sizeof raw - 1) == 0,
	   "path round trip");
	ok(ents[0].link_len == sizeof raw - 1 && memcmp(ents[0].link, raw, sizeof raw - 1) == 0,
	   "link round trip");

	/* Every byte but NUL (which a flist cannot hold) survives the round trip. */
	{
		char all[256], big[1024], buf[1100];

		all[0] = '/';
		for (int i = 1; i < 255; i++)
			all[i] = (char)(i == '/' ? 'x' : i);
		n = flist_encode(all, 255, big, sizeof big);
		snprintf(buf, sizeof buf, "%s||0\n", big);
		good(buf, "every byte value encodes");
		ok(ents[0].path_len == 255 && memcmp(ents[0].path, all, 255) == 0, "and decodes back");
	}

	is_int(flist_encode("a|b", 3, NULL, 0), 5, "size query with no buffer");
	n = flist_encode("ab|cd", 5, enc, 4);
	is_int(n, 7, "the full length is returned on truncation");
	is_str(enc, "ab", "no escape cut in half");
	n = flist_encode("abc", 3, enc, 3);
	is_str(enc, "ab", "truncated like snprintf");
	n = flist_encode("", 0, enc, sizeof enc);
	ok(n == 0 && enc[0] == '\0', "empty input");
}

static void test_hash_hex(void)
{
	const uint8_t h[4] = { 0x00, 0x0f, 0xa0, 0xff };
	char out[9];

	flist_hash_hex(h, 4, out);
	is_str(out, "000fa0ff", "lower-case hex, zero-padded");
	flist_hash_hex(h, 0, out);
	is_str(out, "", "empty hash");
}

int main(void)
{
	test_basic();
	test_hash();
	test_size();
	test_fields();
	test_path();
	test_percent();
	test_type();
	test_order();
	test_mode();
	test_mtime();
	test_link();
	test_unknown_keys();
	test_lines();
	test_callback();
	test_prefix();
	test_encode();
	test_hash_hex();
	return done_testing();
}
