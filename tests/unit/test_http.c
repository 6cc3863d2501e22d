/* test_http.c — the status worker's HTTP request reader (status/http.c) and its /metrics (status/
 * pages.c): what -pprof accepts and refuses, and counters that never go down when a worker
 * restarts. */
#include "status/status.h"
#include "tests/tap.h"
#include "ipc/proto_workers.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *s, struct http_req *r)
{
	return http_parse(s, strlen(s), r);
}

static char *render(const char *path, const char *indexer, const char *fetcher)
{
	struct query q = { 0 };
	char *out = NULL;
	size_t len = 0;
	const char *type;
	FILE *f = open_memstream(&out, &len);

	q.text[RELAY_INDEXER] = (char *)indexer;
	q.text[RELAY_FETCHER] = (char *)fetcher;
	pages_render(path, &q, f, &type);
	fclose(f);
	return out;
}

int main(void)
{
	struct http_req r;
	char big[HTTP_REQ_MAX + 16], *m;

	is_int(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", &r), 1, "a GET");
	is_str(r.path, "/metrics", "its path");
	ok(!r.head, "not HEAD");
	is_int(parse("HEAD /debug/status?x=1 HTTP/1.0\r\n\r\n", &r), 1, "a HEAD with a query");
	ok(r.head && !strcmp(r.path, "/debug/status"), "the query is dropped from the path");
	is_int(parse("GET / HTTP/1.1\n\n", &r), 1, "bare newlines are taken");
	is_int(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n", &r), 0, "headers not over yet: more is needed");
	is_int(parse("GET /metr", &r), 0, "half a request line: more is needed");
	is_int(parse("POST /metrics HTTP/1.1\r\n\r\n", &r), -405, "POST is refused");
	is_int(parse("PUT / HTTP/1.1\r\n\r\n", &r), -405, "PUT is refused");
	is_int(parse("GET /metrics HTTP/2.0\r\n\r\n", &r), -505, "another version is refused");
	is_int(parse("GET metrics HTTP/1.1\r\n\r\n", &r), -400, "a target that is not a path is refused");
	is_int(parse("GET /a b HTTP/1.1\r\n\r\n", &r), -400, "a space in the target is refused");
	is_int(parse("GET /a\x01 HTTP/1.1\r\n\r\n", &r), -400, "a control byte in the path is refused");
	is_int(http_parse("GET /\0 HTTP/1.1\r\n\r\n", 19, &r), -400, "a NUL is refused");
	memset(big, 'a', sizeof big);
	memcpy(big, "GET /", 5);
	is_int(http_parse(big, HTTP_REQ_MAX, &r), -431, "a request that fills the buffer without ending is refused");
	memcpy(big + 300, " HTTP/1.1\r\n\r\n", 13);
	is_int(http_parse(big, 313, &r), -414, "a path over 255 bytes is refused");

	m = render("/metrics", "cache_hits 5\ncache_bytes 100\nlayer_blobs /s 2\nbogus 1\ncache_misses x\n",
		   "layer_requests http://h/s 3\nlayer_up http://h/s 0\nlayer_backoff_seconds http://h/s 9\n");
	ok(strstr(m, "# TYPE aysfs_cache_hits_total counter\naysfs_cache_hits_total 5\n") != NULL, "a counter with its type");
	ok(strstr(m, "aysfs_cache_bytes 100\n") != NULL, "a gauge");
	ok(strstr(m, "aysfs_layer_requests_total{layer=\"http://h/s\"} 3\n") != NULL, "a layer's counter, labelled with its URL");
	ok(strstr(m, "aysfs_layer_backoff_seconds{layer=\"http://h/s\"} 9\n") != NULL, "a layer's back-off");
	ok(!strstr(m, "bogus") && !strstr(m, "aysfs_cache_misses_total"), "unknown names and bad values are dropped");
	free(m);
	m = render("/metrics", "cache_hits 2\n", "layer_requests http://h/s 1\n");
	ok(strstr(m, "aysfs_cache_hits_total 7\n") != NULL, "a worker that restarted (5, then 2): the counter goes on from 5");
	ok(strstr(m, "aysfs_layer_requests_total{layer=\"http://h/s\"} 4\n") != NULL, "per layer too");
	free(m);
	m = render("/metrics", "layer_blobs /a\"b\\c 1\n", "");
	ok(strstr(m, "{layer=\"/a\\\"b\\\\c\"} 1\n") != NULL, "a label's quote and backslash are escaped");
	free(m);
	m = render("/debug/status", "layer_blobs /<x> 1\n", "");
	ok(strstr(m, "&lt;x&gt;") && !strstr(m, "<x>"), "the page escapes what it shows");
	ok(!strstr(m, "<script") && !strstr(m, "http://") && !strstr(m, "src="), "no script, no external resource");
	free(m);
	m = render("/debug/status.json", "  layers (blobs served since the indexer started):\n    /a  store, hits 1\n",
		   "  network layers:\n    http://h/s  down for 4 s more (1 failures in a row)\n");
	ok(strstr(m, "\"/a\": \"store, hits 1\"") != NULL, "the JSON is the status text's, as aysfs-ctl -json makes it");
	ok(strstr(m, "\"http://h/s\": \"down for 4 s more (1 failures in a row)\"") != NULL, "with each layer's health");
	ok(strstr(m, "\"workers\": {") != NULL, "and root's part");
	free(m);

	/* Failures by kind, the histogram, the last warnings and errors. */
	m = render("/metrics", "", "layer_failures http://h/s refused 2\nlayer_failures http://h/s a\"b 1\n"
		   "layer_failures http://h/s 3\nlayer_fetch_bucket http://h/s 0.5 1\n"
		   "layer_fetch_bucket http://h/s +Inf 2\nlayer_fetch_sum_us http://h/s 1500000\n"
		   "layer_fetch_count http://h/s 2\n");
	ok(strstr(m, "aysfs_layer_failures_total{layer=\"http://h/s\",kind=\"refused\"} 2\n") != NULL,
	   "a failure's kind is a second label");
	ok(!strstr(m, "a\"b") && !strstr(m, "aysfs_layer_failures_total{layer=\"http://h/s\"}"),
	   "a kind out of its alphabet, or none, is dropped");
	ok(strstr(m, "# TYPE aysfs_layer_fetch_seconds histogram\n"
		     "aysfs_layer_fetch_seconds_bucket{layer=\"http://h/s\",le=\"0.5\"} 1\n"
		     "aysfs_layer_fetch_seconds_bucket{layer=\"http://h/s\",le=\"+Inf\"} 2\n"
		     "aysfs_layer_fetch_seconds_sum{layer=\"http://h/s\"} 1.500000\n"
		     "aysfs_layer_fetch_seconds_count{layer=\"http://h/s\"} 2\n") != NULL,
	   "the histogram: one type line, buckets, _sum in seconds, _count");
	free(m);
	m = render("/metrics", "", "layer_fetch_bucket http://h/s +Inf 1\nlayer_fetch_count http://h/s 1\n");
	ok(strstr(m, "aysfs_layer_fetch_seconds_count{layer=\"http://h/s\"} 3\n") != NULL,
	   "its series never go down either (2, then 1 from a restarted fetcher: 3)");
	free(m);
	m = render("/debug/status", "log 2000 ERROR older <b>\nlog 3000 WARN newer\nlog x WARN bad time\n"
		   "log 4000 warn lower case\nlog 5000\n", "log 2500 WARN the fetcher's\nlayer_fetch_count http://h/t 4\n"
		   "layer_fetch_sum_us http://h/t 8000\n");
	ok(strstr(m, "<td>indexer</td><td>WARN</td><td>newer</td>") != NULL, "a worker's warning is on the page");
	ok(strstr(m, "<td>indexer</td><td>ERROR</td><td>older &lt;b&gt;</td>") != NULL, "escaped");
	ok(strstr(m, "newer") < strstr(m, "<td>the fetcher&#39;s") && strstr(m, "<td>the fetcher&#39;s") < strstr(m, "older"),
	   "merged with the other workers', the newest first");
	ok(!strstr(m, "bad time") && !strstr(m, "lower case"), "malformed lines are dropped");
	ok(strstr(m, "<td>2</td>") != NULL, "a layer's mean blob fetch in ms (8000 us / 4)");
	free(m);

	/* An answer over CTL_TEXT_MAX is cut after its last whole line. */
	static uint8_t wire[8 + 2 * CTL_TEXT_MAX];
	char *big_text = malloc(2 * CTL_TEXT_MAX);
	struct ipc_wr w;
	const char *got;
	size_t glen = 0;
	uint32_t st;

	for (size_t i = 0; i + 12 <= 2 * CTL_TEXT_MAX; i += 12)
		memcpy(big_text + i, "hits 123456\n", 12);
	ipc_wr_init(&w, wire, sizeof wire);
	proto_ctl_reply_encode(&w, 0, big_text, 2 * CTL_TEXT_MAX / 12 * 12);
	ok(!w.bad && proto_ctl_reply_decode(wire, w.len, &st, &got, &glen) == 0 && glen <= CTL_TEXT_MAX &&
	   glen % 12 == 0 && got[glen - 1] == '\n', "a reply too long is cut after a whole line");
	free(big_text);
	return done_testing();
}
