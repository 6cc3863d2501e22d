/* tree.c — the union tree of the configured flists, and its index image.
 *
 * Nodes live in one array and find their children through a hash table keyed by (parent, name),
 * so adding an entry costs one probe per path component; flists are mostly sorted, so the parent
 * of the previous entry is remembered and usually saves every probe but the last. Strings (names,
 * hashes, link targets) are appended to one arena that becomes the image's string section as it is.
 */
#include "indexer/tree.h"

#include "indexer/flist.h"
#include "indexer/order.h"
#include "ipc/index.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NODE_EXPLICIT 1         /* attributes came from an entry, not implied by a path */
#define NONE UINT32_MAX

struct node {
	uint64_t size;
	int64_t mtime;
	uint32_t parent;
	uint32_t name_off;
	uint32_t data_off;      /* hash or link target, in the arena */
	uint32_t first_child;   /* NONE or a node index; children are a linked list while building */
	uint32_t next_sibling;
	uint32_t nchildren;
	uint32_t nsubdirs;
	uint16_t name_len;
	uint16_t data_len;
	uint16_t service;
	uint16_t mode;          /* S_IFMT bits fit in 16 bits */
	uint8_t flags;
};

struct tree {
	char *prefix;
	size_t prefix_len;
	int64_t load_time;

	struct node *nodes;
	uint32_t nnodes, cap_nodes;

	uint32_t *slots;        /* hash table of node index + 1; 0 is empty */
	uint32_t nslots;        /* a power of two, at least twice nnodes */

	char *arena;
	size_t arena_len, arena_cap;

	char **services;
	size_t nservices;

	uint32_t *ino;          /* per node, set by tree_number() */
	struct order_item *order;       /* files with order=N (order.c), tree_take_order() */
	size_t norder, cap_order;
	uint32_t max_ino;

	uint64_t max_bytes, max_entries;        /* one flist's bounds (0: none), tree_set_limits() */

	/* The directory that held the previous entry, as a path below the prefix and as a node. */
	char last_dir[FLIST_PATH_MAX + 1];
	size_t last_dir_len;
	uint32_t last_dir_node;

	unsigned min_hash;      /* 32: the flists added next may list no MD5 (tree_set_min_hash) */
	unsigned md5_line;      /* the first MD5 entry the validation found */
};

/* The state of one tree_add_flist() call, handed to the flist parser's callback. */
struct add_ctx {
	struct tree *t;
	uint16_t service;
	struct tree_flist_stats *st;
};

static uint64_t name_hash(uint32_t parent, const char *name, size_t len)
{
	/* FNV-1a over the name, then a multiply-xorshift finish to spread the parent in. */
	uint64_t h = 0xcbf29ce484222325ull ^ parent;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static int arena_add(struct tree *t, const void *p, size_t len, uint32_t *off)
{
	if (t->arena_len + len > UINT32_MAX)
		return -E2BIG;
	if (t->arena_len + len > t->arena_cap) {
		size_t cap = t->arena_cap ? t->arena_cap * 2 : 1 << 16;
		char *a;

		while (cap < t->arena_len + len)
			cap *= 2;
		a = realloc(t->arena, cap);
		if (!a)
			return -ENOMEM;
		t->arena = a;
		t->arena_cap = cap;
	}
	memcpy(t->arena + t->arena_len, p, len);
	*off = (uint32_t)t->arena_len;
	t->arena_len += len;
	return 0;
}

static int slots_grow(struct tree *t)
{
	uint32_t n = t->nslots ? t->nslots * 2 : 1 << 12;
	uint32_t *s = calloc(n, sizeof *s);

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nnodes; i++) {
		const struct node *nd = &t->nodes[i];
		uint32_t h;

		if (i == 0)
			continue;       /* the root has no name */
		h = (uint32_t)name_hash(nd->parent, t->arena + nd->name_off, nd->name_len) & (n - 1);
		while (s[h])
			h = (h + 1) & (n - 1);
		s[h] = i + 1;
	}
	free(t->slots);
	t->slots = s;
	t->nslots = n;
	return 0;
}

