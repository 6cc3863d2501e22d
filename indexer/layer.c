/* layer.c — what the indexer knows of layers' URLs. */
#include "indexer/indexer.h"

#include <string.h>

const char *layer_local_path(const char *url)
{
	if (url[0] == '/')
		return url;
	if (strncmp(url, "file:///", 8) == 0)
		return url + 7;
	return NULL;
}
