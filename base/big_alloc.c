/* big_alloc.c — anonymous mappings with huge pages; see big_alloc.h. */
#include "big_alloc.h"

#include <sys/mman.h>

void *big_alloc(size_t size)
{
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Advice only: without huge pages the table works the same, slower. */
	(void)madvise(p, size, MADV_HUGEPAGE);
	return p;
}

void *big_realloc(void *p, size_t old_size, size_t new_size)
{
	void *q = mremap(p, old_size ? old_size : 1, new_size ? new_size : 1, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		return NULL;
	(void)madvise(q, new_size, MADV_HUGEPAGE);
	return q;
}

void big_free(void *p, size_t size)
{
	if (p)
		munmap(p, size ? size : 1);
}
