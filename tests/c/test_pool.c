/* C-level tests of the pool: its settings, every error path of its API,
 * and a live server on the unix socket named by CPIPE_TEST_SOCKET: replies
 * matched to calls, connection events, reply accounting on a connection
 * added beside the pool's own, exclusive connections acquired and released, connections
 * added and removed, killed connections, close with calls in flight,
 * handshake failures that never show a password, many pools created and
 * freed, allocation failures. Run under ASan/UBSan (`make asan-pool`) and
 * ThreadSanitizer (`make tsan-pool`). */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cpipe.h"
#include "heap.h"

#include "check.h"
#include "wire.h"

static const char *sock_path;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- settings -------------------------------------------------------------------- */

static settings cfg;

static cpipe_pool *pool_from(const settings *s) {
    return cpipe_pool_create(s->bytes, (int32_t)s->len);
}

/* Pool settings for `host` (a unix socket path, or an address with `port`). */
static settings *pool_settings(const char *host, int port, int shared, int exclusive, int connect_ms,
                               int max_in_flight, const batch *handshake) {
    settings_begin(&cfg, CPIPE_SETTINGS_VERSION);
    settings_str(&cfg, CPIPE_SET_HOST, host);
    if (port) settings_int(&cfg, CPIPE_SET_PORT, port);
    settings_int(&cfg, CPIPE_SET_SHARED, shared);
    settings_int(&cfg, CPIPE_SET_EXCLUSIVE, exclusive);
    settings_int(&cfg, CPIPE_SET_CONNECT_TIMEOUT, connect_ms);
    settings_int(&cfg, CPIPE_SET_RECONNECT_MAX, 50);
    settings_int(&cfg, CPIPE_SET_MAX_IN_FLIGHT, max_in_flight);
    if (handshake) settings_bytes(&cfg, CPIPE_SET_HANDSHAKE, handshake->cmds, (uint32_t)handshake->len);
    return &cfg;
}

static cpipe_pool *pool_on(int shared, int exclusive) {
    return pool_from(pool_settings(sock_path, 0, shared, exclusive, 2000, 100000, NULL));
}

/* Settings of one connection to the live server (for cpipe_pool_add). */
static settings conn_cfg;

static settings *conn_settings(const batch *handshake) {
    settings_begin(&conn_cfg, CPIPE_SETTINGS_VERSION);
    settings_str(&conn_cfg, CPIPE_SET_HOST, sock_path);
    settings_int(&conn_cfg, CPIPE_SET_CONNECT_TIMEOUT, 2000);
    if (handshake) settings_bytes(&conn_cfg, CPIPE_SET_HANDSHAKE, handshake->cmds, (uint32_t)handshake->len);
    return &conn_cfg;
}

static int32_t add_conn(cpipe_pool *p, const settings *s, int32_t role) {
    return cpipe_pool_add(p, s->bytes, (int32_t)s->len, role);
}

static int32_t submit(cpipe_pool *p, batch *b, int32_t route) {
    int32_t rc = cpipe_pool_submit(p, b->cmds, (int32_t)b->len, b->calls, batch_calls_len(b), route);
    batch_reset(b);
    return rc;
}

static int errstr_has(cpipe_pool *p, const char *needle) {
    char msg[CPIPE_ERRSTR_LEN + 1] = {0};
    int32_t n = cpipe_pool_errstr(p, (uint8_t *)msg, CPIPE_ERRSTR_LEN);
    return n > 0 && n <= CPIPE_ERRSTR_LEN && strstr(msg, needle) != NULL;
}

/* ---- records, gathered per call and per event ------------------------------------------- */

#define MAX_IDS 70000
#define MAX_EVENTS 4096

typedef struct event {
    uint16_t connection;
    uint8_t event;
    int32_t status;
    uint32_t attempt, delay_ms, seq;
    char message[200];
    uint8_t reply[200]; /* the server's error reply, encoded */
    uint32_t reply_len;
} event;

typedef struct results {
    int got[MAX_IDS];        /* records that ended the call (a final reply, or a failure) */
    int partial[MAX_IDS];    /* partial replies */
    char tag[MAX_IDS];       /* the reply's type byte, '!' for a failure */
    int32_t code[MAX_IDS];   /* a failure's status */
    uint16_t conn[MAX_IDS];  /* the connection of the last record */
    uint32_t seq[MAX_IDS];   /* the place of the last record in all drained */
    char text[MAX_IDS][24];  /* a short reply's bytes */
    char message[MAX_IDS][160]; /* a failure's message */
    int total;               /* records that ended a call */
    uint32_t records;
    int pushes;
    uint16_t push_conn;      /* the connection of the last push */
    char push_kind[24];      /* the first element of the last push ("invalidate"…) */
    event events[MAX_EVENTS];
    int nevents;
    int malformed;
    int secret_seen; /* `secret` appeared in a drained buffer */
} results;

static results res;
static const char *secret; /* never to appear in a drained buffer */

static void reset(void) {
    memset(&res, 0, sizeof res);
}

static uint8_t drained[4 << 20];

/* Drains everything queued now into `res`. */
static void drain_all(cpipe_pool *p) {
    for (;;) {
        CHECK(cpipe_pool_drain(p, drained, sizeof drained) == CPIPE_OK);
        records w;
        record r;
        records_open(&w, drained, sizeof drained);
        if (secret && memmem(drained, CPIPE_HEADER_SIZE + w.used, secret, strlen(secret)) != NULL)
            res.secret_seen = 1;
        while (records_next(&w, &r)) {
            uint32_t seq = ++res.records;
            if (r.kind == CPIPE_RECORD_PUSH) {
                res.pushes++;
                res.push_conn = r.connection;
                memset(res.push_kind, 0, sizeof res.push_kind);
                /* '>' count, then the first element: '$' or '+' len bytes */
                if (r.len >= 10 && r.payload[0] == '>' && wire_get32(r.payload + 6) < sizeof res.push_kind)
                    memcpy(res.push_kind, r.payload + 10, wire_get32(r.payload + 6));
            } else if (r.kind == CPIPE_RECORD_EVENT) {
                if (res.nevents == MAX_EVENTS) continue;
                event *e = &res.events[res.nevents++];
                e->connection = r.connection;
                e->event = r.event;
                e->status = r.status;
                e->attempt = r.attempt;
                e->delay_ms = r.delay_ms;
                e->seq = seq;
                size_t n = r.message_len < sizeof e->message - 1 ? r.message_len : sizeof e->message - 1;
                memcpy(e->message, r.message, n);
                e->message[n] = '\0';
                e->reply_len = r.server_reply_len < sizeof e->reply ? r.server_reply_len : sizeof e->reply;
                if (r.server_reply) memcpy(e->reply, r.server_reply, e->reply_len);
            } else if (r.id < MAX_IDS) {
                uint32_t id = r.id;
                res.conn[id] = r.connection;
                res.seq[id] = seq;
                memset(res.text[id], 0, sizeof res.text[id]);
                memset(res.message[id], 0, sizeof res.message[id]);
                if (r.kind == CPIPE_RECORD_FAILURE) {
                    res.tag[id] = '!';
                    res.code[id] = r.status;
                    size_t n = r.message_len < sizeof res.message[id] - 1 ? r.message_len : sizeof res.message[id] - 1;
                    memcpy(res.message[id], r.message, n);
                } else {
                    res.tag[id] = (char)r.payload[0];
                    uint32_t n = r.len >= 5 ? wire_get32(r.payload + 1) : 0;
                    if ((r.payload[0] == '+' || r.payload[0] == '$' || r.payload[0] == '-') && n < sizeof res.text[id])
                        memcpy(res.text[id], r.payload + 5, n);
                }
                if (r.kind == CPIPE_RECORD_REPLY && (r.flags & CPIPE_RECORD_PARTIAL)) res.partial[id]++;
                else res.got[id]++;
            }
            if (record_finishes(&r)) res.total++;
        }
        if (w.malformed) res.malformed = 1;
        CHECK(!w.malformed);
        if (!(w.flags & CPIPE_FLAG_MORE)) break;
    }
}

