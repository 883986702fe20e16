/* C-level tests of the pool: every error path of its API, and a live server
 * on the unix socket named by CPIPE_TEST_SOCKET: replies matched to ids,
 * failures when connections are killed, exclusive connections, close with
 * commands in flight, many pools created and freed. Run under ASan/UBSan
 * (`make asan-pool`) and ThreadSanitizer (`make tsan-pool`). */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cpipe.h"
#include "heap.h"

#include "check.h"


/* ---- packing ----------------------------------------------------------------- */

typedef struct batch {
    uint8_t cmds[1 << 20];
    size_t len;
    uint8_t ids[1 << 16];
    size_t count;
} batch;

static void put32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Adds one command (NULL-terminated arguments) under `id`. */
static void add(batch *b, uint32_t id, ...) {
    va_list ap;
    const char *args[16];
    int n = 0;
    va_start(ap, id);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 16;) args[n++] = a;
    va_end(ap);
    put32(b->cmds + b->len, (uint32_t)n);
    b->len += 4;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(args[i]);
        put32(b->cmds + b->len, (uint32_t)len);
        memcpy(b->cmds + b->len + 4, args[i], len);
        b->len += 4 + len;
    }
    put32(b->ids + 4 * b->count, id);
    b->count++;
}

static int32_t submit(cpipe_pool *p, batch *b, int32_t route) {
    int32_t rc = cpipe_pool_submit(p, b->cmds, (int32_t)b->len, b->ids, (int32_t)(4 * b->count), route);
    b->len = b->count = 0;
    return rc;
}

/* ---- completions ------------------------------------------------------------- */

#define MAX_IDS 70000

typedef struct results {
    int got[MAX_IDS];      /* records seen per id */
    char tag[MAX_IDS];     /* first byte of the reply, '!' for a failure */
    int32_t code[MAX_IDS]; /* a failure's status */
    char text[MAX_IDS][24]; /* a short reply's payload */
    int total;
} results;

static results res;

static void reset(void) {
    memset(&res, 0, sizeof res);
}

static uint8_t drained[4 << 20];

/* Drains until `want` records in all arrived, waiting on the notification
 * socket; 0 when they did within `ms`. */
static int collect(cpipe_pool *p, int want, int ms) {
    int fd = cpipe_pool_notify_fd(p, 0);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (res.total < want) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 20);
        char bytes[64];
        while (recv(fd, bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
        }
        for (;;) {
            CHECK(cpipe_pool_drain(p, drained, sizeof drained) == CPIPE_OK);
            uint32_t records = get32(drained), used = get32(drained + 4), flags = get32(drained + 8);
            size_t pos = CPIPE_REPLY_HEADER;
            for (uint32_t i = 0; i < records; i++) {
                uint32_t id = get32(drained + pos), len = get32(drained + pos + 4);
                const uint8_t *r = drained + pos + 8;
                if (id < MAX_IDS) {
                    res.got[id]++;
                    res.tag[id] = (char)r[0];
                    if (r[0] == '!') res.code[id] = (int32_t)get32(r + 1);
                    if ((r[0] == '+' || r[0] == '$') && len >= 5) {
                        uint32_t n = get32(r + 1);
                        if (n < sizeof res.text[0]) memcpy(res.text[id], r + 5, n);
                    }
                }
                res.total++;
                pos += 8 + len;
            }
            CHECK(pos == CPIPE_REPLY_HEADER + used);
            if (!(flags & CPIPE_FLAG_MORE)) break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > ms) return -1;
    }
    return 0;
}

static cpipe_pool *pool_on(const char *socket, int size, int exclusive) {
    return cpipe_pool_create((const uint8_t *)socket, (int32_t)strlen(socket), 0, size, exclusive, 2000, 0, 50,
                             100000, NULL, 0);
}

