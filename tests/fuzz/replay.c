/* replay.c — main() for a harness built without libFuzzer: runs every file named, or every file
 * in every folder named, through LLVMFuzzerTestOneInput, and prints TAP (one test per input). */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int replayed;

static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		return -1;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		abort();
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	/* An exact-size copy, so that ASan sees a read past the end. */
	uint8_t *exact = malloc(got ? got : 1);
	if (!exact)
		abort();
	memcpy(exact, buf, got);
	free(buf);
	LLVMFuzzerTestOneInput(exact, got);
	free(exact);
	printf("ok %d - %s\n", ++replayed, path);
	return 0;
}

static int replay(const char *path)
{
	struct stat st;
	struct dirent **names;
	int n, rc = 0;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char sub[4096];
		if (names[i]->d_name[0] != '.') {
			snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
			if (replay(sub) < 0)
				rc = -1;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;

	for (int i = 1; i < argc; i++)
		if (replay(argv[i]) < 0)
			rc = 1;
	printf("1..%d\n", replayed);
	return rc;
}