/* Waits on the notification socket once (up to 20 ms), then drains. */
static void pump(cpipe_pool *p) {
    int fd = cpipe_pool_notify_fd(p, 0);
    if (fd >= 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 20);
        char bytes[64];
        while (recv(fd, bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
        }
    } else {
        sleep_ms(5);
    }
    drain_all(p);
}

/* Drains until `want` calls in all ended; 0 when they did within `ms`. */
static int collect(cpipe_pool *p, int want, int ms) {
    int64_t until = now_ms() + ms;
    drain_all(p);
    while (res.total < want) {
        if (now_ms() > until) return -1;
        pump(p);
    }
    return 0;
}

/* The n-th (from 1) event of this kind on this connection (-1: any), or NULL. */
static const event *find_event(int connection, int kind, int nth) {
    for (int i = 0; i < res.nevents; i++) {
        const event *e = &res.events[i];
        if ((connection < 0 || e->connection == connection) && e->event == kind && --nth == 0) return e;
    }
    return NULL;
}

static int count_events(int connection, int kind) {
    int n = 0;
    for (int i = 0; i < res.nevents; i++)
        n += (connection < 0 || res.events[i].connection == connection) && res.events[i].event == kind;
    return n;
}

/* Drains until the n-th such event came; it, or NULL after `ms`. */
static const event *await_event(cpipe_pool *p, int connection, int kind, int nth, int ms) {
    int64_t until = now_ms() + ms;
    drain_all(p);
    const event *e;
    while ((e = find_event(connection, kind, nth)) == NULL && now_ms() < until) pump(p);
    return e;
}

/* ---- a synchronous client to drive the server (CLIENT KILL, PAUSE, CONFIG) ------------------ */

static cpipe_client *admin_client;

static void admin(const char *a, const char *b, const char *c, const char *d) {
    static batch cmd;
    static uint8_t out[4096];
    const char *args[] = {a, b, c, d};
    int n = 0;
    while (n < 4 && args[n] != NULL) n++;
    batch_reset(&cmd);
    batch_pack(&cmd, 1, 1, 0, n, args, NULL);
    if (admin_client == NULL) {
        settings s;
        settings_begin(&s, CPIPE_SETTINGS_VERSION);
        settings_str(&s, CPIPE_SET_HOST, sock_path);
        settings_int(&s, CPIPE_SET_COMMAND_TIMEOUT, 2000);
        admin_client = cpipe_client_create(s.bytes, (int32_t)s.len);
    }
    int replied = 0;
    CHECK(cpipe_client_exchange(admin_client, cmd.cmds, (int32_t)cmd.len, cmd.calls, batch_calls_len(&cmd), out,
                                sizeof out) == CPIPE_OK);
    records w;
    record r;
    records_open(&w, out, sizeof out);
    while (records_next(&w, &r)) replied += r.kind == CPIPE_RECORD_REPLY && r.id == 1 && r.payload[0] != '-';
    CHECK(replied == 1);
}

/* ---- settings -------------------------------------------------------------------------- */

static int pool_refused(const settings *s) {
    cpipe_pool *p = pool_from(s);
    cpipe_pool_free(p);
    return p == NULL;
}

static void test_settings(void) {
    static settings s;
    CHECK(cpipe_pool_create(NULL, 0) == NULL);
    CHECK(cpipe_pool_create(NULL, 12) == NULL);
    CHECK(pool_refused(settings_begin(&s, 0)));
    CHECK(pool_refused(settings_begin(&s, CPIPE_SETTINGS_VERSION + 1)));
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    CHECK(cpipe_pool_create(s.bytes, 2) == NULL);
    CHECK(cpipe_pool_create(s.bytes, -4) == NULL);
    settings_int(&s, 1000, 1);
    CHECK(pool_refused(&s));
    struct {
        uint32_t key;
        int32_t value;
    } bad[] = {
        {CPIPE_SET_SHARED, 0},         {CPIPE_SET_SHARED, -1},         {CPIPE_SET_SHARED, 1025},
        {CPIPE_SET_EXCLUSIVE, -1},     {CPIPE_SET_EXCLUSIVE, 1025},    {CPIPE_SET_RECONNECT_MAX, 0},
        {CPIPE_SET_MAX_IN_FLIGHT, 0},  {CPIPE_SET_MAX_IN_FLIGHT, (1 << 26) + 1}, {CPIPE_SET_PORT, 70000},
        {CPIPE_SET_CONNECT_TIMEOUT, -1}, {CPIPE_SET_COMMAND_TIMEOUT, -1}, {CPIPE_SET_MAX_REPLY_BYTES, 0},
        {CPIPE_SET_HANDSHAKE_LENIENT, -1}, {CPIPE_SET_HANDSHAKE_LENIENT, 1}, /* more than the handshake (none) has */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pool_settings("127.0.0.1", 1, 1, 0, 100, 10, NULL);
        settings_int(&cfg, bad[i].key, bad[i].value); /* the last entry wins */
        CHECK(pool_refused(&cfg));
    }
    const uint8_t malformed[] = {1, 0, 0, 0};
    pool_settings("127.0.0.1", 1, 1, 0, 100, 10, NULL);
    settings_bytes(&cfg, CPIPE_SET_HANDSHAKE, malformed, sizeof malformed);
    CHECK(pool_refused(&cfg));
    /* Valid at the limits. */
    pool_settings("127.0.0.1", 1, 1, 0, 100, 1 << 26, NULL);
    CHECK(!pool_refused(&cfg));
    static batch setinfo;
    batch_reset(&setinfo);
    batch_add(&setinfo, 0, "CLIENT", "SETINFO", "LIB-NAME", "cpipe");
    for (int lenient = 0; lenient <= 2; lenient++) {
        pool_settings("127.0.0.1", 1, 1, 0, 100, 10, &setinfo);
        settings_int(&cfg, CPIPE_SET_HANDSHAKE_LENIENT, lenient);
        CHECK(pool_refused(&cfg) == (lenient > 1));
    }

    /* A connection added takes a connection's keys only. */
    cpipe_pool *p = pool_from(pool_settings("127.0.0.1", 1, 1, 0, 100, 10, NULL));
    CHECK(p != NULL);
    const uint32_t pool_only[] = {CPIPE_SET_RECONNECT_MAX, CPIPE_SET_MAX_IN_FLIGHT, CPIPE_SET_SHARED,
                                  CPIPE_SET_EXCLUSIVE};
    for (size_t i = 0; i < 4; i++) {
        settings_begin(&s, CPIPE_SETTINGS_VERSION);
        settings_int(&s, pool_only[i], 1);
        CHECK(add_conn(p, &s, CPIPE_ROLE_DIRECT) == CPIPE_ERR_ARG);
        CHECK(errstr_has(p, "only a pool takes it"));
    }
    CHECK(add_conn(p, settings_begin(&s, 2), CPIPE_ROLE_DIRECT) == CPIPE_ERR_ARG);
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_int(&s, CPIPE_SET_PORT, 70000);
    CHECK(add_conn(p, &s, CPIPE_ROLE_DIRECT) == CPIPE_ERR_ARG);
    CHECK(errstr_has(p, "invalid connection settings"));
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_bytes(&s, CPIPE_SET_HANDSHAKE, malformed, sizeof malformed);
    CHECK(add_conn(p, &s, CPIPE_ROLE_SHARED) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_add(p, s.bytes, -1, CPIPE_ROLE_DIRECT) == CPIPE_ERR_ARG);
    CHECK(errstr_has(p, "invalid connection settings: a negative length"));
    CHECK(cpipe_pool_add(p, NULL, 0, CPIPE_ROLE_DIRECT) == CPIPE_ERR_ARG);
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    CHECK(add_conn(p, &s, 3) == CPIPE_ERR_ARG && errstr_has(p, "no role 3"));
    CHECK(add_conn(p, &s, -1) == CPIPE_ERR_ARG);
    cpipe_pool_free(p);
}

