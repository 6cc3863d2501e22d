/* s3.c — s3:// layers (SPEC §9): which endpoint, region and keys a URL goes to, its HTTP URL,
 * and what an S3 error answer says.
 *
 * The supervisor sends the settings as MSG_S3 (proto.h) at start-up and at each reload, with
 * each credentials file's bytes: they are parsed here, in memory (this process opens no path).
 * Keys are kept in this file only, handed to libcurl for its AWS Signature Version 4
 * (CURLOPT_AWS_SIGV4, http.c), never logged, and wiped when replaced. A message about a
 * credentials file names the file and the line, never what is on it.
 *
 * URLs: s3://BUCKET/PATH/REST goes to ENDPOINT/BUCKET/PATH/REST (path-style) for any endpoint
 * but AWS's own, and to https://BUCKET.s3.amazonaws.com/PATH/REST there (a bucket with a dot in
 * its name stays path-style: it would not match the certificate's wildcard).
 */
#include "fetcher/fetcher.h"

#include "ipc/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3_DEFAULT_ENDPOINT "https://s3.amazonaws.com"
#define S3_DEFAULT_REGION   "us-east-1"

static struct s3_layer layers[S3_MAX_LAYERS];
static uint32_t nlayers;

/* ---- credentials files ------------------------------------------------------------------------ */

/* "key = value" (spaces around '=' and at the ends of the line optional, # comments, blank
 * lines). Values may be quoted ("…" or '…'). Returns 0, or -EINVAL with why naming the line. */
int s3_creds_parse(const char *buf, size_t len, char *access, char *secret, char *why,
		   size_t whylen)
{
	unsigned line = 0;
	size_t i = 0;

	access[0] = secret[0] = '\0';
	while (i < len) {
		size_t start = i, end, k0, k1, v0, v1;
		char *dst;

		while (i < len && buf[i] != '\n')
			i++;
		end = i++;
		line++;
		if (end > start && buf[end - 1] == '\r')
			end--;
		for (k0 = start; k0 < end && (buf[k0] == ' ' || buf[k0] == '\t'); k0++)
			;
		if (k0 == end || buf[k0] == '#')
			continue;
		for (k1 = k0; k1 < end && (isalnum((unsigned char)buf[k1]) || buf[k1] == '_'); k1++)
			;
		for (v0 = k1; v0 < end && (buf[v0] == ' ' || buf[v0] == '\t'); v0++)
			;
		if (v0 == end || buf[v0] != '=') {
			snprintf(why, whylen, "line %u is not \"key = value\"", line);
			return -EINVAL;
		}
		for (v0++; v0 < end && (buf[v0] == ' ' || buf[v0] == '\t'); v0++)
			;
		for (v1 = end; v1 > v0 && (buf[v1 - 1] == ' ' || buf[v1 - 1] == '\t'); v1--)
			;
		if (v1 - v0 >= 2 && (buf[v0] == '"' || buf[v0] == '\'') && buf[v1 - 1] == buf[v0]) {
			v0++;
			v1--;
		}
		if (k1 - k0 == 10 && !memcmp(buf + k0, "access_key", 10))
			dst = access;
		else if (k1 - k0 == 10 && !memcmp(buf + k0, "secret_key", 10))
			dst = secret;
		else
			continue;       /* other keys (aws_session_token, …) are not used */
		if (v1 == v0 || v1 - v0 > S3_KEY_MAX) {
			snprintf(why, whylen, "line %u: the value is empty or longer than %d bytes",
				 line, S3_KEY_MAX);
			return -EINVAL;
		}
		for (size_t j = v0; j < v1; j++)
			if ((unsigned char)buf[j] <= ' ' || buf[j] == 0x7f) {
				snprintf(why, whylen, "line %u: a space or control character in the "
					 "value", line);
				return -EINVAL;
			}
		memcpy(dst, buf + v0, v1 - v0);
		dst[v1 - v0] = '\0';
	}
	if (!access[0] != !secret[0]) {
		snprintf(why, whylen, "has %s but no %s", access[0] ? "access_key" : "secret_key",
			 access[0] ? "secret_key" : "access_key");
		return -EINVAL;
	}
	if (!access[0]) {
		snprintf(why, whylen, "has neither access_key nor secret_key");
		return -EINVAL;
	}
	return 0;
}

/* ---- settings (MSG_S3) ------------------------------------------------------------------------ */

static void layers_clear(void)
{
	explicit_bzero(layers, sizeof layers);
	nlayers = 0;
}