static uint32_t child_find(const struct tree *t, uint32_t parent, const char *name, size_t len)
{
	uint32_t h = (uint32_t)name_hash(parent, name, len) & (t->nslots - 1);

	for (; t->slots[h]; h = (h + 1) & (t->nslots - 1)) {
		const struct node *nd = &t->nodes[t->slots[h] - 1];

		if (nd->parent == parent && nd->name_len == len &&
		    memcmp(t->arena + nd->name_off, name, len) == 0)
			return t->slots[h] - 1;
	}
	return NONE;
}

/* A new child of `parent`, linked in and hashed; attributes are the caller's to set. */
static int child_add(struct tree *t, uint32_t parent, const char *name, size_t len,
		     uint32_t mode, uint16_t service, uint32_t *out)
{
	struct node *nd;
	uint32_t idx, off, h;
	int rc;

	if (t->nnodes >= IX_MAX_INODES || t->nnodes >= UINT32_MAX / 2)
		return -E2BIG;
	if (t->nnodes == t->cap_nodes) {
		uint32_t cap = t->cap_nodes * 2;
		struct node *n = realloc(t->nodes, (size_t)cap * sizeof *n);

		if (!n)
			return -ENOMEM;
		t->nodes = n;
		t->cap_nodes = cap;
	}
	if ((t->nnodes + 1) * 2 > t->nslots && (rc = slots_grow(t)))
		return rc;
	if ((rc = arena_add(t, name, len, &off)))
		return rc;

	idx = t->nnodes++;
	nd = &t->nodes[idx];
	*nd = (struct node){
		.mtime = t->load_time, .parent = parent, .name_off = off, .first_child = NONE,
		.next_sibling = t->nodes[parent].first_child, .name_len = (uint16_t)len,
		.service = service, .mode = (uint16_t)mode,
	};
	t->nodes[parent].first_child = idx;
	t->nodes[parent].nchildren++;
	if (S_ISDIR(mode))
		t->nodes[parent].nsubdirs++;
	h = (uint32_t)name_hash(parent, name, len) & (t->nslots - 1);
	while (t->slots[h])
		h = (h + 1) & (t->nslots - 1);
	t->slots[h] = idx + 1;
	*out = idx;
	return 0;
}

/* The directory node for dir[0..len) below the prefix ("" is the root), creating implied
 * directories. Returns 0, 1 when a non-directory is in the way (a conflict; *out is that
 * non-directory), or -errno. */
static int dir_resolve(struct tree *t, const char *dir, size_t len, uint16_t service, uint32_t *out)
{
	uint32_t cur = 0;
	size_t i = 0;

	if (len == t->last_dir_len && memcmp(dir, t->last_dir, len) == 0) {
		*out = t->last_dir_node;
		return 0;
	}
	while (i < len) {
		size_t start = ++i;     /* skip the '/' */
		uint32_t next;
		int rc;

		while (i < len && dir[i] != '/')
			i++;
		next = child_find(t, cur, dir + start, i - start);
		if (next == NONE) {
			rc = child_add(t, cur, dir + start, i - start, S_IFDIR | 0555, service, &next);
			if (rc)
				return rc;
		} else if (!S_ISDIR(t->nodes[next].mode)) {
			*out = next;    /* what is in the way */
			return 1;
		}
		cur = next;
	}
	memcpy(t->last_dir, dir, len);
	t->last_dir_len = len;
	t->last_dir_node = cur;
	*out = cur;
	return 0;
}

static void set_attrs(struct node *nd, const struct flist_entry *e)
{
	if (e->has_mode)
		nd->mode = (uint16_t)((nd->mode & S_IFMT) | (e->mode & 07777));
	if (e->has_mtime)
		nd->mtime = e->mtime;
	nd->flags |= NODE_EXPLICIT;
}

/* e clashes with node `winner` of an earlier service (NONE: the root, which only a directory
 * entry can describe). */
static void conflict(struct add_ctx *c, const struct flist_entry *e, uint32_t winner)
{
	if (c->st->conflicts++ == 0) {
		c->st->first_conflict_line = e->line;
		snprintf(c->st->first_conflict_path, sizeof c->st->first_conflict_path, "%s", e->path);
		c->st->first_conflict_winner = winner == NONE ? NULL :
					       c->t->services[c->t->nodes[winner].service];
	}
}

