/* test_s3.c — the fetcher's s3:// parts (fetcher/s3.c): credentials files, MSG_S3, which layer a
 * URL is under and its HTTP URL (path-style, AWS's virtual-hosted), S3 error codes. */
#include "fetcher/fetcher.h"
#include "ipc/ipc.h"
#include "ipc/log.h"
#include "tests/tap.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static char access[S3_KEY_MAX + 1], secret[S3_KEY_MAX + 1], why[128];

static int creds(const char *text)
{
	return s3_creds_parse(text, strlen(text), access, secret, why, sizeof why);
}

/* A layer as aysfs-config writes it; its credentials' bytes come after every layer (root's). */
static void layer(struct ipc_wr *w, const char *url, const char *endpoint, const char *region,
		  const char *file)
{
	ipc_wr_cstr(w, url);
	ipc_wr_cstr(w, endpoint);
	ipc_wr_cstr(w, region);
	ipc_wr_cstr(w, file);
}

int main(void)
{
	static uint8_t buf[8192];
	char url[PATH_MAX + S3_ENDPOINT_MAX], code[S3_CODE_MAX + 1];
	const struct s3_layer *l;
	struct ipc_wr w;

	log_init("test", LOG_CRIT);
	is_int(creds("access_key = AK\nsecret_key = SK\n"), 0, "plain keys");
	is_str(access, "AK", "access key");
	is_str(secret, "SK", "secret key");
	is_int(creds("# c\r\n\taccess_key=\"A/K\"\r\nsecret_key = 'S+K'  \r\nregion = x\n"), 0,
	       "quotes, CRLF, comments, other keys");
	is_str(access, "A/K", "quoted access key");
	is_str(secret, "S+K", "quoted secret key");
	is_int(creds("access_key = AK\n"), -EINVAL, "no secret_key");
	is_int(creds("access_key AK\nsecret_key = SK\n"), -EINVAL, "a line without '='");
	ok(strstr(why, "line 1") != NULL, "the message names the line: %s", why);
	is_int(creds("access_key = AK\nsecret_key = S K\n"), -EINVAL, "a space in a value");
	ok(strstr(why, "S K") == NULL && strstr(why, "AK") == NULL, "the message holds no value");
	is_int(creds(""), -EINVAL, "an empty file");

	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u32(&w, 3);
	layer(&w, "s3://bucket/store/", "http://127.0.0.1:9000/", "eu-west-1", "/k");
	layer(&w, "s3://bucket", "", "", "");
	layer(&w, "s3://my.bucket", "", "", "");
	ipc_wr_cstr(&w, "access_key = AK\nsecret_key = SK\n");
	ipc_wr_cstr(&w, "");
	ipc_wr_cstr(&w, "");
	is_int(s3_load(buf, w.len), 0, "MSG_S3 taken");
	l = s3_find("s3://bucket/store/dedupe/a/b/ab");
	ok(l && !strcmp(l->url, "s3://bucket/store"), "the longest layer URL wins");
	ok(l && !strcmp(l->access, "AK") && !strcmp(l->region, "eu-west-1"), "its keys and region");
	is_int(s3_http_url(l, "s3://bucket/store/dedupe/a/b/ab", url, sizeof url), 0, "mapped");
	is_str(url, "http://127.0.0.1:9000/bucket/store/dedupe/a/b/ab", "path-style for an endpoint");
	l = s3_find("s3://bucket/other");
	ok(l && !strcmp(l->url, "s3://bucket") && !l->access[0] && !strcmp(l->region, "us-east-1"),
	   "the bucket's own layer: anonymous, us-east-1");
	s3_http_url(l, "s3://bucket/other", url, sizeof url);
	is_str(url, "https://bucket.s3.amazonaws.com/other", "AWS: virtual-hosted");
	l = s3_find("s3://my.bucket/x");
	s3_http_url(l, "s3://my.bucket/x", url, sizeof url);
	is_str(url, "https://s3.amazonaws.com/my.bucket/x", "AWS, a dot in the bucket: path-style");
	ok(s3_find("s3://bucketx/a") == NULL, "a prefix is not a layer");
	is_int(s3_load(buf, w.len - 1), -EPROTO, "a short MSG_S3 is refused");
	ok(s3_find("s3://bucket/store/a") != NULL, "and the settings held stay");

	ok(s3_error_code("<Error><Code>NoSuchKey</Code></Error>", 37, code, sizeof code) &&
	   !strcmp(code, "NoSuchKey"), "an error code");
	ok(!s3_error_code("<Error><Code>No <b>Such</Code>", 30, code, sizeof code), "not a word");
	ok(!s3_error_code("<Code>", 6, code, sizeof code), "not closed");
	s3_free();
	ok(s3_find("s3://bucket/store/a") == NULL, "freed");
	return done_testing();
}
