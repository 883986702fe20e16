/* C-level tests of the core: command packing, reply encoding, the settings
 * buffer, the records format, every error path of the synchronous client's
 * API, and a live server on the unix socket named by CPIPE_TEST_SOCKET
 * (replies and their accounting, events, a killed connection, command
 * timeouts, handshakes and what their failures may show). Run under
 * ASan/UBSan (`make asan`) and valgrind (`make valgrind`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "cpipe.h"
#include "heap.h"
#include "reply.h"

#include "check.h"
#include "wire.h"

/* ---- packing helpers ---------------------------------------------------- */

typedef struct packer {
    uint8_t bytes[1 << 20];
    size_t len;
} packer;

static void put32(packer *p, uint32_t v) {
    memcpy(p->bytes + p->len, &v, 4);
    p->len += 4;
}

/* Packs one command from n (pointer, length) arguments. */
static void pack(packer *p, int n, const char **args, const size_t *lens) {
    put32(p, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(args[i]);
        put32(p, (uint32_t)len);
        memcpy(p->bytes + p->len, args[i], len);
        p->len += len;
    }
}

static void test_command_packing(void) {
    static packer p;
    p.len = 0;
    const char *set[] = {"SET", "k", "v\r\n\0x"};
    size_t set_lens[] = {3, 1, 5};
    pack(&p, 3, set, set_lens);
    const char *ping[] = {"PING"};
    pack(&p, 1, ping, NULL);

    size_t count = 0, size = 0;
    CHECK(cpipe_commands_measure(p.bytes, p.len, &count, &size) == 0);
    CHECK(count == 2);
    cpipe_buffer out = {0};
    CHECK(cpipe_commands_write_resp(p.bytes, p.len, size, &out) == 0);
    const char expect[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\n\0x\r\n*1\r\n$4\r\nPING\r\n";
    CHECK(out.len == sizeof expect - 1 && size == out.len);
    CHECK(memcmp(out.data, expect, sizeof expect - 1) == 0);
    cpipe_buffer_release(&out);
    CHECK(cpipe_commands_count(p.bytes, (int32_t)p.len) == 2);

    /* Malformed buffers are refused whole. */
    CHECK(cpipe_commands_count(p.bytes, (int32_t)p.len - 1) == CPIPE_ERR_ARG); /* truncated */
    CHECK(cpipe_commands_count(p.bytes, -1) == CPIPE_ERR_ARG);
    CHECK(cpipe_commands_count(NULL, 4) == CPIPE_ERR_ARG);
    CHECK(cpipe_commands_count(NULL, 0) == 0);
    static packer bad;
    put32(&bad, 0); /* zero arguments */
    CHECK(cpipe_commands_count(bad.bytes, (int32_t)bad.len) == CPIPE_ERR_ARG);
    bad.len = 0;
    put32(&bad, 1);
    put32(&bad, 100); /* length past the end */
    CHECK(cpipe_commands_count(bad.bytes, (int32_t)bad.len) == CPIPE_ERR_ARG);
    bad.len = 0;
    put32(&bad, 0x7fffffff); /* absurd argc */
    put32(&bad, 0);
    CHECK(cpipe_commands_count(bad.bytes, (int32_t)bad.len) == CPIPE_ERR_ARG);
    bad.len = 0;
    put32(&bad, 1);
    put32(&bad, 0xffffffffu); /* absurd length */
    CHECK(cpipe_commands_count(bad.bytes, (int32_t)bad.len) == CPIPE_ERR_ARG);
    bad.len = 0;
    put32(&bad, 1);
    put32(&bad, 0);
    bad.bytes[bad.len++] = 7; /* trailing byte */
    CHECK(cpipe_commands_count(bad.bytes, (int32_t)bad.len) == CPIPE_ERR_ARG);
}

/* ---- reply encoding ----------------------------------------------------- */

/* Feeds RESP to a fresh encoding reader, byte by byte when `trickle`, and
 * returns the encoded reply (caller frees) or NULL on a reader error. */
static uint8_t *encode_resp(const char *resp, size_t len, int trickle, size_t *out_len) {
    cpipe_reply_encoder enc = {0};
    redisReader *r = cpipe_reply_reader_create(&enc, 0);
    void *reply = NULL;
    int ok = 1;
    for (size_t i = 0; i < len && ok && reply == NULL; i += trickle ? 1 : len) {
        size_t n = trickle ? 1 : len;
        ok = redisReaderFeed(r, resp + i, n) == REDIS_OK && redisReaderGetReply(r, &reply) == REDIS_OK;
    }
    uint8_t *copy = NULL;
    if (ok && reply != NULL) {
        *out_len = cpipe_buffer_live(&enc.encoded);
        copy = malloc(*out_len ? *out_len : 1);
        memcpy(copy, enc.encoded.data, *out_len);
    }
    redisReaderFree(r);
    cpipe_buffer_release(&enc.encoded);
    return copy;
}

static int encodes_as(const char *resp, size_t resp_len, const uint8_t *expect, size_t expect_len) {
    int ok = 1;
    for (int trickle = 0; trickle <= 1; trickle++) {
        size_t len = 0;
        uint8_t *got = encode_resp(resp, resp_len, trickle, &len);
        ok = ok && got != NULL && len == expect_len && memcmp(got, expect, len) == 0;
        free(got);
    }
    return ok;
}

#define ENCODES(resp, ...)                                                              \
    do {                                                                                \
        const uint8_t expect_[] = {__VA_ARGS__};                                        \
        CHECK(encodes_as(resp, sizeof(resp) - 1, expect_, sizeof expect_));            \
    } while (0)

static void test_reply_encoding(void) {
    ENCODES("+OK\r\n", '+', 2, 0, 0, 0, 'O', 'K');
    ENCODES("-ERR bad\r\n", '-', 7, 0, 0, 0, 'E', 'R', 'R', ' ', 'b', 'a', 'd');
    ENCODES("$4\r\na\0\r\n\r\n", '$', 4, 0, 0, 0, 'a', 0, '\r', '\n');
    ENCODES("$0\r\n\r\n", '$', 0, 0, 0, 0);
    ENCODES("$-1\r\n", '_');
    ENCODES("*-1\r\n", '_');
    ENCODES("_\r\n", '_');
    /* 1 as f64 little-endian: 0x3ff0000000000000 */
    ENCODES(":1\r\n", ':', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f);
    /* 2^53 + 1 does not fit an f64 exactly: raw i64 */
    ENCODES(":9007199254740993\r\n", 'L', 1, 0, 0, 0, 0, 0, 0x20, 0);
    ENCODES(":-9223372036854775808\r\n", 'L', 0, 0, 0, 0, 0, 0, 0, 0x80);
    ENCODES("*2\r\n$1\r\na\r\n*1\r\n:0\r\n", '*', 2, 0, 0, 0, '$', 1, 0, 0, 0, 'a', '*', 1, 0, 0, 0, ':', 0, 0, 0,
            0, 0, 0, 0, 0);
    ENCODES("*0\r\n", '*', 0, 0, 0, 0);
    ENCODES("#t\r\n", '#', 1);
    ENCODES(",1.5\r\n", ',', 0, 0, 0, 0, 0, 0, 0xf8, 0x3f);
    ENCODES("%1\r\n+k\r\n:0\r\n", '%', 2, 0, 0, 0, '+', 1, 0, 0, 0, 'k', ':', 0, 0, 0, 0, 0, 0, 0, 0);
    ENCODES("~1\r\n+m\r\n", '~', 1, 0, 0, 0, '+', 1, 0, 0, 0, 'm');
    ENCODES(">1\r\n+p\r\n", '>', 1, 0, 0, 0, '+', 1, 0, 0, 0, 'p');
    ENCODES("=8\r\ntxt:abcd\r\n", '=', 4, 0, 0, 0, 'a', 'b', 'c', 'd');
    ENCODES("(12345678901234567890\r\n", '(', 20, 0, 0, 0, '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1', '2',
            '3', '4', '5', '6', '7', '8', '9', '0');

    /* Nesting deeper than any real reply. */
    enum { DEPTH = 5000 };
    static char deep[DEPTH * 4 + 8];
    size_t n = 0;
    for (int i = 0; i < DEPTH; i++) n += (size_t)sprintf(deep + n, "*1\r\n");
    n += (size_t)sprintf(deep + n, ":7\r\n");
    size_t len = 0;
    uint8_t *got = encode_resp(deep, n, 0, &len);
    CHECK(got != NULL && len == DEPTH * 5 + 9);
    free(got);

    /* Protocol errors are reported, not crashed on. */
    size_t unused;
    CHECK(encode_resp("!oops\r\n", 7, 0, &unused) == NULL);
    CHECK(encode_resp("$abc\r\n", 6, 0, &unused) == NULL);
    CHECK(encode_resp("*-5\r\n", 5, 0, &unused) == NULL);
    CHECK(encode_resp(":12x\r\n", 6, 0, &unused) == NULL);
}

/* ---- records as the client returns them ------------------------------------------ */

static uint8_t out[1 << 20];

/* What one records buffer held: counts per kind, and the first record of
 * each kind (pointing into the buffer, valid until it is written again). */
typedef struct seen {
    uint32_t records, need, flags;
    int replies, partials, failures, pushes, ups, downs, released;
    record reply, failure, up, down;
} seen;

static seen scan_in(const uint8_t *buf, size_t cap) {
    seen s;
    memset(&s, 0, sizeof s);
    records w;
    record r;
    records_open(&w, buf, cap);
    while (records_next(&w, &r)) {
        switch (r.kind) {
        case CPIPE_RECORD_REPLY:
            if (r.flags & CPIPE_RECORD_PARTIAL) s.partials++;
            if (s.replies++ == 0 && s.partials == 0) s.reply = r;
            break;
        case CPIPE_RECORD_FAILURE:
            if (s.failures++ == 0) s.failure = r;
            break;
        case CPIPE_RECORD_PUSH: s.pushes++; break;
        case CPIPE_RECORD_EVENT:
            if (r.event == CPIPE_EVENT_UP && s.ups++ == 0) s.up = r;
            if (r.event == CPIPE_EVENT_DOWN && s.downs++ == 0) s.down = r;
            if (r.event == CPIPE_EVENT_RELEASED) s.released++;
            break;
        }
    }
    CHECK(!w.malformed);
    s.records = w.count;
    s.need = w.need;
    s.flags = w.flags;
    return s;
}

static seen scan(void) {
    return scan_in(out, sizeof out);
}

static int errstr_contains(cpipe_client *c, const char *needle) {
    char msg[CPIPE_ERRSTR_LEN + 1] = {0};
    int32_t n = cpipe_client_errstr(c, (uint8_t *)msg, CPIPE_ERRSTR_LEN);
    return n > 0 && strstr(msg, needle) != NULL;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- settings ------------------------------------------------------------------------ */

static settings cfg;

static cpipe_client *client_from(const settings *s) {
    return cpipe_client_create(s->bytes, (int32_t)s->len);
}

/* A client of the server at `host` (a unix socket path, or an address with `port`). */
static cpipe_client *client_at(const char *host, int port, int connect_ms, int command_ms, const batch *handshake) {
    settings_begin(&cfg, CPIPE_SETTINGS_VERSION);
    settings_str(&cfg, CPIPE_SET_HOST, host);
    if (port) settings_int(&cfg, CPIPE_SET_PORT, port);
    settings_int(&cfg, CPIPE_SET_CONNECT_TIMEOUT, connect_ms);
    settings_int(&cfg, CPIPE_SET_COMMAND_TIMEOUT, command_ms);
    if (handshake) settings_bytes(&cfg, CPIPE_SET_HANDSHAKE, handshake->cmds, (uint32_t)handshake->len);
    return client_from(&cfg);
}

/* Whether a client is refused these settings (and a pool, when `pool_too`). */
static int refused(const settings *s) {
    cpipe_client *c = client_from(s);
    cpipe_client_free(c);
    return c == NULL;
}

static void test_settings(void) {
    static settings s;
    /* The buffer's frame. */
    CHECK(cpipe_client_create(NULL, 0) == NULL);
    CHECK(cpipe_client_create(NULL, 8) == NULL);
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    CHECK(cpipe_client_create(s.bytes, 3) == NULL);  /* no whole version */
    CHECK(cpipe_client_create(s.bytes, -1) == NULL);
    CHECK(!refused(&s));                             /* the version alone: every default */
    CHECK(refused(settings_begin(&s, 0)));
    CHECK(refused(settings_begin(&s, CPIPE_SETTINGS_VERSION + 1)));
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_int(&s, 99, 1); /* unknown key */
    CHECK(refused(&s));
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_int(&s, 0, 1);
    CHECK(refused(&s));
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_int(&s, CPIPE_SET_PORT, 6379);
    CHECK(cpipe_client_create(s.bytes, (int32_t)s.len - 1) == NULL); /* value cut short */
    CHECK(cpipe_client_create(s.bytes, 4 + 6) == NULL);              /* entry head cut short */
    wire_put32(s.bytes + 8, 400);                                    /* length past the end */
    CHECK(refused(&s));

    /* Keys only a pool takes. */
    const uint32_t pool_only[] = {CPIPE_SET_RECONNECT_MAX, CPIPE_SET_MAX_IN_FLIGHT, CPIPE_SET_SHARED,
                                  CPIPE_SET_EXCLUSIVE};
    for (size_t i = 0; i < sizeof pool_only / sizeof pool_only[0]; i++) {
        settings_begin(&s, CPIPE_SETTINGS_VERSION);
        settings_int(&s, pool_only[i], 1);
        CHECK(refused(&s));
    }

    /* Bad values. */
    struct {
        uint32_t key;
        int32_t value;
    } bad[] = {
        {CPIPE_SET_PORT, 70000},           {CPIPE_SET_PORT, -1},
        {CPIPE_SET_CONNECT_TIMEOUT, -1},   {CPIPE_SET_COMMAND_TIMEOUT, -5},
        {CPIPE_SET_MAX_REPLY_BYTES, 0},    {CPIPE_SET_KEEPALIVE, -1},
        {CPIPE_SET_KEEPALIVE, INT32_MAX / 1000 + 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        settings_begin(&s, CPIPE_SETTINGS_VERSION);
        settings_int(&s, bad[i].key, bad[i].value);
        CHECK(refused(&s));
    }
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_bytes(&s, CPIPE_SET_PORT, "\1\0", 2); /* an integer is 4 bytes */
    CHECK(refused(&s));
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_bytes(&s, CPIPE_SET_HOST, "", 0);
    CHECK(refused(&s));
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_bytes(&s, CPIPE_SET_HOST, "a\0b", 3);
    CHECK(refused(&s));
    static char long_host[1100];
    memset(long_host, 'h', sizeof long_host - 1);
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_str(&s, CPIPE_SET_HOST, long_host);
    CHECK(refused(&s));
    /* Malformed handshakes: zero arguments, an argument past the end, a trailing byte. */
    const uint8_t hs_zero[] = {0, 0, 0, 0};
    const uint8_t hs_past[] = {1, 0, 0, 0, 9, 0, 0, 0, 'P'};
    const uint8_t hs_trail[] = {1, 0, 0, 0, 1, 0, 0, 0, 'P', 7};
    const uint8_t *hs[] = {hs_zero, hs_past, hs_trail};
    const uint32_t hs_len[] = {sizeof hs_zero, sizeof hs_past, sizeof hs_trail};
    for (int i = 0; i < 3; i++) {
        settings_begin(&s, CPIPE_SETTINGS_VERSION);
        settings_bytes(&s, CPIPE_SET_HANDSHAKE, hs[i], hs_len[i]);
        CHECK(refused(&s));
    }

    /* Every key a connection takes, at its limits. */
    static batch h;
    batch_reset(&h);
    batch_add(&h, 0, "HELLO", "3", "AUTH", "user", "pass");
    batch_add(&h, 0, "SELECT", "2");
    settings_begin(&s, CPIPE_SETTINGS_VERSION);
    settings_str(&s, CPIPE_SET_HOST, "localhost");
    settings_int(&s, CPIPE_SET_PORT, 65535);
    settings_int(&s, CPIPE_SET_CONNECT_TIMEOUT, 0);
    settings_int(&s, CPIPE_SET_COMMAND_TIMEOUT, INT32_MAX);
    settings_int(&s, CPIPE_SET_MAX_REPLY_BYTES, -1); /* a u32: 4 GiB - 1 */
    settings_int(&s, CPIPE_SET_KEEPALIVE, 0);
    settings_bytes(&s, CPIPE_SET_HANDSHAKE, h.cmds, (uint32_t)h.len);
    settings_bytes(&s, CPIPE_SET_HANDSHAKE, NULL, 0); /* the last one wins: none */
    CHECK(!refused(&s));
}

/* ---- the public API's error paths ---------------------------------------------------- */

static batch b;

static void test_api_errors(void) {
    batch_reset(&b);
    batch_add(&b, 1, "PING");

    CHECK(cpipe_client_connect(NULL, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_exchange(NULL, b.cmds, (int32_t)b.len, NULL, 0, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_send(NULL, b.cmds, (int32_t)b.len, NULL, 0, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_pending(NULL) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_errstr(NULL, out, 10) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_close(NULL) == CPIPE_ERR_ARG);
    cpipe_client_free(NULL);

    /* Nothing listens on port 1. */
    cpipe_client *c = client_at("127.0.0.1", 1, 1000, 0, NULL);
    CHECK(c != NULL);
    CHECK(cpipe_client_connect(c, out, 8) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_connect(c, NULL, 100) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_CONN);
    CHECK(errstr_contains(c, "127.0.0.1:1") && errstr_contains(c, "cannot connect"));
    seen s = scan();
    CHECK(s.records == 1 && s.downs == 1 && s.ups == 0);
    CHECK(s.down.status == CPIPE_ERR_CONN && s.down.attempt == 1 && s.down.connection == 0);
    CHECK(message_has(&s.down, "127.0.0.1:1") && s.down.server_reply == NULL);
    /* Again: the attempt count grows while it stays down. */
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_CONN);
    s = scan();
    CHECK(s.downs == 1 && s.down.attempt == 2);
    /* An exchange dials first; its call fails with the connection, a record of its own. */
    CHECK(cpipe_client_exchange(c, b.cmds, (int32_t)b.len, b.calls, batch_calls_len(&b), out, sizeof out) ==
          CPIPE_OK);
    s = scan();
    CHECK(s.failures == 1 && s.failure.id == 1 && s.failure.status == CPIPE_ERR_CONN && s.downs == 1);
    CHECK(message_has(&s.failure, "127.0.0.1:1"));
    CHECK(s.failure.flags == CPIPE_RECORD_UNSENT); /* staged while dialing: the server never saw it */
    CHECK(cpipe_client_pending(c) == 0);
    /* Nothing sent, nothing owed: an empty exchange returns at once. */
    CHECK(cpipe_client_exchange(c, NULL, 0, NULL, 0, out, sizeof out) == CPIPE_OK && scan().records == 0);
    /* Malformed arguments. */
    CHECK(cpipe_client_exchange(c, b.cmds, (int32_t)b.len, NULL, 0, out, 8) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_exchange(c, b.cmds, (int32_t)b.len, NULL, 0, NULL, 100) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_exchange(c, b.cmds, -1, NULL, 0, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_exchange(c, NULL, 8, NULL, 0, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_exchange(c, b.cmds, (int32_t)b.len - 2, NULL, 0, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(errstr_contains(c, "malformed"));
    CHECK(cpipe_client_exchange(c, b.cmds, (int32_t)b.len, b.calls, 4, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(errstr_contains(c, "8 bytes of calls"));
    CHECK(cpipe_client_exchange(c, b.cmds, (int32_t)b.len, b.calls, 16, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_exchange(c, b.cmds, (int32_t)b.len, b.calls, -8, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_send(c, b.cmds, (int32_t)b.len - 1, NULL, 0, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_send(c, b.cmds, (int32_t)b.len, b.calls, 4, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_client_pending(c) == 0);
    /* A message longer than the caller's buffer is cut, and its length told. */
    uint8_t small[4];
    CHECK(cpipe_client_errstr(c, small, sizeof small) > (int32_t)sizeof small);
    CHECK(cpipe_client_errstr(c, NULL, 0) > 0);
    CHECK(cpipe_client_close(c) == CPIPE_OK);
    CHECK(cpipe_client_exchange(c, b.cmds, (int32_t)b.len, NULL, 0, out, sizeof out) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_client_send(c, b.cmds, (int32_t)b.len, NULL, 0, out, sizeof out) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_CLOSED);
    CHECK(errstr_contains(c, "closed"));
    CHECK(cpipe_client_close(c) == CPIPE_OK);
    cpipe_client_free(c);

    /* An unresolvable name. */
    c = client_at("no-such-host.invalid", 6379, 1000, 0, NULL);
    CHECK(c != NULL && cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_CONN);
    s = scan();
    CHECK(s.downs == 1 && s.down.status == CPIPE_ERR_CONN && message_has(&s.down, "no-such-host.invalid"));
    cpipe_client_free(c);
}

/* ---- a live server ------------------------------------------------------------------- */

static const char *sock_path;

static cpipe_client *live(const batch *handshake, int command_ms) {
    return client_at(sock_path, 0, 2000, command_ms, handshake);
}

/* Sends `b` (with its calls, or none when `with_calls` is 0) and waits until
 * every call sent has its last record, gathering every record on the way
 * into `out` (cumulatively: the counts of `seen` cover them all). */
static uint8_t gathered[1 << 21];
static size_t gathered_len;

static int32_t exchange_all(cpipe_client *c, batch *bt, int with_calls) {
    gathered_len = CPIPE_HEADER_SIZE;
    uint32_t count = 0;
    int32_t rc = cpipe_client_exchange(c, bt->cmds, (int32_t)bt->len, with_calls ? bt->calls : NULL,
                                       with_calls ? batch_calls_len(bt) : 0, out, sizeof out);
    batch_reset(bt);
    for (;;) {
        if (rc != CPIPE_OK) return rc;
        uint32_t used = wire_get32(out + 4);
        count += wire_get32(out);
        memcpy(gathered + gathered_len, out + CPIPE_HEADER_SIZE, used);
        gathered_len += used;
        if (cpipe_client_pending(c) == 0) break;
        rc = cpipe_client_exchange(c, NULL, 0, NULL, 0, out, sizeof out);
    }
    wire_put32(gathered, count);
    wire_put32(gathered + 4, (uint32_t)(gathered_len - CPIPE_HEADER_SIZE));
    wire_put32(gathered + 8, 0);
    wire_put32(gathered + 12, 0);
    return CPIPE_OK;
}

static seen all(void) {
    return scan_in(gathered, gathered_len);
}

/* One command, one reply (calls_len 0); what came back. */
static seen call(cpipe_client *c, int n, const char **args, const size_t *lens) {
    batch_reset(&b);
    batch_pack(&b, 0, 1, 0, n, args, lens);
    seen s;
    memset(&s, 0, sizeof s);
    int32_t rc = exchange_all(c, &b, 0);
    CHECK(rc == CPIPE_OK);
    if (rc == CPIPE_OK) s = all();
    return s;
}

static int replied(const seen *s, char type, const char *text) {
    return s->replies == 1 && s->failures == 0 && reply_is(s->reply.payload, s->reply.len, type, text);
}

static void test_live(void) {
    cpipe_client *c = live(NULL, 0);
    CHECK(c != NULL && cpipe_client_connect(c, out, sizeof out) == CPIPE_OK);
    seen s = scan();
    CHECK(s.records == 1 && s.ups == 1 && s.up.attempt == 0 && s.up.status == CPIPE_OK && s.up.connection == 0);
    /* Connected already: connect again is a no-op. */
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_OK && scan().records == 0);

    const char *ping[] = {"PING"};
    s = call(c, 1, ping, NULL);
    CHECK(replied(&s, '+', "PONG") && s.ups == 0 && s.downs == 0);

    /* Binary values round-trip. */
    const char *set[] = {"SET", "bin", "a\0b\r\n\xff"};
    size_t set_lens[] = {3, 3, 6};
    s = call(c, 3, set, set_lens);
    CHECK(replied(&s, '+', "OK"));
    const char *get[] = {"GET", "bin"};
    s = call(c, 2, get, NULL);
    CHECK(s.replies == 1 && s.reply.len == 11 && memcmp(s.reply.payload, "$\6\0\0\0a\0b\r\n\xff", 11) == 0);

    /* An error reply is a reply; the connection stays usable. */
    const char *bad[] = {"NOSUCHCOMMAND"};
    s = call(c, 1, bad, NULL);
    CHECK(s.replies == 1 && s.failures == 0 && s.reply.payload[0] == '-');
    s = call(c, 1, ping, NULL);
    CHECK(replied(&s, '+', "PONG"));

    /* Calls name their replies: ids come back as given; calls_len 0 numbers
     * them itself, one reply each. */
    batch_reset(&b);
    batch_add(&b, 500, "PING");
    batch_add(&b, 7, "ECHO", "x");
    batch_add(&b, 0xfffffffeu, "PING");
    CHECK(exchange_all(c, &b, 1) == CPIPE_OK);
    {
        records w;
        record r;
        records_open(&w, gathered, gathered_len);
        uint32_t ids[3] = {0}, n = 0;
        while (records_next(&w, &r))
            if (r.kind == CPIPE_RECORD_REPLY && n < 3) ids[n++] = r.id;
        CHECK(!w.malformed && n == 3 && ids[0] == 500 && ids[1] == 7 && ids[2] == 0xfffffffeu);
    }
    batch_add(&b, 0, "PING");
    batch_add(&b, 0, "ECHO", "y");
    batch_add(&b, 0, "PING");
    CHECK(exchange_all(c, &b, 0) == CPIPE_OK);
    s = all();
    CHECK(s.replies == 3 && s.partials == 0 && s.failures == 0 && cpipe_client_pending(c) == 0);

    /* A command owing two replies: one partial record, then the final one, same id. */
    batch_add_call(&b, 42, 2, 0, "SUBSCRIBE", "a", "b", (const char *)NULL);
    CHECK(exchange_all(c, &b, 1) == CPIPE_OK);
    {
        records w;
        record r[4];
        int n = 0;
        records_open(&w, gathered, gathered_len);
        while (n < 4 && records_next(&w, &r[n])) n++;
        CHECK(!w.malformed && n == 2);
        CHECK(n == 2 && r[0].kind == CPIPE_RECORD_REPLY && r[0].id == 42 && (r[0].flags & CPIPE_RECORD_PARTIAL));
        CHECK(n == 2 && r[1].kind == CPIPE_RECORD_REPLY && r[1].id == 42 && r[1].flags == 0);
        CHECK(n == 2 && r[0].payload[0] == '*' && r[1].payload[0] == '*');
    }
    batch_add_call(&b, 43, 2, 0, "UNSUBSCRIBE", "a", "b", (const char *)NULL);
    CHECK(exchange_all(c, &b, 1) == CPIPE_OK);
    s = all();
    CHECK(s.replies == 2 && s.partials == 1 && s.failures == 0 && cpipe_client_pending(c) == 0);
    s = call(c, 1, ping, NULL);
    CHECK(replied(&s, '+', "PONG"));
    /* A second reply where the call said one: a protocol error that drops
     * the connection (seen at the latest before the next command goes out),
     * never a reply handed to the next call, which goes out on a new
     * connection. */
    batch_add(&b, 44, "SUBSCRIBE", "a", "b");
    CHECK(exchange_all(c, &b, 1) == CPIPE_OK);
    seen first = all();
    CHECK(first.replies == 1 && first.partials == 0 && first.reply.id == 44 && first.reply.payload[0] == '*');
    if (first.downs) /* its records point into `gathered`: checked before the next exchange */
        CHECK(first.down.status == CPIPE_ERR_PROTOCOL && message_has(&first.down, "a reply for which no command waits"));
    batch_add(&b, 45, "PING");
    CHECK(exchange_all(c, &b, 1) == CPIPE_OK);
    s = all();
    CHECK(first.downs + s.downs == 1 && s.failures == 0 && s.ups == 1 && s.up.attempt == 1);
    CHECK(s.replies == 1 && s.reply.id == 45 && reply_is(s.reply.payload, s.reply.len, '+', "PONG"));
    if (s.downs)
        CHECK(s.down.status == CPIPE_ERR_PROTOCOL && message_has(&s.down, "a reply for which no command waits"));

    /* 20,000 commands with a small reply buffer: replies come back over many
     * exchanges, all of them, in order. */
    static batch many;
    batch_reset(&many);
    for (int i = 0; i < 2000; i++) batch_add(&many, (uint32_t)i, "INCR", "counter");
    uint32_t total = 0;
    double expect = 1;
    int ordered = 1;
    for (int round = 0; round < 10; round++) {
        const uint8_t *cmds = many.cmds;
        int32_t len = (int32_t)many.len;
        uint32_t want = total + 2000;
        while (total < want) {
            int32_t rc = cpipe_client_exchange(c, cmds, len, NULL, 0, out, 1024);
            CHECK(rc == CPIPE_OK);
            if (rc != CPIPE_OK) break;
            cmds = NULL;
            len = 0;
            records w;
            record r;
            records_open(&w, out, 1024);
            while (records_next(&w, &r)) {
                double v;
                memcpy(&v, r.payload + 1, 8);
                if (r.kind != CPIPE_RECORD_REPLY || r.len != 9 || r.payload[0] != ':' || v != expect) ordered = 0;
                expect++;
                total++;
            }
            CHECK(!w.malformed && w.used <= 1024 - CPIPE_HEADER_SIZE);
        }
    }
    CHECK(total == 20000 && ordered);
    CHECK(cpipe_client_pending(c) == 0);

    /* cpipe_client_send streams without waiting; exchanges collect the rest, in order. */
    const char *reset[] = {"SET", "counter", "0"};
    s = call(c, 3, reset, NULL);
    CHECK(replied(&s, '+', "OK"));
    CHECK(cpipe_client_send(c, many.cmds, (int32_t)many.len, NULL, 0, out, sizeof out) == CPIPE_OK);
    uint32_t streamed = scan().records;
    CHECK(streamed <= 2000 && cpipe_client_pending(c) == (int32_t)(2000 - streamed));
    while (cpipe_client_pending(c) > 0) {
        CHECK(cpipe_client_exchange(c, NULL, 0, NULL, 0, out, sizeof out) == CPIPE_OK);
        streamed += scan().records;
    }
    CHECK(streamed == 2000);
    const char *getc[] = {"GET", "counter"};
    s = call(c, 2, getc, NULL);
    CHECK(replied(&s, '$', "2000"));

    /* A reply larger than the buffer: reported as needed, then delivered. */
    static char big[300000];
    memset(big, 'x', sizeof big);
    const char *setbig[] = {"SET", "big", big};
    size_t setbig_lens[] = {3, 3, sizeof big};
    s = call(c, 3, setbig, setbig_lens);
    CHECK(replied(&s, '+', "OK"));
    batch_reset(&b);
    batch_add(&b, 9, "GET", "big");
    CHECK(cpipe_client_exchange(c, b.cmds, (int32_t)b.len, b.calls, batch_calls_len(&b), out, 4096) == CPIPE_OK);
    s = scan_in(out, 4096);
    CHECK(s.records == 0 && s.need == CPIPE_RECORD_HEAD + 5 + sizeof big && cpipe_client_pending(c) == 1);
    CHECK(cpipe_client_exchange(c, NULL, 0, NULL, 0, out, sizeof out) == CPIPE_OK);
    s = scan();
    CHECK(s.records == 1 && s.reply.id == 9 && s.reply.len == 5 + sizeof big && s.reply.payload[5 + 12345] == 'x');
    CHECK(cpipe_client_pending(c) == 0);

    /* The server drops us: a DOWN event says why, with the reply to CLIENT
     * KILL when it came first, else with that call's failure (or its
     * successor's); the next exchange reconnects (UP, one failed attempt). */
    const char *kill[] = {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"};
    s = call(c, 6, kill, NULL);
    CHECK(s.replies + s.failures == 1);
    int reconnected = 0;
    if (s.downs == 0) {
        /* The end is seen before the PING goes out (it then goes out on a
         * new connection) or after (it fails). */
        s = call(c, 1, ping, NULL);
        if (s.failures == 1) {
            CHECK(s.failure.status == CPIPE_ERR_CONN && message_has(&s.failure, sock_path));
        } else {
            CHECK(replied(&s, '+', "PONG") && s.ups == 1 && s.up.attempt == 1);
            reconnected = 1;
        }
    }
    CHECK(s.downs == 1 && s.down.status == CPIPE_ERR_CONN && s.down.delay_ms == 0 && message_has(&s.down, sock_path));
    CHECK(s.down.attempt == 1 && s.down.server_reply == NULL);
    CHECK(cpipe_client_pending(c) == 0);
    if (!reconnected) {
        s = call(c, 1, ping, NULL);
        CHECK(replied(&s, '+', "PONG") && s.ups == 1 && s.up.attempt == 1);
    }
    s = call(c, 1, ping, NULL);
    CHECK(replied(&s, '+', "PONG") && s.ups == 0);
    cpipe_client_free(c);

    /* A command timeout runs from the send: the call fails in ~100 ms, the
     * connection is dropped (its reply would come late) and the next
     * exchange reconnects. */
    c = live(NULL, 100);
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_OK);
    const char *sleep[] = {"DEBUG", "SLEEP", "0.5"};
    int64_t t0 = now_ms();
    s = call(c, 3, sleep, NULL);
    int64_t took = now_ms() - t0;
    CHECK(s.failures == 1 && s.failure.status == CPIPE_ERR_TIMEOUT && message_has(&s.failure, "100 ms"));
    CHECK(s.downs == 1 && s.down.status == CPIPE_ERR_TIMEOUT);
    CHECK(took >= 95 && took < 400);
    if (!(took >= 95 && took < 400)) fprintf(stderr, "the 100 ms timeout took %lld ms\n", (long long)took);
    sleep_ms(600); /* the sleeping server blocks every client */
    s = call(c, 1, ping, NULL);
    CHECK(replied(&s, '+', "PONG") && s.ups == 1);
    /* A blocking call is exempt: BLPOP waits its own 0.3 s. */
    batch_reset(&b);
    batch_add_call(&b, 3, 1, CPIPE_CALL_BLOCKING, "BLPOP", "nolist", "0.3", (const char *)NULL);
    t0 = now_ms();
    CHECK(exchange_all(c, &b, 1) == CPIPE_OK);
    took = now_ms() - t0;
    s = all();
    CHECK(s.replies == 1 && s.failures == 0 && s.reply.payload[0] == '_' && took >= 250);
    cpipe_client_free(c);

    /* The handshake runs on connect, and again after every reconnect. */
    static batch hs;
    batch_reset(&hs);
    batch_add(&hs, 0, "HELLO", "3");
    batch_add(&hs, 0, "SELECT", "1");
    batch_add(&hs, 0, "CLIENT", "SETNAME", "cpipe-test");
    c = live(&hs, 0);
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_OK && scan().ups == 1);
    const char *getname[] = {"CLIENT", "GETNAME"};
    const char *info[] = {"CLIENT", "INFO"};
    for (int round = 0; round < 2; round++) {
        s = call(c, 2, getname, NULL);
        CHECK(replied(&s, '$', "cpipe-test"));
        s = call(c, 2, info, NULL);
        CHECK(s.replies == 1 && bytes_have(s.reply.payload, s.reply.len, "resp=3") &&
              bytes_have(s.reply.payload, s.reply.len, "db=1"));
        s = call(c, 6, kill, NULL); /* then reconnect */
        if (s.replies == 1) s = call(c, 1, ping, NULL);
    }
    cpipe_client_free(c);

    /* A refused handshake fails the connect: the DOWN event carries the
     * server's own error reply. */
    batch_reset(&hs);
    batch_add(&hs, 0, "SELECT", "99999");
    c = live(&hs, 0);
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_HANDSHAKE);
    CHECK(errstr_contains(c, "handshake failed: ERR"));
    s = scan();
    CHECK(s.downs == 1 && s.down.status == CPIPE_ERR_HANDSHAKE && s.down.attempt == 1 && s.ups == 0);
    CHECK(s.down.server_reply != NULL && s.down.server_reply[0] == '-' &&
          bytes_have(s.down.server_reply, s.down.server_reply_len, "DB index is out of range"));
    CHECK(s.down.server_reply != NULL && s.down.server_reply_len == 5 + wire_get32(s.down.server_reply + 1));
    /* Calls sent meanwhile fail with it. */
    batch_reset(&b);
    batch_add(&b, 77, "PING");
    CHECK(exchange_all(c, &b, 1) == CPIPE_OK);
    s = all();
    CHECK(s.failures == 1 && s.failure.id == 77 && s.failure.status == CPIPE_ERR_HANDSHAKE && s.downs == 1);
    CHECK(s.down.attempt == 2);
    cpipe_client_free(c);

    /* The largest reply accepted (CPIPE_SET_MAX_REPLY_BYTES): a bulk longer
     * than that, or an aggregate growing past it, is a protocol error that
     * drops the connection; the next exchange reconnects. */
    settings_begin(&cfg, CPIPE_SETTINGS_VERSION);
    settings_str(&cfg, CPIPE_SET_HOST, sock_path);
    settings_int(&cfg, CPIPE_SET_MAX_REPLY_BYTES, 1000);
    c = client_from(&cfg);
    const char *setmax[] = {"SET", "max:1000", big};
    size_t setmax_lens[] = {3, 8, 1000};
    s = call(c, 3, setmax, setmax_lens);
    CHECK(replied(&s, '+', "OK"));
    const char *getmax[] = {"GET", "max:1000"};
    s = call(c, 2, getmax, NULL);
    CHECK(s.replies == 1 && s.failures == 0 && s.reply.len == 5 + 1000); /* at the limit: taken */
    const char *setover[] = {"SET", "max:1001", big};
    size_t setover_lens[] = {3, 8, 1001};
    s = call(c, 3, setover, setover_lens);
    CHECK(replied(&s, '+', "OK"));
    const char *getover[] = {"GET", "max:1001"};
    s = call(c, 2, getover, NULL);
    CHECK(s.replies == 0 && s.failures == 1 && s.failure.status == CPIPE_ERR_PROTOCOL &&
          message_has(&s.failure, "maxReplyBytes (1000)"));
    CHECK(s.downs == 1 && s.down.status == CPIPE_ERR_PROTOCOL);
    s = call(c, 1, ping, NULL);
    CHECK(replied(&s, '+', "PONG") && s.ups == 1);
    batch_reset(&b);
    for (int i = 0; i < 200; i++) batch_add(&b, 0, "RPUSH", "max:list", "twenty-bytes-of-item");
    CHECK(exchange_all(c, &b, 0) == CPIPE_OK && all().replies == 200);
    const char *lrange[] = {"LRANGE", "max:list", "0", "-1"};
    s = call(c, 4, lrange, NULL);
    CHECK(s.replies == 0 && s.failures == 1 && s.failure.status == CPIPE_ERR_PROTOCOL);
    s = call(c, 1, ping, NULL);
    CHECK(replied(&s, '+', "PONG"));
    cpipe_client_free(c);

    /* Connect and close many times. */
    for (int i = 0; i < 200; i++) {
        c = live(NULL, 0);
        CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_OK);
        cpipe_client_free(c);
    }
}

/* ---- passwords never show ------------------------------------------------------------- */

#define PASSWORD "pw-7Hq2-never-shown"
#define WRONG_PASSWORD "wrong-Kx9-never-shown"

/* Whether records, the error message and everything else the client
 * returned are free of both passwords. */
static int shows_no_password(cpipe_client *c, const uint8_t *buf, size_t len) {
    char msg[CPIPE_ERRSTR_LEN];
    int32_t n = cpipe_client_errstr(c, (uint8_t *)msg, sizeof msg);
    size_t m = n < 0 ? 0 : (size_t)n > sizeof msg ? sizeof msg : (size_t)n;
    return !bytes_have(buf, len, PASSWORD) && !bytes_have(buf, len, WRONG_PASSWORD) &&
           !bytes_have((const uint8_t *)msg, m, PASSWORD) && !bytes_have((const uint8_t *)msg, m, WRONG_PASSWORD);
}

static void test_passwords(void) {
    /* The server asks for a password from now on; this client stays in. */
    cpipe_client *admin = live(NULL, 2000);
    const char *require[] = {"CONFIG", "SET", "requirepass", PASSWORD};
    seen s = call(admin, 4, require, NULL);
    CHECK(replied(&s, '+', "OK"));

    static batch hs;
    const char *ping[] = {"PING"};
    /* A wrong password, in AUTH and in HELLO's AUTH: refused, never shown. */
    for (int form = 0; form < 2; form++) {
        batch_reset(&hs);
        if (form == 0) batch_add(&hs, 0, "AUTH", WRONG_PASSWORD);
        else batch_add(&hs, 0, "HELLO", "2", "AUTH", "default", WRONG_PASSWORD);
        cpipe_client *c = live(&hs, 0);
        memset(out, 0, sizeof out);
        CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_HANDSHAKE);
        s = scan();
        CHECK(s.downs == 1 && s.down.status == CPIPE_ERR_HANDSHAKE && s.down.server_reply != NULL &&
              bytes_have(s.down.server_reply, s.down.server_reply_len, "WRONGPASS"));
        CHECK(shows_no_password(c, out, sizeof out));
        memset(out, 0, sizeof out);
        batch_reset(&b);
        batch_add(&b, 5, "PING");
        CHECK(exchange_all(c, &b, 1) == CPIPE_OK);
        s = all();
        CHECK(s.failures == 1 && s.failure.status == CPIPE_ERR_HANDSHAKE && message_has(&s.failure, "WRONGPASS"));
        CHECK(shows_no_password(c, gathered, gathered_len) && shows_no_password(c, out, sizeof out));
        cpipe_client_free(c);
    }

    /* The right password, then a command the server refuses and whose error
     * repeats its argument: the password there is masked too. */
    batch_reset(&hs);
    batch_add(&hs, 0, "AUTH", PASSWORD);
    batch_add(&hs, 0, "NOSUCHCOMMAND", PASSWORD);
    cpipe_client *c = live(&hs, 0);
    memset(out, 0, sizeof out);
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_HANDSHAKE);
    s = scan();
    CHECK(s.downs == 1 && s.down.server_reply != NULL &&
          bytes_have(s.down.server_reply, s.down.server_reply_len, "unknown command") &&
          bytes_have(s.down.server_reply, s.down.server_reply_len, "****") && message_has(&s.down, "****"));
    CHECK(shows_no_password(c, out, sizeof out));
    cpipe_client_free(c);

    /* A long password: Redis quotes a refused command's arguments cut at
     * 128 bytes; that start is masked too. */
    static char long_pw[201];
    memset(long_pw, 'L', 200);
    memcpy(long_pw, PASSWORD, strlen(PASSWORD));
    const char *require_long[] = {"CONFIG", "SET", "requirepass", long_pw};
    s = call(admin, 4, require_long, NULL);
    CHECK(replied(&s, '+', "OK"));
    batch_reset(&hs);
    batch_add(&hs, 0, "AUTH", long_pw);
    batch_add(&hs, 0, "NOSUCHCOMMAND", long_pw);
    c = live(&hs, 0);
    memset(out, 0, sizeof out);
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_HANDSHAKE);
    s = scan();
    CHECK(s.downs == 1 && s.down.server_reply != NULL &&
          bytes_have(s.down.server_reply, s.down.server_reply_len, "unknown command") && message_has(&s.down, "****"));
    CHECK(shows_no_password(c, out, sizeof out) && !bytes_have(out, sizeof out, "LLLLLLLLLL"));
    cpipe_client_free(c);
    s = call(admin, 4, require, NULL);
    CHECK(replied(&s, '+', "OK"));

    /* The right password alone lets it in. */
    batch_reset(&hs);
    batch_add(&hs, 0, "AUTH", PASSWORD);
    c = live(&hs, 0);
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_OK);
    s = call(c, 1, ping, NULL);
    CHECK(replied(&s, '+', "PONG"));
    cpipe_client_free(c);

    const char *unrequire[] = {"CONFIG", "SET", "requirepass", ""};
    size_t unrequire_lens[] = {6, 3, 11, 0};
    s = call(admin, 4, unrequire, unrequire_lens);
    CHECK(replied(&s, '+', "OK"));
    cpipe_client_free(admin);
    c = live(NULL, 0);
    CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_OK);
    s = call(c, 1, ping, NULL);
    CHECK(replied(&s, '+', "PONG"));
    cpipe_client_free(c);
}

#ifdef CPIPE_FAULT_INJECTION
/* Each allocation of a client's life (create, connect with a handshake, a
 * pipelined exchange) fails in turn: the call reports it (a status or a
 * failure record), nothing leaks, and the next exchange on the same handle
 * gets the right replies. */
static void test_out_of_memory(void) {
    static batch handshake, cmds;
    batch_reset(&handshake);
    batch_add(&handshake, 0, "CLIENT", "SETNAME", "oom");
    const char *set[] = {"SET", "oom", "a\0b"};
    const size_t set_lens[] = {3, 3, 3};
    int64_t live_before = cpipe_live_allocations();
    int failed = 0, finished = 0;
    for (long long n = 1; n < 2000 && !finished; n++) {
        cpipe_heap_fail_in(n);
        cpipe_client *c = live(&handshake, 2000);
        int32_t rc = CPIPE_ERR_NOMEM;
        seen s;
        memset(&s, 0, sizeof s);
        if (c != NULL) {
            batch_reset(&cmds);
            batch_pack(&cmds, 1, 1, 0, 3, set, set_lens);
            batch_add(&cmds, 2, "GET", "oom");
            rc = exchange_all(c, &cmds, 1);
            if (rc == CPIPE_OK) s = all();
        }
        finished = cpipe_heap_fail_in(0) > 0; /* no allocation failed: every one was tried */
        if (rc != CPIPE_OK || s.failures > 0 || s.replies != 2) {
            failed++;
            CHECK(c == NULL || rc == CPIPE_OK || errstr_contains(c, ""));
            CHECK(c == NULL || rc != CPIPE_OK || s.failures > 0);
        }
        if (c != NULL) {
            /* Whatever failed, the handle answers the next exchange rightly. */
            batch_reset(&cmds);
            batch_pack(&cmds, 3, 1, 0, 3, set, set_lens);
            batch_add(&cmds, 4, "GET", "oom");
            CHECK(exchange_all(c, &cmds, 1) == CPIPE_OK);
            records w;
            record r;
            int right = 0;
            records_open(&w, gathered, gathered_len);
            while (records_next(&w, &r)) {
                if (r.kind == CPIPE_RECORD_REPLY && r.id == 3) right += reply_is(r.payload, r.len, '+', "OK");
                if (r.kind == CPIPE_RECORD_REPLY && r.id == 4) right += r.len == 8 && !memcmp(r.payload, "$\3\0\0\0a\0b", 8);
                if (r.kind == CPIPE_RECORD_FAILURE && r.id >= 3) right = -10;
            }
            CHECK(!w.malformed && right == 2);
            CHECK(cpipe_client_pending(c) == 0);
            cpipe_client_free(c);
        }
        CHECK(cpipe_live_allocations() == live_before);
    }
    CHECK(finished && failed >= 5);
}
#endif

int main(void) {
    cpipe_alloc_install();
    test_command_packing();
    test_reply_encoding();
    test_settings();
    test_api_errors();
    sock_path = getenv("CPIPE_TEST_SOCKET");
    CHECK(sock_path != NULL); /* `make asan` / `make valgrind` start a server and set it */
    if (sock_path) {
        test_live();
        test_passwords();
#ifdef CPIPE_FAULT_INJECTION
        test_out_of_memory();
#endif
    }
    CHECK(cpipe_live_allocations() == 0);
    printf("test_core: %d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