/* ---- the API's error paths --------------------------------------------------------------- */

static batch b;

static void test_api_errors(void) {
    uint8_t out[64];
    batch_reset(&b);
    CHECK(cpipe_pool_add(NULL, cfg.bytes, (int32_t)cfg.len, CPIPE_ROLE_DIRECT) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_remove(NULL, 0) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_notify_fd(NULL, 0) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(NULL, b.cmds, 0, b.calls, 0, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_drain(NULL, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_acquire(NULL) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_release(NULL, 0, 1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_connected(NULL) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_errstr(NULL, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_close(NULL) == CPIPE_ERR_ARG);
    cpipe_pool_free(NULL);

    /* A pool whose server does not exist: every argument check still works. */
    reset();
    cpipe_pool *p = pool_from(pool_settings("127.0.0.1", 1, 2, 1, 100, 4, NULL));
    CHECK(p != NULL);
    batch_add(&b, 1, "PING");
    CHECK(cpipe_pool_submit(p, NULL, 10, b.calls, 8, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, NULL, 8, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.calls, 0, -1) == CPIPE_ERR_ARG); /* a pool needs calls */
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.calls, 16, -1) == CPIPE_ERR_ARG); /* calls for 2 */
    CHECK(errstr_has(p, "1 commands need 8 bytes of calls"));
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.calls, 4, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len - 1, b.calls, 8, -1) == CPIPE_ERR_ARG); /* cut short */
    CHECK(errstr_has(p, "malformed"));
    CHECK(cpipe_pool_submit(p, b.cmds, 0, b.calls, 0, -1) == CPIPE_ERR_ARG); /* no command */
    CHECK(cpipe_pool_submit(p, b.cmds, -5, b.calls, 8, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.calls, 8, 3) == CPIPE_ERR_ARG); /* no such connection */
    CHECK(errstr_has(p, "no connection 3"));
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.calls, 8, -2) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.calls, 8, 2) == CPIPE_ERR_ARG); /* exclusive, not acquired */
    CHECK(errstr_has(p, "not acquired"));
    uint8_t msg[CPIPE_ERRSTR_LEN];
    int32_t n = cpipe_pool_errstr(p, msg, sizeof msg);
    CHECK(n > 0 && n < (int32_t)sizeof msg);
    CHECK(cpipe_pool_errstr(p, msg, 3) == n); /* cut, its length told */
    CHECK(cpipe_pool_drain(p, out, 15) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_drain(p, NULL, 100) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_release(p, 0, 1) == CPIPE_ERR_ARG); /* shared */
    CHECK(cpipe_pool_release(p, 2, 1) == CPIPE_ERR_ARG); /* not acquired */
    CHECK(cpipe_pool_release(p, 99, 1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_release(p, -1, 1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_remove(p, 99) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_remove(p, -1) == CPIPE_ERR_ARG);
    /* The window: 4 calls at most. */
    batch_reset(&b);
    for (uint32_t i = 0; i < 5; i++) batch_add(&b, i, "PING");
    CHECK(submit(p, &b, -1) == CPIPE_ERR_BUSY);
    CHECK(errstr_has(p, "more than 4"));
    /* One exclusive connection to acquire. */
    int32_t ex = cpipe_pool_acquire(p);
    CHECK(ex == 2);
    CHECK(cpipe_pool_acquire(p) == CPIPE_ERR_BUSY);
    CHECK(cpipe_pool_release(p, ex, 0) == CPIPE_OK);
    CHECK(cpipe_pool_release(p, ex, 0) == CPIPE_ERR_ARG);
    CHECK(await_event(p, ex, CPIPE_EVENT_RELEASED, 1, 2000) != NULL);
    /* A removed connection is gone, and its index refused. */
    CHECK(cpipe_pool_remove(p, 1) == CPIPE_OK);
    CHECK(cpipe_pool_remove(p, 1) == CPIPE_ERR_ARG);
    batch_add(&b, 1, "PING");
    CHECK(submit(p, &b, 1) == CPIPE_ERR_ARG);
    int fd = cpipe_pool_notify_fd(p, 0);
    CHECK(fd >= 0);
    CHECK(cpipe_pool_close(p) == CPIPE_OK);
    CHECK(cpipe_pool_close(p) == CPIPE_OK);
    batch_add(&b, 1, "PING");
    CHECK(submit(p, &b, -1) == CPIPE_ERR_CLOSED);
    CHECK(errstr_has(p, "pool is closed"));
    CHECK(cpipe_pool_acquire(p) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_pool_notify_fd(p, 1) == CPIPE_ERR_CLOSED);
    CHECK(add_conn(p, conn_settings(NULL), CPIPE_ROLE_DIRECT) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_pool_remove(p, 0) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_pool_connected(p) == 0);
    CHECK(cpipe_pool_drain(p, drained, sizeof drained) == CPIPE_OK); /* drain works after close */
    cpipe_pool_free(p);
}

/* Nothing listens: staged calls fail with the connection; DOWN events come
 * with growing attempts and a backoff that doubles up to its limit. */
static void test_unreachable(void) {
    reset();
    cpipe_pool *p = pool_from(pool_settings("127.0.0.1", 1, 2, 0, 500, 1000, NULL));
    for (uint32_t i = 0; i < 10; i++) batch_add(&b, i, "PING");
    int32_t rc = submit(p, &b, -1);
    if (rc >= 0) {
        /* Staged on a connection about to try: fails with it. */
        CHECK(collect(p, 10, 2000) == 0);
        for (int i = 0; i < 10; i++) CHECK(res.tag[i] == '!' && res.code[i] == CPIPE_ERR_CONN);
        CHECK(strstr(res.message[0], "127.0.0.1:1") != NULL);
    } else {
        CHECK(rc == CPIPE_ERR_CONN);
    }
    const event *e = await_event(p, 0, CPIPE_EVENT_DOWN, 5, 3000);
    CHECK(e != NULL);
    uint32_t last = 0;
    for (int k = 1; k <= 5; k++) {
        e = find_event(0, CPIPE_EVENT_DOWN, k);
        if (e == NULL) break;
        CHECK(e->status == CPIPE_ERR_CONN && e->attempt == (uint32_t)k && strstr(e->message, "127.0.0.1:1"));
        CHECK(e->delay_ms >= last && e->delay_ms <= 50 && (k > 1 || e->delay_ms == 10));
        last = e->delay_ms;
    }
    CHECK(last == 50);
    CHECK(count_events(-1, CPIPE_EVENT_UP) == 0);
    batch_add(&b, 20, "PING");
    rc = submit(p, &b, -1);
    CHECK(rc == CPIPE_ERR_CONN || rc >= 0);
    if (rc == CPIPE_ERR_CONN) CHECK(errstr_has(p, "cannot connect")); /* why, though it was never up */
    cpipe_pool_free(p);

    /* Route -1 never picks a direct connection, even when it is the only one
     * up: calls fail with the unreachable shared one instead. */
    if (getenv("CPIPE_TEST_SOCKET") == NULL) return;
    reset();
    p = pool_from(pool_settings("127.0.0.1", 1, 1, 0, 500, 1000, NULL));
    int32_t direct = add_conn(p, conn_settings(NULL), CPIPE_ROLE_DIRECT);
    CHECK(direct == 1 && await_event(p, direct, CPIPE_EVENT_UP, 1, 3000) != NULL);
    int submitted = 0;
    for (uint32_t i = 0; i < 20; i++) {
        batch_add(&b, 100 + i, "PING");
        rc = submit(p, &b, -1);
        CHECK(rc == 0 || rc == CPIPE_ERR_CONN);
        submitted += rc == 0;
        sleep_ms(2);
    }
    CHECK(collect(p, submitted, 3000) == 0);
    int none_direct = 1;
    for (uint32_t i = 0; i < 20; i++)
        none_direct &= res.got[100 + i] == 0 || (res.tag[100 + i] == '!' && res.conn[100 + i] == 0);
    CHECK(none_direct);
    batch_add(&b, 200, "PING");
    CHECK(submit(p, &b, direct) == direct);
    CHECK(collect(p, submitted + 1, 3000) == 0 && res.tag[200] == '+' && res.conn[200] == direct);
    cpipe_pool_free(p);
}

/* CPIPE_SET_ONLY_UP: route -1 never stages commands on a connection that is
 * not up (the host keeps them, its offline queue): an unreachable server
 * refuses every submit with CPIPE_ERR_CONN, and no call is ever failed by a
 * dial; against the live server, submits go through once a connection is up. */
static void test_only_up(void) {
    reset();
    pool_settings("127.0.0.1", 1, 2, 0, 500, 1000, NULL);
    settings_int(&cfg, CPIPE_SET_ONLY_UP, 1);
    cpipe_pool *p = pool_from(&cfg);
    for (int i = 0; i < 20; i++) {
        batch_add(&b, (uint32_t)i, "PING");
        CHECK(submit(p, &b, -1) == CPIPE_ERR_CONN);
        sleep_ms(5);
    }
    CHECK(await_event(p, 0, CPIPE_EVENT_DOWN, 3, 3000) != NULL);
    for (int i = 0; i < 20; i++) CHECK(res.got[i] == 0);
    cpipe_pool_free(p);

    if (getenv("CPIPE_TEST_SOCKET") == NULL) return;
    reset();
    pool_settings(sock_path, 0, 2, 0, 2000, 1000, NULL);
    settings_int(&cfg, CPIPE_SET_ONLY_UP, 1);
    p = pool_from(&cfg);
    CHECK(await_event(p, -1, CPIPE_EVENT_UP, 1, 3000) != NULL);
    batch_add(&b, 1, "PING");
    CHECK(submit(p, &b, -1) >= 0);
    CHECK(collect(p, 1, 3000) == 0 && res.tag[1] == '+');
    cpipe_pool_free(p);
}

/* ---- a live server ------------------------------------------------------------------------ */

static void test_live(void) {
    char key[32], val[32];

    /* The shared connections come up: an UP event each, no failed attempt. */
    reset();
    cpipe_pool *p = pool_on(4, 2);
    CHECK(p != NULL);
    for (int i = 0; i < 4; i++) {
        const event *e = await_event(p, i, CPIPE_EVENT_UP, 1, 3000);
        CHECK(e != NULL && e->attempt == 0 && e->status == CPIPE_OK);
    }
    CHECK(count_events(4, CPIPE_EVENT_UP) == 0 && count_events(5, CPIPE_EVENT_UP) == 0); /* made on demand */
    CHECK(cpipe_pool_connected(p) == 4);

    /* Replies match their ids, in and across batches. */
    reset();
    uint32_t id = 0;
    for (int batchno = 0; batchno < 10; batchno++) {
        for (int i = 0; i < 1000; i++, id++) {
            snprintf(key, sizeof key, "c:%u", id);
            snprintf(val, sizeof val, "v%u", id);
            batch_add(&b, id, "SET", key, val);
        }
        CHECK(submit(p, &b, -1) >= 0);
    }
    for (uint32_t i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "c:%u", i);
        batch_add(&b, 10000 + i, "GET", key);
        if (b.count == 5000) CHECK(submit(p, &b, -1) >= 0);
    }
    CHECK(collect(p, 20000, 10000) == 0);
    int matched = 1;
    for (uint32_t i = 0; i < 10000; i++) {
        snprintf(val, sizeof val, "v%u", i);
        matched &= res.got[i] == 1 && res.tag[i] == '+' && strcmp(res.text[i], "OK") == 0;
        matched &= res.got[10000 + i] == 1 && res.tag[10000 + i] == '$' && strcmp(res.text[10000 + i], val) == 0;
        matched &= res.conn[i] < 4 && res.partial[i] == 0;
    }
    CHECK(matched && res.total == 20000);

    /* A pinned route keeps to its connection; an error reply is just a reply. */
    reset();
    batch_add(&b, 1, "INCR", "c:0");
    int32_t slot = submit(p, &b, -1);
    CHECK(slot >= 0 && slot < 4);
    batch_add(&b, 2, "PING");
    CHECK(submit(p, &b, slot) == slot);
    CHECK(collect(p, 2, 5000) == 0);
    CHECK(res.tag[1] == '-' && res.tag[2] == '+' && res.conn[1] == slot && res.conn[2] == slot);

    /* Exclusive connections: BLPOP waits there while shared ones serve. */
    reset();
    int32_t ex = cpipe_pool_acquire(p);
    CHECK(ex == 4 || ex == 5);
    int32_t ex2 = cpipe_pool_acquire(p);
    CHECK((ex2 == 4 || ex2 == 5) && ex2 != ex);
    CHECK(cpipe_pool_acquire(p) == CPIPE_ERR_BUSY);
    batch_add_call(&b, 100, 1, CPIPE_CALL_BLOCKING, "BLPOP", "c:list", "5", (const char *)NULL);
    CHECK(submit(p, &b, ex) == ex);
    batch_add(&b, 101, "RPUSH", "c:list", "x");
    CHECK(submit(p, &b, -1) >= 0);
    CHECK(collect(p, 2, 5000) == 0);
    CHECK(res.tag[100] == '*' && res.tag[101] == ':' && res.conn[100] == ex);
    CHECK(await_event(p, ex, CPIPE_EVENT_UP, 1, 1000) != NULL);
    CHECK(cpipe_pool_release(p, ex, 1) == CPIPE_OK);
    CHECK(cpipe_pool_release(p, ex, 1) == CPIPE_ERR_ARG);
    CHECK(await_event(p, ex, CPIPE_EVENT_RELEASED, 1, 2000) != NULL);
    /* Released with a call still owed: it gets its reply, then RELEASED
     * comes; until then the connection cannot be acquired. */
    reset();
    CHECK(cpipe_pool_acquire(p) == ex); /* the connected one first */
    batch_add_call(&b, 200, 1, CPIPE_CALL_BLOCKING, "BLPOP", "c:never", "0.2", (const char *)NULL);
    CHECK(submit(p, &b, ex2) == ex2);
    CHECK(cpipe_pool_release(p, ex2, 1) == CPIPE_OK);
    CHECK(cpipe_pool_acquire(p) == CPIPE_ERR_BUSY);
    batch_add(&b, 201, "PING");
    CHECK(submit(p, &b, ex2) == CPIPE_ERR_ARG); /* released: no longer the caller's */
    const event *released = await_event(p, ex2, CPIPE_EVENT_RELEASED, 1, 3000);
    CHECK(released != NULL);
    CHECK(res.got[200] == 1 && res.tag[200] == '_' && res.conn[200] == ex2);
    CHECK(released != NULL && res.seq[200] < released->seq);
    CHECK(cpipe_pool_acquire(p) == ex2);
    CHECK(cpipe_pool_release(p, ex2, 1) == CPIPE_OK && cpipe_pool_release(p, ex, 1) == CPIPE_OK);

    /* A connection added beside the pool's own: a new index, an UP event
     * with it, commands by that index only. */
    reset();
    int32_t direct = add_conn(p, conn_settings(NULL), CPIPE_ROLE_DIRECT);
    CHECK(direct == 6);
    const event *up = await_event(p, direct, CPIPE_EVENT_UP, 1, 3000);
    CHECK(up != NULL && up->attempt == 0);
    batch_add(&b, 1, "PING");
    CHECK(submit(p, &b, direct) == direct);
    CHECK(collect(p, 1, 3000) == 0 && res.tag[1] == '+' && res.conn[1] == direct);
    int never_direct = 1;
    for (uint32_t i = 0; i < 200; i++) {
        batch_add(&b, 1000 + i, "PING");
        int32_t to = submit(p, &b, -1);
        never_direct &= to >= 0 && to < 4;
    }
    CHECK(collect(p, 201, 5000) == 0);
    for (uint32_t i = 0; i < 200; i++) never_direct &= res.tag[1000 + i] == '+' && res.conn[1000 + i] < 4;
    CHECK(never_direct);

    /* Reply accounting: a call owing two replies gets a partial record, then
     * the final one, same id. */
    reset();
    batch_add_call(&b, 300, 2, 0, "SUBSCRIBE", "a", "b", (const char *)NULL);
    CHECK(submit(p, &b, direct) == direct);
    CHECK(collect(p, 1, 3000) == 0);
    CHECK(res.partial[300] == 1 && res.got[300] == 1 && res.tag[300] == '*' && res.conn[300] == direct);
    batch_add_call(&b, 301, 2, 0, "UNSUBSCRIBE", "a", "b", (const char *)NULL);
    CHECK(submit(p, &b, direct) == direct);
    CHECK(collect(p, 2, 3000) == 0);
    CHECK(res.partial[301] == 1 && res.got[301] == 1 && res.tag[301] == '*');
    batch_add(&b, 302, "PING");
    CHECK(submit(p, &b, direct) == direct);
    CHECK(collect(p, 3, 3000) == 0 && res.tag[302] == '+' && strcmp(res.text[302], "PONG") == 0);
    CHECK(count_events(direct, CPIPE_EVENT_DOWN) == 0);
    /* A second reply where the call said one: a protocol error that drops
     * the connection, never a reply handed to the next call. */
    reset();
    batch_add(&b, 303, "SUBSCRIBE", "a", "b");
    CHECK(submit(p, &b, direct) == direct);
    const event *down = await_event(p, direct, CPIPE_EVENT_DOWN, 1, 3000);
    CHECK(down != NULL && down->status == CPIPE_ERR_PROTOCOL &&
          strstr(down->message, "a reply for which no command waits") != NULL && strstr(down->message, sock_path));
    CHECK(res.got[303] == 1 && res.tag[303] == '*' && res.partial[303] == 0);
    /* Every call it carried got its last record: none is left owed. */
    CHECK(res.total == 1);
    batch_add(&b, 304, "PING");
    CHECK(submit(p, &b, direct) == direct); /* taken while it waits to redial */
    CHECK(collect(p, 2, 3000) == 0 && res.tag[304] == '+' && strcmp(res.text[304], "PONG") == 0);
    up = find_event(direct, CPIPE_EVENT_UP, 1);
    CHECK(up != NULL && up->attempt == 1 && up->seq < res.seq[304]);

    /* Removed: the calls it owed fail CLOSED; its index goes to the next add. */
    reset();
    batch_add_call(&b, 310, 1, CPIPE_CALL_BLOCKING, "BLPOP", "c:never", "0", (const char *)NULL);
    CHECK(submit(p, &b, direct) == direct);
    sleep_ms(20);
    CHECK(cpipe_pool_remove(p, direct) == CPIPE_OK);
    CHECK(collect(p, 1, 3000) == 0);
    CHECK(res.tag[310] == '!' && res.code[310] == CPIPE_ERR_CLOSED && strstr(res.message[310], "connection removed") != NULL);
    CHECK(cpipe_pool_remove(p, direct) == CPIPE_ERR_ARG);
    batch_add(&b, 311, "PING");
    CHECK(submit(p, &b, direct) == CPIPE_ERR_ARG);
    CHECK(add_conn(p, conn_settings(NULL), CPIPE_ROLE_DIRECT) == direct);
    up = await_event(p, direct, CPIPE_EVENT_UP, 1, 3000);
    CHECK(up != NULL && up->attempt == 0);
    batch_add(&b, 312, "PING");
    CHECK(submit(p, &b, direct) == direct);
    CHECK(collect(p, 2, 3000) == 0 && res.tag[312] == '+');
    /* A shared connection added joins route -1. */
    int32_t extra = add_conn(p, conn_settings(NULL), CPIPE_ROLE_SHARED);
    CHECK(extra == 7);
    CHECK(await_event(p, extra, CPIPE_EVENT_UP, 1, 3000) != NULL);
    CHECK(cpipe_pool_remove(p, extra) == CPIPE_OK);

    /* Pushes (RESP3 out-of-band frames) answer no call: a push record, id 0,
     * from the connection that got it. */
    reset();
    static batch hello;
    batch_reset(&hello);
    batch_add(&hello, 0, "HELLO", "3");
    int32_t tracking = add_conn(p, conn_settings(&hello), CPIPE_ROLE_DIRECT);
    CHECK(tracking == 7);
    batch_add(&b, 400, "CLIENT", "TRACKING", "ON");
    batch_add(&b, 401, "GET", "c:tracked");
    CHECK(submit(p, &b, tracking) == tracking);
    CHECK(collect(p, 2, 3000) == 0 && res.tag[400] == '+' && res.tag[401] == '_');
    admin("SET", "c:tracked", "v", NULL);
    for (int i = 0; i < 100 && res.pushes == 0; i++) pump(p);
    CHECK(res.pushes == 1 && res.push_conn == tracking && strcmp(res.push_kind, "invalidate") == 0);
    CHECK(res.total == 2); /* no call was answered by it */
    batch_add(&b, 402, "PING");
    CHECK(submit(p, &b, tracking) == tracking);
    CHECK(collect(p, 3, 3000) == 0 && res.tag[402] == '+');
    CHECK(cpipe_pool_remove(p, tracking) == CPIPE_OK);

    /* Connections killed with calls in flight: those fail, CONN, after a
     * DOWN event each; the pool reconnects (UP after one failed attempt). */
    reset();
    admin("CLIENT", "PAUSE", "3000", "WRITE");
    for (uint32_t i = 0; i < 400; i++) {
        snprintf(key, sizeof key, "k:%u", i);
        batch_add(&b, i, "SET", key, "v");
        if (b.count == 100) CHECK(submit(p, &b, -1) >= 0);
    }
    sleep_ms(50);
    admin("CLIENT", "KILL", "TYPE", "normal"); /* every client but the admin's own */
    admin("CLIENT", "UNPAUSE", NULL, NULL);
    CHECK(collect(p, 400, 5000) == 0);
    int all_failed = 1;
    for (int i = 0; i < 400; i++) all_failed &= res.got[i] == 1 && res.tag[i] == '!' && res.code[i] == CPIPE_ERR_CONN;
    CHECK(all_failed);
    for (int i = 0; i < 4; i++) {
        const event *d = await_event(p, i, CPIPE_EVENT_DOWN, 1, 3000);
        const event *u = await_event(p, i, CPIPE_EVENT_UP, 1, 3000);
        CHECK(d != NULL && d->status == CPIPE_ERR_CONN && d->attempt == 1 && strstr(d->message, sock_path));
        CHECK(u != NULL && d != NULL && u->attempt == 1 && u->seq > d->seq);
    }
    CHECK(await_event(p, direct, CPIPE_EVENT_UP, 1, 3000) != NULL); /* the added one reconnects too */
    for (int i = 0; i < 200 && cpipe_pool_connected(p) < 5; i++) sleep_ms(10);
    CHECK(cpipe_pool_connected(p) >= 5);
    reset();
    batch_add(&b, 7, "PING");
    CHECK(submit(p, &b, -1) >= 0);
    CHECK(collect(p, 1, 5000) == 0 && res.tag[7] == '+');

    /* A reply larger than the drain buffer waits, and `need` tells its size. */
    reset();
    static char big[300000];
    memset(big, 'z', sizeof big - 1);
    batch_add(&b, 1, "SET", "c:big", big);
    batch_add(&b, 2, "GET", "c:big");
    CHECK(submit(p, &b, -1) >= 0);
    uint8_t small[64];
    int fd = cpipe_pool_notify_fd(p, 0);
    int saw_ok = 0;
    for (int i = 0; i < 500; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 10);
        char bytes[64];
        while (recv(fd, bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
        }
        CHECK(cpipe_pool_drain(p, small, sizeof small) == CPIPE_OK);
        saw_ok += wire_get32(small);
        if (wire_get32(small + 12) > 0) break;
    }
    CHECK(wire_get32(small) == 0 && wire_get32(small + 12) == CPIPE_RECORD_HEAD + 5 + sizeof big - 1);
    CHECK(wire_get32(small + 8) & CPIPE_FLAG_MORE);
    CHECK(collect(p, 2 - saw_ok, 5000) == 0 && res.tag[2] == '$');

    /* Close with calls in flight, a blocked BLPOP among them: every one gets
     * a failure record, CLOSED. */
    reset();
    ex = cpipe_pool_acquire(p);
    CHECK(ex >= 4);
    batch_add_call(&b, 2000, 1, CPIPE_CALL_BLOCKING, "BLPOP", "c:never", "0", (const char *)NULL);
    CHECK(submit(p, &b, ex) == ex);
    admin("CLIENT", "PAUSE", "2000", "WRITE");
    for (uint32_t i = 0; i < 1000; i++) batch_add(&b, i, "SET", "c:paused", "v");
    CHECK(submit(p, &b, -1) >= 0);
    sleep_ms(50);
    CHECK(cpipe_pool_close(p) == CPIPE_OK);
    CHECK(collect(p, 1001, 1000) == 0);
    int closed = 1;
    for (int i = 0; i < 1000; i++) closed &= res.got[i] == 1 && res.tag[i] == '!' && res.code[i] == CPIPE_ERR_CLOSED;
    CHECK(closed);
    CHECK(res.got[2000] == 1 && res.tag[2000] == '!' && res.code[2000] == CPIPE_ERR_CLOSED);
    CHECK(strstr(res.message[2000], "pool is closed") != NULL && strstr(res.message[2000], sock_path) != NULL);
    admin("CLIENT", "UNPAUSE", NULL, NULL);
    cpipe_pool_free(p);

    /* Many pools, freed with work in flight, the notification socket taken or not. */
    for (int i = 0; i < 100; i++) {
        p = pool_on(1 + i % 4, i % 3);
        for (uint32_t k = 0; k < 50; k++) batch_add(&b, k, "PING");
        CHECK(submit(p, &b, -1) >= 0);
        if (i % 3 == 2) CHECK(cpipe_pool_acquire(p) >= 0);
        if (i % 4 == 3) CHECK(add_conn(p, conn_settings(NULL), CPIPE_ROLE_DIRECT) >= 0);
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

/* A command timeout runs from a call's send: the call fails TIMEOUT in
 * about that long and the connection reconnects; a blocking call is exempt. */
static void test_command_timeout(void) {
    reset();
    pool_settings(sock_path, 0, 1, 1, 2000, 1000, NULL);
    settings_int(&cfg, CPIPE_SET_COMMAND_TIMEOUT, 100);
    cpipe_pool *p = pool_from(&cfg);
    CHECK(await_event(p, 0, CPIPE_EVENT_UP, 1, 3000) != NULL);
    batch_add(&b, 1, "DEBUG", "SLEEP", "0.5");
    int64_t t0 = now_ms();
    CHECK(submit(p, &b, -1) == 0);
    CHECK(collect(p, 1, 3000) == 0);
    int64_t took = now_ms() - t0;
    CHECK(res.tag[1] == '!' && res.code[1] == CPIPE_ERR_TIMEOUT && strstr(res.message[1], "100 ms") != NULL);
    CHECK(took >= 95 && took < 400);
    const event *down = await_event(p, 0, CPIPE_EVENT_DOWN, 1, 1000);
    CHECK(down != NULL && down->status == CPIPE_ERR_TIMEOUT);
    sleep_ms(600); /* the sleeping server blocks every client */
    batch_add(&b, 2, "PING");
    CHECK(submit(p, &b, -1) == 0);
    CHECK(collect(p, 2, 3000) == 0 && res.tag[2] == '+');
    const event *up = find_event(0, CPIPE_EVENT_UP, 2);
    CHECK(up != NULL && up->attempt == 1);
    int32_t ex = cpipe_pool_acquire(p);
    CHECK(ex == 1);
    batch_add_call(&b, 3, 1, CPIPE_CALL_BLOCKING, "BLPOP", "c:never", "0.3", (const char *)NULL);
    t0 = now_ms();
    CHECK(submit(p, &b, ex) == ex);
    CHECK(collect(p, 3, 3000) == 0);
    took = now_ms() - t0;
    CHECK(res.tag[3] == '_' && took >= 250);
    cpipe_pool_free(p);
}

/* reconnect_on_readonly in a pool: the first READONLY answer drops its
 * connection, and the other shared connections to the address, up since
 * before, are retired with it (idle: at once), each with its own message;
 * all come up again. */
static void test_read_only_retires_siblings(void) {
    reset();
    pool_settings(sock_path, 0, 3, 0, 2000, 1000, NULL);
    settings_int(&cfg, CPIPE_SET_RECONNECT_ON_READONLY, 1);
    cpipe_pool *p = pool_from(&cfg);
    for (int i = 0; i < 3; i++) CHECK(await_event(p, i, CPIPE_EVENT_UP, 1, 3000) != NULL);
    admin("REPLICAOF", "127.0.0.1", "1", NULL); /* a replica of no one: it refuses writes */
    batch_add(&b, 1, "SET", "c:ro", "1");
    int32_t first = submit(p, &b, -1);
    CHECK(first >= 0 && collect(p, 1, 3000) == 0 && res.tag[1] == '-');
    for (int i = 0; i < 3; i++) {
        const event *down = await_event(p, i, CPIPE_EVENT_DOWN, 1, 3000);
        const char *why = i == first ? "the server answered READONLY" : "another connection to this address";
        CHECK(down != NULL && strstr(down->message, why) != NULL);
    }
    admin("REPLICAOF", "NO", "ONE", NULL);
    for (int i = 0; i < 3; i++) CHECK(await_event(p, i, CPIPE_EVENT_UP, 2, 3000) != NULL);
    CHECK(count_events(-1, CPIPE_EVENT_DOWN) == 3);
    batch_add(&b, 2, "SET", "c:ro", "2");
    CHECK(submit(p, &b, -1) >= 0 && collect(p, 2, 3000) == 0 && res.tag[2] == '+');
    cpipe_pool_free(p);
}

/* ---- a connection whose socket the host reads (cpipe_pool_hand_over) ------------------------ */

/* Reads what waits on the host's descriptor (up to `ms` for the first byte)
 * and feeds it, `step` bytes at a time; returns what recv() last returned
 * (0: the end of the stream, which was fed too). */
static ssize_t host_read(cpipe_pool *p, int32_t connection, int fd, int ms, size_t step) {
    static uint8_t buf[65536];
    /* step 0: pieces of these sizes in turn, large ones and small ones (CPIPE_HAND_OVER_PARSE_ASIDE). */
    static const size_t mixed[] = {20000, 5, 16384, 1, 40000, 7, 300};
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) <= 0) return -1;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) CHECK(cpipe_pool_feed(p, connection, fd, NULL, 0) == CPIPE_OK);
    size_t turn = 0;
    for (ssize_t at = 0; at < n;) {
        size_t piece = step > 0 ? step : mixed[turn++ % (sizeof mixed / sizeof mixed[0])];
        size_t len = (size_t)(n - at) < piece ? (size_t)(n - at) : piece;
        CHECK(cpipe_pool_feed(p, connection, fd, buf + at, (int32_t)len) == CPIPE_OK);
        at += (ssize_t)len;
    }
    return n;
}

