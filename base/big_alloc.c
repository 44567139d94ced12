/* big_alloc.c — anonymous mappings with huge pages; see big_alloc.h. */
#include "big_alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "array.h"

#define HUGE_PAGE ((size_t)2 << 20)

/*
 * size bytes of address space starting on a huge page boundary, reserved
 * (no access, nothing committed) for a mapping to be put over; NULL when
 * the address space is short.
 */
static void *aligned_range(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size = (size + page - 1) & ~(page - 1);
	uint8_t *p = mmap(NULL, size + HUGE_PAGE, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uint8_t *at = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	if (at > p)
		munmap(p, (size_t)(at - p));
	size_t tail = (size_t)(p + size + HUGE_PAGE - (at + size));
	if (tail)
		munmap(at + size, tail);
	return at;
}

void *big_alloc(size_t size)
{
	size = size ? size : 1;
	/* Aligned, so that every whole 2 MiB of the table can be a huge page. */
	void *at = size >= HUGE_PAGE ? aligned_range(size) : NULL;
	void *p = mmap(at, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0), -1, 0);
	if (p == MAP_FAILED) {
		if (at)
			munmap(at, size);
		return NULL;
	}
	/* Advice only: without huge pages the table works the same, slower. */
	(void)madvise(p, size, MADV_HUGEPAGE);
	return p;
}

#if defined(__SANITIZE_THREAD__)
/*
 * ThreadSanitizer does not see mremap() move pages: a table grown onto
 * pages another thread mapped and unmapped before would look like that
 * thread's memory. Under it, a table grows by a copy.
 */
void *big_realloc(void *p, size_t old_size, size_t new_size)
{
	void *q = big_alloc(new_size);
	if (q) {
		memcpy(q, p, old_size < new_size ? old_size : new_size);
		big_free(p, old_size);
	}
	return q;
}
#else
void *big_realloc(void *p, size_t old_size, size_t new_size)
{
	old_size = old_size ? old_size : 1;
	new_size = new_size ? new_size : 1;
	bool big = new_size >= HUGE_PAGE, aligned = ((uintptr_t)p & (HUGE_PAGE - 1)) == 0;
	void *q = !big || aligned ? mremap(p, old_size, new_size, 0) : MAP_FAILED;
	if (q == MAP_FAILED && big) {
		/* Moved to a huge page boundary: a move elsewhere would split the
		 * huge pages it has into small ones, and leave it unaligned. */
		void *at = aligned_range(new_size);
		q = at ? mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, at) : MAP_FAILED;
		if (q == MAP_FAILED && at)
			munmap(at, new_size);
	}
	if (q == MAP_FAILED)
		q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		return NULL;
	(void)madvise(q, new_size, MADV_HUGEPAGE);
	return q;
}
#endif

void big_free(void *p, size_t size)
{
	if (p)
		munmap(p, size ? size : 1);
}

bool big_array_reserve(void **p, size_t *cap, size_t want, size_t size)
{
	size_t n;
	if (want <= *cap)
		return true;
	if (!array_grown_cap(*cap, want, size, &n))
		return false;
	void *q = *p ? big_realloc(*p, *cap * size, n * size) : big_alloc(n * size);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}