/* A synchronous connection to drive the server (CLIENT KILL, PAUSE). */
static void admin(const char *socket, const char *a, const char *b, const char *c, const char *d) {
    static batch cmd;
    cmd.len = cmd.count = 0;
    add(&cmd, 0, a, b, c, d, NULL);
    cpipe_conn *conn = cpipe_conn_create((const uint8_t *)socket, (int32_t)strlen(socket), 0, 1000, 2000, NULL, 0);
    static uint8_t out[4096];
    CHECK(conn != NULL && cpipe_conn_exchange(conn, cmd.cmds, (int32_t)cmd.len, out, sizeof out) == CPIPE_OK);
    cpipe_conn_free(conn);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_api_errors(void) {
    static batch b;
    uint8_t out[64];
    const uint8_t *host = (const uint8_t *)"127.0.0.1";
    CHECK(cpipe_pool_create(NULL, 9, 6379, 1, 0, 0, 0, 10, 10, NULL, 0) == NULL);
    CHECK(cpipe_pool_create(host, 0, 6379, 1, 0, 0, 0, 10, 10, NULL, 0) == NULL);
    CHECK(cpipe_pool_create((const uint8_t *)"a\0b", 3, 6379, 1, 0, 0, 0, 10, 10, NULL, 0) == NULL);
    CHECK(cpipe_pool_create(host, 9, 70000, 1, 0, 0, 0, 10, 10, NULL, 0) == NULL);
    CHECK(cpipe_pool_create(host, 9, 6379, 0, 0, 0, 0, 10, 10, NULL, 0) == NULL);
    CHECK(cpipe_pool_create(host, 9, 6379, 2000, 0, 0, 0, 10, 10, NULL, 0) == NULL);
    CHECK(cpipe_pool_create(host, 9, 6379, 1, -1, 0, 0, 10, 10, NULL, 0) == NULL);
    CHECK(cpipe_pool_create(host, 9, 6379, 1, 0, -1, 0, 10, 10, NULL, 0) == NULL);
    CHECK(cpipe_pool_create(host, 9, 6379, 1, 0, 0, 0, 0, 10, NULL, 0) == NULL);
    CHECK(cpipe_pool_create(host, 9, 6379, 1, 0, 0, 0, 10, 0, NULL, 0) == NULL);
    CHECK(cpipe_pool_create(host, 9, 6379, 1, 0, 0, 0, 10, 10, NULL, 4) == NULL);
    CHECK(cpipe_pool_create(host, 9, 6379, 1, 0, 0, 0, 10, 10, (const uint8_t *)"\1\0\0\0", 4) == NULL);

    CHECK(cpipe_pool_notify_fd(NULL, 0) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(NULL, b.cmds, 0, b.ids, 0, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_drain(NULL, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_lease(NULL) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_release(NULL, 0, 1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_connected(NULL) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_errstr(NULL, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_close(NULL) == CPIPE_ERR_ARG);
    cpipe_pool_free(NULL);

    /* A pool whose server does not exist: every argument check still works. */
    cpipe_pool *p = cpipe_pool_create(host, 9, 1, 2, 1, 100, 0, 10, 4, NULL, 0);
    CHECK(p != NULL);
    b.len = b.count = 0;
    add(&b, 1, "PING", NULL);
    CHECK(cpipe_pool_submit(p, NULL, 10, b.ids, 4, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, NULL, 4, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.ids, 8, -1) == CPIPE_ERR_ARG); /* ids for 2 commands */
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len - 1, b.ids, 4, -1) == CPIPE_ERR_ARG); /* cut short */
    CHECK(cpipe_pool_submit(p, b.cmds, -5, b.ids, 4, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.ids, 4, 3) == CPIPE_ERR_ARG);  /* no such connection */
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.ids, 4, -2) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.ids, 4, 2) == CPIPE_ERR_ARG);  /* exclusive, not leased */
    uint8_t msg[CPIPE_ERRSTR_LEN];
    int32_t n = cpipe_pool_errstr(p, msg, sizeof msg);
    CHECK(n > 0 && n < (int32_t)sizeof msg && memmem(msg, (size_t)n, "not leased", 10) != NULL);
    CHECK(cpipe_pool_drain(p, out, 15) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_drain(p, NULL, 100) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_release(p, 0, 1) == CPIPE_ERR_ARG);  /* shared */
    CHECK(cpipe_pool_release(p, 2, 1) == CPIPE_ERR_ARG);  /* not leased */
    CHECK(cpipe_pool_release(p, 99, 1) == CPIPE_ERR_ARG);
    /* The window: 4 commands at most. */
    b.len = b.count = 0;
    for (uint32_t i = 0; i < 5; i++) add(&b, i, "PING", NULL);
    CHECK(submit(p, &b, -1) == CPIPE_ERR_BUSY);
    int fd = cpipe_pool_notify_fd(p, 0);
    CHECK(fd >= 0);
    CHECK(cpipe_pool_close(p) == CPIPE_OK);
    CHECK(cpipe_pool_close(p) == CPIPE_OK);
    b.len = b.count = 0;
    add(&b, 1, "PING", NULL);
    CHECK(submit(p, &b, -1) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_pool_lease(p) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_pool_notify_fd(p, 1) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_pool_connected(p) == 0);
    cpipe_pool_free(p);
}

