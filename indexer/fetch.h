/* fetch.h — downloads through the fetcher (the only process with the network). */
#ifndef AYSFS_FETCH_H
#define AYSFS_FETCH_H

#include "ipc/proto_workers.h"

#include <stdbool.h>
#include <stdint.h>

/* A request that has waited this long while no fetcher said a word (fetcher/fetcher.h:
 * FETCH_ALIVE_MS) fails with EIO; so does one made while no fetcher has run for this long. */
#define FETCH_SILENT_MS 5000
/* The validators of a flist's copy (SPEC §8: asked for again with conditional requests). */
struct fetch_validators {
	char etag[FETCH_ETAG_MAX + 1];
	char last_modified[FETCH_DATE_MAX + 1];
};

struct fetch_result {
	int status;             /* 0, or a positive errno */
	uint32_t url_index;     /* which URL the body came from */
	uint64_t bytes;
	char reason[1025];      /* each URL tried, for the log */
	bool not_modified;      /* fetch_flist: 304 to the validators given, no body */
	struct fetch_validators got;    /* the answer's ETag and Last-Modified ("" for none) */
};

/* Start the thread that reads the fetcher's replies on fd. Returns 0 or -errno. */
int fetch_start(int fd);

/* A restarted fetcher's channel: requests not sent yet go to it, sent ones are asked again. */
void fetch_reconnect(int fd);

/* Where a body goes: fd, an empty file opened O_RDWR; or, when fd is -1, the file that
 * open(arg) returns (an fd, or -errno), made once the request is on its way, so that making it
 * overlaps the download. Either way the caller closes fd when it is not -1. */
struct fetch_sink {
	int fd;
	int (*open)(void *arg);
	void *arg;
};

/* Have the fetcher download the first of urls[0..n) that answers, no more than max_size bytes.
 * The body arrives through a pipe and is written into out->fd from offset 0 with pwrite, and fed
 * to h (initialised by the caller) when h is not NULL. Blocks for at most deadline_s seconds; any
 * thread may call it. Returns 0 with *res filled (the body of URL res->url_index, res->bytes long,
 * unverified), or -errno with res->reason saying why. When a body broke off after some of it was
 * written, res->url_index names that URL (< n; otherwise it is n or more): the file and h hold the
 * part, and the caller may ask again with the URLs after it. */
struct hasher;
int fetch_urls(struct fetch_sink *out, struct hasher *h, int kind, uint64_t max_size,
	       const char *const *urls, unsigned n, unsigned deadline_s, struct fetch_result *res);

/* A flist from url (FETCH_FLIST), conditional when cond is not NULL and holds a validator: then
 * 0 with res->not_modified set means the copy those validators describe is current (nothing was
 * written). res->got has the answer's validators. Otherwise as fetch_urls with one URL. */
int fetch_flist(struct fetch_sink *out, struct hasher *h, uint64_t max_size, const char *url,
		const struct fetch_validators *cond, unsigned deadline_s, struct fetch_result *res);

/* -auto: ask the fetcher which of r's hosts resolve and accept a TCP connection (fetcher/probe_wire.h);
 * waits at most wait_ms. Returns 0 with one result per host in *d, or -errno (no answer). */
struct probe_req;
struct probe_done;
int fetch_probe(const struct probe_req *r, struct probe_done *d, unsigned wait_ms);

/* Hand the fetcher a verified blob to upload to url with HTTP PUT, in the background. */
int fetch_push(int fd, uint64_t size, const char *url);

#endif
