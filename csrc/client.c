/* The synchronous client: one connection (connection.h) driven on the
 * caller's thread, which waits in poll() for what the connection asks. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/sockcompat.h>

#include "buffer.h"
#include "bytes.h"
#include "command.h"
#include "connection.h"
#include "error.h"
#include "cpipe.h"
#include "heap.h"
#include "record.h"
#include "settings.h"
#include "sys.h"
#include "tls.h"

/* cpipe_client_send() returns once no more than this waits to be sent. */
#define SEND_BACKLOG (1u << 20)
/* How long to keep asking for a reply before sleeping in poll(): a reply on
 * loopback usually comes within microseconds, sooner than a sleeping thread
 * is woken up. */
#define SPIN_US 50
/* Reads per turn: as many as there are bytes, the replies are the caller's. */
#define READS_PER_TURN 64

struct cpipe_client {
    cpipe_connection conn;
    cpipe_buffer records; /* what the connection reported, not yet returned */
    size_t unreturned;    /* calls whose last record was not returned yet */
    int closed;
    cpipe_error error; /* of the last failed call */
    cpipe_tls_config *tls; /* parsed once, for every reconnect; NULL: plain */
};

CPIPE_API cpipe_client *cpipe_client_create(const uint8_t *settings, int32_t settings_len) {
    cpipe_settings s;
    char why[CPIPE_ERRSTR_LEN];
    if (settings_len < 0 || cpipe_settings_read(&s, settings, (size_t)settings_len, CPIPE_SETTINGS_CONNECTION, why,
                                                sizeof why) != 0)
        return NULL;
    cpipe_alloc_install();
    cpipe_client *c = cpipe_calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    if (s.tls && (c->tls = cpipe_tls_config_create(&s)) == NULL) {
        cpipe_free(c);
        return NULL;
    }
    s.tls_config = c->tls;
    if (cpipe_connection_init(&c->conn, 0, &s, NULL, 0) != 0) {
        cpipe_tls_config_free(c->tls);
        cpipe_free(c);
        return NULL;
    }
    return c;
}

/* Whether the connection holds bytes or calls it can still make progress on. */
static int busy(const cpipe_client *c) {
    const cpipe_connection *k = &c->conn;
    return k->calls.count > 0 || cpipe_buffer_live(&k->unsent) > 0 ||
           k->state == CPIPE_CONN_DIALING || k->state == CPIPE_CONN_REPLAYING;
}

/* Moves bytes without waiting; 1 when anything moved. */
static int progress(cpipe_client *c, int64_t now) {
    cpipe_connection *k = &c->conn;
    if (k->state != CPIPE_CONN_READY && k->state != CPIPE_CONN_REPLAYING) return 0;
    uint64_t received = k->received;
    size_t unsent = cpipe_buffer_live(&k->unsent);
    int state = k->state;
    cpipe_connection_io(k, POLLIN, READS_PER_TURN, now, &c->records);
    return k->received != received || cpipe_buffer_live(&k->unsent) != unsent || k->state != state;
}

/* Waits in poll() for the connection's socket or its next deadline, then
 * makes progress. */
static void wait_and_progress(cpipe_client *c) {
    cpipe_connection *k = &c->conn;
    int64_t now = cpipe_now_ms();
    int64_t due = cpipe_connection_timers(k, now, &c->records);
    short events = cpipe_connection_events(k);
    if (events == 0) return;
    if (cpipe_connection_pending(k)) {
        /* Decrypted bytes wait in the transport: the socket may stay silent. */
        cpipe_connection_io(k, POLLIN, READS_PER_TURN, now, &c->records);
        return;
    }
    int wait_ms = -1;
    if (due > 0) {
        int64_t left = due - cpipe_now_ms();
        wait_ms = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
    }
    struct pollfd pfd = {.fd = (redisFD)cpipe_connection_fd(k), .events = events};
    int ready = poll(&pfd, 1, wait_ms);
    now = cpipe_now_ms();
    if (ready > 0) cpipe_connection_io(k, pfd.revents, READS_PER_TURN, now, &c->records);
    else if (ready < 0 && errno != EINTR) cpipe_connection_fail(k, CPIPE_ERR_CONN, "poll failed", &c->records);
    else (void)cpipe_connection_timers(k, now, &c->records);
}

/* Moves whole records to `out`, counting the calls they finish. */
static void hand_out(cpipe_client *c, uint8_t *out, int32_t out_cap) {
    uint32_t flags = cpipe_buffer_live(&c->conn.unsent) > 0 ? CPIPE_FLAG_UNSENT : 0;
    uint32_t n = cpipe_records_move(&c->records, out, (size_t)out_cap, flags);
    const uint8_t *rec = out + CPIPE_HEADER_SIZE;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t kind = rec[0], rflags = rec[1];
        if ((kind == CPIPE_RECORD_REPLY && !(rflags & CPIPE_RECORD_PARTIAL)) || kind == CPIPE_RECORD_FAILURE)
            c->unreturned--;
        rec += CPIPE_RECORD_HEAD + cpipe_get_u32(rec + 8);
    }
}

