/* sig.h — the signature file of a flist, ID.flist.sig (SPEC section 8), and the Ed25519 keys that
 * make and check it. Shared by the indexer (which parses and checks, having no network) and
 * aysfs-pack (which writes). Every cryptographic step is OpenSSL's (EVP, Ed25519).
 *
 * The file is seven lines, in this order, each ending in '\n', nothing before or after:
 *
 *   aysfs-signature 1
 *   id ID                  1 … SIG_ID_MAX bytes, printable ASCII without spaces
 *   revision N             decimal, below 2^63, no leading zero
 *   expires UNIX_SECONDS   decimal, below 2^63, no leading zero
 *   sha256 HEX             64 lowercase hex digits: the flist file's exact bytes
 *   key FINGERPRINT        64 lowercase hex digits: SHA-256 of the public key's DER (i2d_PUBKEY)
 *   sig BASE64             88 characters: Ed25519 over every byte of the file before this line
 *
 * Where SPEC is silent: the parser is strict (no blank lines, comments, '\r', other spacing,
 * unknown lines or a version other than 1): one spelling per content, so that what a node
 * accepted is exactly what was signed. */
#ifndef AYSFS_SIG_H
#define AYSFS_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIG_FILE_MAX    1024    /* a larger .sig is not one */
#define SIG_ID_MAX      255
#define SIG_FP_HEX      64      /* a fingerprint in hex */

struct sig {
	char id[SIG_ID_MAX + 1];
	uint64_t revision;
	int64_t expires;
	uint8_t sha256[32];
	char key[SIG_FP_HEX + 1];       /* fingerprint, lowercase hex */
	uint8_t sig[64];
	size_t signed_len;              /* bytes of the file the signature covers */
};

/* Parse a .sig's bytes. Returns 0, or -EINVAL with the reason in why ("line 3: ..."). */
int sig_parse(const char *buf, size_t len, struct sig *s, char *why, size_t whylen);

/* The first six lines for these values into out (room: size); returns their length, or 0 when
 * the id is not one a .sig can carry or out is too small. */
size_t sig_body(char *out, size_t size, const char *id, uint64_t revision, int64_t expires,
		const uint8_t sha256[32], const char *key_fp);

/* An Ed25519 key (EVP_PKEY *), public or private. */
struct sig_key {
	void *pkey;
	char fp[SIG_FP_HEX + 1];
};

/* Read a PEM key from buf: a public key (private false; "-----BEGIN PUBLIC KEY-----") or a
 * private one. Returns 0, -EINVAL (not PEM, not Ed25519) or -ENOMEM; fp is filled either way the
 * key was read (a private key's fingerprint is its public half's). */
int sig_key_read(const char *buf, size_t len, bool private_key, struct sig_key *k);
void sig_key_free(struct sig_key *k);

/* Check s's signature over buf[0 .. s->signed_len) with k (whose fp must be s->key). */
bool sig_verify(const struct sig_key *k, const struct sig *s, const char *buf);

/* A fresh key pair: the PEM texts (malloc'd) and the fingerprint. Returns 0 or -ENOMEM. */
int sig_keygen(char **priv_pem, char **pub_pem, char fp[SIG_FP_HEX + 1]);

/* body (sig_body's) signed with the private key k, as the whole file into out: body, then
 * "sig BASE64\n". Returns the file's length, or 0 on failure. */
size_t sig_sign(const struct sig_key *k, const char *body, size_t body_len, char *out,
		size_t size);

#endif
