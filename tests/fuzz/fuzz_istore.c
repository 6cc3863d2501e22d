/* fuzz_istore.c — the checks of a stored index file's parts (indexer/istore.c): the header
 * against a key and a file size, the parse's messages, the order records. Whatever the bytes,
 * each check either refuses them or what it passes is within its bounds. The image itself is
 * ix_open's (fuzz_index.c). Input: 8 bytes of file size, then the header, then the rest. */
#include "indexer/istore.h"
#include "indexer/order.h"
#include "tests/fuzz/fuzz.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct istore_header h;
	struct order_item o;
	uint64_t file_size;
	char why[256];

	if (size < 8)
		return 0;
	memcpy(&file_size, data, 8);
	data += 8;
	size -= 8;
	/* The key the file names: its own, so that the checks after the key are reached. */
	if (size >= sizeof h &&
	    istore_check_header(data, size, file_size, data + offsetof(struct istore_header, key), &h,
				why, sizeof why) == 0) {
		if (h.image_size > SIZE_MAX / 4 || h.norder > ISTORE_MAX_ORDER ||
		    h.notes_size > ISTORE_MAX_NOTES ||
		    file_size != sizeof h + h.image_size + h.norder * ISTORE_ORDER_REC + h.notes_size)
			abort();
	}
	if (size > sizeof h) {
		const uint8_t *rest = data + sizeof h;
		size_t n = size - sizeof h;

		if (istore_check_notes((const char *)rest, n) == 0 && n && rest[n - 1] != '\n')
			abort();
		for (size_t i = 0; i + ISTORE_ORDER_REC <= n; i += ISTORE_ORDER_REC)
			if (istore_order_get(rest + i, &o) == 0 && o.hash_len != 16 && o.hash_len != 32)
				abort();
	}
	return 0;
}