/* Feeds until `want` calls ended; 0 when they did within `ms`. */
static int host_collect(cpipe_pool *p, int32_t connection, int fd, int want, int ms, size_t step) {
    int64_t until = now_ms() + ms;
    drain_all(p);
    while (res.total < want) {
        if (now_ms() > until) return -1;
        if (host_read(p, connection, fd, 20, step) == 0) return -1;
        drain_all(p);
    }
    return 0;
}

/* Whether the descriptor reads the end of the stream within `ms` (what it holds before is dropped). */
static int sees_end(int fd, int ms) {
    int64_t until = now_ms() + ms;
    char bytes[4096];
    while (now_ms() < until) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 20) <= 0) continue;
        ssize_t n = recv(fd, bytes, sizeof bytes, MSG_DONTWAIT);
        if (n == 0) return 1;
        if (n < 0) return 0;
    }
    return 0;
}

static void test_hand_over(void) {
    reset();
    cpipe_pool *p = pool_on(2, 1);
    CHECK(p != NULL);
    CHECK(await_event(p, 0, CPIPE_EVENT_UP, 1, 3000) != NULL && await_event(p, 1, CPIPE_EVENT_UP, 1, 3000) != NULL);

    /* Bad arguments, and connections that cannot be handed over. */
    uint8_t byte = '+';
    CHECK(cpipe_pool_hand_over(NULL, 0, 0) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_hand_over(p, 7, 0) == CPIPE_ERR_ARG && errstr_has(p, "no connection 7"));
    CHECK(cpipe_pool_hand_over(p, -1, 0) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_hand_over(p, 2, 0) == CPIPE_ERR_BUSY && errstr_has(p, "cannot be handed over")); /* exclusive */
    CHECK(cpipe_pool_acquire(p) == 2);
    CHECK(await_event(p, 2, CPIPE_EVENT_UP, 1, 3000) != NULL);
    CHECK(cpipe_pool_hand_over(p, 2, 0) == CPIPE_ERR_BUSY); /* even when acquired and up */
    CHECK(cpipe_pool_release(p, 2, 1) == CPIPE_OK);
    CHECK(cpipe_pool_feed(NULL, 0, 3, &byte, 1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_feed(p, 0, 3, NULL, 1) == CPIPE_ERR_ARG && errstr_has(p, "invalid bytes"));
    CHECK(cpipe_pool_feed(p, 0, 3, &byte, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_feed(p, 9, 3, &byte, 1) == CPIPE_ERR_ARG);
    CHECK(cpipe_pool_feed(p, 0, 3, &byte, 1) == CPIPE_ERR_CLOSED); /* not handed over */

    int fd = cpipe_pool_hand_over(p, 0, 0);
    CHECK(fd >= 0);
    CHECK(cpipe_pool_hand_over(p, 0, 0) == CPIPE_ERR_BUSY); /* once per connect */

    /* Replies come only through the host's reads, matched to their calls,
     * at any split, and with no byte on the notification socket. */
    int notify = cpipe_pool_notify_fd(p, 0);
    char bytes[64];
    while (recv(notify, bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
    }
    reset();
    char key[32], val[32];
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "h:%u", i);
        snprintf(val, sizeof val, "v%u", i);
        batch_add(&b, i, "SET", key, val);
    }
    CHECK(submit(p, &b, 0) == 0);
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "h:%u", i);
        batch_add(&b, 1000 + i, "GET", key);
    }
    CHECK(submit(p, &b, 0) == 0);
    sleep_ms(50);
    drain_all(p);
    CHECK(res.total == 0); /* the pool did not read them */
    CHECK(host_collect(p, 0, fd, 2000, 3000, 7) == 0);
    int matched = 1;
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(val, sizeof val, "v%u", i);
        matched &= res.got[i] == 1 && res.tag[i] == '+' && res.conn[i] == 0;
        matched &= res.got[1000 + i] == 1 && res.tag[1000 + i] == '$' && strcmp(res.text[1000 + i], val) == 0;
    }
    CHECK(matched && res.total == 2000);
    CHECK(recv(notify, bytes, sizeof bytes, MSG_DONTWAIT) < 0);
    /* A whole reply one byte at a time. */
    reset();
    batch_add(&b, 1, "GET", "h:7");
    CHECK(submit(p, &b, 0) == 0);
    CHECK(host_collect(p, 0, fd, 1, 3000, 1) == 0 && strcmp(res.text[1], "v7") == 0);
    /* Another descriptor number is stale. */
    CHECK(cpipe_pool_feed(p, 0, fd + 100, &byte, 1) == CPIPE_ERR_CLOSED && errstr_has(p, "is closed"));

    /* Handed over with CPIPE_HAND_OVER_PARSE_ASIDE: large chunks are parsed
     * by the I/O thread and their records come through the notification
     * socket, small ones by the host when none waits, all in the stream's
     * order (a reply parsed out of turn would answer another call). */
    CHECK(cpipe_pool_hand_over(p, 1, 0x8) == CPIPE_ERR_ARG && errstr_has(p, "unknown flags"));
    int aside_fd = cpipe_pool_hand_over(p, 1, CPIPE_HAND_OVER_PARSE_ASIDE);
    CHECK(aside_fd >= 0);
    reset();
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "a:%u", i);
        snprintf(val, sizeof val, "%u", i);
        batch_add(&b, i, "SET", key, val);
        batch_add(&b, 1000 + i, "ECHO", big);
        batch_add(&b, 2000 + i, "GET", key);
    }
    CHECK(submit(p, &b, 1) == 1);
    sleep_ms(50); /* the replies wait: the host reads 64 KiB at once */
    CHECK(host_collect(p, 1, aside_fd, 3000, 3000, 0) == 0);
    matched = res.total == 3000;
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(val, sizeof val, "%u", i);
        matched &= res.tag[i] == '+' && res.conn[i] == 1 && res.tag[1000 + i] == '$' && res.got[1000 + i] == 1;
        matched &= res.tag[2000 + i] == '$' && strcmp(res.text[2000 + i], val) == 0;
    }
    CHECK(matched);
    CHECK(recv(notify, bytes, sizeof bytes, MSG_DONTWAIT) > 0); /* the I/O thread's records */
    /* One small reply when none waits aside: the host's alone, no byte. */
    while (recv(notify, bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
    }
    reset();
    batch_add(&b, 1, "GET", "a:7");
    CHECK(submit(p, &b, 1) == 1);
    CHECK(host_collect(p, 1, aside_fd, 1, 3000, 4096) == 0 && strcmp(res.text[1], "7") == 0);
    CHECK(recv(notify, bytes, sizeof bytes, MSG_DONTWAIT) < 0);

    /* The server closes the connection: the host reads the end and feeds it;
     * the pool redials on its own, and the new socket is its own to read
     * until handed over again. */
    reset();
    admin("CLIENT", "KILL", "TYPE", "normal");
    int64_t t0 = now_ms();
    ssize_t got;
    while ((got = host_read(p, 0, fd, 20, 4096)) != 0 && now_ms() - t0 < 3000) {
    }
    CHECK(got == 0);
    close(fd);
    const event *down = await_event(p, 0, CPIPE_EVENT_DOWN, 1, 1000);
    CHECK(down != NULL && strstr(down->message, "server closed the connection") != NULL);
    CHECK(await_event(p, 0, CPIPE_EVENT_UP, 1, 3000) != NULL);
    CHECK(cpipe_pool_feed(p, 0, fd, &byte, 1) == CPIPE_ERR_CLOSED);
    batch_add(&b, 2, "PING");
    CHECK(submit(p, &b, 0) == 0);
    CHECK(collect(p, 1, 3000) == 0 && res.tag[2] == '+');
    cpipe_pool_free(p);

    /* A command timeout on a handed-over connection: the I/O thread still
     * times its calls, and ends the socket the host reads. */
    reset();
    pool_settings(sock_path, 0, 1, 0, 2000, 1000, NULL);
    settings_int(&cfg, CPIPE_SET_COMMAND_TIMEOUT, 100);
    p = pool_from(&cfg);
    CHECK(await_event(p, 0, CPIPE_EVENT_UP, 1, 3000) != NULL);
    fd = cpipe_pool_hand_over(p, 0, 0);
    CHECK(fd >= 0);
    sleep_ms(60); /* the thread sleeps: nothing is owed */
    reset();
    batch_add(&b, 1, "DEBUG", "SLEEP", "0.5");
    t0 = now_ms();
    CHECK(submit(p, &b, -1) == 0);
    CHECK(collect(p, 1, 3000) == 0);
    int64_t took = now_ms() - t0;
    CHECK(res.tag[1] == '!' && res.code[1] == CPIPE_ERR_TIMEOUT);
    CHECK(took >= 95 && took < 400);
    CHECK(sees_end(fd, 1000));
    CHECK(cpipe_pool_feed(p, 0, fd, NULL, 0) == CPIPE_ERR_CLOSED);
    close(fd);
    sleep_ms(600); /* the sleeping server blocks every client */

    /* Closing the pool ends the socket the host reads, calls in flight fail. */
    CHECK(await_event(p, 0, CPIPE_EVENT_UP, 1, 3000) != NULL); /* since reset() */
    fd = cpipe_pool_hand_over(p, 0, 0);
    CHECK(fd >= 0);
    reset();
    batch_add(&b, 3, "DEBUG", "SLEEP", "0.05");
    CHECK(submit(p, &b, -1) == 0);
    CHECK(cpipe_pool_close(p) == CPIPE_OK);
    CHECK(sees_end(fd, 1000));
    CHECK(cpipe_pool_feed(p, 0, fd, NULL, 0) == CPIPE_ERR_CLOSED);
    close(fd);
    drain_all(p);
    CHECK(res.tag[3] == '!' && res.code[3] == CPIPE_ERR_CLOSED);
    cpipe_pool_free(p);
    sleep_ms(100);
}

