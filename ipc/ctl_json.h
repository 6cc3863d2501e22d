/* ctl_json.h — the answer of `status` or `cache` as one JSON object (ipc/ctl_json.c), for
 * aysfs-ctl -json and the status worker's /debug/status.json, which are therefore the same.
 *
 * The answer's lines, by their indentation: "HEADING:" opens an object of the lines indented below
 * it; any other line is a member "KEY": VALUE, KEY before the first run of two or more spaces,
 * else before the first ": ", else before the first space. A VALUE that is a decimal number is a
 * JSON number; any other is a string. A key seen twice in one object gets "#2", "#3", ... */
#ifndef AYSFS_CTL_JSON_H
#define AYSFS_CTL_JSON_H

#include <stdio.h>

/* Print text (NUL-terminated, changed in place) as one JSON object. Returns 0 or -ENOMEM. */
int ctl_json_print(FILE *out, char *text);

#endif
