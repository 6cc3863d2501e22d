/* fuzz_debug.c — debug mode's decoders: the fuser's side of its channel to aysfs-debug (replies,
 * stored entries; ipc/proto_debug.c), aysfs-debug's side (requests), its configuration from the
 * supervisor, and the journal lines it reads back from Redis (debug/wire.c). The first byte picks
 * the decoder. Whatever is accepted stays inside the buffer and within the bounds the callers
 * rely on; a request or a journal line written back decodes to the same thing. */
#include "debug/debug.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#define check(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[DBG_PATH_MAX + 1], line[JOURNAL_LINE_MAX];
	static uint8_t again[4 + 8 + 4 + DBG_PATH_MAX + 16];
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0;
	struct dbg_req q, q2;
	struct dbg_reply r;
	struct dbg_entry e;
	struct debug_conf c;
	struct ipc_wr w;
	int64_t epoch;
	char md5[33];

	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
		if (dbg_req_decode(p, n, &q) == 0) {
			check(q.path_len >= 1 && q.path_len <= DBG_PATH_MAX && q.path[0] == '/');
			check(q.path >= (const char *)p && q.path + q.path_len <= (const char *)p + n);
			check(!memchr(q.path, '\0', q.path_len));
			memcpy(path, q.path, q.path_len);
			path[q.path_len] = '\0';
			ipc_wr_init(&w, again, sizeof again);
			dbg_req_encode(&w, q.flags, q.mtime, path);
			check(!w.bad && w.len == n && dbg_req_decode(again, w.len, &q2) == 0);
			check(q2.flags == q.flags && q2.mtime == q.mtime && q2.path_len == q.path_len);
		}
		break;
	case 1:
		if (dbg_reply_decode(p, n, &r) == 0)
			check(n == 16 && r.status < 4096 && r.kind <= DBG_K_SCRATCH);
		break;
	case 2:
		if (dbg_entry_decode(p, n, &e) == 0)
			check(e.path_len >= 1 && e.path[0] == '/' &&
			      e.path + e.path_len <= (const char *)p + n && e.size <= (1ull << 40));
		break;
	case 3:
		if (debug_conf_decode(p, n, &c) == 0) {
			check(c.id && c.redis && c.redis[0] && c.passwd && c.nfilter <= DBG_FILTER_MAX);
			check(c.max_size > 0 && c.max_size <= 512ull << 20);
			for (uint32_t i = 0; i < c.nfilter; i++)
				check(c.filter[i] && strlen(c.filter[i]) <= DBG_FILTER_LEN);
			debug_conf_free(&c);
		}
		break;
	case 4:
		if (journal_parse((const char *)p, n, &epoch, path, md5) == 0) {
			size_t len;

			check(path[0] == '/' && strlen(path) <= DBG_PATH_MAX);
			check(!md5[0] || strlen(md5) == 32);
			check(epoch >= 0);
			len = journal_encode(line, epoch, path, md5);
			{
				static char p2[DBG_PATH_MAX + 1];
				char m2[33];
				int64_t e2;

				check(len < sizeof line);
				check(journal_parse(line, len, &e2, p2, m2) == 0 && e2 == epoch &&
				      !strcmp(p2, path) && !strcmp(m2, md5));
			}
		}
		break;
	}
	return 0;
}
