/* ctl_json.c — text for people as one JSON object (ctl_json.h). */
#include "ipc/ctl_json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct jnode {
	char *key, *val;        /* val NULL: an object */
	int indent;
	struct jnode *child, *last, *next;
};

/* A JSON string: quotes, backslashes and control characters escaped; bytes that are not UTF-8
 * (paths are bytes) become U+FFFD. */
static void json_str(FILE *out, const char *s, size_t n, const char *suffix)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	fputc('"', out);
	while (p < end) {
		unsigned c = *p;
		int len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 :
			  c >= 0xf0 && c <= 0xf4 ? 4 : 0;
		bool good = len > 0 && end - p >= len;

		for (int i = 1; good && i < len; i++)
			good = (p[i] & 0xc0) == 0x80;
		/* Overlong forms, surrogates and code points above U+10FFFF. */
		if (good && len > 2)
			good = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0) &&
			       !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
		if (!good) {
			fputs("\\ufffd", out);
			p++;
		} else if (c == '"' || c == '\\') {
			fprintf(out, "\\%c", c);
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\u%04x", c);
			p++;
		} else {
			fwrite(p, 1, (size_t)len, out);
			p += len;
		}
	}
	fprintf(out, "%s\"", suffix);
}

static bool json_number(const char *s)
{
	const char *p = s + (*s == '-');

	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		p += strspn(p, "0123456789");
	else
		return false;
	if (*p == '.' && p[1] >= '0' && p[1] <= '9')
		p += 1 + strspn(p + 1, "0123456789");
	return *p == '\0';
}

static void json_emit(FILE *out, const struct jnode *obj, int depth)
{
	bool first = true;

	fputs("{", out);
	for (const struct jnode *n = obj->child; n; n = n->next) {
		char suffix[16] = "";
		int seen = 0;

		for (const struct jnode *m = obj->child; m != n; m = m->next)
			seen += strcmp(m->key, n->key) == 0;
		if (seen)
			snprintf(suffix, sizeof suffix, "#%d", seen + 1);
		fprintf(out, "%s\n%*s", first ? "" : ",", 2 * depth + 2, "");
		first = false;
		json_str(out, n->key, strlen(n->key), suffix);
		fputs(": ", out);
		if (!n->val)
			json_emit(out, n, depth + 1);
		else if (json_number(n->val))
			fputs(n->val, out);
		else
			json_str(out, n->val, strlen(n->val), "");
	}
	fprintf(out, "%s}", first ? "" : "\n");
	if (depth)
		return;
	fputc('\n', out);
}

int ctl_json_print(FILE *out, char *text)
{
	struct jnode root = { .indent = -1 }, *stack[64] = { &root };
	int top = 0, rc = 0;
	size_t nodes = 0;
	struct jnode *all[4096];

	for (char *line = text, *nl; line && *line; line = nl) {
		struct jnode *n;
		size_t len, sep;
		int indent;

		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		indent = (int)strspn(line, " ");
		line += indent;
		len = strlen(line);
		while (len && line[len - 1] == ' ')
			line[--len] = '\0';
		if (!len)
			continue;
		if (nodes == sizeof all / sizeof all[0] || !(n = calloc(1, sizeof *n))) {
			rc = -ENOMEM;
			break;
		}
		all[nodes++] = n;
		n->indent = indent;
		n->key = line;
		while (top > 0 && stack[top]->indent >= indent)
			top--;
		if (line[len - 1] == ':') {
			line[len - 1] = '\0';
		} else {
			char *two = strstr(line, "  "), *colon = strstr(line, ": ");

			sep = two ? (size_t)(two - line) : colon ? (size_t)(colon - line) : strcspn(line, " ");
			n->val = line + sep;
			if (*n->val) {
				*n->val++ = '\0';
				n->val += strspn(n->val, ": ");
			}
		}
		if (stack[top]->last)
			stack[top]->last->next = n;
		else
			stack[top]->child = n;
		stack[top]->last = n;
		if (!n->val && top + 1 < (int)(sizeof stack / sizeof stack[0]))
			stack[++top] = n;
	}
	if (!rc)
		json_emit(out, &root, 0);
	for (size_t i = 0; i < nodes; i++)
		free(all[i]);
	return rc;
}