/* A file of the published order (order=N): kept for order.c. */
static int order_add(struct tree *t, uint32_t service, const struct flist_entry *e)
{
	struct order_item *it;

	if (t->norder == t->cap_order) {
		size_t cap = t->cap_order ? 2 * t->cap_order : 64;

		if (!(it = realloc(t->order, cap * sizeof *it)))
			return -ENOMEM;
		t->order = it;
		t->cap_order = cap;
	}
	it = &t->order[t->norder++];
	*it = (struct order_item){ .order = e->order, .service = service, .size = e->size,
				   .hash_len = e->hash_len };
	memcpy(it->hash, e->hash, e->hash_len);
	return 0;
}

struct order_item *tree_take_order(struct tree *t, size_t *n)
{
	struct order_item *v = t->order;

	*n = t->norder;
	t->order = NULL;
	t->norder = t->cap_order = 0;
	return v;
}

const struct ix_inode *tree_ix_resolve(const struct ix *ix, const char *p)
{
	const struct ix_inode *in = &ix->inodes[IX_ROOT];

	while (in && *p) {
		const char *start;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != '/')
			p++;
		if (!S_ISDIR(in->mode))
			return NULL;
		in = ix_lookup(ix, in, start, (size_t)(p - start));
	}
	return in;
}

static int add_entry(void *ctx, const struct flist_entry *e)
{
	struct add_ctx *c = ctx;
	struct tree *t = c->t;
	const char *rest, *base;
	size_t rest_len, dir_len;
	uint32_t dir = NONE, idx, mode;
	struct node *nd;
	int rc;

	if (!flist_under_prefix(t->prefix, t->prefix_len, e->path, e->path_len, &rest, &rest_len)) {
		c->st->outside_prefix++;
		return 0;
	}
	if (rest_len == 0) {
		/* The prefix itself: it is the root, which can only take a directory's attributes. */
		if (e->type != FLIST_DIR) {
			conflict(c, e, NONE);
		} else {
			if (!(t->nodes[0].flags & NODE_EXPLICIT))
				set_attrs(&t->nodes[0], e);
			c->st->added++;
		}
		return 0;
	}
	base = memrchr(rest, '/', rest_len);
	dir_len = (size_t)(base - rest);
	base++;
	rc = dir_resolve(t, rest, dir_len, c->service, &dir);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		conflict(c, e, dir);
		return 0;
	}

	idx = child_find(t, dir, base, rest_len - dir_len - 1);
	if (idx != NONE) {
		nd = &t->nodes[idx];
		if (e->type == FLIST_DIR && S_ISDIR(nd->mode)) {
			/* Directories merge; the first entry that gives attributes sets them. */
			if (!(nd->flags & NODE_EXPLICIT))
				set_attrs(nd, e);
			c->st->added++;
		} else {
			conflict(c, e, idx);
		}
		return 0;
	}

	mode = e->type == FLIST_DIR ? S_IFDIR | 0555 : e->type == FLIST_LINK ? S_IFLNK | 0777 :
	       S_IFREG | 0555;
	rc = child_add(t, dir, base, rest_len - dir_len - 1, mode, c->service, &idx);
	if (rc)
		return rc;
	nd = &t->nodes[idx];
	if (e->type == FLIST_FILE && e->order && e->hash_len && (rc = order_add(t, c->service, e)))
		return rc;
	if (e->type == FLIST_FILE) {
		nd->size = e->size;
		if (e->hash_len && (rc = arena_add(t, e->hash, e->hash_len, &nd->data_off)))
			return rc;
		nd->data_len = e->hash_len;
	} else if (e->type == FLIST_LINK) {
		if ((rc = arena_add(t, e->link, e->link_len, &nd->data_off)))
			return rc;
		nd->data_len = (uint16_t)e->link_len;
		nd->size = e->link_len;
	}
	set_attrs(nd, e);
	c->st->added++;
	return 0;
}

struct tree *tree_new(const char *prefix, int64_t load_time)
{
	struct tree *t = calloc(1, sizeof *t);
	size_t plen = strlen(prefix);

