/* reload.c — a new tree while the mount is served.
 *
 * The main loop installs the new image at once; what the kernel may still cache from the old one is
 * then invalidated by a separate thread, because a notification sent from the thread that answers
 * requests can deadlock against a lookup the kernel holds a directory lock for (libfuse's
 * README.notifications). Inode numbers are stable across images (ipc/index.h), so the work is a
 * comparison by number:
 *   - an old entry gone, or now under another name: its dentry, and its directory's listing;
 *   - a new entry: its name (which may be cached as absent), and its directory's listing;
 *   - an entry whose attributes changed: its attributes only (its content did not change, or it
 *     would have a new number: open files keep reading what they opened).
 */
#include "fuser/reload.h"

#include "fuser/fuser.h"

#include "ipc/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct inval *queue, **tail = &queue;
static struct fuse_session *session;

static void push(struct inval **list, uint64_t ino, const char *name, size_t len, int attrs_only)
{
	struct inval *v = malloc(sizeof *v + len);

	if (!v)
		return;         /* the kernel's lifetimes still bound how long it keeps it */
	v->ino = ino;
	v->len = (uint16_t)len;
	v->attrs_only = attrs_only;
	if (len)
		memcpy(v->name, name, len);
	v->next = *list;
	*list = v;
}

static bool same_name(const struct ix *a, const struct ix_inode *x, const struct ix *b,
		      const struct ix_inode *y)
{
	return x->name_len == y->name_len && a->inodes[x->parent].ino == b->inodes[y->parent].ino &&
	       memcmp(ix_name(a, x), ix_name(b, y), x->name_len) == 0;
}

unsigned reload_diff(const struct ix *old, const struct ix *new, struct inval **list)
{
	unsigned n = 0;

	for (uint32_t s = 1; s < old->ninodes; s++) {
		const struct ix_inode *o = &old->inodes[s], *x = ix_inode(new, o->ino);
		uint64_t parent = old->inodes[o->parent].ino;

		if (!x || !same_name(old, o, new, x)) {
			push(list, parent, ix_name(old, o), o->name_len, 0);
			push(list, parent, NULL, 0, 0);
			n += 2;
		} else if (x->mode != o->mode || x->mtime != o->mtime || x->nlink != o->nlink ||
			   x->size != o->size) {
			push(list, o->ino, NULL, 0, !S_ISDIR(o->mode));
			n++;
		}
	}
	for (uint32_t s = 1; s < new->ninodes; s++) {
		const struct ix_inode *x = &new->inodes[s], *o = ix_inode(old, x->ino);

		if (!o || !same_name(old, o, new, x)) {
			uint64_t parent = new->inodes[x->parent].ino;

			push(list, parent, ix_name(new, x), x->name_len, 0);
			push(list, parent, NULL, 0, 0);
			n += 2;
		}
	}
	return n;
}

/* Hand a list (not empty) to the thread that tells the kernel. */
static void enqueue(struct inval *list)
{
	pthread_mutex_lock(&lock);
	*tail = list;
	while (list->next)
		list = list->next;
	tail = &list->next;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

unsigned reload_invalidate(const struct ix *old, const struct ix *new)
{
	struct inval *list = NULL;
	unsigned n = reload_diff(old, new, &list);

	if (list)
		enqueue(list);
	return n;
}

static void *notifier(void *arg)
{
	for (;;) {
		struct inval *v;

		pthread_mutex_lock(&lock);
		while (!queue)
			pthread_cond_wait(&cond, &lock);
		v = queue;
		queue = v->next;
		if (!queue)
			tail = &queue;
		pthread_mutex_unlock(&lock);
		/* -ENOENT: the kernel had nothing cached for it, which is fine. */
		if (v->len)
			fuse_lowlevel_notify_inval_entry(session, v->ino, v->name, v->len);
		else
			fuse_lowlevel_notify_inval_inode(session, v->ino, v->attrs_only ? -1 : 0, 0);
		free(v);
	}
	return NULL;
}

int reload_start(struct fuse_session *se)
{
	pthread_t t;

	session = se;
	return pthread_create(&t, NULL, notifier, NULL) ? -1 : 0;
}

void reload_queue_inode(uint64_t ino)
{
	struct inval *one = NULL;

	push(&one, ino, NULL, 0, 0);
	if (one)
		enqueue(one);
}
