/* One connection to a Redis server: connect and handshake, then move packed
 * commands out and encoded replies in, on a non-blocking socket. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <hiredis/sockcompat.h>

#include "buffer.h"
#include "command.h"
#include "cpipe.h"
#include "heap.h"
#include "link.h"
#include "reply.h"
#include "sys.h"

#define MAX_HOST_LEN 1024
/* cpipe_conn_send() returns once no more than this waits to be sent. */
#define SEND_BACKLOG (1u << 20)
/* How long to keep asking for a reply before sleeping in poll(). */
#define SPIN_US 50

struct cpipe_conn {
    /* Where and how to connect; fixed at creation. */
    char *host;
    int port;
    int connect_timeout_ms;
    int command_timeout_ms;
    uint8_t *handshake; /* packed commands run after each connect */
    size_t handshake_len;

    /* The live connection (link.h); link.ctx is NULL while disconnected. */
    cpipe_link link;
    size_t pending; /* commands sent or queued whose replies are not delivered */

    int closed;
    char errstr[CPIPE_ERRSTR_LEN];
    size_t errlen;
};

enum pump_result { PUMP_REPLY = 0, PUMP_WOULD_BLOCK = 1 };

static int32_t set_error(cpipe_conn *c, int32_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    c->errlen = n < 0 ? 0 : (size_t)n >= sizeof c->errstr ? sizeof c->errstr - 1 : (size_t)n;
    return code;
}

static void drop_connection(cpipe_conn *c) {
    cpipe_link_close(&c->link);
    c->pending = 0;
}

/* Drops the connection and reports why; every awaited reply is lost with it. */
static int32_t fail(cpipe_conn *c, int32_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char message[CPIPE_ERRSTR_LEN];
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    drop_connection(c);
    return set_error(c, code, "%s:%d: %s", c->host, c->port, message);
}

/* Writes what it can of the unsent bytes without waiting. */
static int32_t write_some(cpipe_conn *c, int *progress) {
    int32_t rc = cpipe_link_write(&c->link, progress);
    return rc == CPIPE_OK ? rc : fail(c, rc, "%s", c->link.errstr);
}

/* Receives what is available without waiting; *got tells whether bytes came. */
static int32_t read_some(cpipe_conn *c, int *got) {
    size_t n = 0;
    int32_t rc = cpipe_link_read(&c->link, &n);
    *got = n > 0;
    return rc == CPIPE_OK ? rc : fail(c, rc, "%s", c->link.errstr);
}

/* Parses buffered bytes until a whole reply is encoded; 1 when one is. */
static int32_t parse_some(cpipe_conn *c) {
    int32_t rc = cpipe_link_parse(&c->link);
    return rc >= 0 ? rc : fail(c, rc, "%s", c->link.errstr);
}

/* Moves bytes both ways until a whole reply is ready (PUMP_REPLY), or, when
 * may_block is 0, until nothing can move without waiting and at most
 * `unsent_allowed` bytes wait to be sent (PUMP_WOULD_BLOCK). Waiting is
 * bounded by the command timeout, counted from the last progress. */
