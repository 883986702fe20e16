/* The few operating-system services the pool needs beyond hiredis: a thread,
 * a mutex and a monotonic clock (sockets are sock.h's).
 * POSIX threads everywhere but Windows, which gets its native equivalents. */
#ifndef CPIPE_SYS_H
#define CPIPE_SYS_H

#include <stdint.h>

#include <hiredis/hiredis.h> /* redisFD */

#ifdef _WIN32
#include <winsock2.h> /* before windows.h, which would bring the old winsock.h */
#include <windows.h>
typedef HANDLE cpipe_thread;
typedef SRWLOCK cpipe_mutex;
#else
#include <pthread.h>
typedef pthread_t cpipe_thread;
typedef pthread_mutex_t cpipe_mutex;
#endif

/* Starts fn(arg) on a new thread; 0 on success, -1 on failure. */
int cpipe_thread_start(cpipe_thread *t, void (*fn)(void *), void *arg);
/* Names the calling thread (shown by ps, gdb, /proc): where supported. */
void cpipe_thread_name(const char *name);
/* Waits for the thread to return. */
void cpipe_thread_join(cpipe_thread t);

int cpipe_mutex_init(cpipe_mutex *m);
void cpipe_mutex_lock(cpipe_mutex *m);
void cpipe_mutex_unlock(cpipe_mutex *m);
void cpipe_mutex_destroy(cpipe_mutex *m);

/* Keeps this library loaded until the process exits, whoever unloads it:
 * its threads must never run unmapped code (Deno unloads a library when the
 * worker that opened it ends). 0, or -1 when it could not be pinned, as when
 * the code is linked into the program rather than loaded as a library. */
int cpipe_pin_library(void);

/* Monotonic milliseconds, so a wall-clock jump cannot fire a timeout. */
int64_t cpipe_now_ms(void);
/* Monotonic microseconds. */
int64_t cpipe_now_us(void);

/* Lets another thread run on this CPU. */
void cpipe_thread_yield(void);

/* CPUs the calling thread may run on (its affinity mask where the system
 * tells; otherwise the CPUs online), at least 1. */
int cpipe_cpus_usable(void);

#endif
