/* ctl.c — the name of a mount's control socket (ctl.h); its requests are parsed by the status
 * worker (ctl_parse.c). */
#include "ipc/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

int ctl_socket_path(const char *mnt, char *out, size_t size)
{
	const size_t cap = sizeof(((struct sockaddr_un *)0)->sun_path);
	size_t n = (size_t)snprintf(out, size, "%s/", CTL_RUN_DIR);
	uint64_t h = 0xcbf29ce484222325ull;

	if (n >= size)
		return -ENAMETOOLONG;
	for (const unsigned char *c = (const unsigned char *)mnt; *c; c++) {
		char e[4];
		size_t el;

		if (*c == '/') {
			e[0] = '_';
			el = 1;
		} else if (*c == '%' || *c == '_' || *c <= ' ' || *c >= 0x7f) {
			snprintf(e, sizeof e, "%%%02X", *c);
			el = 3;
		} else {
			e[0] = (char)*c;
			el = 1;
		}
		if (n + el + sizeof ".sock" > cap || n + el + sizeof ".sock" > size)
			goto hashed;
		memcpy(out + n, e, el);
		n += el;
	}
	memcpy(out + n, ".sock", sizeof ".sock");
	return 0;
hashed:
	for (const unsigned char *c = (const unsigned char *)mnt; *c; c++)
		h = (h ^ *c) * 0x100000001b3ull;
	n = (size_t)snprintf(out, size, "%s/h%016llx.sock", CTL_RUN_DIR, (unsigned long long)h);
	return n < size && n < cap ? 0 : -ENAMETOOLONG;
}
