#include "connection.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/sockcompat.h>

#include "bytes.h"
#include "command.h"
#include "heap.h"
#include "record.h"
#include "sys.h"
#include "tls.h"

#define BACKOFF_FIRST_MS 10
/* The ready check asks a loading server again this often: its answer costs
 * the server next to nothing, and the connection is up within this of the
 * data being read. */
#define LOADING_PROBE_MS 100
static const char PING[] = "*1\r\n$4\r\nPING\r\n";
/* Bytes asked of the transport per read. */
#define READ_SIZE (64 * 1024)

/* ---- the calls owed ----------------------------------------------------------- */

static int ring_push(cpipe_call_ring *r, cpipe_call call) {
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        cpipe_call *items = cpipe_malloc(cap * sizeof *items);
        if (items == NULL) return -1;
        for (size_t i = 0; i < r->count; i++) items[i] = r->items[(r->head + i) & (r->cap - 1)];
        cpipe_free(r->items);
        r->items = items;
        r->head = 0;
        r->cap = cap;
    }
    r->items[(r->head + r->count) & (r->cap - 1)] = call;
    r->count++;
    return 0;
}

static cpipe_call *ring_at(cpipe_call_ring *r, size_t i) {
    return &r->items[(r->head + i) & (r->cap - 1)];
}

static void ring_pop(cpipe_call_ring *r) {
    r->head = (r->head + 1) & (r->cap - 1);
    r->count--;
}

/* ---- set-up --------------------------------------------------------------------- */