static int32_t pump(cpipe_conn *c, int may_block, size_t unsent_allowed) {
    int64_t deadline = c->command_timeout_ms > 0 ? cpipe_now_ms() + c->command_timeout_ms : 0;
    int64_t spin_until = 0;
    for (;;) {
        int32_t rc = parse_some(c);
        if (rc != 0) return rc < 0 ? rc : PUMP_REPLY;

        int progress = 0, got = 0;
        if ((rc = write_some(c, &progress)) != CPIPE_OK) return rc;
        if ((rc = read_some(c, &got)) != CPIPE_OK) return rc;
        if (got) progress = 1;
        if (progress) {
            if (deadline) deadline = cpipe_now_ms() + c->command_timeout_ms;
            if (got) continue;
        }
        if (!may_block && cpipe_buffer_live(&c->link.unsent) <= unsent_allowed) return PUMP_WOULD_BLOCK;
        if (progress) continue;
        /* A reply on loopback usually arrives within microseconds; asking
         * again for a moment beats being put to sleep and woken up. */
        if (cpipe_buffer_live(&c->link.unsent) == 0) {
            if (spin_until == 0) spin_until = cpipe_now_us() + SPIN_US;
            if (cpipe_now_us() < spin_until) continue;
        }

        struct pollfd pfd = {.fd = c->link.ctx->fd, .events = POLLIN};
        if (cpipe_buffer_live(&c->link.unsent) > 0) pfd.events |= POLLOUT;
        int wait_ms = -1;
        if (deadline) {
            int64_t left = deadline - cpipe_now_ms();
            if (left <= 0) return fail(c, CPIPE_ERR_TIMEOUT, "no reply within %d ms", c->command_timeout_ms);
            wait_ms = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        int ready = poll(&pfd, 1, wait_ms);
        if (ready < 0 && errno != EINTR) return fail(c, CPIPE_ERR_CONN, "poll failed: %s", strerror(errno));
        if (ready == 0) return fail(c, CPIPE_ERR_TIMEOUT, "no reply within %d ms", c->command_timeout_ms);
    }
}

static int32_t queue_commands(cpipe_conn *c, const uint8_t *cmds, size_t len, size_t count, size_t resp_size) {
    if (cpipe_commands_write_resp(cmds, len, resp_size, &c->link.unsent) != 0)
        return set_error(c, CPIPE_ERR_NOMEM, "out of memory queueing %zu commands", count);
    c->pending += count;
    return CPIPE_OK;
}

/* The reply's message as the server wrote it, for handshake failures. */
static int32_t fail_with_error_reply(cpipe_conn *c) {
    const uint8_t *p = c->link.enc.encoded.data + c->link.enc.encoded.pos;
    uint32_t len = (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
    return fail(c, CPIPE_ERR_HANDSHAKE, "handshake failed: %.*s", (int)(len > 200 ? 200 : len), (const char *)p + 5);
}

static int32_t run_handshake(cpipe_conn *c) {
    size_t count, resp_size;
    if (c->handshake_len == 0) return CPIPE_OK;
    cpipe_commands_measure(c->handshake, c->handshake_len, &count, &resp_size); /* checked at creation */
    int32_t rc = queue_commands(c, c->handshake, c->handshake_len, count, resp_size);
    if (rc != CPIPE_OK) return rc;
    while (c->pending > 0) {
        if ((rc = pump(c, 1, 0)) < 0) return rc;
        int is_error = c->link.enc.encoded.data[c->link.enc.encoded.pos] == '-';
        if (!c->link.enc.is_push) {
            if (is_error) return fail_with_error_reply(c);
            c->pending--;
        }
        c->link.reply_ready = 0;
        cpipe_buffer_reset(&c->link.enc.encoded);
    }
    return CPIPE_OK;
}

static int32_t open_connection(cpipe_conn *c) {
    drop_connection(c);
    int32_t rc = cpipe_link_open(&c->link, c->host, c->port, 1, c->connect_timeout_ms);
    if (rc != CPIPE_OK) return fail(c, rc, "%s", c->link.errstr);
    return run_handshake(c);
}

CPIPE_API cpipe_conn *cpipe_conn_create(const uint8_t *host, int32_t host_len, int32_t port,
                                        int32_t connect_timeout_ms, int32_t command_timeout_ms,
                                        const uint8_t *handshake, int32_t handshake_len) {
    size_t count, resp_size;
    if (host == NULL || host_len <= 0 || host_len > MAX_HOST_LEN || memchr(host, 0, (size_t)host_len)) return NULL;
    if (port < 0 || port > 65535 || connect_timeout_ms < 0 || command_timeout_ms < 0 || handshake_len < 0) return NULL;
    if (cpipe_commands_measure(handshake, (size_t)handshake_len, &count, &resp_size) != 0) return NULL;

    cpipe_alloc_install();
    cpipe_conn *c = cpipe_calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->host = cpipe_malloc((size_t)host_len + 1);
    c->handshake = handshake_len ? cpipe_malloc((size_t)handshake_len) : NULL;
    if (c->host == NULL || (handshake_len && c->handshake == NULL)) {
        cpipe_conn_free(c);
        return NULL;
    }
    memcpy(c->host, host, (size_t)host_len);
    c->host[host_len] = '\0';
    if (handshake_len) memcpy(c->handshake, handshake, (size_t)handshake_len);
    c->handshake_len = (size_t)handshake_len;
    c->port = port;
    c->connect_timeout_ms = connect_timeout_ms;
    c->command_timeout_ms = command_timeout_ms;
    return c;
}

CPIPE_API int32_t cpipe_conn_connect(cpipe_conn *c) {
    if (c == NULL) return CPIPE_ERR_ARG;
    if (c->closed) return set_error(c, CPIPE_ERR_CLOSED, "connection is closed");
    return open_connection(c);
}

static void put_u32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4); /* every supported target is little-endian */
}

