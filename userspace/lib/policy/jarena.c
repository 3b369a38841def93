// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * An arena for jansson's parse of a large policy input, in a short-lived
 * command.
 *
 * jansson makes a parsed policy about 25 times its text: 100,000 rules
 * (9 MB of JSON) became 218 MB of small allocations, each 4 KiB page of
 * them a page fault. On a virtualized node a fault is expensive: apply of
 * those rules measured 2.6-2.8 s, of which about a third was faults and
 * malloc's own bookkeeping, against 2.0-2.3 s with transparent huge pages
 * under the heap (glibc.malloc.hugetlb=1, same run). This arena hands out
 * the trees json_loadb builds from 64 MiB chunks advised MADV_HUGEPAGE, by
 * bumping a pointer, and frees nothing until the process exits.
 *
 * Only while json_loadb runs (policy__load_json): what jansson allocates
 * otherwise, json_dumps's strings above all, which their callers free(),
 * comes from malloc as before. jansson's free stays the arena's from the
 * first use on: it passes every pointer the arena did not give to free().
 * Allowed by short-lived commands (apply, validate:
 * policy__json_arena_allow), and taken by a text of JARENA_MIN_INPUT bytes
 * or more (a file, stdin or a directory's file): serve is long-lived and
 * must free what it parses, and a small text would pay a huge page's
 * clearing for nothing.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <jansson.h>
#include "policy.h"

#define JARENA_CHUNK		(64UL << 20)
#define JARENA_HUGE		(2UL << 20)
#define JARENA_MAX_CHUNKS	64
#define JARENA_ALIGN		16UL

struct jarena_chunk {
	char *base;
	size_t size;
};

static struct jarena_chunk chunks[JARENA_MAX_CHUNKS];
static unsigned int n_chunks;
static char *cur, *end;

static bool jarena_grow(size_t need)
{
	size_t size = need > JARENA_CHUNK ? (need + JARENA_HUGE - 1) & ~(JARENA_HUGE - 1) :
					     JARENA_CHUNK;
	uintptr_t a;
	char *p;

	if (n_chunks == JARENA_MAX_CHUNKS)
		return false;
	/* one huge page more, to start on a huge page boundary */
	p = mmap(NULL, size + JARENA_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return false;
	a = ((uintptr_t)p + JARENA_HUGE - 1) & ~(JARENA_HUGE - 1);
	/* advice only: without THP the chunk is ordinary memory */
	madvise((void *)a, size, MADV_HUGEPAGE);
	chunks[n_chunks].base = p;
	chunks[n_chunks].size = size + JARENA_HUGE;
	n_chunks++;
	cur = (char *)a;
	end = cur + size;
	return true;
}

static void *jarena_malloc(size_t n)
{
	void *p;

	n = (n + JARENA_ALIGN - 1) & ~(JARENA_ALIGN - 1);
	if ((size_t)(end - cur) < n && !jarena_grow(n))
		return malloc(n);	/* out of chunks: the ordinary heap */
	p = cur;
	cur += n;
	return p;
}

static bool jarena_owns(const void *p)
{
	unsigned int i;

	for (i = 0; i < n_chunks; i++)
		if ((const char *)p >= chunks[i].base &&
		    (const char *)p < chunks[i].base + chunks[i].size)
			return true;
	return false;
}

static void jarena_free(void *p)
{
	if (p && !jarena_owns(p))
		free(p);
}

static bool jarena_allowed;

/* A text of at least this many bytes (a policy of some 10,000 rules) takes the arena. */
#define JARENA_MIN_INPUT	(1UL << 20)

void policy__json_arena_allow(void)
{
	jarena_allowed = true;
}

json_t *nfp_json_loadb(const char *text, size_t len, size_t flags, json_error_t *err)
{
	json_t *root;

	if (!jarena_allowed || len < JARENA_MIN_INPUT)
		return json_loadb(text, len, flags, err);
	json_set_alloc_funcs(jarena_malloc, jarena_free);
	root = json_loadb(text, len, flags, err);
	json_set_alloc_funcs(malloc, jarena_free);
	return root;
}
