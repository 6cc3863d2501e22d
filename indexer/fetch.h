/* fetch.h — downloads through the fetcher (the only process with the network). */
#ifndef AYSFS_FETCH_H
#define AYSFS_FETCH_H

#include <stdint.h>

struct fetch_result {
	int status;             /* 0, or a positive errno */
	uint32_t url_index;     /* which URL the body came from */
	uint64_t bytes;
	char reason[1025];      /* each URL tried, for the log */
};

/* Start the thread that reads the fetcher's replies on fd. Returns 0 or -errno. */
int fetch_start(int fd);

/* A restarted fetcher's channel: every request still waiting is sent to it again. */
void fetch_reconnect(int fd);

/* Have the fetcher write the first of urls[0..n) that answers into fd (an empty file opened
 * O_RDWR), no more than max_size bytes. Blocks for at most deadline_s seconds; any thread may call
 * it. Returns 0 with *res filled, or -errno (res->reason says why). The bytes are unverified. */
int fetch_urls(int fd, int kind, uint64_t max_size, const char *const *urls, unsigned n,
	       unsigned deadline_s, struct fetch_result *res);

/* -auto: ask the fetcher which of r's hosts resolve and accept a TCP connection (fetcher/probe_wire.h);
 * waits at most wait_ms. Returns 0 with one result per host in *d, or -errno (no answer). */
struct probe_req;
struct probe_done;
int fetch_probe(const struct probe_req *r, struct probe_done *d, unsigned wait_ms);

/* Hand the fetcher a verified blob to upload to url with HTTP PUT, in the background. */
int fetch_push(int fd, uint64_t size, const char *url);

#endif