/* Queues `cmds` and moves replies into `out`. With wait_reply, returns once
 * everything is sent and at least one reply is there (or none is awaited);
 * without, as soon as no more than SEND_BACKLOG bytes wait to be sent. */
static int32_t transfer(cpipe_conn *c, const uint8_t *cmds, int32_t cmds_len, uint8_t *out, int32_t out_cap,
                        int wait_reply) {
    size_t count = 0, resp_size = 0;
    if (c == NULL) return CPIPE_ERR_ARG;
    if (out == NULL || out_cap < CPIPE_REPLY_HEADER) return set_error(c, CPIPE_ERR_ARG, "reply buffer too small");
    memset(out, 0, CPIPE_REPLY_HEADER);
    if (c->closed) return set_error(c, CPIPE_ERR_CLOSED, "connection is closed");
    if (cmds_len < 0 || cpipe_commands_measure(cmds, (size_t)cmds_len, &count, &resp_size) != 0)
        return set_error(c, CPIPE_ERR_ARG, "malformed command buffer");

    int32_t rc = CPIPE_OK;
    if (count > 0) {
        if (c->link.ctx == NULL && (rc = open_connection(c)) != CPIPE_OK) return rc;
        if ((rc = queue_commands(c, cmds, (size_t)cmds_len, count, resp_size)) != CPIPE_OK) return rc;
    }

    size_t room = (size_t)out_cap - CPIPE_REPLY_HEADER, used = 0;
    uint32_t replies = 0, need = 0;
    while (c->link.ctx != NULL) {
        if (c->link.reply_ready) {
            size_t size = cpipe_buffer_live(&c->link.enc.encoded);
            if (size > room - used) {
                if (replies == 0) need = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
                break;
            }
            memcpy(out + CPIPE_REPLY_HEADER + used, c->link.enc.encoded.data + c->link.enc.encoded.pos, size);
            used += size;
            replies++;
            if (!c->link.enc.is_push) c->pending--;
            c->link.reply_ready = 0;
            cpipe_buffer_reset(&c->link.enc.encoded);
        }
        if (c->pending == 0 && cpipe_buffer_live(&c->link.unsent) == 0) break;
        rc = wait_reply ? pump(c, replies == 0, 0) : pump(c, 0, SEND_BACKLOG);
        if (rc != PUMP_REPLY) break;
    }
    if (rc == PUMP_WOULD_BLOCK) rc = CPIPE_OK;

    put_u32(out, replies);
    put_u32(out + 4, (uint32_t)used);
    put_u32(out + 8, c->link.ctx && cpipe_buffer_live(&c->link.unsent) ? CPIPE_FLAG_UNSENT : 0);
    put_u32(out + 12, need);
    return rc;
}

CPIPE_API int32_t cpipe_conn_exchange(cpipe_conn *c, const uint8_t *cmds, int32_t cmds_len,
                                      uint8_t *out, int32_t out_cap) {
    return transfer(c, cmds, cmds_len, out, out_cap, 1);
}

CPIPE_API int32_t cpipe_conn_send(cpipe_conn *c, const uint8_t *cmds, int32_t cmds_len, uint8_t *out,
                                  int32_t out_cap) {
    return transfer(c, cmds, cmds_len, out, out_cap, 0);
}

CPIPE_API int32_t cpipe_conn_pending(const cpipe_conn *c) {
    if (c == NULL) return CPIPE_ERR_ARG;
    return c->pending > INT32_MAX ? INT32_MAX : (int32_t)c->pending;
}

CPIPE_API int32_t cpipe_conn_errstr(const cpipe_conn *c, uint8_t *buf, int32_t cap) {
    if (c == NULL) return CPIPE_ERR_ARG;
    if (buf != NULL && cap > 0) memcpy(buf, c->errstr, c->errlen < (size_t)cap ? c->errlen : (size_t)cap);
    return (int32_t)c->errlen;
}

CPIPE_API int32_t cpipe_conn_close(cpipe_conn *c) {
    if (c == NULL) return CPIPE_ERR_ARG;
    drop_connection(c);
    c->closed = 1;
    return CPIPE_OK;
}

CPIPE_API void cpipe_conn_free(cpipe_conn *c) {
    if (c == NULL) return;
    drop_connection(c);
    cpipe_free(c->host);
    cpipe_free(c->handshake);
    cpipe_free(c);
}

CPIPE_API int32_t cpipe_abi_version(void) {
    return CPIPE_ABI_VERSION;
}