static void test_unreachable(void) {
    static batch b;
    reset();
    const char *host = "127.0.0.1";
    cpipe_pool *p = cpipe_pool_create((const uint8_t *)host, 9, 1, 2, 0, 500, 0, 20, 1000, NULL, 0);
    for (uint32_t i = 0; i < 10; i++) add(&b, i, "PING", NULL);
    int32_t rc = submit(p, &b, -1);
    if (rc >= 0) {
        /* Staged on a connection about to try: fails with it. */
        CHECK(collect(p, 10, 2000) == 0);
        for (int i = 0; i < 10; i++) CHECK(res.tag[i] == '!' && res.code[i] == CPIPE_ERR_CONN);
    } else {
        CHECK(rc == CPIPE_ERR_CONN);
    }
    sleep_ms(5);
    add(&b, 20, "PING", NULL);
    rc = submit(p, &b, -1);
    CHECK(rc == CPIPE_ERR_CONN || rc >= 0);
    uint8_t msg[CPIPE_ERRSTR_LEN];
    if (rc == CPIPE_ERR_CONN) {
        int32_t n = cpipe_pool_errstr(p, msg, sizeof msg);
        CHECK(n > 0 && memmem(msg, (size_t)n, "cannot connect", 14) != NULL);
    }
    cpipe_pool_free(p);
}