CPIPE_API int32_t cpipe_client_connect(cpipe_client *c, uint8_t *out, int32_t out_cap) {
    if (c == NULL) return CPIPE_ERR_ARG;
    if (out == NULL || out_cap < CPIPE_HEADER_SIZE) return cpipe_error_set(&c->error, CPIPE_ERR_ARG, "record buffer too small");
    memset(out, 0, CPIPE_HEADER_SIZE);
    if (c->closed) return cpipe_error_set(&c->error, CPIPE_ERR_CLOSED, "connection is closed");
    cpipe_connection *k = &c->conn;
    if (k->state != CPIPE_CONN_READY) {
        cpipe_connection_dial(k, cpipe_now_ms(), &c->records);
        while (k->state == CPIPE_CONN_DIALING || k->state == CPIPE_CONN_REPLAYING) wait_and_progress(c);
    }
    hand_out(c, out, out_cap);
    if (k->state == CPIPE_CONN_READY) return CPIPE_OK;
    return cpipe_error_set(&c->error, k->status ? k->status : CPIPE_ERR_CONN, "%s", k->errstr);
}

/* Queues `cmds` and moves records into `out`. With wait_reply, returns once
 * a call finished and nothing more can be read without waiting (or none is
 * owed); without, once no more than SEND_BACKLOG bytes wait to be sent. */
static int32_t transfer(cpipe_client *c, const uint8_t *cmds, int32_t cmds_len, const uint8_t *calls,
                        int32_t calls_len, uint8_t *out, int32_t out_cap, int wait_reply) {
    size_t count = 0, resp_size = 0;
    if (c == NULL) return CPIPE_ERR_ARG;
    if (out == NULL || out_cap < CPIPE_HEADER_SIZE) return cpipe_error_set(&c->error, CPIPE_ERR_ARG, "record buffer too small");
    memset(out, 0, CPIPE_HEADER_SIZE);
    if (c->closed) return cpipe_error_set(&c->error, CPIPE_ERR_CLOSED, "connection is closed");
    if (cmds_len < 0 || cpipe_commands_measure(cmds, (size_t)cmds_len, &count, &resp_size) != 0)
        return cpipe_error_set(&c->error, CPIPE_ERR_ARG, "malformed command buffer");
    if (calls_len == 0) calls = NULL; /* an empty buffer is not always a NULL pointer across FFI */
    if (calls_len < 0 || (calls != NULL && (size_t)calls_len != count * CPIPE_CALL_SIZE))
        return cpipe_error_set(&c->error, CPIPE_ERR_ARG, "%zu commands need %zu bytes of calls", count, count * CPIPE_CALL_SIZE);
    char why[CPIPE_ERRSTR_LEN];
    if (cpipe_calls_check(calls, count, why, sizeof why) != CPIPE_OK) return cpipe_error_set(&c->error, CPIPE_ERR_ARG, "%s", why);

    cpipe_connection *k = &c->conn;
    /* Bytes that came while nothing was owed are a reply for which no
     * command waits: read them now, or the next command would take them for
     * its own. The connection then fails, and the command goes out on a new
     * one. One read of an empty socket is the whole cost. */
    if (count > 0 && k->state == CPIPE_CONN_READY && k->calls.count == 0) (void)progress(c, cpipe_now_ms());
    if (count > 0) {
        if (k->calls.count == 0 && cpipe_buffer_live(&c->records) == 0) c->unreturned = 0; /* see _pending */
        int32_t rc = cpipe_connection_submit(k, cmds, (size_t)cmds_len, count, resp_size, calls, cpipe_now_ms(),
                                             &c->records);
        if (rc != CPIPE_OK) return cpipe_error_set(&c->error, rc, "out of memory queueing %zu commands", count);
        c->unreturned += count;
    }
    size_t owed_before = k->calls.count, room = (size_t)out_cap - CPIPE_HEADER_SIZE;
    uint32_t loading_replies = k->loading_replies;
    int64_t spin_until = 0;
    while (busy(c) && cpipe_buffer_live(&c->records) < room) {
        int64_t now = cpipe_now_ms();
        if (progress(c, now)) {
            spin_until = 0;
            /* A call finished and the read emptied the socket: asking again
             * now would only cost a system call. */
            if (wait_reply && k->calls.count < owed_before && k->drained) break;
            continue;
        }
        if (wait_reply ? k->calls.count < owed_before : cpipe_buffer_live(&k->unsent) <= SEND_BACKLOG) break;
        if (k->state == CPIPE_CONN_READY && cpipe_buffer_live(&k->unsent) == 0) {
            int64_t us = cpipe_now_us();
            if (spin_until == 0) spin_until = us + SPIN_US;
            if (us < spin_until) continue;
        }
        wait_and_progress(c);
    }
    /* The next call then waits for the data in the ready check (within the
     * connect timeout) instead of being refused too. */
    (void)cpipe_connection_retire_if_loading(k, loading_replies, &c->records);
    hand_out(c, out, out_cap);
    return CPIPE_OK;
}