static int name_is(const uint8_t *arg, uint32_t len, const char *name) {
    size_t n = strlen(name);
    if (len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (toupper(arg[i]) != name[i]) return 0;
    return 1;
}

static int add_secret(cpipe_buffer *secrets, const uint8_t *arg, uint32_t len) {
    uint8_t n[4];
    cpipe_put_u32(n, len);
    return cpipe_buffer_append(secrets, n, 4) == 0 && cpipe_buffer_append(secrets, arg, len) == 0 ? 0 : -1;
}

/* Keeps what must never be shown: every argument of AUTH, and the user and
 * password after HELLO's AUTH token. The commands were measured already. */
static int collect_secrets(cpipe_buffer *secrets, const uint8_t *cmds, size_t len) {
    size_t pos = 0;
    while (pos < len) {
        uint32_t argc = cpipe_get_u32(cmds + pos);
        pos += 4;
        int auth = 0, hello = 0, take = 0;
        for (uint32_t i = 0; i < argc; i++) {
            uint32_t n = cpipe_get_u32(cmds + pos);
            const uint8_t *arg = cmds + pos + 4;
            pos += 4 + (size_t)n;
            if (i == 0) {
                auth = name_is(arg, n, "AUTH");
                hello = name_is(arg, n, "HELLO");
                continue;
            }
            if (auth || take > 0) {
                if (add_secret(secrets, arg, n) != 0) return -1;
                if (take > 0) take--;
            } else if (hello && name_is(arg, n, "AUTH")) {
                take = 2;
            }
        }
    }
    return 0;
}

int cpipe_connection_init(cpipe_connection *c, uint16_t index, const cpipe_settings *s,
                          const cpipe_transport_funcs *funcs, int reconnect) {
    memset(c, 0, sizeof *c);
    c->index = index;
    c->reconnect = reconnect;
    memcpy(c->host, s->host, sizeof c->host);
    c->port = s->port;
    c->connect_timeout_ms = s->connect_timeout_ms;
    c->command_timeout_ms = s->command_timeout_ms;
    c->reconnect_max_ms = s->reconnect_max_ms > 0 ? s->reconnect_max_ms : 2000;
    c->max_reply_bytes = s->max_reply_bytes;
    c->socket_options.tcp = s->host[0] != '/';
    c->socket_options.keepalive_s = s->keepalive_s;
    c->transport.fd = REDIS_INVALID_FD;
    if (funcs == NULL && s->tls) {
        /* The owner parsed the TLS material once (tls.h); each connection
         * keeps only its own session. */
        if (s->tls_config == NULL ||
            cpipe_tls_attach(&c->transport, s->tls_config, s->tls_servername[0] ? s->tls_servername : s->host) != 0)
            return -1;
        funcs = &cpipe_transport_tls;
    }
    c->transport.funcs = funcs != NULL ? funcs : &cpipe_transport_plain;
    c->state = CPIPE_CONN_IDLE;
    c->backoff_ms = BACKOFF_FIRST_MS;
    size_t count = 0, resp_size = 0;
    if (s->handshake_len > 0) {
        if (cpipe_commands_measure(s->handshake, s->handshake_len, &count, &resp_size) != 0) return -1;
        if (cpipe_commands_write_resp(s->handshake, s->handshake_len, resp_size, &c->replay) != 0 ||
            collect_secrets(&c->secrets, s->handshake, s->handshake_len) != 0) {
            cpipe_connection_free(c);
            return -1;
        }
    }
    c->replay_lenient = s->handshake_lenient <= count ? s->handshake_lenient : count;
    c->ready_check = s->ready_check;
    c->reconnect_on_readonly = s->reconnect_on_readonly;
    if (c->ready_check) {
        if (cpipe_buffer_append(&c->replay, PING, sizeof PING - 1) != 0) {
            cpipe_connection_free(c);
            return -1;
        }
        count++;
    }
    c->replay_count = count;
    return 0;
}

/* Closes the transport and forgets every byte in transit (not the calls). */
static void disconnect(cpipe_connection *c) {
    /* The host's descriptor keeps the socket open: end it for both. */
    if (c->handed_over && c->transport.fd != REDIS_INVALID_FD) cpipe_socket_end(c->transport.fd);
    c->handed_over = 0;
    if (c->transport.funcs) c->transport.funcs->hangup(&c->transport);
    if (c->reader) redisReaderFree(c->reader);
    c->reader = NULL;
    c->reply_ready = 0;
    c->replay_left = 0;
    c->loading = 0;
    c->probe_at = 0;
    c->read_only = 0;
    c->retiring = 0;
    c->subscriptions = 0;
    c->shard_subscriptions = 0;
    cpipe_buffer_release(&c->enc.encoded);
    cpipe_buffer_release(&c->unsent);
    cpipe_buffer_release(&c->staged);
    cpipe_buffer_release(&c->inbox);
}

void cpipe_connection_free(cpipe_connection *c) {
    disconnect(c);
    if (c->transport.funcs && c->transport.funcs->destroy) c->transport.funcs->destroy(&c->transport);
    cpipe_free(c->calls.items);
    memset(&c->calls, 0, sizeof c->calls);
    cpipe_buffer_release(&c->replay);
    cpipe_buffer_release(&c->secrets);
    c->state = CPIPE_CONN_CLOSED;
}

/* ---- messages -------------------------------------------------------------------- */

void cpipe_connection_redact(const cpipe_connection *c, const char *text, size_t len, char *dst, size_t cap) {
    size_t out = 0;
    for (size_t i = 0; i < len && out + 1 < cap;) {
        size_t skip = 0;
        for (size_t pos = 0; pos + 4 <= c->secrets.len && skip == 0;) {
            uint32_t n = cpipe_get_u32(c->secrets.data + pos);
            const uint8_t *secret = c->secrets.data + pos + 4;
            pos += 4 + (size_t)n;
            /* Redis quotes the arguments of a command it refuses cut at 128
             * bytes: a long secret may show as its start only. */
            size_t shown = n > 128 && (len - i < n || memcmp(text + i, secret, n) != 0) ? 128 : n;
            if (shown > 0 && shown <= len - i && memcmp(text + i, secret, shown) == 0) skip = shown;
        }
        if (skip == 0) {
            dst[out++] = text[i++];
            continue;
        }
        for (const char *mask = "****"; *mask && out + 1 < cap; mask++) dst[out++] = *mask;
        i += skip;
    }
    if (cap > 0) dst[out] = '\0';
}

/* ---- failing ------------------------------------------------------------------------ */

/* The live bytes of `b` from `offset` on (their count to *len), or NULL when there are none. */
static const uint8_t *bytes_at(const cpipe_buffer *b, uint64_t offset, size_t *len) {
    if (offset >= cpipe_buffer_live(b)) return NULL;
    *len = cpipe_buffer_live(b) - (size_t)offset;
    return b->data + b->pos + offset;
}

/* Fails every call owed, then records a DOWN event (with the server's error
 * reply when it refused the handshake) and moves to `next`. */
static void drop(cpipe_connection *c, int32_t status, const char *why, const uint8_t *server_reply, size_t reply_len,
                 int next, cpipe_buffer *out) {
    char said[CPIPE_ERRSTR_LEN];
    cpipe_connection_redact(c, why, strlen(why), said, sizeof said);
    /* The address first, cut short should it be long: the reason matters more. */
    if (c->host[0] == '/') snprintf(c->errstr, sizeof c->errstr, "%.100s: %.380s", c->host, said);
    else snprintf(c->errstr, sizeof c->errstr, "%.100s:%d: %.380s", c->host, c->port, said);
    /* Kept past disconnect(), which forgets them: the failure of a call that
     * never left carries its command back when the host would send it again. */
    cpipe_buffer unsent = c->unsent, staged = c->staged;
    memset(&c->unsent, 0, sizeof c->unsent);
    memset(&c->staged, 0, sizeof c->staged);
    disconnect(c);
    uint32_t delay = 0;
    if (next == CPIPE_CONN_BACKOFF) {
        delay = (uint32_t)c->backoff_ms;
        c->retry_at = cpipe_now_ms() + c->backoff_ms;
        c->backoff_ms = c->backoff_ms >= c->reconnect_max_ms / 2 ? c->reconnect_max_ms : c->backoff_ms * 2;
    }
    if (status != CPIPE_ERR_CLOSED) c->failures++;
    c->drops++;
    c->status = status;
    c->state = next;
    /* The event first: the host reads the server's reply from it before the
     * failures it explains. */
    (void)cpipe_record_event(out, c->index, CPIPE_EVENT_DOWN, status, c->failures, delay, c->errstr, server_reply,
                             reply_len);
    /* The staged calls come last: they never reached the socket. Nor did
     * those of which the transport took no byte before the failure (a write
     * into a socket the peer had closed, or the rest of a submit that went
     * in part); those written in part or whole may have run. */
    size_t sent = c->calls.count - c->staged_calls;
    for (size_t k = 0; c->calls.count > 0; k++) {
        cpipe_call *call = ring_at(&c->calls, 0);
        int was_staged = k >= sent, never_left = was_staged || call->starts_at >= c->written;
        /* A connection closed for good belongs to an owner that is closing: nothing goes again. A staged call's
         * starts_at is where it begins in the staged bytes, another's in the bytes written ever. */
        const uint8_t *resend = NULL;
        size_t resend_len = 0;
        if (never_left && (call->flags & CPIPE_CALL_RESEND) && next != CPIPE_CONN_CLOSED)
            resend = was_staged ? bytes_at(&staged, call->starts_at, &resend_len)
                                : bytes_at(&unsent, call->starts_at - c->written, &resend_len);
        /* Out of memory: the shortest record. Should that fail too, the call
         * ends without a record: its owner fails what it still awaits when
         * it closes (the pool), or stops counting it (the client). */
        if (cpipe_record_failure(out, c->index, call->id, status, never_left, c->errstr, resend, resend_len) != 0)
            (void)cpipe_record_failure(out, c->index, call->id, status, never_left, "", NULL, 0);
        ring_pop(&c->calls);
    }
    c->staged_calls = 0;
    cpipe_buffer_release(&unsent);
    cpipe_buffer_release(&staged);
}

/* Where a failure leads: BACKOFF when the connection dials again by itself, else IDLE. */
static int after_failure(const cpipe_connection *c) {
    return c->reconnect ? CPIPE_CONN_BACKOFF : CPIPE_CONN_IDLE;
}

void cpipe_connection_fail(cpipe_connection *c, int32_t status, const char *why, cpipe_buffer *out) {
    if (c->state == CPIPE_CONN_CLOSED) return;
    drop(c, status, why, NULL, 0, after_failure(c), out);
}

void cpipe_connection_shutdown(cpipe_connection *c, int32_t status, const char *why, cpipe_buffer *out) {
    if (c->state == CPIPE_CONN_CLOSED) return;
    drop(c, status, why, NULL, 0, CPIPE_CONN_CLOSED, out);
}

/* The server refused a handshake command: the failure carries its reply,
 * redacted, so the host can show the server's own words. */
static void fail_handshake(cpipe_connection *c, cpipe_buffer *out) {
    const uint8_t *reply = c->enc.encoded.data + c->enc.encoded.pos;
    uint32_t n = cpipe_get_u32(reply + 1);
    char text[CPIPE_ERRSTR_LEN], why[CPIPE_ERRSTR_LEN + 32];
    cpipe_connection_redact(c, (const char *)reply + 5, n, text, sizeof text);
    snprintf(why, sizeof why, "handshake failed: %s", text);
    uint8_t redacted[5 + CPIPE_ERRSTR_LEN];
    size_t len = strlen(text);
    redacted[0] = '-';
    cpipe_put_u32(redacted + 1, (uint32_t)len);
    memcpy(redacted + 5, text, len);
    drop(c, CPIPE_ERR_HANDSHAKE, why, redacted, 5 + len, after_failure(c), out);
}

/* ---- connecting --------------------------------------------------------------------- */

void cpipe_connection_dial(cpipe_connection *c, int64_t now, cpipe_buffer *out) {
    if (c->state != CPIPE_CONN_IDLE && c->state != CPIPE_CONN_BACKOFF) return;
    char why[CPIPE_ERRSTR_LEN];
    short events = 0;
    int32_t rc = c->transport.funcs->dial(&c->transport, c->host, c->port, &c->socket_options, &events, why,
                                          sizeof why);
    if (rc < 0) {
        cpipe_connection_fail(c, rc, why, out);
        return;
    }
    c->dial_events = events;
    c->state = CPIPE_CONN_DIALING;
    c->deadline = c->connect_timeout_ms > 0 ? now + c->connect_timeout_ms : 0;
}

void cpipe_connection_dial_soon(cpipe_connection *c, int reconnect) {
    c->reconnect = reconnect;
    if (c->state != CPIPE_CONN_IDLE) return;
    c->state = CPIPE_CONN_BACKOFF;
    c->retry_at = 0;
}

static void become_ready(cpipe_connection *c, int64_t now, cpipe_buffer *out) {
    c->state = CPIPE_CONN_READY;
    c->ready_at = now;
    c->loading = 0;
    c->probe_at = 0;
    c->backoff_ms = BACKOFF_FIRST_MS;
    if (c->staged_calls > 0) {
        uint64_t starts_at = c->written + cpipe_buffer_live(&c->unsent);
        if (cpipe_buffer_append(&c->unsent, c->staged.data + c->staged.pos, cpipe_buffer_live(&c->staged)) != 0) {
            cpipe_connection_fail(c, CPIPE_ERR_NOMEM, "out of memory", out);
            return;
        }
        for (size_t i = c->calls.count - c->staged_calls; i < c->calls.count; i++) {
            cpipe_call *call = ring_at(&c->calls, i);
            call->sent_at = now;
            call->starts_at += starts_at; /* it held where the call starts in the staged bytes */
        }
        c->staged_calls = 0;
    }
    cpipe_buffer_release(&c->staged);
    uint32_t failures = c->failures;
    c->failures = 0;
    (void)cpipe_record_event(out, c->index, CPIPE_EVENT_UP, CPIPE_OK, failures, 0, "", NULL, 0);
}

/* The transport is ready: replay the handshake, or be ready. */
static void transport_ready(cpipe_connection *c, int64_t now, cpipe_buffer *out) {
    c->reader = cpipe_reply_reader_create(&c->enc, c->max_reply_bytes);
    if (c->reader == NULL) {
        cpipe_connection_fail(c, CPIPE_ERR_NOMEM, "out of memory connecting", out);
        return;
    }
    if (c->replay_count == 0) {
        become_ready(c, now, out);
        return;
    }
    if (cpipe_buffer_append(&c->unsent, c->replay.data, c->replay.len) != 0) {
        cpipe_connection_fail(c, CPIPE_ERR_NOMEM, "out of memory connecting", out);
        return;
    }
    c->replay_left = c->replay_count;
    c->state = CPIPE_CONN_REPLAYING;
}

int cpipe_connection_accepts(const cpipe_connection *c, int64_t now, int waiting_ok) {
    switch (c->state) {
    case CPIPE_CONN_READY: return waiting_ok || !c->retiring;
    case CPIPE_CONN_DIALING: return 1;
    /* A server that is loading its data may take long: as one that is down. */
    case CPIPE_CONN_REPLAYING: return waiting_ok || !c->loading;
    case CPIPE_CONN_BACKOFF: return waiting_ok || c->retry_at <= now;
    case CPIPE_CONN_IDLE: return 1;
    default: return 0;
    }
}

/* ---- moving bytes -------------------------------------------------------------------- */

static int32_t parse(cpipe_connection *c, char *why, size_t cap) {
    if (c->reply_ready) return 1;
    size_t used = 0;
    int32_t rc = cpipe_reply_parse(c->reader, &c->enc, c->inbox.data + c->inbox.pos, cpipe_buffer_live(&c->inbox),
                                   &used, why, cap);
    c->inbox.pos += used;
    if (rc == 1) c->reply_ready = 1;
    return rc;
}

/* ---- Pub/Sub ------------------------------------------------------------------------- */

/* What a Pub/Sub frame is, beside the CPIPE_CALL_* kinds of confirmations. */
#define PUBSUB_MESSAGE 1

static const struct {
    const char *name;
    int kind;
} pubsub_names[] = {
    {"message", PUBSUB_MESSAGE},
    {"pmessage", PUBSUB_MESSAGE},
    {"smessage", PUBSUB_MESSAGE},
    {"subscribe", CPIPE_CALL_SUBSCRIBE},
    {"psubscribe", CPIPE_CALL_PSUBSCRIBE},
    {"ssubscribe", CPIPE_CALL_SSUBSCRIBE},
    {"unsubscribe", CPIPE_CALL_UNSUBSCRIBE},
    {"punsubscribe", CPIPE_CALL_PUNSUBSCRIBE},
    {"sunsubscribe", CPIPE_CALL_SUNSUBSCRIBE},
};

/* Reads an encoded reply as a Pub/Sub frame: PUBSUB_MESSAGE for a message,
 * a CPIPE_CALL_* kind for a confirmation (its subscription count in
 * `count`), 0 for anything else: an array or push whose first element names
 * the kind. */
static int pubsub_kind(const uint8_t *reply, size_t len, uint32_t *count) {
    if (len < 10 || (reply[0] != '*' && reply[0] != '>') || reply[5] != '$') return 0;
    uint32_t items = cpipe_get_u32(reply + 1), name_len = cpipe_get_u32(reply + 6);
    if (items < 3 || name_len > len - 10) return 0;
    int kind = 0;
    for (size_t i = 0; i < sizeof pubsub_names / sizeof pubsub_names[0] && kind == 0; i++)
        if (strlen(pubsub_names[i].name) == name_len && memcmp(pubsub_names[i].name, reply + 10, name_len) == 0)
            kind = pubsub_names[i].kind;
    if (kind == PUBSUB_MESSAGE || kind == 0) return kind;
    if (items != 3) return 0;
    /* Then the channel (nil after an UNSUBSCRIBE of nothing) and the count. */
    size_t pos = 10 + (size_t)name_len;
    if (pos < len && reply[pos] == '_') pos += 1;
    else if (pos + 5 <= len && reply[pos] == '$' && cpipe_get_u32(reply + pos + 1) <= len - pos - 5)
        pos += 5 + (size_t)cpipe_get_u32(reply + pos + 1);
    else return 0;
    if (pos + 9 > len || reply[pos] != ':') return 0;
    double n;
    uint64_t bits = (uint64_t)cpipe_get_u32(reply + pos + 1) | (uint64_t)cpipe_get_u32(reply + pos + 5) << 32;
    memcpy(&n, &bits, sizeof n);
    *count = n > 0 && n < 4294967296.0 ? (uint32_t)n : 0;
    return kind;
}

/* A RESP2 confirmation tells how many subscriptions of its family remain. */
static void note_subscriptions(cpipe_connection *c, int kind, uint32_t count) {
    if (kind == CPIPE_CALL_SSUBSCRIBE || kind == CPIPE_CALL_SUNSUBSCRIBE) c->shard_subscriptions = count;
    else c->subscriptions = count;
}

/* ---- replies ---------------------------------------------------------------------------- */

/* Whether an encoded reply is an error whose text begins with `prefix`. */
static int is_error(const uint8_t *reply, size_t len, const char *prefix) {
    size_t n = strlen(prefix);
    return len >= 5 + n && reply[0] == '-' && memcmp(reply + 5, prefix, n) == 0;
}

/* Whether an encoded reply is an error a server sends as it accepts a
 * connection it will not serve, and then hangs up: the first reply, whatever
 * was asked. */
static int is_refusal(const uint8_t *reply, size_t len) {
    return is_error(reply, len, "ERR max number of clients reached") || is_error(reply, len, "DENIED ");
}

/* Gives the whole reply in the encoder to whom it answers: a handshake
 * command, the oldest call, or (a push, or a message in RESP2 subscribed
 * mode) nobody. 0, or -1 when the connection failed. */
static int take_reply(cpipe_connection *c, int64_t now, cpipe_buffer *out) {
    const uint8_t *reply = c->enc.encoded.data + c->enc.encoded.pos;
    size_t len = cpipe_buffer_live(&c->enc.encoded);
    int rc = 0, is_push = c->enc.is_push;
    cpipe_call *oldest = c->calls.count > c->staged_calls ? ring_at(&c->calls, 0) : NULL;
    int want = oldest != NULL ? oldest->flags & CPIPE_CALL_PUBSUB_MASK : 0;
    int subscribed = c->subscriptions > 0 || c->shard_subscriptions > 0;
    uint32_t count = 0;
    int kind = is_push || want || subscribed ? pubsub_kind(reply, len, &count) : 0;
    if (kind > PUBSUB_MESSAGE && !is_push) note_subscriptions(c, kind, count);
    /* A confirmation the oldest call waits for is its reply, push or not. */
    int to_call = want != 0 && kind == want;
    if (!to_call && (is_push || (subscribed && kind != 0))) {
        rc = cpipe_record_push(out, c->index, reply, len);
    } else if (c->state == CPIPE_CONN_REPLAYING) {
        /* The ready check's own answer decides nothing but LOADING and a
         * refusal: a proxy without PING, or a user not allowed it (or not
         * logged in), is still served. Nor do the lenient commands' (CLIENT
         * SETINFO, unknown before Redis 7.2). */
        int check = c->ready_check && c->replay_left == 1;
        size_t before_check = c->replay_left - (c->ready_check ? 1 : 0);
        int lenient = check || (before_check > 0 && before_check <= c->replay_lenient);
        if (check && is_error(reply, len, "LOADING ")) {
            /* Why nothing is up yet, for whoever asks meanwhile. */
            if (!c->loading) snprintf(c->errstr, sizeof c->errstr, "the server is loading its data (LOADING)");
            c->loading = 1;
            c->probe_at = now + LOADING_PROBE_MS;
        } else if (reply[0] == '-' && (!lenient || is_refusal(reply, len))) {
            fail_handshake(c, out);
            return -1;
        } else if (--c->replay_left == 0) {
            c->reply_ready = 0;
            cpipe_buffer_reset(&c->enc.encoded);
            become_ready(c, now, out);
            return c->state == CPIPE_CONN_READY ? 0 : -1;
        }
    } else if (oldest == NULL) {
        cpipe_connection_fail(c, CPIPE_ERR_PROTOCOL, "protocol error: a reply for which no command waits", out);
        return -1;
    } else {
        /* RESET ends subscribed mode with everything else the connection had. */
        if (len == 10 && memcmp(reply, "+\x05\0\0\0RESET", 10) == 0) c->subscriptions = c->shard_subscriptions = 0;
        /* An error ends a (un)subscription at once: the server refused the
         * command whole (no permission, wrong arguments). */
        int partial = oldest->replies > 1 && !(want != 0 && reply[0] == '-');
        rc = cpipe_record_reply(out, c->index, oldest->id, partial, reply, len);
        if (c->reconnect_on_readonly && is_error(reply, len, "READONLY ")) c->read_only = 1;
        if (is_error(reply, len, "LOADING ")) c->loading_replies++;
        if (rc == 0) {
            if (partial) {
                oldest->replies--;
            } else {
                if (oldest->flags & CPIPE_CALL_BLOCKING) c->blocking_ended_at = now;
                ring_pop(&c->calls);
            }
        }
    }
    if (rc != 0) {
        cpipe_connection_fail(c, CPIPE_ERR_NOMEM, "out of memory", out);
        return -1;
    }
    c->reply_ready = 0;
    cpipe_buffer_reset(&c->enc.encoded);
    return 0;
}

static void retire_now(cpipe_connection *c, cpipe_buffer *out) {
    cpipe_connection_fail(c, CPIPE_ERR_CONN, c->retire_why, out);
}

/* Hands out every whole reply already received. 0, or -1 when the connection failed. */
static int take_replies(cpipe_connection *c, int64_t now, cpipe_buffer *out) {
    char why[CPIPE_ERRSTR_LEN];
    int32_t rc;
    while ((rc = parse(c, why, sizeof why)) == 1)
        if (take_reply(c, now, out) != 0) return -1;
    if (rc < 0) {
        cpipe_connection_fail(c, rc, why, out);
        return -1;
    }
    if (c->read_only) {
        /* A failover made this server a replica, and a name that moved to
         * the new master is only read again by a new dial. */
        if (!c->retiring) c->read_only_drops++; /* a retiring one is known to be stale */
        cpipe_connection_fail(c, CPIPE_ERR_CONN, "the server answered READONLY (a replica now): reconnecting", out);
        return -1;
    }
    if (c->retiring && c->calls.count == 0) {
        retire_now(c, out);
        return -1;
    }
    return 0;
}

const char CPIPE_LOADING_WHY[] = "the server is loading its data (LOADING): reconnecting to wait for it";

int cpipe_connection_retire_if_loading(cpipe_connection *c, uint32_t before, cpipe_buffer *out) {
    if (c->loading_replies == before || !c->ready_check || c->state != CPIPE_CONN_READY || c->retiring) return 0;
    cpipe_connection_retire(c, CPIPE_LOADING_WHY, out);
    return 1;
}

void cpipe_connection_retire(cpipe_connection *c, const char *why, cpipe_buffer *out) {
    if (c->state != CPIPE_CONN_READY || c->retiring) return;
    c->retiring = 1;
    c->retire_why = why;
    if (c->calls.count == 0) retire_now(c, out);
}

/* Reads once: 2 when a whole read's worth came (more may wait), 1 when
 * fewer came (the socket is empty now: asking again would only cost a
 * system call), 0 when none waited, -1 when the connection failed (after the
 * replies that came before the failure were handed out). */
static int read_once(cpipe_connection *c, int64_t now, cpipe_buffer *out) {
    char why[CPIPE_ERRSTR_LEN];
    if (cpipe_buffer_reserve(&c->inbox, READ_SIZE) != 0) {
        cpipe_connection_fail(c, CPIPE_ERR_NOMEM, "out of memory", out);
        return -1;
    }
    int64_t n = c->transport.funcs->read(&c->transport, c->inbox.data + c->inbox.len, READ_SIZE, why, sizeof why);
    if (n < 0) {
        if (take_replies(c, now, out) != 0) return -1;
        cpipe_connection_fail(c, (int32_t)n, why, out);
        return -1;
    }
    c->drained = n < READ_SIZE;
    if (n == 0) return 0;
    c->inbox.len += (size_t)n;
    c->received += (uint64_t)n;
    if (take_replies(c, now, out) != 0) return -1;
    return c->drained ? 1 : 2;
}

/* Writes what the socket takes. 0, or -1 when the connection failed: then
 * the replies already received (the server often explains why it hung up)
 * were handed out first. */
static int write_some(cpipe_connection *c, int64_t now, cpipe_buffer *out) {
    char why[CPIPE_ERRSTR_LEN];
    while (cpipe_buffer_live(&c->unsent) > 0) {
        int64_t n = c->transport.funcs->write(&c->transport, c->unsent.data + c->unsent.pos,
                                              cpipe_buffer_live(&c->unsent), why, sizeof why);
        if (n == 0) return 0;
        if (n < 0) {
            /* The server's last words are the host's to read when handed over. */
            while (!c->handed_over && read_once(c, now, out) == 2) {
            }
            if (c->state == CPIPE_CONN_READY || c->state == CPIPE_CONN_REPLAYING)
                cpipe_connection_fail(c, (int32_t)n, why, out);
            return -1;
        }
        c->unsent.pos += (size_t)n;
        c->written += (uint64_t)n;
    }
    cpipe_buffer_reset(&c->unsent);
    return 0;
}

int32_t cpipe_connection_submit(cpipe_connection *c, const uint8_t *cmds, size_t len, size_t count, size_t resp_size,
                                const uint8_t *calls, int64_t now, cpipe_buffer *out) {
    int ready = c->state == CPIPE_CONN_READY;
    size_t before = c->calls.count;
    /* Where each call's bytes start in the stream, so that a write that
     * went in part leaves the calls after it UNSENT. Staged, where they
     * start in the staged bytes, placed when those go out (become_ready). */
    uint64_t starts_at = ready ? c->written + cpipe_buffer_live(&c->unsent) : cpipe_buffer_live(&c->staged);
    const uint8_t *cmd = cmds;
    for (size_t k = 0; k < count; k++) {
        cpipe_call call = {c->next_id++, 1, 0, ready ? now : 0, starts_at};
        size_t packed;
        starts_at += cpipe_command_resp_size(cmd, &packed);
        cmd += packed;
        if (calls != NULL) {
            const uint8_t *p = calls + k * CPIPE_CALL_SIZE;
            call.id = cpipe_get_u32(p);
            call.replies = cpipe_get_u16(p + 4);
            call.flags = cpipe_get_u16(p + 6);
        }
        if (ring_push(&c->calls, call) != 0) {
            c->calls.count = before; /* refused whole */
            return CPIPE_ERR_NOMEM;
        }
    }
    if (cpipe_commands_write_resp(cmds, len, resp_size, ready ? &c->unsent : &c->staged) != 0) {
        c->calls.count = before;
        return CPIPE_ERR_NOMEM;
    }
    if (!ready) {
        c->staged_calls += count;
        if (c->state == CPIPE_CONN_IDLE) cpipe_connection_dial(c, now, out);
        return CPIPE_OK;
    }
    (void)write_some(c, now, out);
    return CPIPE_OK;
}

int32_t cpipe_calls_check(const uint8_t *calls, size_t count, char *why, size_t cap) {
    for (size_t k = 0; calls != NULL && k < count; k++) {
        const uint8_t *p = calls + k * CPIPE_CALL_SIZE;
        if (cpipe_get_u16(p + 4) == 0) {
            snprintf(why, cap, "call %zu owes no reply: commands that silence replies are not supported", k);
            return CPIPE_ERR_ARG;
        }
        uint16_t flags = cpipe_get_u16(p + 6), pubsub = flags & CPIPE_CALL_PUBSUB_MASK;
        if ((flags & ~(CPIPE_CALL_BLOCKING | CPIPE_CALL_SAME_SESSION | CPIPE_CALL_RESEND | CPIPE_CALL_PUBSUB_MASK)) ||
            pubsub > CPIPE_CALL_SUNSUBSCRIBE) {
            snprintf(why, cap, "call %zu has unknown flags", k);
            return CPIPE_ERR_ARG;
        }
    }
    return CPIPE_OK;
}

short cpipe_connection_events(const cpipe_connection *c) {
    switch (c->state) {
    case CPIPE_CONN_DIALING: return c->dial_events ? c->dial_events : POLLOUT;
    case CPIPE_CONN_REPLAYING:
    case CPIPE_CONN_READY:
        return (c->paused || c->handed_over ? 0 : POLLIN) | (cpipe_buffer_live(&c->unsent) > 0 ? POLLOUT : 0);
    default: return 0;
    }
}

int cpipe_connection_pending(const cpipe_connection *c) {
    if (c->state != CPIPE_CONN_READY && c->state != CPIPE_CONN_REPLAYING) return 0;
    if ((c->paused || c->handed_over) && c->state == CPIPE_CONN_READY) return 0; /* not read here */
    return c->transport.funcs->pending != NULL && c->transport.funcs->pending(&c->transport);
}

int64_t cpipe_connection_fd(const cpipe_connection *c) {
    return c->transport.funcs ? c->transport.funcs->fd(&c->transport) : -1;
}

/* Sends the ready check again (the server answered LOADING). 0, or -1 when
 * the connection failed. */
static int probe_again(cpipe_connection *c, int64_t now, cpipe_buffer *out) {
    c->probe_at = 0;
    if (cpipe_buffer_append(&c->unsent, PING, sizeof PING - 1) != 0) {
        cpipe_connection_fail(c, CPIPE_ERR_NOMEM, "out of memory connecting", out);
        return -1;
    }
    return write_some(c, now, out);
}

/* The next due time of a connection that a dial or a timer may just have
 * failed: its redial in BACKOFF, none when IDLE (its owner dials). */
static int64_t due_after_failure(const cpipe_connection *c) {
    return c->state == CPIPE_CONN_BACKOFF ? c->retry_at : 0;
}

int64_t cpipe_connection_timers(cpipe_connection *c, int64_t now, cpipe_buffer *out) {
    char why[160];
    switch (c->state) {
    case CPIPE_CONN_BACKOFF:
        if (now < c->retry_at) return c->retry_at;
        cpipe_connection_dial(c, now, out);
        return c->state == CPIPE_CONN_DIALING ? c->deadline : due_after_failure(c);
    case CPIPE_CONN_DIALING:
    case CPIPE_CONN_REPLAYING:
        if (c->deadline == 0 || now < c->deadline) {
            if (c->probe_at != 0 && now >= c->probe_at && probe_again(c, now, out) != 0) return due_after_failure(c);
            /* The sooner of the next ready check (once answered LOADING) and the deadline. */
            return c->probe_at != 0 && (c->deadline == 0 || c->probe_at < c->deadline) ? c->probe_at : c->deadline;
        }
        if (c->loading) {
            snprintf(why, sizeof why, "cannot connect: the server was still loading its data (LOADING) after %d ms",
                     c->connect_timeout_ms);
        } else {
            /* Connected, silent in the TLS handshake: a server's plaintext port waits for a line that never comes. */
            snprintf(why, sizeof why, "cannot connect: no answer within %d ms%s", c->connect_timeout_ms,
                     c->state == CPIPE_CONN_DIALING && !c->transport.dialing &&
                             c->transport.funcs == &cpipe_transport_tls
                         ? " to the TLS handshake (is this the server's TLS port?)"
                         : "");
        }
        cpipe_connection_fail(c, CPIPE_ERR_CONN, why, out);
        return due_after_failure(c);
    case CPIPE_CONN_READY: {
        /* A blocking command may wait on the server for ever: only its own
         * timeout applies, and the calls behind it wait with it. Once it is
         * answered they are timed as if sent then: from their send they would
         * time out the moment it answered. Not from when each becomes the
         * oldest: a peer that answers just in time would hold a pipeline for
         * a timeout per call. */
        if (c->command_timeout_ms == 0 || c->calls.count == c->staged_calls || c->paused) return 0;
        cpipe_call *oldest = ring_at(&c->calls, 0);
        if (oldest->flags & CPIPE_CALL_BLOCKING) return 0;
        int64_t from = oldest->sent_at > c->blocking_ended_at ? oldest->sent_at : c->blocking_ended_at;
        int64_t due = from + c->command_timeout_ms;
        if (now < due) return due;
        snprintf(why, sizeof why, "no reply within %d ms", c->command_timeout_ms);
        cpipe_connection_fail(c, CPIPE_ERR_TIMEOUT, why, out);
        return due_after_failure(c);
    }
    default: return 0;
    }
}

void cpipe_connection_io(cpipe_connection *c, short revents, int reads, int64_t now, cpipe_buffer *out) {
    if (c->state == CPIPE_CONN_DIALING) {
        char why[CPIPE_ERRSTR_LEN];
        short events = 0;
        int32_t rc = c->transport.funcs->handshake(&c->transport, &events, why, sizeof why);
        if (rc < 0) {
            cpipe_connection_fail(c, rc, why, out);
            return;
        }
        if (rc == CPIPE_AGAIN) {
            c->dial_events = events;
            return;
        }
        transport_ready(c, now, out);
        if (c->state != CPIPE_CONN_REPLAYING && c->state != CPIPE_CONN_READY) return;
        revents |= POLLOUT;
    }
    if (c->state != CPIPE_CONN_REPLAYING && c->state != CPIPE_CONN_READY) return;
    /* Paused, the socket is not read, even when it hung up: what it holds
     * is the owner's to take once it resumes (a write failure still drops it). */
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && !((c->paused || c->handed_over) && c->state == CPIPE_CONN_READY)) {
        for (int i = 0; i < reads; i++) {
            int got = read_once(c, now, out);
            if (got < 0) return;
            if (got < 2) break;
        }
    }
    if (cpipe_buffer_live(&c->unsent) > 0) (void)write_some(c, now, out);
}

int64_t cpipe_connection_hand_over(cpipe_connection *c) {
    if (c->state != CPIPE_CONN_READY || c->handed_over || c->paused || c->transport.funcs != &cpipe_transport_plain ||
        c->transport.fd == REDIS_INVALID_FD)
        return -1;
    redisFD shared = cpipe_socket_share(c->transport.fd);
    if (shared == REDIS_INVALID_FD) return -1;
    c->handed_over = 1;
    return (int64_t)shared;
}

void cpipe_connection_feed(cpipe_connection *c, const uint8_t *data, size_t len, int64_t now, cpipe_buffer *out) {
    if (c->state != CPIPE_CONN_READY || !c->handed_over) return;
    if (len == 0) {
        if (take_replies(c, now, out) != 0) return;
        cpipe_connection_fail(c, CPIPE_ERR_CONN, "server closed the connection", out);
        return;
    }
    if (cpipe_buffer_append(&c->inbox, data, len) != 0) {
        cpipe_connection_fail(c, CPIPE_ERR_NOMEM, "out of memory", out);
        return;
    }
    c->received += (uint64_t)len;
    (void)take_replies(c, now, out);
}
