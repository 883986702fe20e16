#include "heap.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/alloc.h>
#include "cpipe.h"

/* The counter is process-wide on purpose: it measures the library as a whole. */
static atomic_llong live_blocks;

#ifdef CPIPE_FAULT_INJECTION
/* Test builds only: which allocation from now on fails (1: the next; 0: none). */
static atomic_llong fail_in;

long long cpipe_heap_fail_in(long long n) {
    return atomic_exchange(&fail_in, n);
}

static int injected_failure(void) {
    return atomic_load(&fail_in) > 0 && atomic_fetch_sub(&fail_in, 1) == 1;
}
#else
#define injected_failure() 0
#endif

void *cpipe_malloc(size_t size) {
    if (injected_failure()) return NULL;
    void *p = malloc(size ? size : 1);
    if (p) atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
    return p;
}

void *cpipe_calloc(size_t count, size_t size) {
    if (injected_failure()) return NULL;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p) atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
    return p;
}

void *cpipe_realloc(void *ptr, size_t size) {
    if (ptr == NULL) return cpipe_malloc(size);
    if (injected_failure()) return NULL;
    return realloc(ptr, size ? size : 1);
}

void cpipe_free(void *ptr) {
    if (ptr == NULL) return;
    atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
    free(ptr);
}

static char *counted_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = cpipe_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void cpipe_alloc_install(void) {
    /* 0: not installed, 1: installing, 2: installed. */
    static atomic_int state;
    int expected = 0;
    if (atomic_compare_exchange_strong(&state, &expected, 1)) {
        hiredisAllocFuncs fns = {
            .mallocFn = cpipe_malloc,
            .callocFn = cpipe_calloc,
            .reallocFn = cpipe_realloc,
            .strdupFn = counted_strdup,
            .freeFn = cpipe_free,
        };
        hiredisSetAllocators(&fns);
        atomic_store(&state, 2);
        return;
    }
    while (atomic_load(&state) != 2) {
        /* another thread is installing; it takes a few instructions */
    }
}

CPIPE_API int64_t cpipe_live_allocations(void) {
    return (int64_t)atomic_load(&live_blocks);
}
