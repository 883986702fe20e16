/* The connection state machine driven over a fake in-memory transport: no
 * socket, no server. The transport table is the seam every byte goes
 * through; this test is its proof: a scripted "server" answers, and every
 * state, record and failure is checked. Run under ASan/UBSan
 * (`make asan-connection`, part of `make test`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/sockcompat.h> /* poll() and its events */

#include "bytes.h"
#include "command.h"
#include "connection.h"
#include "cpipe.h"
#include "heap.h"
#include "record.h"
#include "settings.h"

#include "check.h"

/* ---- the fake transport ------------------------------------------------------ */

/* What the scripted server says, and what the client wrote to it. */
typedef struct fake_server {
    char said[4096];
    size_t said_len, read_pos;
    size_t per_read;       /* bytes handed out per read (0: all) */
    int hang_up;           /* after what it said, the peer closes */
    int handshake_waits;   /* the transport handshake asks to wait this many times */
    int refuse_dial;       /* dial fails at once */
    char wrote[4096];
    size_t wrote_len;
    size_t write_cap;      /* the socket takes this many bytes in all, then would block (0: as many as fit) */
    int write_fails;       /* the peer is gone: a write fails, taking nothing */
    int dials;
} fake_server;

static fake_server server;

static void say(const char *bytes) {
    size_t n = strlen(bytes);
    memcpy(server.said + server.said_len, bytes, n);
    server.said_len += n;
}

static int32_t fake_dial(cpipe_transport *t, const char *host, int port, const cpipe_socket_options *opt,
                         short *events, char *why, size_t cap) {
    (void)host;
    (void)port;
    (void)opt;
    server.dials++;
    if (server.refuse_dial) {
        snprintf(why, cap, "cannot connect: refused by the script");
        return CPIPE_ERR_CONN;
    }
    t->fd = 1000; /* never polled: the test drives io() itself */
    t->dialing = 1;
    *events = POLLOUT;
    return CPIPE_AGAIN;
}

static int32_t fake_handshake(cpipe_transport *t, short *events, char *why, size_t cap) {
    (void)why;
    (void)cap;
    if (server.handshake_waits > 0) {
        server.handshake_waits--;
        *events = POLLIN;
        return CPIPE_AGAIN;
    }
    t->dialing = 0;
    return CPIPE_OK;
}

static int64_t fake_read(cpipe_transport *t, uint8_t *buf, size_t cap, char *why, size_t why_cap) {
    (void)t;
    size_t left = server.said_len - server.read_pos;
    if (left == 0) {
        if (!server.hang_up) return 0;
        snprintf(why, why_cap, "server closed the connection");
        return CPIPE_ERR_CONN;
    }
    size_t n = left < cap ? left : cap;
    if (server.per_read && n > server.per_read) n = server.per_read;
    memcpy(buf, server.said + server.read_pos, n);
    server.read_pos += n;
    return (int64_t)n;
}

static int64_t fake_write(cpipe_transport *t, const uint8_t *buf, size_t len, char *why, size_t why_cap) {
    (void)t;
    if (server.write_fails) {
        snprintf(why, why_cap, "write failed: Broken pipe");
        return CPIPE_ERR_CONN;
    }
    size_t room = (server.write_cap ? server.write_cap : sizeof server.wrote) - server.wrote_len;
    size_t n = len < room ? len : room;
    memcpy(server.wrote + server.wrote_len, buf, n);
    server.wrote_len += n;
    return (int64_t)n;
}

static int64_t fake_fd(const cpipe_transport *t) {
    return t->fd == REDIS_INVALID_FD ? -1 : (int64_t)t->fd;
}

static void fake_hangup(cpipe_transport *t) {
    t->fd = REDIS_INVALID_FD;
    t->dialing = 0;
}

static const cpipe_transport_funcs fake_transport = {
    .name = "fake",
    .dial = fake_dial,
    .handshake = fake_handshake,
    .read = fake_read,
    .write = fake_write,
    .fd = fake_fd,
    .hangup = fake_hangup,
};

/* A fresh script: nothing said, nothing written. */
static void reset_server(void) {
    memset(&server, 0, sizeof server);
}

/* ---- helpers ----------------------------------------------------------------- */

/* Packs one command of C strings: u32 argc, then u32 len + bytes each. */
static size_t pack(uint8_t *out, int argc, const char **argv) {
    size_t n = 0;
    cpipe_put_u32(out, (uint32_t)argc);
    n += 4;
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        cpipe_put_u32(out + n, (uint32_t)len);
        memcpy(out + n + 4, argv[i], len);
        n += 4 + len;
    }
    return n;
}

static void call(uint8_t *out, uint32_t id, uint16_t replies, uint16_t flags) {
    cpipe_put_u32(out, id);
    cpipe_put_u16(out + 4, replies);
    cpipe_put_u16(out + 6, flags);
}

/* One record read back from a records buffer. */
typedef struct record {
    uint8_t kind, flags;
    uint16_t connection;
    uint32_t id, len;
    const uint8_t *payload;
} record;

/* The i-th record of `b`, or kind 0 when there are fewer. */
static record record_at(const cpipe_buffer *b, int i) {
    record r = {0};
    size_t pos = b->pos;
    for (;;) {
        if (b->len - pos < CPIPE_RECORD_HEAD) return (record){0};
        const uint8_t *p = b->data + pos;
        r.kind = p[0];
        r.flags = p[1];
        r.connection = cpipe_get_u16(p + 2);
        r.id = cpipe_get_u32(p + 4);
        r.len = cpipe_get_u32(p + 8);
        r.payload = p + CPIPE_RECORD_HEAD;
        if (i-- == 0) return r;
        pos += CPIPE_RECORD_HEAD + r.len;
    }
}

static int record_count(const cpipe_buffer *b) {
    int n = 0;
    while (record_at(b, n).kind != 0) n++;
    return n;
}

static int contains(const void *hay, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp((const char *)hay + i, needle, n) == 0) return 1;
    return 0;
}

/* Settings with a handshake of `argc` arguments (none when argc is 0). */
static cpipe_settings settings_with(int argc, const char **argv, uint8_t *space) {
    cpipe_settings s;
    memset(&s, 0, sizeof s);
    memcpy(s.host, "fake", 5);
    s.port = 6379;
    s.connect_timeout_ms = 1000;
    s.command_timeout_ms = 0;
    s.reconnect_max_ms = 80;
    s.max_reply_bytes = 1 << 20;
    if (argc > 0) {
        s.handshake_len = pack(space, argc, argv);
        s.handshake = space;
    }
    return s;
}

/* ---- tests ---------------------------------------------------------------------- */

/* IDLE -> DIALING -> (transport handshake waits) -> REPLAYING -> READY, with
 * calls staged on the way and sent once ready, then a reply each. */