/* ---- passwords never show ------------------------------------------------------------------ */

#define PASSWORD "pw-7Hq2-never-shown"
#define WRONG_PASSWORD "wrong-Kx9-never-shown"

static void test_passwords(void) {
    admin("CONFIG", "SET", "requirepass", PASSWORD);
    static batch hs;

    /* A wrong password: the call staged behind the handshake fails with it,
     * the DOWN event carries the server's reply, and neither password shows
     * anywhere in what the pool hands back. */
    reset();
    secret = WRONG_PASSWORD;
    batch_reset(&hs);
    batch_add(&hs, 0, "AUTH", WRONG_PASSWORD);
    cpipe_pool *p = pool_from(pool_settings(sock_path, 0, 1, 0, 1000, 100, &hs));
    batch_add(&b, 1, "PING");
    if (submit(p, &b, -1) >= 0) {
        CHECK(collect(p, 1, 5000) == 0);
        CHECK(res.tag[1] == '!' && res.code[1] == CPIPE_ERR_HANDSHAKE && strstr(res.message[1], sock_path) != NULL);
    }
    const event *down = await_event(p, 0, CPIPE_EVENT_DOWN, 2, 3000);
    CHECK(down != NULL && down->status == CPIPE_ERR_HANDSHAKE && down->attempt == 2 &&
          strstr(down->message, "handshake failed: WRONGPASS") != NULL);
    CHECK(down != NULL && down->reply_len > 5 && down->reply[0] == '-' &&
          memmem(down->reply, down->reply_len, "WRONGPASS", 9) != NULL);
    CHECK(!res.secret_seen && !errstr_has(p, WRONG_PASSWORD));
    cpipe_pool_free(p);

    /* The right password on the pool; an added connection whose second
     * handshake command is refused and echoes the password: masked. */
    reset();
    secret = PASSWORD;
    batch_reset(&hs);
    batch_add(&hs, 0, "AUTH", PASSWORD);
    p = pool_from(pool_settings(sock_path, 0, 1, 0, 1000, 100, &hs));
    CHECK(await_event(p, 0, CPIPE_EVENT_UP, 1, 3000) != NULL);
    batch_add(&hs, 0, "NOSUCHCOMMAND", PASSWORD);
    int32_t direct = add_conn(p, conn_settings(&hs), CPIPE_ROLE_DIRECT);
    CHECK(direct == 1);
    down = await_event(p, direct, CPIPE_EVENT_DOWN, 1, 3000);
    CHECK(down != NULL && down->status == CPIPE_ERR_HANDSHAKE && strstr(down->message, "****") != NULL);
    CHECK(down != NULL && memmem(down->reply, down->reply_len, "unknown command", 15) != NULL &&
          memmem(down->reply, down->reply_len, "****", 4) != NULL);
    batch_add(&b, 2, "PING");
    CHECK(submit(p, &b, 0) == 0);
    CHECK(collect(p, 1, 3000) == 0 && res.tag[2] == '+');
    CHECK(!res.secret_seen && !errstr_has(p, PASSWORD));
    cpipe_pool_free(p);
    secret = NULL;

    admin("CONFIG", "SET", "requirepass", "");
}