CPIPE_API int32_t cpipe_client_exchange(cpipe_client *c, const uint8_t *cmds, int32_t cmds_len, const uint8_t *calls,
                                        int32_t calls_len, uint8_t *out, int32_t out_cap) {
    return transfer(c, cmds, cmds_len, calls, calls_len, out, out_cap, 1);
}

CPIPE_API int32_t cpipe_client_send(cpipe_client *c, const uint8_t *cmds, int32_t cmds_len, const uint8_t *calls,
                                    int32_t calls_len, uint8_t *out, int32_t out_cap) {
    return transfer(c, cmds, cmds_len, calls, calls_len, out, out_cap, 0);
}

CPIPE_API int32_t cpipe_client_wait(cpipe_client *c, int32_t timeout_ms, uint8_t *out, int32_t out_cap) {
    if (c == NULL) return CPIPE_ERR_ARG;
    if (out == NULL || out_cap < CPIPE_HEADER_SIZE) return cpipe_error_set(&c->error, CPIPE_ERR_ARG, "record buffer too small");
    memset(out, 0, CPIPE_HEADER_SIZE);
    if (c->closed) return cpipe_error_set(&c->error, CPIPE_ERR_CLOSED, "connection is closed");
    if (timeout_ms < 0) return cpipe_error_set(&c->error, CPIPE_ERR_ARG, "negative timeout");
    cpipe_connection *k = &c->conn;
    int64_t until = cpipe_now_ms() + timeout_ms;
    if (cpipe_buffer_live(&c->records) == 0) (void)progress(c, cpipe_now_ms());
    while (cpipe_buffer_live(&c->records) == 0 && k->state == CPIPE_CONN_READY) {
        int64_t now = cpipe_now_ms();
        if (now >= until) break;
        /* The command timeout may be due sooner: poll no longer than that. */
        int64_t due = cpipe_connection_timers(k, now, &c->records);
        int64_t stop = due > 0 && due < until ? due : until;
        struct pollfd pfd = {.fd = (redisFD)cpipe_connection_fd(k), .events = cpipe_connection_events(k)};
        if (k->state != CPIPE_CONN_READY || pfd.events == 0) break;
        int left = stop - now > INT32_MAX ? INT32_MAX : (int)(stop - now);
        int ready = poll(&pfd, 1, left);
        now = cpipe_now_ms();
        if (ready > 0) cpipe_connection_io(k, pfd.revents, READS_PER_TURN, now, &c->records);
        else if (ready < 0 && errno != EINTR) cpipe_connection_fail(k, CPIPE_ERR_CONN, "poll failed", &c->records);
        else (void)cpipe_connection_timers(k, now, &c->records);
    }
    hand_out(c, out, out_cap);
    return CPIPE_OK;
}

CPIPE_API int32_t cpipe_client_pending(const cpipe_client *c) {
    if (c == NULL) return CPIPE_ERR_ARG;
    /* Nothing owed and nothing held: a call that ended without a record
     * (its failure could not be written for want of memory) is not waited for. */
    if (c->conn.calls.count == 0 && cpipe_buffer_live(&c->records) == 0) return 0;
    return c->unreturned > INT32_MAX ? INT32_MAX : (int32_t)c->unreturned;
}

CPIPE_API int32_t cpipe_client_errstr(const cpipe_client *c, uint8_t *buf, int32_t cap) {
    if (c == NULL) return CPIPE_ERR_ARG;
    return cpipe_error_copy(&c->error, buf, cap);
}

CPIPE_API int32_t cpipe_client_close(cpipe_client *c) {
    if (c == NULL) return CPIPE_ERR_ARG;
    cpipe_connection_shutdown(&c->conn, CPIPE_ERR_CLOSED, "connection is closed", &c->records);
    /* Nothing can be exchanged any more: what was owed is forgotten. */
    cpipe_buffer_release(&c->records);
    c->unreturned = 0;
    c->closed = 1;
    return CPIPE_OK;
}

CPIPE_API void cpipe_client_free(cpipe_client *c) {
    if (c == NULL) return;
    cpipe_connection_free(&c->conn);
    cpipe_tls_config_free(c->tls);
    cpipe_buffer_release(&c->records);
    cpipe_free(c);
}

CPIPE_API int32_t cpipe_abi_version(void) {
    return CPIPE_ABI_VERSION;
}
