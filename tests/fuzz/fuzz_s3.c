/* fuzz_s3.c — the fetcher's s3:// parsers (fetcher/s3.c) on arbitrary bytes: the input is read
 * as a credentials file, as an S3 error answer, and as a MSG_S3 payload. Keys found are
 * non-empty, bounded and free of spaces; a <Code> found is one bounded word; a MSG_S3 that is
 * taken holds layers whose URLs are s3:// and that map to an HTTP URL or say it is too long. Any
 * violation aborts. */
#include "tests/fuzz/fuzz.h"
#include "fetcher/fetcher.h"
#include "ipc/log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void check(bool cond)
{
	if (!cond)
		abort();
}

static void check_key(const char *k)
{
	size_t n = strlen(k);

	check(n > 0 && n <= S3_KEY_MAX);
	for (size_t i = 0; i < n; i++)
		check((unsigned char)k[i] > ' ' && k[i] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char access[S3_KEY_MAX + 1], secret[S3_KEY_MAX + 1], why[128], code[S3_CODE_MAX + 1];
	char url[PATH_MAX + S3_ENDPOINT_MAX];
	const struct s3_layer *l;

	log_init("fuzz", LOG_CRIT);
	if (s3_creds_parse((const char *)data, size, access, secret, why, sizeof why) == 0) {
		check_key(access);
		check_key(secret);
	} else {
		check(why[0] != '\0');
	}
	if (s3_error_code((const char *)data, size, code, sizeof code)) {
		size_t n = strlen(code);

		check(n > 0 && n < sizeof code);
		for (size_t i = 0; i < n; i++)
			check(isalnum((unsigned char)code[i]) || strchr("._-", code[i]));
	}
	if (s3_load(data, size) == 0 && (l = s3_find("s3://bucket/path/dedupe/0/0/00")) != NULL) {
		check(strncmp(l->url, "s3://", 5) == 0);
		int rc = s3_http_url(l, "s3://bucket/path/dedupe/0/0/00", url, sizeof url);

		check(rc == 0 || rc == -ENAMETOOLONG);
		check(rc || strncmp(url, "https://", 8) == 0 || strstr(url, "/bucket/") != NULL);
	}
	s3_free();
	return 0;
}
