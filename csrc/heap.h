/* Heap functions of the core: counted, so tests can prove nothing leaks. */
#ifndef CPIPE_HEAP_H
#define CPIPE_HEAP_H

#include <stddef.h>
#include <stdint.h>

void *cpipe_malloc(size_t size);
void *cpipe_calloc(size_t count, size_t size);
void *cpipe_realloc(void *ptr, size_t size);
void cpipe_free(void *ptr);

/* Routes hiredis' allocations through the counted functions. Idempotent and
 * safe to call from several threads. */
void cpipe_alloc_install(void);

#ifdef CPIPE_FAULT_INJECTION
/* Test builds only: the n-th allocation from now on fails (0: none does).
 * Returns what was left of the previous count: above 0, nothing failed. */
long long cpipe_heap_fail_in(long long n);
#endif

#endif