static void test_live(const char *socket) {
    static batch b;
    char key[32], val[32];

    /* Replies match their ids, in and across batches. */
    reset();
    cpipe_pool *p = pool_on(socket, 4, 2);
    CHECK(p != NULL);
    uint32_t id = 0;
    for (int batchno = 0; batchno < 10; batchno++) {
        for (int i = 0; i < 1000; i++, id++) {
            snprintf(key, sizeof key, "c:%u", id);
            snprintf(val, sizeof val, "v%u", id);
            add(&b, id, "SET", key, val, NULL);
        }
        CHECK(submit(p, &b, -1) >= 0);
    }
    for (uint32_t i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "c:%u", i);
        add(&b, 10000 + i, "GET", key, NULL);
        if (b.count == 5000) CHECK(submit(p, &b, -1) >= 0);
    }
    CHECK(collect(p, 20000, 10000) == 0);
    int matched = 1;
    for (uint32_t i = 0; i < 10000; i++) {
        snprintf(val, sizeof val, "v%u", i);
        matched &= res.got[i] == 1 && res.tag[i] == '+' && strcmp(res.text[i], "OK") == 0;
        matched &= res.got[10000 + i] == 1 && res.tag[10000 + i] == '$' && strcmp(res.text[10000 + i], val) == 0;
    }
    CHECK(matched);
    CHECK(cpipe_pool_connected(p) == 4);

    /* A pinned route keeps to its connection; an error reply is just a reply. */
    reset();
    add(&b, 1, "INCR", "c:0", NULL);
    int32_t slot = submit(p, &b, -1);
    CHECK(slot >= 0 && slot < 4);
    add(&b, 2, "PING", NULL);
    CHECK(submit(p, &b, slot) == slot);
    CHECK(collect(p, 2, 5000) == 0);
    CHECK(res.tag[1] == '-' && res.tag[2] == '+');

    /* Exclusive connections: BLPOP waits there while shared ones serve. */
    reset();
    int32_t ex = cpipe_pool_lease(p);
    CHECK(ex >= 4);
    int32_t ex2 = cpipe_pool_lease(p);
    CHECK(ex2 >= 4 && ex2 != ex);
    CHECK(cpipe_pool_lease(p) == CPIPE_ERR_BUSY);
    add(&b, 100, "BLPOP", "c:list", "5", NULL);
    CHECK(submit(p, &b, ex) == ex);
    add(&b, 101, "RPUSH", "c:list", "x", NULL);
    CHECK(submit(p, &b, -1) >= 0);
    CHECK(collect(p, 2, 5000) == 0);
    CHECK(res.tag[100] == '*' && res.tag[101] == ':');
    CHECK(cpipe_pool_release(p, ex, 1) == CPIPE_OK);
    CHECK(cpipe_pool_release(p, ex, 1) == CPIPE_ERR_ARG);
    /* Released with a command in flight: it fails, CLOSED. */
    reset();
    add(&b, 200, "BLPOP", "c:never", "0", NULL);
    CHECK(submit(p, &b, ex2) == ex2);
    sleep_ms(50);
    CHECK(cpipe_pool_release(p, ex2, 1) == CPIPE_OK);
    CHECK(collect(p, 1, 5000) == 0);
    CHECK(res.tag[200] == '!' && res.code[200] == CPIPE_ERR_CLOSED);

    /* Connections killed with commands in flight: those fail, CONN; the pool reconnects. */
    reset();
    admin(socket, "CLIENT", "PAUSE", "3000", "WRITE");
    for (uint32_t i = 0; i < 400; i++) {
        snprintf(key, sizeof key, "k:%u", i);
        add(&b, i, "SET", key, "v", NULL);
        if (b.count == 100) CHECK(submit(p, &b, -1) >= 0);
    }
    sleep_ms(50);
    admin(socket, "CLIENT", "KILL", "TYPE", "normal"); /* every client but the admin's own */
    admin(socket, "CLIENT", "UNPAUSE", NULL, NULL);
    CHECK(collect(p, 400, 5000) == 0);
    int all_failed = 1;
    for (int i = 0; i < 400; i++) all_failed &= res.got[i] == 1 && res.tag[i] == '!' && res.code[i] == CPIPE_ERR_CONN;
    CHECK(all_failed);
    for (int i = 0; i < 200 && cpipe_pool_connected(p) < 4; i++) sleep_ms(10);
    CHECK(cpipe_pool_connected(p) >= 4);
    reset();
    add(&b, 7, "PING", NULL);
    CHECK(submit(p, &b, -1) >= 0);
    CHECK(collect(p, 1, 5000) == 0 && res.tag[7] == '+');

    /* A reply larger than the drain buffer waits, and `need` tells its size. */
    reset();
    static char big[300000];
    memset(big, 'z', sizeof big - 1);
    add(&b, 1, "SET", "c:big", big, NULL);
    add(&b, 2, "GET", "c:big", NULL);
    CHECK(submit(p, &b, -1) >= 0);
    uint8_t small[64];
    int fd = cpipe_pool_notify_fd(p, 0);
    for (int i = 0; i < 500; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 10);
        char bytes[64];
        while (recv(fd, bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
        }
        CHECK(cpipe_pool_drain(p, small, sizeof small) == CPIPE_OK);
        if (get32(small + 12) > 0) break;
    }
    CHECK(get32(small) == 0 && get32(small + 12) == 8 + 5 + sizeof big - 1);
    CHECK(collect(p, 1, 5000) == 0 && res.tag[2] == '$');

    /* Close with commands in flight: every one gets a record. */
    reset();
    admin(socket, "CLIENT", "PAUSE", "2000", "WRITE");
    for (uint32_t i = 0; i < 1000; i++) add(&b, i, "SET", "c:paused", "v", NULL);
    CHECK(submit(p, &b, -1) >= 0);
    sleep_ms(20);
    CHECK(cpipe_pool_close(p) == CPIPE_OK);
    CHECK(collect(p, 1000, 1000) == 0);
    int closed = 1;
    for (int i = 0; i < 1000; i++) closed &= res.got[i] == 1 && res.tag[i] == '!' && res.code[i] == CPIPE_ERR_CLOSED;
    CHECK(closed);
    admin(socket, "CLIENT", "UNPAUSE", NULL, NULL);
    cpipe_pool_free(p);

    /* A handshake that fails fails the commands staged behind it. */
    reset();
    static batch hs;
    hs.len = hs.count = 0;
    add(&hs, 0, "AUTH", "nobody", "wrong", NULL);
    p = cpipe_pool_create((const uint8_t *)socket, (int32_t)strlen(socket), 0, 1, 0, 1000, 0, 50, 100, hs.cmds,
                          (int32_t)hs.len);
    add(&b, 1, "PING", NULL);
    if (submit(p, &b, -1) >= 0) {
        CHECK(collect(p, 1, 5000) == 0);
        CHECK(res.tag[1] == '!' && res.code[1] == CPIPE_ERR_HANDSHAKE);
    }
    cpipe_pool_free(p);

    /* Many pools, freed with work in flight, the notification socket taken or not. */
    for (int i = 0; i < 100; i++) {
        p = pool_on(socket, 1 + i % 4, i % 3);
        for (uint32_t k = 0; k < 50; k++) add(&b, k, "PING", NULL);
        CHECK(submit(p, &b, -1) >= 0);
        if (i % 3 == 2) CHECK(cpipe_pool_lease(p) >= 0);
        if (i % 2) sleep_ms(1);
        if (i % 5 == 0) {
            int taken = cpipe_pool_notify_fd(p, 1);
            CHECK(taken >= 0);
            cpipe_pool_free(p);
            close(taken);
        } else {
            cpipe_pool_free(p);
        }
    }
}