	/* "/opt/" and "/opt" are one prefix; "/" stays "/". */
	while (plen > 1 && prefix[plen - 1] == '/')
		plen--;
	if (!t || !(t->prefix = strndup(prefix, plen)))
		goto fail;
	t->prefix_len = plen;
	t->load_time = load_time;
	t->cap_nodes = 1024;
	t->nodes = malloc(t->cap_nodes * sizeof *t->nodes);
	if (!t->nodes || slots_grow(t))
		goto fail;
	t->nodes[0] = (struct node){ .mtime = load_time, .first_child = NONE, .next_sibling = NONE,
				     .mode = S_IFDIR | 0555 };
	t->nnodes = 1;
	t->last_dir_len = 0;
	t->last_dir_node = 0;
	return t;
fail:
	tree_free(t);
	return NULL;
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nservices; i++)
		free(t->services[i]);
	free(t->services);
	free(t->prefix);
	free(t->nodes);
	free(t->slots);
	free(t->arena);
	free(t->ino);
	free(t->order);
	free(t);
}

/* Where a flist's bytes come from: a buffer (one window), or an fd read in windows of whole lines. */
struct flist_src {
	const char *mem;
	size_t mem_len;
	int fd;
	char *buf;
	size_t cap, have;       /* buf holds `have` bytes not yet handed out */
	off_t pos;
	unsigned line;          /* lines handed out so far */
	bool done;
};

#define WINDOW (4u << 20)

static void src_rewind(struct flist_src *s)
{
	s->have = 0;
	s->pos = 0;
	s->line = 0;
	s->done = false;
}

/* The next window of whole lines: 1 with *w and *wlen set, 0 at the end, or -errno. A line longer
 * than the window is -E2BIG (no valid line comes near: paths are at most 4095 bytes). */