/* ---- allocation failures ------------------------------------------------------------------- */

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
    batch_reset(&handshake);
    batch_add(&handshake, 0, "PING");
    int64_t live = cpipe_live_allocations();
    int fds = open_fds(), refused = 0;
    pool_settings("127.0.0.1", 1, 3, 2, 100, 1000, &handshake);
    for (long long n = 1; n < 1000; n++) {
        cpipe_heap_fail_in(n);
        cpipe_pool *p = pool_from(&cfg);
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

/* Each allocation of adding a connection, connecting it and answering its
 * first call fails in turn (the I/O thread's among them): the add is
 * refused or the connection recovers; its calls end, once each; nothing
 * leaks. */
static void test_add_out_of_memory(void) {
    static batch handshake;
    batch_reset(&handshake);
    batch_add(&handshake, 0, "CLIENT", "SETNAME", "oom");
    int64_t live = cpipe_live_allocations();
    int fds = open_fds(), failed = 0, finished = 0;
    cpipe_pool *p = pool_on(1, 0);
    reset();
    CHECK(await_event(p, 0, CPIPE_EVENT_UP, 1, 3000) != NULL);
    uint32_t id = 1;
    for (long long n = 1; n < 1000 && !finished; n++) {
        reset();
        cpipe_heap_fail_in(n);
        int32_t i = add_conn(p, conn_settings(&handshake), CPIPE_ROLE_DIRECT);
        int ok = i >= 0;
        if (i >= 0) {
            /* Until one call is answered: each ends once, as a reply or a failure. */
            int answered = 0;
            for (int attempt = 0; attempt < 20 && !answered; attempt++) {
                batch_add(&b, id, "ECHO", "oom");
                int32_t rc = submit(p, &b, i);
                if (rc == i) {
                    if (collect(p, res.total + 1, 3000) != 0) break;
                    answered = res.tag[id] == '$' && strcmp(res.text[id], "oom") == 0;
                    ok &= answered && res.got[id] == 1;
                    CHECK(res.got[id] == 1);
                } else {
                    CHECK(rc == CPIPE_ERR_NOMEM);
                    ok = 0;
                }
                id = id % 60000 + 1;
            }
            CHECK(answered);
        } else {
            CHECK(i == CPIPE_ERR_NOMEM);
        }
        finished = cpipe_heap_fail_in(0) > 0;
        failed += !ok;
        if (i >= 0) CHECK(cpipe_pool_remove(p, i) == CPIPE_OK);
    }
    CHECK(finished && failed >= 5);
    /* The pool itself still serves. */
    reset();
    batch_add(&b, 1, "PING");
    CHECK(submit(p, &b, -1) == 0 && collect(p, 1, 3000) == 0 && res.tag[1] == '+');
    cpipe_pool_free(p);
    CHECK(cpipe_live_allocations() == live);
    CHECK(open_fds() == fds);
}
#endif

int main(void) {
    cpipe_alloc_install();
    sock_path = getenv("CPIPE_TEST_SOCKET");
    if (sock_path == NULL) sock_path = "/nonexistent/redis.sock";
    test_settings();
    test_api_errors();
    test_unreachable();
    test_only_up();
#ifdef CPIPE_FAULT_INJECTION
    test_create_out_of_memory();
#endif
    CHECK(getenv("CPIPE_TEST_SOCKET") != NULL); /* `make asan-pool` / `make tsan-pool` start a server and set it */
    if (getenv("CPIPE_TEST_SOCKET") != NULL) {
        test_live();
        test_command_timeout();
        test_read_only_retires_siblings();
        test_hand_over();
        test_passwords();
#ifdef CPIPE_FAULT_INJECTION
        test_add_out_of_memory();
#endif
    }
    cpipe_client_free(admin_client);
    CHECK(cpipe_live_allocations() == 0);
    printf("test_pool: %d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
