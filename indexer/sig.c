/* sig.c — ID.flist.sig: parsing, writing, and Ed25519 through OpenSSL's EVP interface (sig.h). */
#include "indexer/sig.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_B64_LEN     88      /* base64 of 64 bytes, with its "==" */

static int fail(char *why, size_t whylen, unsigned line, const char *what)
{
	if (why && whylen)
		snprintf(why, whylen, "line %u: %s", line, what);
	return -EINVAL;
}

/* The next line of buf (from *pos) if it starts with `key ` and ends in '\n': its value. */
static const char *take(const char *buf, size_t len, size_t *pos, const char *key, size_t *vlen)
{
	size_t klen = strlen(key), start = *pos;
	const char *nl;

	if (len - start < klen + 2 || memcmp(buf + start, key, klen) || buf[start + klen] != ' ')
		return NULL;
	nl = memchr(buf + start + klen + 1, '\n', len - start - klen - 1);
	if (!nl)
		return NULL;
	*vlen = (size_t)(nl - (buf + start + klen + 1));
	*pos = (size_t)(nl - buf) + 1;
	return buf + start + klen + 1;
}

/* A decimal below 2^63, no sign, no leading zero. */
static bool decimal(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > 19 || (n > 1 && v[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x > (uint64_t)INT64_MAX)
		return false;
	*out = x;
	return true;
}

/* 2 * n lowercase hex digits into n bytes. */
static bool hex(const char *v, size_t vlen, uint8_t *out, size_t n)
{
	if (vlen != 2 * n)
		return false;
	for (size_t i = 0; i < 2 * n; i++) {
		int c = v[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (d < 0)
			return false;
		if (out)
			out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | d : d << 4);
	}
	return true;
}

static bool id_ok(const char *v, size_t n)
{
	if (n == 0 || n > SIG_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
			return false;
	return true;
}

int sig_parse(const char *buf, size_t len, struct sig *s, char *why, size_t whylen)
{
	static const char magic[] = "aysfs-signature 1\n";
	uint8_t raw[SIG_B64_LEN / 4 * 3];
	uint64_t u;
	size_t pos = sizeof magic - 1, n;
	const char *v;

	memset(s, 0, sizeof *s);
	if (len > SIG_FILE_MAX)
		return fail(why, whylen, 0, "larger than a signature file");
	if (len < pos || memcmp(buf, magic, pos))
		return fail(why, whylen, 1, "not \"aysfs-signature 1\"");
	if (!(v = take(buf, len, &pos, "id", &n)) || !id_ok(v, n))
		return fail(why, whylen, 2, "expected \"id ID\"");
	memcpy(s->id, v, n);
	if (!(v = take(buf, len, &pos, "revision", &n)) || !decimal(v, n, &s->revision))
		return fail(why, whylen, 3, "expected \"revision N\"");
	if (!(v = take(buf, len, &pos, "expires", &n)) || !decimal(v, n, &u))
		return fail(why, whylen, 4, "expected \"expires UNIX_SECONDS\"");
	s->expires = (int64_t)u;
	if (!(v = take(buf, len, &pos, "sha256", &n)) || !hex(v, n, s->sha256, 32))
		return fail(why, whylen, 5, "expected \"sha256\" and 64 lowercase hex digits");
	if (!(v = take(buf, len, &pos, "key", &n)) || !hex(v, n, NULL, 32))
		return fail(why, whylen, 6, "expected \"key\" and 64 lowercase hex digits");
	memcpy(s->key, v, n);
	s->signed_len = pos;
	if (!(v = take(buf, len, &pos, "sig", &n)) || n != SIG_B64_LEN || v[n - 1] != '=' ||
	    v[n - 2] != '=')
		return fail(why, whylen, 7, "expected \"sig\" and 88 characters of base64");
	for (size_t i = 0; i < n - 2; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", v[i]))
			return fail(why, whylen, 7, "the signature is not base64");
	if (EVP_DecodeBlock(raw, (const unsigned char *)v, (int)n) != (int)sizeof raw ||
	    raw[64] || raw[65])
		return fail(why, whylen, 7, "the signature is not 64 bytes of base64");
	/* One spelling per signature: the last character before "==" carries 2 bits of padding. */
	if (strchr("AQgw", v[n - 3]) == NULL)
		return fail(why, whylen, 7, "the signature's base64 is not canonical");
	memcpy(s->sig, raw, 64);
	if (pos != len)
		return fail(why, whylen, 8, "text after the signature");
	return 0;
}

size_t sig_body(char *out, size_t size, const char *id, uint64_t revision, int64_t expires,
		const uint8_t sha256[32], const char *key_fp)
{
	char h[65];
	int n;

	if (!id_ok(id, strlen(id)) || revision > (uint64_t)INT64_MAX || expires < 0 ||
	    !hex(key_fp, strlen(key_fp), NULL, 32))
		return 0;
	for (int i = 0; i < 32; i++)
		snprintf(h + 2 * i, 3, "%02x", sha256[i]);
	n = snprintf(out, size, "aysfs-signature 1\nid %s\nrevision %" PRIu64 "\nexpires %" PRId64
		     "\nsha256 %s\nkey %s\n", id, revision, expires, h, key_fp);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* ---- keys ------------------------------------------------------------------------------------- */

/* SHA-256 of the DER of k's public key, in hex. */
static int fingerprint(EVP_PKEY *k, char fp[SIG_FP_HEX + 1])
{
	unsigned char *der = NULL, d[32];
	unsigned int dl = 0;
	int n = i2d_PUBKEY(k, &der);
	int ok = n > 0 && EVP_Digest(der, (size_t)n, d, &dl, EVP_sha256(), NULL) && dl == 32;

	OPENSSL_free(der);
	if (!ok)
		return -ENOMEM;
	for (int i = 0; i < 32; i++)
		snprintf(fp + 2 * i, 3, "%02x", d[i]);
	return 0;
}

int sig_key_read(const char *buf, size_t len, bool private_key, struct sig_key *k)
{
	BIO *b = len <= INT32_MAX ? BIO_new_mem_buf(buf, (int)len) : NULL;
	EVP_PKEY *p;

	memset(k, 0, sizeof *k);
	if (!b)
		return -ENOMEM;
	p = private_key ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) :
			  PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!p || EVP_PKEY_get_id(p) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(p);
		return -EINVAL;
	}
	if (fingerprint(p, k->fp)) {
		EVP_PKEY_free(p);
		return -ENOMEM;
	}
	k->pkey = p;
	return 0;
}

void sig_key_free(struct sig_key *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
}

bool sig_verify(const struct sig_key *k, const struct sig *s, const char *buf)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = c && strcmp(k->fp, s->key) == 0 &&
		  EVP_DigestVerifyInit(c, NULL, NULL, NULL, k->pkey) == 1 &&
		  EVP_DigestVerify(c, s->sig, sizeof s->sig, (const unsigned char *)buf,
				   s->signed_len) == 1;

	EVP_MD_CTX_free(c);
	return ok;
}

/* A PEM text of p, malloc'd. */
static char *pem(EVP_PKEY *p, bool private_key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b && (private_key ? PEM_write_bio_PrivateKey(b, p, NULL, NULL, 0, NULL, NULL) :
				PEM_write_bio_PUBKEY(b, p)) &&
	    (n = BIO_get_mem_data(b, &data)) > 0 && (out = malloc((size_t)n + 1))) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

int sig_keygen(char **priv_pem, char **pub_pem, char fp[SIG_FP_HEX + 1])
{
	EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	int rc = p ? fingerprint(p, fp) : -ENOMEM;

	*priv_pem = *pub_pem = NULL;
	if (!rc && (!(*priv_pem = pem(p, true)) || !(*pub_pem = pem(p, false)))) {
		free(*priv_pem);
		free(*pub_pem);
		*priv_pem = *pub_pem = NULL;
		rc = -ENOMEM;
	}
	EVP_PKEY_free(p);
	return rc;
}

size_t sig_sign(const struct sig_key *k, const char *body, size_t body_len, char *out,
		size_t size)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char raw[64];
	size_t rl = sizeof raw;
	bool ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, k->pkey) == 1 &&
		  EVP_DigestSign(c, raw, &rl, (const unsigned char *)body, body_len) == 1 &&
		  rl == sizeof raw && body_len + 4 + SIG_B64_LEN + 2 <= size;

	EVP_MD_CTX_free(c);
	if (!ok)
		return 0;
	memcpy(out, body, body_len);
	memcpy(out + body_len, "sig ", 4);
	if (EVP_EncodeBlock((unsigned char *)out + body_len + 4, raw, sizeof raw) != SIG_B64_LEN)
		return 0;
	out[body_len + 4 + SIG_B64_LEN] = '\n';
	out[body_len + 5 + SIG_B64_LEN] = '\0';
	return body_len + 5 + SIG_B64_LEN;
}