static void test_states_up(void) {
    reset_server();
    uint8_t space[256], cmds[256], calls[16];
    const char *auth[] = {"AUTH", "alice", "pw-secret"};
    cpipe_settings s = settings_with(3, auth, space);
    cpipe_connection c;
    cpipe_buffer out = {0};
    CHECK(cpipe_connection_init(&c, 7, &s, &fake_transport, 1) == 0);
    CHECK(c.state == CPIPE_CONN_IDLE && cpipe_connection_events(&c) == 0);

    const char *get[] = {"GET", "k"};
    size_t len = pack(cmds, 2, get);
    call(calls, 41, 1, 0);
    /* A call to an IDLE connection is staged and makes it dial. */
    CHECK(cpipe_connection_submit(&c, cmds, len, 1, 22, calls, 100, &out) == CPIPE_OK);
    CHECK(c.state == CPIPE_CONN_DIALING && server.dials == 1 && c.staged_calls == 1);
    CHECK(cpipe_connection_events(&c) == POLLOUT);

    server.handshake_waits = 1;
    cpipe_connection_io(&c, POLLOUT, 8, 101, &out);
    CHECK(c.state == CPIPE_CONN_DIALING); /* the transport's own handshake is not done */
    cpipe_connection_io(&c, POLLOUT, 8, 102, &out);
    CHECK(c.state == CPIPE_CONN_REPLAYING);
    /* Only the handshake went out; the GET waits for READY. */
    CHECK(contains(server.wrote, server.wrote_len, "AUTH") && !contains(server.wrote, server.wrote_len, "GET"));
    CHECK(record_count(&out) == 0);

    say("+OK\r\n$5\r\nvalue\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 103, &out);
    /* The handshake's reply made it READY, which sent the GET; its reply was
     * already there in the same read. */
    CHECK(contains(server.wrote, server.wrote_len, "GET"));
    CHECK(record_count(&out) == 0 || record_at(&out, 0).kind == CPIPE_RECORD_EVENT);
    cpipe_connection_io(&c, POLLIN, 8, 104, &out);
    CHECK(c.state == CPIPE_CONN_READY);
    record up = record_at(&out, 0), reply = record_at(&out, 1);
    CHECK(up.kind == CPIPE_RECORD_EVENT && up.payload[0] == CPIPE_EVENT_UP && up.connection == 7);
    CHECK(reply.kind == CPIPE_RECORD_REPLY && reply.id == 41 && reply.flags == 0);
    CHECK(reply.len == 10 && reply.payload[0] == '$' && memcmp(reply.payload + 5, "value", 5) == 0);
    CHECK(c.calls.count == 0);
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

/* A call owing two replies gets a PARTIAL record, then its last; a reply
 * for which no call waits is a protocol error that fails the connection and
 * every call it carried, and it backs off, then dials again. */
/* A fresh script and a connection without handshake, up. */
static void connect_ready(cpipe_connection *c, cpipe_buffer *out) {
    reset_server();
    cpipe_settings s = settings_with(0, NULL, NULL);
    CHECK(cpipe_connection_init(c, 0, &s, &fake_transport, 1) == 0);
    cpipe_connection_dial(c, 0, out);
    cpipe_connection_io(c, POLLOUT, 8, 0, out);
    CHECK(c->state == CPIPE_CONN_READY);
}

static void test_accounting(void) {
    uint8_t cmds[256], calls[32];
    cpipe_connection c;
    cpipe_buffer out = {0};
    connect_ready(&c, &out);

    const char *sub[] = {"SUBSCRIBE", "a", "b"};
    size_t len = pack(cmds, 3, sub);
    const char *ping[] = {"PING"};
    size_t len2 = pack(cmds + len, 1, ping);
    call(calls, 5, 2, 0);
    call(calls + 8, 6, 1, 0);
    CHECK(cpipe_connection_submit(&c, cmds, len + len2, 2, 100, calls, 1, &out) == CPIPE_OK);
    say("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    say("*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    say("+PONG\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 2, &out);
    int events = 0;
    while (record_at(&out, events).kind == CPIPE_RECORD_EVENT) events++;
    record first = record_at(&out, events), second = record_at(&out, events + 1), third = record_at(&out, events + 2);
    CHECK(first.kind == CPIPE_RECORD_REPLY && first.id == 5 && (first.flags & CPIPE_RECORD_PARTIAL));
    CHECK(second.kind == CPIPE_RECORD_REPLY && second.id == 5 && second.flags == 0);
    CHECK(third.kind == CPIPE_RECORD_REPLY && third.id == 6 && third.payload[0] == '+');
    cpipe_buffer_reset(&out);

    /* A RESP3 push answers no call. */
    say(">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 3, &out);
    CHECK(record_at(&out, 0).kind == CPIPE_RECORD_PUSH && record_count(&out) == 1);
    cpipe_buffer_reset(&out);

    /* One call owed; the server sends two replies. */
    call(calls, 9, 1, 0);
    CHECK(cpipe_connection_submit(&c, cmds + len, len2, 1, 14, calls, 4, &out) == CPIPE_OK);
    call(calls, 10, 1, 0);
    say("+PONG\r\n+SURPLUS\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 5, &out);
    CHECK(c.state == CPIPE_CONN_BACKOFF && c.calls.count == 0);
    record pong = record_at(&out, 0), down = record_at(&out, 1);
    CHECK(pong.kind == CPIPE_RECORD_REPLY && pong.id == 9);
    CHECK(down.kind == CPIPE_RECORD_EVENT && down.payload[0] == CPIPE_EVENT_DOWN);
    CHECK((int32_t)cpipe_get_u32(down.payload + 4) == CPIPE_ERR_PROTOCOL);
    CHECK(contains(down.payload, down.len, "a reply for which no command waits"));
    CHECK(cpipe_get_u32(down.payload + 12) == 10); /* the first wait */

    /* BACKOFF: nothing until its time, then a new dial. */
    int dials = server.dials;
    CHECK(cpipe_connection_timers(&c, 6, &out) == c.retry_at && server.dials == dials);
    cpipe_connection_timers(&c, c.retry_at, &out);
    CHECK(c.state == CPIPE_CONN_DIALING && server.dials == dials + 1);
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

/* The server refuses the handshake: the DOWN event carries its reply, and
 * no record shows the password, even where the server repeats it. */
static void test_refused_handshake(void) {
    reset_server();
    uint8_t space[256], cmds[64], calls[8];
    const char *hello[] = {"HELLO", "3", "AUTH", "alice", "pw-secret", "SETNAME", "w1"};
    cpipe_settings s = settings_with(7, hello, space);
    cpipe_connection c;
    cpipe_buffer out = {0};
    CHECK(cpipe_connection_init(&c, 3, &s, &fake_transport, 0) == 0);
    const char *ping[] = {"PING"};
    size_t len = pack(cmds, 1, ping);
    call(calls, 1, 1, 0);
    CHECK(cpipe_connection_submit(&c, cmds, len, 1, 14, calls, 0, &out) == CPIPE_OK);
    cpipe_connection_io(&c, POLLOUT, 8, 1, &out);
    CHECK(c.state == CPIPE_CONN_REPLAYING);
    say("-ERR unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'alice' 'pw-secret'\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 2, &out);
    CHECK(c.state == CPIPE_CONN_IDLE); /* this owner dials again itself */
    record down = record_at(&out, 0), failed = record_at(&out, 1);
    CHECK(down.kind == CPIPE_RECORD_EVENT && down.payload[0] == CPIPE_EVENT_DOWN);
    CHECK((int32_t)cpipe_get_u32(down.payload + 4) == CPIPE_ERR_HANDSHAKE);
    uint32_t msg_len = cpipe_get_u32(down.payload + 16);
    const uint8_t *server_reply = down.payload + 20 + msg_len;
    CHECK(server_reply[0] == '-' && contains(server_reply, down.len - 20 - msg_len, "unknown command 'HELLO'"));
    CHECK(failed.kind == CPIPE_RECORD_FAILURE && failed.id == 1);
    CHECK(failed.flags == CPIPE_RECORD_UNSENT); /* staged behind the handshake: never sent */
    CHECK((int32_t)cpipe_get_u32(failed.payload) == CPIPE_ERR_HANDSHAKE);
    CHECK(!contains(out.data, out.len, "pw-secret"));
    CHECK(contains(out.data, out.len, "****"));
    CHECK(!contains(c.errstr, strlen(c.errstr), "pw-secret"));
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

/* A dial that fails at once, a connect that takes too long, a call that
 * waits past the command timeout (from its send), a blocking call exempt. */
static void test_timeouts_and_failures(void) {
    reset_server();
    uint8_t cmds[64], calls[8];
    cpipe_settings s = settings_with(0, NULL, NULL);
    s.command_timeout_ms = 50;
    cpipe_connection c;
    cpipe_buffer out = {0};
    CHECK(cpipe_connection_init(&c, 0, &s, &fake_transport, 1) == 0);

    server.refuse_dial = 1;
    cpipe_connection_dial(&c, 0, &out);
    CHECK(c.state == CPIPE_CONN_BACKOFF && c.failures == 1);
    CHECK(contains(out.data, out.len, "refused by the script"));
    server.refuse_dial = 0;
    cpipe_buffer_reset(&out);

    /* The connect timeout: still dialing past it. */
    server.handshake_waits = 1000;
    cpipe_connection_timers(&c, c.retry_at, &out);
    CHECK(c.state == CPIPE_CONN_DIALING);
    cpipe_connection_timers(&c, c.deadline, &out);
    CHECK(c.state == CPIPE_CONN_BACKOFF && c.failures == 2 && contains(out.data, out.len, "no answer within"));
    server.handshake_waits = 0;
    cpipe_buffer_reset(&out);

    cpipe_connection_timers(&c, c.retry_at, &out);
    cpipe_connection_io(&c, POLLOUT, 8, 1000, &out);
    CHECK(c.state == CPIPE_CONN_READY);
    record up = record_at(&out, 0);
    CHECK(up.kind == CPIPE_RECORD_EVENT && up.payload[0] == CPIPE_EVENT_UP && cpipe_get_u32(up.payload + 8) == 2);
    cpipe_buffer_reset(&out);

    const char *ping[] = {"PING"};
    size_t len = pack(cmds, 1, ping);
    call(calls, 2, 1, CPIPE_CALL_BLOCKING);
    CHECK(cpipe_connection_submit(&c, cmds, len, 1, 14, calls, 1000, &out) == CPIPE_OK);
    CHECK(cpipe_connection_timers(&c, 5000, &out) == 0 && c.state == CPIPE_CONN_READY); /* blocking: no limit */
    say("+PONG\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 5000, &out);
    cpipe_buffer_reset(&out);

    call(calls, 3, 1, 0);
    CHECK(cpipe_connection_submit(&c, cmds, len, 1, 14, calls, 6000, &out) == CPIPE_OK);
    CHECK(cpipe_connection_timers(&c, 6049, &out) == 6050 && c.state == CPIPE_CONN_READY);
    /* A byte every so often does not keep a call alive: the clock runs from its send. */
    server.per_read = 1;
    say("+PONG\r\n");
    cpipe_connection_io(&c, POLLIN, 1, 6049, &out);
    cpipe_connection_timers(&c, 6050, &out);
    CHECK(c.state == CPIPE_CONN_BACKOFF);
    record down = record_at(&out, 0), failed = record_at(&out, 1);
    CHECK(down.kind == CPIPE_RECORD_EVENT && (int32_t)cpipe_get_u32(down.payload + 4) == CPIPE_ERR_TIMEOUT);
    CHECK(failed.kind == CPIPE_RECORD_FAILURE && failed.id == 3);
    CHECK(failed.flags == 0); /* sent: it may have run */
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

/* The peer hangs up right after its last replies: they still reach their
 * calls, and only the calls after them fail. */
static void test_last_words(void) {
    reset_server();
    uint8_t cmds[64], calls[16];
    cpipe_settings s = settings_with(0, NULL, NULL);
    cpipe_connection c;
    cpipe_buffer out = {0};
    CHECK(cpipe_connection_init(&c, 0, &s, &fake_transport, 0) == 0);
    cpipe_connection_dial(&c, 0, &out);
    cpipe_connection_io(&c, POLLOUT, 8, 0, &out);
    cpipe_buffer_reset(&out);
    const char *ping[] = {"PING"};
    size_t len = pack(cmds, 1, ping);
    memcpy(cmds + len, cmds, len);
    call(calls, 1, 1, 0);
    call(calls + 8, 2, 1, 0);
    CHECK(cpipe_connection_submit(&c, cmds, 2 * len, 2, 28, calls, 0, &out) == CPIPE_OK);
    say("-ERR Protocol error: invalid bulk length\r\n");
    server.hang_up = 1;
    cpipe_connection_io(&c, POLLIN, 8, 1, &out);
    /* That read emptied the socket; the end of the stream wakes the owner again. */
    CHECK(record_count(&out) == 1 && c.state == CPIPE_CONN_READY);
    cpipe_connection_io(&c, POLLIN | POLLHUP, 8, 1, &out);
    record first = record_at(&out, 0), down = record_at(&out, 1), second = record_at(&out, 2);
    CHECK(first.kind == CPIPE_RECORD_REPLY && first.id == 1 && first.payload[0] == '-');
    CHECK(down.kind == CPIPE_RECORD_EVENT && down.payload[0] == CPIPE_EVENT_DOWN);
    CHECK(second.kind == CPIPE_RECORD_FAILURE && second.id == 2);
    CHECK(c.state == CPIPE_CONN_IDLE);
    cpipe_connection_shutdown(&c, CPIPE_ERR_CLOSED, "closed", &out);
    CHECK(c.state == CPIPE_CONN_CLOSED);
    CHECK(!cpipe_connection_accepts(&c, 0, 1));
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

/* Skips the event records at the start of `out`; the index of the first other. */
static int after_events(const cpipe_buffer *out) {
    int i = 0;
    while (record_at(out, i).kind == CPIPE_RECORD_EVENT) i++;
    return i;
}

/* Submits one command (argv) under one call. */
static void submit_one(cpipe_connection *c, int argc, const char **argv, uint32_t id, uint16_t replies, uint16_t flags,
                       cpipe_buffer *out) {
    uint8_t cmds[256], calls[8];
    size_t len = pack(cmds, argc, argv), count = 0, resp = 0;
    call(calls, id, replies, flags);
    CHECK(cpipe_commands_measure(cmds, len, &count, &resp) == 0);
    CHECK(cpipe_connection_submit(c, cmds, len, count, resp, calls, 1, out) == CPIPE_OK);
}

/* Pub/Sub: confirmations are their call's replies (RESP2 arrays, RESP3
 * pushes); messages between them, and in RESP2 subscribed mode, are pushes;
 * an error ends a subscription call; out of subscribed mode an array that
 * looks like a message is an ordinary reply. */
static void test_pubsub(void) {
    cpipe_connection c;
    cpipe_buffer out = {0};
    connect_ready(&c, &out);
    cpipe_buffer_reset(&out);

    /* RESP2: a message comes between the two confirmations of one SUBSCRIBE. */
    const char *sub[] = {"SUBSCRIBE", "a", "b"};
    submit_one(&c, 3, sub, 5, 2, CPIPE_CALL_SUBSCRIBE, &out);
    say("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    say("*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n");
    say("*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 2, &out);
    int e = after_events(&out);
    CHECK(record_at(&out, e).kind == CPIPE_RECORD_REPLY && record_at(&out, e).id == 5 &&
          (record_at(&out, e).flags & CPIPE_RECORD_PARTIAL));
    CHECK(record_at(&out, e + 1).kind == CPIPE_RECORD_PUSH);
    CHECK(record_at(&out, e + 2).kind == CPIPE_RECORD_REPLY && record_at(&out, e + 2).flags == 0);
    CHECK(c.calls.count == 0 && c.subscriptions == 2);
    cpipe_buffer_reset(&out);

    /* Subscribed: messages, a pattern message and a confirmation no call
     * waits for are pushes; PING's reply is PING's. */
    const char *ping[] = {"PING"};
    submit_one(&c, 1, ping, 6, 1, 0, &out);
    say("*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$2\r\nab\r\n$1\r\nx\r\n");
    say("*3\r\n$12\r\nsunsubscribe\r\n$1\r\nz\r\n:0\r\n");
    say("*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 3, &out);
    CHECK(record_count(&out) == 3 && record_at(&out, 0).kind == CPIPE_RECORD_PUSH &&
          record_at(&out, 1).kind == CPIPE_RECORD_PUSH);
    CHECK(record_at(&out, 2).kind == CPIPE_RECORD_REPLY && record_at(&out, 2).id == 6);
    cpipe_buffer_reset(&out);

    /* The server refuses a subscription whole: one error ends the call that owed two. */
    const char *refused[] = {"SUBSCRIBE", "c", "d"};
    submit_one(&c, 3, refused, 7, 2, CPIPE_CALL_SUBSCRIBE, &out);
    submit_one(&c, 1, ping, 8, 1, 0, &out);
    say("-NOPERM no\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 4, &out);
    CHECK(record_count(&out) == 2 && record_at(&out, 0).id == 7 && record_at(&out, 0).flags == 0);
    CHECK(record_at(&out, 0).payload[0] == '-' && record_at(&out, 1).id == 8 && c.state == CPIPE_CONN_READY);
    cpipe_buffer_reset(&out);

    /* RESET leaves subscribed mode too: a message-shaped reply after it is a reply. */
    const char *reset[] = {"RESET"};
    submit_one(&c, 1, reset, 20, 1, 0, &out);
    const char *lrange0[] = {"LRANGE", "l", "0", "-1"};
    submit_one(&c, 4, lrange0, 21, 1, 0, &out);
    say("+RESET\r\n*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 5, &out);
    CHECK(record_count(&out) == 2 && record_at(&out, 1).id == 21 && c.subscriptions == 0);
    cpipe_buffer_reset(&out);
    submit_one(&c, 3, sub, 22, 2, CPIPE_CALL_SUBSCRIBE, &out); /* subscribed again for what follows */
    say("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 5, &out);
    CHECK(record_count(&out) == 2 && c.subscriptions == 2);
    cpipe_buffer_reset(&out);

    /* Unsubscribed from all: out of subscribed mode, an array that looks like
     * a message is the reply it is. */
    const char *unsub[] = {"UNSUBSCRIBE", "a", "b"};
    submit_one(&c, 3, unsub, 9, 2, CPIPE_CALL_UNSUBSCRIBE, &out);
    const char *lrange[] = {"LRANGE", "l", "0", "-1"};
    submit_one(&c, 4, lrange, 10, 1, 0, &out);
    say("*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n");
    say("*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 5, &out);
    CHECK(record_count(&out) == 3 && record_at(&out, 1).id == 9 && record_at(&out, 2).id == 10);
    CHECK(record_at(&out, 2).kind == CPIPE_RECORD_REPLY && c.subscriptions == 0);
    cpipe_buffer_reset(&out);

    /* RESP3: a confirmation push is its call's reply; a message push is a
     * push; subscribed through pushes, an array reply stays a reply. */
    const char *ssub[] = {"SSUBSCRIBE", "s"};
    submit_one(&c, 2, ssub, 11, 1, CPIPE_CALL_SSUBSCRIBE, &out);
    say(">3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n>3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\nm\r\n");
    submit_one(&c, 4, lrange, 12, 1, 0, &out);
    say("*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 6, &out);
    CHECK(record_count(&out) == 3 && record_at(&out, 0).kind == CPIPE_RECORD_REPLY && record_at(&out, 0).id == 11);
    CHECK(record_at(&out, 1).kind == CPIPE_RECORD_PUSH && record_at(&out, 2).id == 12);
    CHECK(c.shard_subscriptions == 0 && c.state == CPIPE_CONN_READY);
    cpipe_buffer_reset(&out);

    /* Paused: the socket is not read, and the command timeout waits. */
    c.command_timeout_ms = 10;
    c.paused = 1;
    submit_one(&c, 1, ping, 13, 1, 0, &out);
    CHECK((cpipe_connection_events(&c) & POLLIN) == 0);
    say("+PONG\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 7, &out);
    CHECK(record_count(&out) == 0 && cpipe_connection_timers(&c, 1000, &out) == 0 && c.state == CPIPE_CONN_READY);
    c.paused = 0;
    cpipe_connection_io(&c, POLLIN, 8, 8, &out);
    CHECK(record_count(&out) == 1 && record_at(&out, 0).id == 13);

    /* Calls with a kind past the known ones, or a bit beside them, are refused. */
    uint8_t calls[8];
    char why[128];
    call(calls, 1, 1, 0x70);
    CHECK(cpipe_calls_check(calls, 1, why, sizeof why) == CPIPE_ERR_ARG);
    call(calls, 1, 1, 0x80);
    CHECK(cpipe_calls_check(calls, 1, why, sizeof why) == CPIPE_ERR_ARG);
    call(calls, 1, 1, CPIPE_CALL_SUNSUBSCRIBE | CPIPE_CALL_BLOCKING);
    CHECK(cpipe_calls_check(calls, 1, why, sizeof why) == CPIPE_OK);
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

/* Calls pipelined behind a blocking one (a lease's BLPOP, then GETs) wait
 * with it, exempt; once it answers they are timed from then, not from their
 * send long before: they get the whole command timeout, and no more. */
static void test_timed_after_blocking(void) {
    cpipe_connection c;
    cpipe_buffer out = {0};
    connect_ready(&c, &out);
    cpipe_buffer_reset(&out);
    c.command_timeout_ms = 50;

    const char *blpop[] = {"BLPOP", "list", "0"}, *get[] = {"GET", "k"};
    submit_one(&c, 3, blpop, 1, 1, CPIPE_CALL_BLOCKING, &out);
    submit_one(&c, 2, get, 2, 1, 0, &out);
    submit_one(&c, 2, get, 3, 1, 0, &out); /* all three sent at 1 */
    CHECK(cpipe_connection_timers(&c, 5000, &out) == 0 && c.state == CPIPE_CONN_READY);

    say("*2\r\n$4\r\nlist\r\n$1\r\nv\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 5000, &out);
    CHECK(record_count(&out) == 1 && record_at(&out, 0).id == 1);
    /* The GET is the oldest now: due a command timeout after the BLPOP's reply. */
    CHECK(cpipe_connection_timers(&c, 5000, &out) == 5050 && c.state == CPIPE_CONN_READY);

    say("$1\r\nx\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 5020, &out);
    CHECK(record_count(&out) == 2 && record_at(&out, 1).id == 2);
    /* The next waited behind the same BLPOP: timed from its reply too, as if sent then. */
    CHECK(cpipe_connection_timers(&c, 5049, &out) == 5050 && c.state == CPIPE_CONN_READY);
    cpipe_connection_timers(&c, 5050, &out);
    CHECK(c.state == CPIPE_CONN_BACKOFF);
    record down = record_at(&out, 2), failed = record_at(&out, 3);
    CHECK(down.kind == CPIPE_RECORD_EVENT && (int32_t)cpipe_get_u32(down.payload + 4) == CPIPE_ERR_TIMEOUT);
    CHECK(failed.kind == CPIPE_RECORD_FAILURE && failed.id == 3);
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

/* From record `at` of `out`: a DOWN event for a broken pipe, then a failure
 * of each call in `ids` with its `flags`, and nothing more. */
static void check_failures(const cpipe_buffer *out, int at, int count, const uint32_t *ids, const uint8_t *flags) {
    record down = record_at(out, at);
    CHECK(down.kind == CPIPE_RECORD_EVENT && down.payload[0] == CPIPE_EVENT_DOWN);
    CHECK((int32_t)cpipe_get_u32(down.payload + 4) == CPIPE_ERR_CONN && contains(down.payload, down.len, "Broken pipe"));
    CHECK(record_count(out) == at + 1 + count);
    for (int i = 0; i < count; i++) {
        record failed = record_at(out, at + 1 + i);
        CHECK(failed.kind == CPIPE_RECORD_FAILURE && failed.id == ids[i] && failed.flags == flags[i]);
    }
}

/* A write that fails (the peer hung up, unseen yet): a call of which the
 * socket took no byte never reached the server and fails UNSENT, also when
 * earlier calls of its submit went; a call written before, or in part, may
 * have run. Calls staged while the connection was made go out once it is
 * ready: the same holds for them. */
static void test_failed_write(void) {
    cpipe_connection c;
    cpipe_buffer out = {0};
    connect_ready(&c, &out);
    cpipe_buffer_reset(&out);
    const char *get[] = {"GET", "k"};
    submit_one(&c, 2, get, 1, 1, 0, &out); /* written whole: in flight */
    server.write_cap = server.wrote_len + 5;
    submit_one(&c, 2, get, 2, 1, 0, &out); /* its first 5 bytes went */
    CHECK(server.wrote_len == server.write_cap && cpipe_buffer_live(&c.unsent) > 0);
    submit_one(&c, 2, get, 3, 1, 0, &out); /* queued behind it: none of its bytes went */
    server.write_fails = 1;
    uint8_t cmds[64], calls[24];
    size_t len = pack(cmds, 2, get);
    memcpy(cmds + len, cmds, len);
    call(calls, 4, 1, 0);
    call(calls + 8, 5, 1, 0);
    CHECK(cpipe_connection_submit(&c, cmds, 2 * len, 2, 40, calls, 2, &out) == CPIPE_OK);
    CHECK(c.state == CPIPE_CONN_BACKOFF && c.calls.count == 0);
    check_failures(&out, 0, 5, (const uint32_t[]){1, 2, 3, 4, 5},
                   (const uint8_t[]){0, 0, CPIPE_RECORD_UNSENT, CPIPE_RECORD_UNSENT, CPIPE_RECORD_UNSENT});
    cpipe_buffer_reset(&out);

    /* Staged while it redials; the first write once ready fails. */
    server.write_cap = 0;
    cpipe_connection_timers(&c, c.retry_at, &out);
    CHECK(c.state == CPIPE_CONN_DIALING);
    submit_one(&c, 2, get, 6, 1, 0, &out);
    CHECK(c.staged_calls == 1);
    cpipe_connection_io(&c, POLLOUT, 8, 3, &out);
    CHECK(c.state == CPIPE_CONN_BACKOFF);
    record up = record_at(&out, 0);
    CHECK(up.kind == CPIPE_RECORD_EVENT && up.payload[0] == CPIPE_EVENT_UP);
    check_failures(&out, 1, 1, (const uint32_t[]){6}, (const uint8_t[]){CPIPE_RECORD_UNSENT});
    cpipe_buffer_reset(&out);

    /* One submit of three commands (the batch of one tick) of which the
     * socket took the first and part of the second: the third never left,
     * so it alone is UNSENT. So too for three staged while dialing. */
    for (int staged = 0; staged < 2; staged++) {
        server.write_cap = 0;
        server.write_fails = 0;
        cpipe_connection_timers(&c, c.retry_at, &out);
        CHECK(c.state == CPIPE_CONN_DIALING);
        if (!staged) {
            cpipe_connection_io(&c, POLLOUT, 8, 4, &out);
            CHECK(c.state == CPIPE_CONN_READY);
        }
        cpipe_buffer_reset(&out);
        len = pack(cmds, 2, get);
        memcpy(cmds + len, cmds, len);
        memcpy(cmds + 2 * len, cmds, len);
        size_t count = 0, resp = 0;
        CHECK(cpipe_commands_measure(cmds, 3 * len, &count, &resp) == 0 && count == 3);
        call(calls, 7, 1, 0);
        call(calls + 8, 8, 1, 0);
        call(calls + 16, 9, 1, 0);
        server.write_cap = server.wrote_len + resp / 3 + 5;
        CHECK(cpipe_connection_submit(&c, cmds, 3 * len, 3, resp, calls, 5, &out) == CPIPE_OK);
        if (staged) {
            CHECK(c.staged_calls == 3);
            cpipe_connection_io(&c, POLLOUT, 8, 5, &out);
        }
        CHECK(c.state == CPIPE_CONN_READY && c.calls.count == 3);
        server.write_fails = 1;
        submit_one(&c, 2, get, 10, 1, 0, &out);
        CHECK(c.state == CPIPE_CONN_BACKOFF && c.calls.count == 0);
        check_failures(&out, staged, 4, (const uint32_t[]){7, 8, 9, 10},
                       (const uint8_t[]){0, 0, CPIPE_RECORD_UNSENT, CPIPE_RECORD_UNSENT});
        cpipe_buffer_reset(&out);
    }
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

/* The command a failure record carries (CPIPE_CALL_RESEND), its length to *len; NULL when none. */
static const uint8_t *failure_command(record r, size_t *len) {
    uint32_t message_len = cpipe_get_u32(r.payload + 4);
    *len = r.len - 8 - message_len;
    return *len > 0 ? r.payload + 8 + message_len : NULL;
}

/* Whether failure record `r` carries exactly the packed command `packed` (`len` bytes). */
static int carries(record r, const uint8_t *packed, size_t len) {
    size_t got = 0;
    const uint8_t *command = failure_command(r, &got);
    return command != NULL && got == len && memcmp(command, packed, len) == 0;
}

/* A call flagged RESEND that never left comes back with its command, packed
 * as it was submitted (bytes of any value, "\r\n" inside included), so that
 * the host can send it again without a copy of its own; one that went,
 * whole or in part, and one not flagged, come back without. So too for a
 * staged call; a connection closed for good sends nothing again. */
static void test_resend(void) {
    cpipe_connection c;
    cpipe_buffer out = {0};
    connect_ready(&c, &out);
    cpipe_buffer_reset(&out);
    const char *set1[] = {"SET", "k1", "v"}, *set2[] = {"SET", "k2", "a\r\nb"}, *get[] = {"GET", "k4"};
    submit_one(&c, 3, set1, 1, 1, CPIPE_CALL_RESEND, &out); /* written whole */
    server.write_cap = server.wrote_len + 7;
    submit_one(&c, 3, set2, 2, 1, CPIPE_CALL_RESEND, &out); /* its first 7 bytes went */
    /* SET "k\0\r\n3" <256 bytes of every value>: never left. */
    uint8_t cmds[512], value[256];
    for (int i = 0; i < 256; i++) value[i] = (uint8_t)i;
    size_t len = 0;
    cpipe_put_u32(cmds, 3);
    len += 4;
    const uint8_t *args[] = {(const uint8_t *)"SET", (const uint8_t *)"k\0\r\n3", value};
    const size_t lens[] = {3, 5, sizeof value};
    for (int i = 0; i < 3; i++) {
        cpipe_put_u32(cmds + len, (uint32_t)lens[i]);
        memcpy(cmds + len + 4, args[i], lens[i]);
        len += 4 + lens[i];
    }
    uint8_t calls[8];
    size_t count = 0, resp = 0;
    call(calls, 3, 1, CPIPE_CALL_RESEND);
    CHECK(cpipe_commands_measure(cmds, len, &count, &resp) == 0);
    CHECK(cpipe_connection_submit(&c, cmds, len, count, resp, calls, 1, &out) == CPIPE_OK);
    submit_one(&c, 2, get, 4, 1, 0, &out); /* never left, not flagged */
    server.write_fails = 1;
    submit_one(&c, 2, get, 5, 1, CPIPE_CALL_RESEND, &out); /* the write that fails */
    CHECK(c.state == CPIPE_CONN_BACKOFF && c.calls.count == 0);
    check_failures(&out, 0, 5, (const uint32_t[]){1, 2, 3, 4, 5},
                   (const uint8_t[]){0, 0, CPIPE_RECORD_UNSENT, CPIPE_RECORD_UNSENT, CPIPE_RECORD_UNSENT});
    size_t got = 0;
    CHECK(failure_command(record_at(&out, 1), &got) == NULL && failure_command(record_at(&out, 2), &got) == NULL);
    CHECK(carries(record_at(&out, 3), cmds, len) && failure_command(record_at(&out, 4), &got) == NULL);
    uint8_t get_packed[64];
    CHECK(carries(record_at(&out, 5), get_packed, pack(get_packed, 2, get)));
    cpipe_buffer_reset(&out);

    /* Staged while it redials: the first write once ready fails. */
    server.write_fails = 0;
    cpipe_connection_timers(&c, c.retry_at, &out);
    CHECK(c.state == CPIPE_CONN_DIALING);
    submit_one(&c, 3, set1, 6, 1, CPIPE_CALL_RESEND, &out);
    submit_one(&c, 3, set2, 7, 1, CPIPE_CALL_RESEND, &out);
    server.write_fails = 1;
    cpipe_connection_io(&c, POLLOUT, 8, 3, &out);
    CHECK(c.state == CPIPE_CONN_BACKOFF);
    check_failures(&out, 1, 2, (const uint32_t[]){6, 7}, (const uint8_t[]){CPIPE_RECORD_UNSENT, CPIPE_RECORD_UNSENT});
    CHECK(carries(record_at(&out, 3), cmds, pack(cmds, 3, set2)));
    cpipe_buffer_reset(&out);

    /* Staged, then the connection is closed for good. */
    server.write_fails = 0;
    cpipe_connection_timers(&c, c.retry_at, &out);
    submit_one(&c, 3, set1, 8, 1, CPIPE_CALL_RESEND, &out);
    cpipe_connection_shutdown(&c, CPIPE_ERR_CLOSED, "closed", &out);
    record last = record_at(&out, record_count(&out) - 1);
    CHECK(last.kind == CPIPE_RECORD_FAILURE && last.id == 8 && (last.flags & CPIPE_RECORD_UNSENT));
    CHECK(failure_command(last, &got) == NULL);
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);

    /* Bytes that hold no whole command give none. */
    const char *broken[] = {"", "*", "*0\r\n", "*1\r\n", "*1\r\n$3\r\nGE", "*1\r\n$3\r\nGET", "*1\r\n$3\r\nGETxx",
                            "*x\r\n$1\r\na\r\n", "*1\n$1\r\na\r\n", "*1\r\n+OK\r\n", "*1\r\n$-1\r\n",
                            "*4294967296\r\n$1\r\na\r\n", "*1\r\n$4294967295\r\na\r\n", "*2\r\n$1\r\na\r\n"};
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++)
        CHECK(cpipe_command_packed_from_resp((const uint8_t *)broken[i], strlen(broken[i]), NULL) == 0);
    CHECK(cpipe_command_packed_from_resp(NULL, 0, NULL) == 0);
    /* A whole one followed by more bytes: the first alone. */
    const char *two = "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
    uint8_t packed[16];
    CHECK(cpipe_command_packed_from_resp((const uint8_t *)two, strlen(two), packed) == 12);
    CHECK(cpipe_get_u32(packed) == 1 && cpipe_get_u32(packed + 4) == 4 && memcmp(packed + 8, "PING", 4) == 0);
}

static int occurrences(const void *hay, size_t len, const char *needle) {
    int n = 0;
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= len; i++)
        if (memcmp((const char *)hay + i, needle, k) == 0) n++;
    return n;
}

/* The ready check: a PING ends the handshake; LOADING keeps the connection
 * REPLAYING (no event, no failure), asked again LOADING_PROBE_MS later, until
 * a reply other than LOADING makes it READY. Past the connect timeout it fails
 * saying the server was loading; the calls staged behind it never left. */
static void test_ready_check(void) {
    reset_server();
    uint8_t space[64], cmds[64], calls[8];
    const char *select[] = {"SELECT", "2"};
    cpipe_settings s = settings_with(2, select, space);
    s.ready_check = 1;
    cpipe_connection c;
    cpipe_buffer out = {0};
    CHECK(cpipe_connection_init(&c, 5, &s, &fake_transport, 1) == 0);
    const char *get[] = {"GET", "k"};
    size_t len = pack(cmds, 2, get);
    call(calls, 9, 1, 0);
    CHECK(cpipe_connection_submit(&c, cmds, len, 1, 22, calls, 0, &out) == CPIPE_OK);
    cpipe_connection_io(&c, POLLOUT, 8, 1, &out);
    CHECK(c.state == CPIPE_CONN_REPLAYING);
    CHECK(contains(server.wrote, server.wrote_len, "SELECT") && occurrences(server.wrote, server.wrote_len, "PING") == 1);
    CHECK(!contains(server.wrote, server.wrote_len, "GET"));

    say("+OK\r\n-LOADING Redis is loading the dataset in memory\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 2, &out);
    CHECK(c.state == CPIPE_CONN_REPLAYING && c.loading && record_count(&out) == 0);
    CHECK(contains(c.errstr, strlen(c.errstr), "loading its data"));
    CHECK(cpipe_connection_timers(&c, 50, &out) == 102); /* asked again then, before the deadline (1000) */
    CHECK(occurrences(server.wrote, server.wrote_len, "PING") == 1);
    CHECK(cpipe_connection_timers(&c, 102, &out) == 1000);
    CHECK(occurrences(server.wrote, server.wrote_len, "PING") == 2 && !contains(server.wrote, server.wrote_len, "GET"));
    say("-LOADING Redis is loading the dataset in memory\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 150, &out);
    CHECK(c.state == CPIPE_CONN_REPLAYING && cpipe_connection_timers(&c, 151, &out) == 250);
    CHECK(cpipe_connection_timers(&c, 250, &out) == 1000 && occurrences(server.wrote, server.wrote_len, "PING") == 3);

    /* Loaded: PONG makes it READY, and the staged GET goes out. */
    say("+PONG\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 260, &out);
    CHECK(c.state == CPIPE_CONN_READY && !c.loading && contains(server.wrote, server.wrote_len, "GET"));
    record up = record_at(&out, 0);
    CHECK(up.kind == CPIPE_RECORD_EVENT && up.payload[0] == CPIPE_EVENT_UP && record_count(&out) == 1);
    CHECK(cpipe_connection_timers(&c, 5000, &out) == 0); /* no command timeout, no probe */
    say("$1\r\nv\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 261, &out);
    CHECK(record_at(&out, 1).kind == CPIPE_RECORD_REPLY && record_at(&out, 1).id == 9);
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);

    /* Any other answer to the check, an error included (a user not allowed PING), is READY. */
    reset_server();
    s = settings_with(0, NULL, NULL);
    s.ready_check = 1;
    CHECK(cpipe_connection_init(&c, 5, &s, &fake_transport, 1) == 0);
    cpipe_connection_dial(&c, 0, &out);
    cpipe_connection_io(&c, POLLOUT, 8, 1, &out);
    CHECK(c.state == CPIPE_CONN_REPLAYING && occurrences(server.wrote, server.wrote_len, "PING") == 1);
    say("-NOPERM this user has no permissions to run the 'ping' command\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 2, &out);
    CHECK(c.state == CPIPE_CONN_READY);
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);

    /* A server that will not serve says why as it accepts, then hangs up: that
     * answer fails the connect, saying it, and is not taken for READY. */
    reset_server();
    CHECK(cpipe_connection_init(&c, 5, &s, &fake_transport, 0) == 0);
    cpipe_connection_dial(&c, 0, &out);
    cpipe_connection_io(&c, POLLOUT, 8, 1, &out);
    say("-ERR max number of clients reached\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 2, &out);
    CHECK(c.state == CPIPE_CONN_IDLE && c.status == CPIPE_ERR_HANDSHAKE);
    CHECK(contains(c.errstr, strlen(c.errstr), "max number of clients reached"));
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);

    /* Still loading at the connect timeout: a failure that says so; the staged call never left. */
    reset_server();
    CHECK(cpipe_connection_init(&c, 5, &s, &fake_transport, 1) == 0);
    call(calls, 10, 1, 0);
    CHECK(cpipe_connection_submit(&c, cmds, len, 1, 22, calls, 0, &out) == CPIPE_OK);
    cpipe_connection_io(&c, POLLOUT, 8, 0, &out);
    say("-LOADING Redis is loading the dataset in memory\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 1, &out);
    for (int64_t now = 101; now < 1000; now += 100) {
        CHECK(cpipe_connection_timers(&c, now, &out) == 1000); /* asked again; the next time is set by the answer */
        say("-LOADING Redis is loading the dataset in memory\r\n");
        cpipe_connection_io(&c, POLLIN, 8, now, &out);
    }
    CHECK(c.state == CPIPE_CONN_REPLAYING && record_count(&out) == 0);
    (void)cpipe_connection_timers(&c, 1000, &out);
    CHECK(c.state == CPIPE_CONN_BACKOFF);
    record down = record_at(&out, 0), failed = record_at(&out, 1);
    CHECK(down.kind == CPIPE_RECORD_EVENT && down.payload[0] == CPIPE_EVENT_DOWN);
    CHECK(contains(down.payload, down.len, "still loading its data (LOADING) after 1000 ms"));
    CHECK(failed.kind == CPIPE_RECORD_FAILURE && failed.id == 10 && failed.flags == CPIPE_RECORD_UNSENT);
    CHECK(!c.loading && c.probe_at == 0);
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

/* The lenient handshake commands (CLIENT SETINFO, which a server before 7.2
 * refuses) may be refused, the others not; a refusal at accept still fails
 * the connect, whichever command it seems to answer. */
static void test_lenient_handshake(void) {
    static const struct {
        int with_auth;
        const char *answer;
        const char *fails; /* the failure's words, or NULL: up */
    } cases[] = {
        {1, "+OK\r\n-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n+PONG\r\n", NULL},
        {0, "-NOPERM User alice has no permissions to run the 'client|setinfo' command\r\n+PONG\r\n", NULL},
        {1, "-WRONGPASS invalid username-password pair\r\n", "WRONGPASS"},
        {0, "-ERR max number of clients reached\r\n", "max number of clients reached"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset_server();
        uint8_t space[128];
        const char *auth[] = {"AUTH", "pw-secret"};
        const char *setinfo[] = {"CLIENT", "SETINFO", "LIB-NAME", "cpipe"};
        cpipe_settings s = settings_with(cases[i].with_auth ? 2 : 4, cases[i].with_auth ? auth : setinfo, space);
        if (cases[i].with_auth) s.handshake_len += pack(space + s.handshake_len, 4, setinfo);
        s.handshake_lenient = 1;
        s.ready_check = 1;
        cpipe_connection c;
        cpipe_buffer out = {0};
        CHECK(cpipe_connection_init(&c, 5, &s, &fake_transport, 0) == 0);
        cpipe_connection_dial(&c, 0, &out);
        cpipe_connection_io(&c, POLLOUT, 8, 1, &out);
        CHECK(c.state == CPIPE_CONN_REPLAYING && contains(server.wrote, server.wrote_len, "SETINFO"));
        say(cases[i].answer);
        cpipe_connection_io(&c, POLLIN, 8, 2, &out);
        if (cases[i].fails == NULL) {
            CHECK(c.state == CPIPE_CONN_READY);
        } else {
            CHECK(c.state == CPIPE_CONN_IDLE && c.status == CPIPE_ERR_HANDSHAKE);
            CHECK(contains(c.errstr, strlen(c.errstr), cases[i].fails));
        }
        cpipe_buffer_release(&out);
        cpipe_connection_free(&c);
    }
}

/* Dials at 0 and is up at 1 (no handshake); its records are dropped. */
static void bring_up(cpipe_connection *c, cpipe_buffer *out) {
    cpipe_connection_dial(c, 0, out);
    cpipe_connection_io(c, POLLOUT, 8, 1, out);
    CHECK(c->state == CPIPE_CONN_READY && c->ready_at == 1);
    cpipe_buffer_reset(out);
}

/* reconnect_on_readonly: a READONLY reply goes to its call, the replies
 * already received to theirs, then the connection drops (DOWN, BACKOFF) and
 * the calls still owed fail; without the setting nothing happens. */
static void test_readonly_reconnect(void) {
    for (int on = 0; on <= 1; on++) {
        reset_server();
        uint8_t cmds[64], calls[24];
        cpipe_settings s = settings_with(0, NULL, NULL);
        s.reconnect_on_readonly = on;
        cpipe_connection c;
        cpipe_buffer out = {0};
        CHECK(cpipe_connection_init(&c, 2, &s, &fake_transport, 1) == 0);
        bring_up(&c, &out);
        const char *set[] = {"SET", "k", "v"};
        size_t one = pack(cmds, 3, set);
        memcpy(cmds + one, cmds, one);
        memcpy(cmds + 2 * one, cmds, one);
        call(calls, 1, 1, 0);
        call(calls + 8, 2, 1, 0);
        call(calls + 16, 3, 1, 0);
        CHECK(cpipe_connection_submit(&c, cmds, 3 * one, 3, 3 * 27, calls, 2, &out) == CPIPE_OK);
        say("-READONLY You can't write against a read only replica.\r\n-READONLY You can't write against a read only replica.\r\n");
        cpipe_connection_io(&c, POLLIN, 8, 3, &out);
        record first = record_at(&out, 0), second = record_at(&out, 1);
        CHECK(first.kind == CPIPE_RECORD_REPLY && first.id == 1 && first.payload[0] == '-');
        CHECK(second.kind == CPIPE_RECORD_REPLY && second.id == 2);
        if (on) {
            record down = record_at(&out, 2), failed = record_at(&out, 3);
            CHECK(c.state == CPIPE_CONN_BACKOFF && c.read_only == 0);
            CHECK(down.kind == CPIPE_RECORD_EVENT && down.payload[0] == CPIPE_EVENT_DOWN);
            CHECK(contains(down.payload, down.len, "answered READONLY"));
            CHECK(failed.kind == CPIPE_RECORD_FAILURE && failed.id == 3 && failed.flags == 0); /* it was sent */
        } else {
            CHECK(c.state == CPIPE_CONN_READY && record_count(&out) == 2 && c.calls.count == 1);
        }
        cpipe_buffer_release(&out);
        cpipe_connection_free(&c);
    }
}

/* cpipe_connection_retire: an idle connection drops at once; one that owes
 * a call takes no shared commands, hands out its reply, then drops; a
 * READONLY answer meanwhile drops it as such, not counted as news (mode 2). */
static void test_retire(void) {
    static const char RETIRED[] = "retired: another connection to this address was answered READONLY";
    cpipe_settings s = settings_with(0, NULL, NULL);
    s.reconnect_on_readonly = 1;
    for (int mode = 0; mode <= 2; mode++) {
        int owing = mode > 0;
        reset_server();
        uint8_t cmds[64], calls[8];
        cpipe_connection c;
        cpipe_buffer out = {0};
        CHECK(cpipe_connection_init(&c, 2, &s, &fake_transport, 1) == 0);
        cpipe_connection_retire(&c, RETIRED, &out); /* not up: nothing to retire */
        CHECK(c.state == CPIPE_CONN_IDLE && !c.retiring && record_count(&out) == 0);
        bring_up(&c, &out);
        if (owing) {
            const char *set[] = {"SET", "k", "v"};
            size_t one = pack(cmds, 3, set);
            call(calls, 1, 1, 0);
            CHECK(cpipe_connection_submit(&c, cmds, one, 1, 27, calls, 2, &out) == CPIPE_OK);
        }
        cpipe_connection_retire(&c, RETIRED, &out);
        if (owing) {
            CHECK(c.state == CPIPE_CONN_READY && c.retiring && record_count(&out) == 0);
            CHECK(!cpipe_connection_accepts(&c, 3, 0) && cpipe_connection_accepts(&c, 3, 1));
            say(mode == 1 ? "+OK\r\n" : "-READONLY You can't write against a read only replica.\r\n");
            cpipe_connection_io(&c, POLLIN, 8, 3, &out);
            record reply = record_at(&out, 0);
            CHECK(reply.kind == CPIPE_RECORD_REPLY && reply.id == 1 && reply.payload[0] == (mode == 1 ? '+' : '-'));
        }
        record down = record_at(&out, owing);
        CHECK(c.state == CPIPE_CONN_BACKOFF && !c.retiring && c.read_only_drops == 0);
        CHECK(record_count(&out) == owing + 1);
        CHECK(down.kind == CPIPE_RECORD_EVENT && down.payload[0] == CPIPE_EVENT_DOWN);
        CHECK(contains(down.payload, down.len,
                       mode == 2 ? "the server answered READONLY" : "another connection to this address was answered READONLY"));
        cpipe_buffer_release(&out);
        cpipe_connection_free(&c);
    }

    /* A LOADING answer is counted for the owner (which may retire the
     * connection), and goes to its call; the connection stays up. */
    reset_server();
    uint8_t cmds[64], calls[8];
    cpipe_connection c;
    cpipe_buffer out = {0};
    CHECK(cpipe_connection_init(&c, 2, &s, &fake_transport, 1) == 0);
    bring_up(&c, &out);
    const char *get[] = {"GET", "k"};
    size_t one = pack(cmds, 2, get);
    call(calls, 1, 1, 0);
    CHECK(cpipe_connection_submit(&c, cmds, one, 1, 22, calls, 2, &out) == CPIPE_OK);
    say("-LOADING Redis is loading the dataset in memory\r\n");
    cpipe_connection_io(&c, POLLIN, 8, 3, &out);
    record reply = record_at(&out, 0);
    CHECK(reply.kind == CPIPE_RECORD_REPLY && reply.id == 1 && reply.payload[0] == '-');
    CHECK(c.loading_replies == 1 && c.state == CPIPE_CONN_READY && record_count(&out) == 1);
    /* Retired for it only with the ready check (which then waits for the data), and only once. */
    CHECK(!cpipe_connection_retire_if_loading(&c, 0, &out) && c.state == CPIPE_CONN_READY);
    c.ready_check = 1;
    CHECK(!cpipe_connection_retire_if_loading(&c, 1, &out) && c.state == CPIPE_CONN_READY);
    CHECK(cpipe_connection_retire_if_loading(&c, 0, &out) && c.state == CPIPE_CONN_BACKOFF);
    record down = record_at(&out, 1);
    CHECK(down.kind == CPIPE_RECORD_EVENT && down.payload[0] == CPIPE_EVENT_DOWN);
    CHECK(contains(down.payload, down.len, CPIPE_LOADING_WHY));
    CHECK(!cpipe_connection_retire_if_loading(&c, 0, &out));
    cpipe_buffer_release(&out);
    cpipe_connection_free(&c);
}

int main(void) {
    long long before = cpipe_live_allocations();
    cpipe_alloc_install();
    test_states_up();
    test_accounting();
    test_refused_handshake();
    test_timeouts_and_failures();
    test_last_words();
    test_pubsub();
    test_timed_after_blocking();
    test_failed_write();
    test_resend();
    test_ready_check();
    test_lenient_handshake();
    test_readonly_reconnect();
    test_retire();
    CHECK(cpipe_live_allocations() == before);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
