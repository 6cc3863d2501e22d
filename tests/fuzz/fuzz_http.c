/* fuzz_http.c — what the status worker (aysfs-status) reads from others: the -pprof HTTP request
 * reader (status/http.c), root's MSG_ST_FACTS and a relayed answer (status/ask.c), and the
 * workers' "stats" text behind /metrics, /debug/status and its JSON (status/pages.c). The first
 * byte picks which. Checked: a parsed request is GET or HEAD with a path that starts with '/',
 * holds no byte outside printable ASCII and fits; every page renders whatever the answers hold. */
#include "status/status.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#define check(cond) do { if (!(cond)) abort(); } while (0)

static void render_all(const char *text)
{
	static const char *const paths[] = { "/metrics", "/debug/status", "/debug/status.json" };
	struct query q = { 0 };

	q.text[RELAY_INDEXER] = (char *)text;
	q.text[RELAY_FETCHER] = (char *)text;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		char *out = NULL;
		size_t len = 0;
		const char *type = NULL;
		FILE *f = open_memstream(&out, &len);

		check(f);
		check(pages_render(paths[i], &q, f, &type) == 200 && type);
		fclose(f);
		free(out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req req;
	struct st_facts f;
	uint32_t ev, role;
	char *text;
	int rc;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		rc = http_parse((const char *)data + 1, size - 1, &req);
		check(rc == 0 || rc == 1 || (rc <= -400 && rc >= -505));
		if (rc == 1) {
			check(req.path[0] == '/' && strlen(req.path) < sizeof req.path);
			for (const char *p = req.path; *p; p++)
				check(*p > 0x20 && *p < 0x7f);
		}
		break;
	case 1:
		if (facts_decode(data + 1, size - 1, &f, &ev, &role) == 0)
			check(ev <= ST_EV_TREE_FAIL && role < ST_ROLES && !strchr(f.fail, '\n'));
		break;
	case 2:
		text = sanitise((const char *)data + 1, size - 1);
		check(text);
		render_all(text);
		free(text);
		break;
	case 3:
		(void)ask_on_reply(1, data + 1, size - 1);
		break;
	}
	return 0;
}
