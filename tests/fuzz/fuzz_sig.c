/* fuzz_sig.c — the .sig parser (indexer/sig.c) on arbitrary bytes. Beyond "no crash": a file
 * that parses is exactly what sig_body and sig_sign would write for its fields (one spelling per
 * signature, so what a node accepts is what was signed), its signed part ends before the "sig"
 * line, and checking it against a key of another fingerprint fails. The fields re-signed with a
 * key made at the first input verify, and stop verifying when the signed part changes. */
#include "indexer/sig.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#define check(cond) do { if (!(cond)) abort(); } while (0)

static struct sig_key key;

static void key_make(void)
{
	char *priv, *pub, fp[SIG_FP_HEX + 1];

	check(sig_keygen(&priv, &pub, fp) == 0);
	check(sig_key_read(priv, strlen(priv), true, &key) == 0 && strcmp(key.fp, fp) == 0);
	free(priv);
	free(pub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char body[SIG_FILE_MAX], file[SIG_FILE_MAX + 1], why[256];
	struct sig s, again;
	size_t blen, flen;

	if (!key.pkey)
		key_make();
	if (sig_parse((const char *)data, size, &s, why, sizeof why)) {
		check(why[0] == 'l');   /* "line N: …" */
		return 0;
	}
	check(s.signed_len < size && size <= SIG_FILE_MAX);
	blen = sig_body(body, sizeof body, s.id, s.revision, s.expires, s.sha256, s.key);
	check(blen == s.signed_len && memcmp(body, data, blen) == 0);
	/* the key of the fuzzer is not the one named (unless the input names it: then it fails
	 * on the signature, which the fuzzer cannot make) */
	check(!sig_verify(&key, &s, (const char *)data) || strcmp(s.key, key.fp) == 0);
	/* the same fields signed by our key: parses back to them, and verifies */
	blen = sig_body(body, sizeof body, s.id, s.revision, s.expires, s.sha256, key.fp);
	check(blen > 0);
	flen = sig_sign(&key, body, blen, file, sizeof file);
	check(flen > blen);
	check(sig_parse(file, flen, &again, why, sizeof why) == 0);
	check(again.revision == s.revision && again.expires == s.expires && !strcmp(again.id, s.id));
	check(sig_verify(&key, &again, file));
	file[blen - 2] ^= 1;    /* a hex digit of the key line: still parses or not, never verifies */
	check(sig_parse(file, flen, &again, why, sizeof why) || !sig_verify(&key, &again, file));
	return 0;
}