static int open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return -1;
    while (readdir(d) != NULL) n++;
    closedir(d);
    return n;
}

#ifdef CPIPE_FAULT_INJECTION
/* Each allocation cpipe_pool_create makes fails in turn: it returns NULL
 * and leaves no memory, descriptor or thread behind. */
static void test_create_out_of_memory(void) {
    static batch handshake;
    handshake.len = handshake.count = 0;
    add(&handshake, 0, "PING", NULL);
    const uint8_t *host = (const uint8_t *)"127.0.0.1";
    int64_t live = cpipe_live_allocations();
    int fds = open_fds(), refused = 0;
    for (long long n = 1; n < 1000; n++) {
        cpipe_heap_fail_in(n);
        cpipe_pool *p = cpipe_pool_create(host, 9, 1, 3, 2, 100, 0, 50, 1000, handshake.cmds, (int32_t)handshake.len);
        cpipe_heap_fail_in(0);
        if (p != NULL) {
            cpipe_pool_free(p);
            CHECK(cpipe_live_allocations() == live);
            CHECK(open_fds() == fds);
            break; /* every allocation of a successful create was failed once */
        }
        refused++;
        CHECK(cpipe_live_allocations() == live);
        CHECK(open_fds() == fds);
    }
    CHECK(refused >= 5);
}
#endif

int main(void) {
    cpipe_alloc_install();
    test_api_errors();
    test_unreachable();
#ifdef CPIPE_FAULT_INJECTION
    test_create_out_of_memory();
#endif
    const char *socket = getenv("CPIPE_TEST_SOCKET");
    CHECK(socket != NULL); /* `make asan-pool` starts a server and sets it */
    if (socket) test_live(socket);
    CHECK(cpipe_live_allocations() == 0);
    printf("test_pool: %d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