static bool rd_into(struct ipc_rd *r, char *dst, size_t max)
{
	size_t n;
	const char *s = ipc_rd_str(r, max, &n);

	if (!s || memchr(s, '\0', n))
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

int s3_load(const void *buf, size_t len)
{
	struct s3_layer next[S3_MAX_LAYERS];
	char keyfile[S3_KEYFILE_MAX + 1];
	struct ipc_rd r;
	uint32_t n;
	int rc = -EPROTO;

	memset(next, 0, sizeof next);
	ipc_rd_init(&r, buf, len);
	n = ipc_rd_u32(&r);
	if (r.bad || n > S3_MAX_LAYERS)
		goto out;
	/* The layers as aysfs-config wrote them, then each one's credentials as root read them. */
	for (uint32_t i = 0; i < n; i++) {
		struct s3_layer *l = &next[i];

		if (!rd_into(&r, l->url, S3_URL_MAX) || !rd_into(&r, l->endpoint, S3_ENDPOINT_MAX) ||
		    !rd_into(&r, l->region, S3_REGION_MAX) || !rd_into(&r, l->keyfile, S3_URL_MAX) ||
		    strncmp(l->url, "s3://", 5))
			goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct s3_layer *l = &next[i];
		char why[128];
		size_t kl;
		const char *k;

		if (!(k = ipc_rd_str(&r, S3_KEYFILE_MAX, &kl)))
			goto out;
		memcpy(keyfile, k, kl);
		if (!l->endpoint[0])
			snprintf(l->endpoint, sizeof l->endpoint, "%s", S3_DEFAULT_ENDPOINT);
		if (!l->region[0])
			snprintf(l->region, sizeof l->region, "%s", S3_DEFAULT_REGION);
		l->url_len = strlen(l->url);
		while (l->url_len > 5 && l->url[l->url_len - 1] == '/')
			l->url[--l->url_len] = '\0';
		/* A file that does not parse leaves the layer without keys: its requests go out
		 * anonymous, and the store's refusals say so. */
		if (l->keyfile[0] && s3_creds_parse(keyfile, kl, l->access, l->secret, why, sizeof why))
			log_err("%s: credentials %s %s; requests go out unsigned", l->url, l->keyfile,
				why);
		explicit_bzero(keyfile, sizeof keyfile);
	}
	if (!ipc_rd_done(&r))
		goto out;
	layers_clear();
	memcpy(layers, next, sizeof next);
	nlayers = n;
	for (uint32_t i = 0; i < n; i++)
		log_info("%s: endpoint %s, region %s, %s", layers[i].url, layers[i].endpoint,
			 layers[i].region, layers[i].access[0] ? "signed requests" : "anonymous");
	rc = 0;
out:
	explicit_bzero(next, sizeof next);
	explicit_bzero(keyfile, sizeof keyfile);
	return rc;
}

void s3_free(void)
{
	layers_clear();
}

/* ---- URLs ------------------------------------------------------------------------------------- */

const struct s3_layer *s3_find(const char *url)
{
	const struct s3_layer *best = NULL;

	for (uint32_t i = 0; i < nlayers; i++) {
		const struct s3_layer *l = &layers[i];

		if (!strncmp(url, l->url, l->url_len) && (url[l->url_len] == '/' || !url[l->url_len]) &&
		    (!best || l->url_len > best->url_len))
			best = l;
	}
	return best;
}

int s3_http_url(const struct s3_layer *l, const char *url, char *out, size_t size)
{
	const char *bucket = url + 5, *rest = strchr(bucket, '/');
	size_t blen = rest ? (size_t)(rest - bucket) : strlen(bucket), el = strlen(l->endpoint);
	int n;

	if (!rest)
		rest = "";
	while (el > 0 && l->endpoint[el - 1] == '/')
		el--;
	if (!strcmp(l->endpoint, S3_DEFAULT_ENDPOINT) && !memchr(bucket, '.', blen))
		n = snprintf(out, size, "https://%.*s.s3.amazonaws.com%s", (int)blen, bucket, rest);
	else
		n = snprintf(out, size, "%.*s/%.*s%s", (int)el, l->endpoint, (int)blen, bucket, rest);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* ---- error answers ---------------------------------------------------------------------------- */

bool s3_error_code(const char *body, size_t len, char *code, size_t size)
{
	static const char open_tag[] = "<Code>", close_tag[] = "</Code>";
	const char *p = memmem(body, len, open_tag, sizeof open_tag - 1), *e;
	size_t n;

	if (!p || size < 2)
		return false;
	p += sizeof open_tag - 1;
	e = memmem(p, len - (size_t)(p - body), close_tag, sizeof close_tag - 1);
	if (!e)
		return false;
	n = (size_t)(e - p);
	if (n == 0 || n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '.' && p[i] != '_' && p[i] != '-')
			return false;       /* a code is a word: anything else is not repeated */
	memcpy(code, p, n);
	code[n] = '\0';
	return true;
}