static int src_next(struct flist_src *s, const char **w, size_t *wlen, size_t *consumed)
{
	const char *nl;
	size_t n;

	if (s->done)
		return 0;
	if (s->fd < 0) {
		s->done = true;
		*w = s->mem;
		*wlen = *consumed = s->mem_len;
		return s->mem_len > 0;
	}
	while (s->have < s->cap) {
		ssize_t r = pread(s->fd, s->buf + s->have, s->cap - s->have, s->pos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		s->have += (size_t)r;
		s->pos += r;
	}
	if (s->have < s->cap) {         /* end of file: the rest is the last window */
		s->done = true;
		*w = s->buf;
		*wlen = *consumed = s->have;
		return s->have > 0;
	}
	nl = memrchr(s->buf, '\n', s->have);
	if (!nl)
		return -E2BIG;
	n = (size_t)(nl - s->buf) + 1;
	*w = s->buf;
	*wlen = *consumed = n;
	return 1;
}

/* After a window is parsed: count its lines and keep the bytes that followed it. */
static void src_advance(struct flist_src *s, const char *w, size_t consumed)
{
	for (const char *p = w, *end = w + consumed; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		s->line++;
	if (s->fd >= 0) {
		memmove(s->buf, s->buf + consumed, s->have - consumed);
		s->have -= consumed;
	}
}

/* Past one of t's bounds after a window (an fd that grew since its size was checked, or too many
 * entries)? Then err says which, naming the flist and the limit. */
static bool over_limits(const struct tree *t, const struct flist_src *s, const char *name,
			uint64_t entries, char *err, size_t errlen)
{
	if (t->max_bytes && s->fd >= 0 && (uint64_t)s->pos > t->max_bytes) {
		snprintf(err, errlen, "%s: larger than flist_max_size (%llu bytes)", name,
			 (unsigned long long)t->max_bytes);
		return true;
	}
	if (t->max_entries && entries > t->max_entries) {
		snprintf(err, errlen, "%s: more than flist_max_entries (%llu entries)", name,
			 (unsigned long long)t->max_entries);
		return true;
	}
	return false;
}

static int parse_src(const struct tree *t, struct flist_src *s, const char *name,
		     flist_entry_fn fn, void *ctx, struct flist_stats *total, char *err,
		     size_t errlen)
{
	const char *w = NULL;
	size_t wlen = 0, consumed = 0;
	int rc;

	memset(total, 0, sizeof *total);
	src_rewind(s);
	while ((rc = src_next(s, &w, &wlen, &consumed)) > 0) {
		struct flist_stats st;

		if (over_limits(t, s, name, total->entries, err, errlen))
			return -EINVAL;
		rc = flist_parse_at(name, w, wlen, s->line, fn, ctx, &st, err, errlen);
		if (rc)
			return rc;
		total->entries += st.entries;
		if (over_limits(t, s, name, total->entries, err, errlen))
			return -EINVAL;
		total->unknown_keys += st.unknown_keys;
		if (!total->first_unknown_line && st.first_unknown_line) {
			total->first_unknown_line = st.first_unknown_line;
			memcpy(total->first_unknown_key, st.first_unknown_key, sizeof st.first_unknown_key);
		}
		src_advance(s, w, consumed);
	}
	if (rc == -E2BIG)
		snprintf(err, errlen, "%s:%u: line longer than %u bytes", name, s->line + 1, WINDOW);
	else if (rc < 0)
		snprintf(err, errlen, "%s: %s", name, strerror(-rc));
	return rc == -E2BIG ? -EINVAL : rc;
}

void tree_set_min_hash(struct tree *t, unsigned len)
{
	t->min_hash = len;
}

/* The validation's callback under min_hash 32: an MD5 entry stops it. */
static int no_md5(void *ctx, const struct flist_entry *e)
{
	struct tree *t = ctx;

	if (e->hash_len == 16) {
		t->md5_line = e->line;
		return -EPERM;
	}
	return 0;
}

static int add_src(struct tree *t, const char *service, const char *name, struct flist_src *s,
		   struct tree_flist_stats *st, char *err, size_t errlen)
{
	struct flist_stats fst;
	struct add_ctx c = { .t = t, .service = (uint16_t)t->nservices, .st = st };
	char **svc;
	int rc;

	memset(st, 0, sizeof *st);
	if (t->nservices > UINT16_MAX)
		return -E2BIG;
	/* Validate the whole flist before touching the tree: a malformed one adds nothing. */
	rc = parse_src(t, s, name, t->min_hash == 32 ? no_md5 : NULL, t, &fst, err, errlen);
	if (rc == -EPERM) {
		snprintf(err, errlen, "%s:%u: an MD5 entry, and min_hash is sha256", name, t->md5_line);
		rc = -EINVAL;
	}
	if (rc)
		return rc;
	svc = realloc(t->services, (t->nservices + 1) * sizeof *svc);
	if (!svc)
		return -ENOMEM;
	t->services = svc;
	if (!(svc[t->nservices] = strdup(service)))
		return -ENOMEM;
	t->nservices++;
	st->unknown_keys = fst.unknown_keys;
	st->first_unknown_line = fst.first_unknown_line;
	memcpy(st->first_unknown_key, fst.first_unknown_key, sizeof st->first_unknown_key);
	return parse_src(t, s, name, add_entry, &c, &fst, err, errlen);
}

int tree_add_flist(struct tree *t, const char *service, const char *name, const char *buf,
		   size_t len, struct tree_flist_stats *st, char *err, size_t errlen)
{
	struct flist_src s = { .mem = buf, .mem_len = len, .fd = -1 };

	return add_src(t, service, name, &s, st, err, errlen);
}

int tree_add_flist_fd(struct tree *t, const char *service, const char *name, int fd,
		      struct tree_flist_stats *st, char *err, size_t errlen)
{
	struct flist_src s = { .fd = fd, .cap = WINDOW };
	struct stat sb;
	int rc;

	/* Refused before a byte is read (read-back checks a file that grows meanwhile). */
	if (t->max_bytes && fstat(fd, &sb) == 0 && (uint64_t)sb.st_size > t->max_bytes) {
		memset(st, 0, sizeof *st);
		snprintf(err, errlen, "%s: %llu bytes, larger than flist_max_size (%llu bytes)", name,
			 (unsigned long long)sb.st_size, (unsigned long long)t->max_bytes);
		return -EINVAL;
	}
	if (!(s.buf = malloc(WINDOW)))
		return -ENOMEM;
	rc = add_src(t, service, name, &s, st, err, errlen);
	free(s.buf);
	return rc;
}

void tree_set_limits(struct tree *t, uint64_t max_bytes, uint64_t max_entries)
{
	t->max_bytes = max_bytes;
	t->max_entries = max_entries;
}

size_t tree_count(const struct tree *t)
{
	return t->nnodes;
}

/* Does the old inode stand for the same thing as node nd: same type and, for files and links, the
 * same content? (Attributes may differ: the kernel is told to drop what it cached of them.) */
static bool same_thing(const struct tree *t, const struct node *nd, const struct ix *prev,
		       const struct ix_inode *old)
{
	if ((old->mode & S_IFMT) != (nd->mode & S_IFMT))
		return false;
	if (S_ISDIR(nd->mode))
		return true;
	if (S_ISREG(nd->mode) && old->size != nd->size)
		return false;
	return old->b == nd->data_len &&
	       memcmp(ix_bytes(prev, old->a), t->arena + nd->data_off, nd->data_len) == 0;
}

long tree_number(struct tree *t, const struct ix *prev)
{
	const struct ix_inode **match;
	uint32_t next;
	long kept = 0;

	free(t->ino);
	t->ino = malloc((size_t)t->nnodes * sizeof *t->ino);
	match = prev ? calloc(t->nnodes, sizeof *match) : NULL;
	if (!t->ino || (prev && !match)) {
		free(match);
		return -ENOMEM;
	}
	next = prev ? prev->max_ino + 1 : 2;
	t->ino[0] = 1;
	if (prev)
		match[0] = ix_inode(prev, 1);
	/* Nodes are created after their parent, so one pass in node order walks both trees. */
	for (uint32_t i = 1; i < t->nnodes; i++) {
		const struct node *nd = &t->nodes[i];
		const struct ix_inode *par = prev ? match[nd->parent] : NULL, *old = NULL;

		if (par && S_ISDIR(par->mode))
			old = ix_lookup(prev, par, t->arena + nd->name_off, nd->name_len);
		if (old && same_thing(t, nd, prev, old)) {
			t->ino[i] = old->ino;
			match[i] = old;
			kept++;
		} else {
			if (next >= IX_MAX_INO) {
				free(match);
				return -E2BIG;
			}
			t->ino[i] = next++;
		}
	}
	t->max_ino = next - 1;
	free(match);
	return kept;
}

static size_t services_len(const struct tree *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nservices; i++)
		n += strlen(t->services[i]);
	return n;
}

size_t tree_image_size(struct tree *t)
{
	if (!t->ino && tree_number(t, NULL) < 0)
		return 0;
	size_t nsvc = t->nservices ? t->nservices : 1;

	return sizeof(struct ix_header) + (size_t)t->nnodes * sizeof(struct ix_inode) +
	       ((size_t)t->max_ino * sizeof(uint32_t) + 7) / 8 * 8 +
	       nsvc * sizeof(struct ix_service) + ((t->arena_len + services_len(t) + 7) & ~(size_t)7);
}

/* qsort_r comparator: node indices by name. */
static int by_name(const void *a, const void *b, void *ctx)
{
	const struct tree *t = ctx;
	const struct node *x = &t->nodes[*(const uint32_t *)a], *y = &t->nodes[*(const uint32_t *)b];

	return ix_name_cmp(t->arena + x->name_off, x->name_len, t->arena + y->name_off, y->name_len);
}

/* Buffered writes into the image fd. */
struct sink {
	int fd;
	off_t off;
	size_t len;
	int err;
	uint8_t buf[1 << 16];
};

/* Write n bytes at the sink's offset; the first failure sticks in k->err. */
static void sink_pwrite(struct sink *k, const void *p, size_t n)
{
	for (size_t done = 0; done < n && !k->err;) {
		ssize_t w = pwrite(k->fd, (const uint8_t *)p + done, n - done, k->off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			k->err = w < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)w;
		k->off += w;
	}
}

static void sink_flush(struct sink *k)
{
	sink_pwrite(k, k->buf, k->len);
	k->len = 0;
}

static void sink_put(struct sink *k, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (n > sizeof k->buf - k->len)
		sink_flush(k);
	if (n > sizeof k->buf) {
		sink_pwrite(k, p, n);   /* large runs (the string arena) go straight to the fd */
		return;
	}
	memcpy(k->buf + k->len, p, n);
	k->len += n;
}

int tree_image_write(struct tree *t, uint64_t generation, int fd)
{
	struct ix_header h = { 0 };
	struct sink *k;
	uint32_t *order, *slot_of, *inomap = NULL, next = 1;
	size_t size, soff;
	int rc;

	if (!t->ino && tree_number(t, NULL) < 0)
		return -ENOMEM;
	size = tree_image_size(t);

	/* Adding is over: the lookup table is the largest thing the image does not need. */
	free(t->slots);
	t->slots = NULL;
	t->nslots = 0;
	order = malloc((size_t)t->nnodes * sizeof *order);
	slot_of = malloc((size_t)t->nnodes * sizeof *slot_of);
	inomap = calloc((size_t)t->max_ino + 2, sizeof *inomap);
	k = malloc(sizeof *k);
	if (!order || !slot_of || !inomap || !k) {
		rc = -ENOMEM;
		goto out;
	}
	*k = (struct sink){ .fd = fd };

	/* Breadth-first: each directory's children become one run of slots, sorted by name. */
	order[0] = 0;
	for (uint32_t i = 0; i < t->nnodes; i++) {
		const struct node *nd = &t->nodes[order[i]];
		uint32_t first = next;

		slot_of[order[i]] = i;
		if (!S_ISDIR(nd->mode))
			continue;
		for (uint32_t c = nd->first_child; c != NONE; c = t->nodes[c].next_sibling)
			order[next++] = c;
		qsort_r(order + first, next - first, sizeof *order, by_name, (void *)t);
	}

	memcpy(h.magic, IX_MAGIC, sizeof h.magic);
	h.version = IX_VERSION;
	h.header_size = sizeof h;
	h.generation = generation;
	h.total_size = size;
	h.ninodes = t->nnodes;
	h.nservices = t->nservices ? (uint32_t)t->nservices : 1;
	h.inodes_off = sizeof h;
	h.inomap_off = h.inodes_off + (uint64_t)t->nnodes * sizeof(struct ix_inode);
	h.max_ino = t->max_ino;
	h.services_off = h.inomap_off + ((uint64_t)t->max_ino * sizeof(uint32_t) + 7) / 8 * 8;
	h.strings_off = h.services_off + (uint64_t)h.nservices * sizeof(struct ix_service);
	h.strings_size = size - h.strings_off;
	sink_put(k, &h, sizeof h);

	next = 1;
	for (uint32_t i = 0; i < t->nnodes; i++) {
		const struct node *nd = &t->nodes[order[i]];
		struct ix_inode in = {
			.size = nd->size, .mtime = nd->mtime, .parent = slot_of[nd->parent],
			.name_off = nd->name_off, .name_len = nd->name_len, .service = nd->service,
			.mode = nd->mode, .nlink = 1, .a = nd->data_off, .b = nd->data_len,
			.ino = t->ino[order[i]],
		};

		inomap[in.ino - 1] = i + 1;
		if (i == 0) {
			in.parent = 0;
			in.name_off = 0;
		}
		if (S_ISDIR(nd->mode)) {
			in.a = next;
			in.b = nd->nchildren;
			in.size = nd->nchildren;
			/* A directory's link count is 2 plus its subdirectories, as find(1) expects. */
			in.nlink = 2 + nd->nsubdirs;
			next += nd->nchildren;
		}
		sink_put(k, &in, sizeof in);
	}
	sink_put(k, inomap, ((size_t)t->max_ino * sizeof *inomap + 7) / 8 * 8);

	soff = t->arena_len;
	for (size_t i = 0; i < t->nservices; i++) {
		struct ix_service sv = { .id_off = (uint32_t)soff,
					 .id_len = (uint32_t)strlen(t->services[i]) };

		sink_put(k, &sv, sizeof sv);
		soff += sv.id_len;
	}
	if (!t->nservices)
		sink_put(k, &(struct ix_service){ 0 }, sizeof(struct ix_service));
	sink_put(k, t->arena, t->arena_len);
	for (size_t i = 0; i < t->nservices; i++)
		sink_put(k, t->services[i], strlen(t->services[i]));
	sink_flush(k);
	rc = k->err;
	if (!rc && k->off > (off_t)size)
		rc = -EIO;
out:
	free(k);
	free(order);
	free(slot_of);
	free(inomap);
	return rc;
}
