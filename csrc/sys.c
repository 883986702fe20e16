#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE /* _POSIX_C_SOURCE alone hides dladdr */
#endif
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#endif
#include "sys.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <hiredis/sockcompat.h>
#ifndef _WIN32
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#endif

#include "heap.h"

typedef struct thread_start {
    void (*fn)(void *);
    void *arg;
} thread_start;

#ifdef _WIN32
static DWORD WINAPI thread_main(LPVOID p) {
    thread_start start = *(thread_start *)p;
    cpipe_free(p);
    start.fn(start.arg);
    return 0;
}
#else
static void *thread_main(void *p) {
    thread_start start = *(thread_start *)p;
    cpipe_free(p);
    start.fn(start.arg);
    return NULL;
}
#endif

int cpipe_thread_start(cpipe_thread *t, void (*fn)(void *), void *arg) {
    thread_start *start = cpipe_malloc(sizeof *start);
    if (start == NULL) return -1;
    start->fn = fn;
    start->arg = arg;
#ifdef _WIN32
    *t = CreateThread(NULL, 0, thread_main, start, 0, NULL);
    if (*t != NULL) return 0;
#else
    /* The I/O loop needs little stack; a small one keeps 1,000 pools cheap. */
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setstacksize(&attr, 256 * 1024);
        rc = pthread_create(t, &attr, thread_main, start);
        pthread_attr_destroy(&attr);
    }
    if (rc == 0) return 0;
#endif
    cpipe_free(start);
    return -1;
}

void cpipe_thread_name(const char *name) {
#if defined(__APPLE__)
    pthread_setname_np(name);
#elif defined(__linux__)
    pthread_setname_np(pthread_self(), name);
#else
    (void)name;
#endif
}

void cpipe_thread_join(cpipe_thread t) {
#ifdef _WIN32
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
#else
    pthread_join(t, NULL);
#endif
}

int cpipe_mutex_init(cpipe_mutex *m) {
#ifdef _WIN32
    InitializeSRWLock(m);
    return 0;
#else
    return pthread_mutex_init(m, NULL) == 0 ? 0 : -1;
#endif
}

void cpipe_mutex_lock(cpipe_mutex *m) {
#ifdef _WIN32
    AcquireSRWLockExclusive(m);
#else
    pthread_mutex_lock(m);
#endif
}

void cpipe_mutex_unlock(cpipe_mutex *m) {
#ifdef _WIN32
    ReleaseSRWLockExclusive(m);
#else
    pthread_mutex_unlock(m);
#endif
}

void cpipe_mutex_destroy(cpipe_mutex *m) {
#ifdef _WIN32
    (void)m;
#else
    pthread_mutex_destroy(m);
#endif
}

int cpipe_pin_library(void) {
#ifdef _WIN32
    HMODULE self;
    DWORD flags = GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN;
    return GetModuleHandleExA(flags, (LPCSTR)(void *)&cpipe_pin_library, &self) ? 0 : -1;
#else
    /* Taking one more reference with RTLD_NODELETE (RTLD_NOLOAD: the
     * library is loaded already) makes every later dlclose() a no-op. */
    Dl_info info;
    if (dladdr((void *)&cpipe_pin_library, &info) == 0 || info.dli_fname == NULL) return -1;
    return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE) != NULL ? 0 : -1;
#endif
}

int64_t cpipe_now_us(void) {
#ifdef _WIN32
    static LARGE_INTEGER frequency;
    LARGE_INTEGER counter;
    if (frequency.QuadPart == 0) QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&counter);
    return (int64_t)(counter.QuadPart * 1000000 / frequency.QuadPart);
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
#endif
}

void cpipe_thread_yield(void) {
#ifdef _WIN32
    SwitchToThread();
#else
    sched_yield();
#endif
}

int cpipe_cpus_usable(void) {
#ifdef _WIN32
    DWORD_PTR process = 0, system = 0;
    if (GetProcessAffinityMask(GetCurrentProcess(), &process, &system) && process != 0) {
        int n = 0;
        for (; process; process &= process - 1) n++;
        return n;
    }
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return info.dwNumberOfProcessors > 0 ? (int)info.dwNumberOfProcessors : 1;
#elif defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        return n > 0 ? n : 1;
    }
    return 1;
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
#endif
}

int64_t cpipe_now_ms(void) {
#ifdef _WIN32
    return (int64_t)GetTickCount64();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
}
