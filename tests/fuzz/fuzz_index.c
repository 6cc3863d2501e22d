/* fuzz_index.c — the fuser's validator of index images: whatever the indexer sends, ix_open either
 * refuses it or every lookup and path walk over it stays inside the image. */
#include "ipc/index.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ix ix;
	char err[256], path[4096];
	void *img;

	/* The image is 8-byte aligned in a memfd mapping; give it the same alignment. */
	img = aligned_alloc(8, (size + 7) & ~(size_t)7);
	if (!img)
		return 0;
	memcpy(img, data, size);
	if (ix_open(&ix, img, size, err, sizeof err) == 0) {
		for (uint32_t i = 1; i <= ix.ninodes; i++) {
			const struct ix_inode *in = ix_inode(&ix, i);

			ix_path(&ix, in, path, sizeof path);
			if (S_ISDIR(in->mode) && in->b) {
				const struct ix_inode *c = &ix.inodes[in->a];

				if (ix_lookup(&ix, in, ix_name(&ix, c), c->name_len) != c)
					abort();
			}
		}
	}
	free(img);
	return 0;
}
