/* C-level tests of the core: command packing, reply encoding, every error
 * path of the public API, and a live server on the unix socket named by
 * CPIPE_TEST_SOCKET. Run under ASan/UBSan (`make asan`) and valgrind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "cpipe.h"
#include "heap.h"
#include "reply.h"

#include "check.h"


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

/* ---- the public API's error paths ---------------------------------------- */

static uint8_t out[1 << 20];

static int errstr_contains(cpipe_conn *c, const char *needle) {
    char msg[CPIPE_ERRSTR_LEN + 1] = {0};
    int32_t n = cpipe_conn_errstr(c, (uint8_t *)msg, CPIPE_ERRSTR_LEN);
    return n > 0 && strstr(msg, needle) != NULL;
}

static uint32_t header(int field) {
    uint32_t v;
    memcpy(&v, out + 4 * field, 4);
    return v;
}

static void test_api_errors(void) {
    static packer p;
    p.len = 0;
    const char *ping[] = {"PING"};
    pack(&p, 1, ping, NULL);
    const uint8_t host[] = "127.0.0.1";

    CHECK(cpipe_conn_create(NULL, 3, 6379, 0, 0, NULL, 0) == NULL);
    CHECK(cpipe_conn_create(host, 0, 6379, 0, 0, NULL, 0) == NULL);
    CHECK(cpipe_conn_create(host, 9, -1, 0, 0, NULL, 0) == NULL);
    CHECK(cpipe_conn_create(host, 9, 70000, 0, 0, NULL, 0) == NULL);
    CHECK(cpipe_conn_create(host, 9, 6379, -5, 0, NULL, 0) == NULL);
    CHECK(cpipe_conn_create((const uint8_t *)"a\0b", 3, 6379, 0, 0, NULL, 0) == NULL);
    CHECK(cpipe_conn_create(host, 9, 6379, 0, 0, p.bytes, (int32_t)p.len - 1) == NULL);
    CHECK(cpipe_conn_connect(NULL) == CPIPE_ERR_ARG);
    CHECK(cpipe_conn_exchange(NULL, p.bytes, (int32_t)p.len, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_conn_pending(NULL) == CPIPE_ERR_ARG);
    CHECK(cpipe_conn_errstr(NULL, out, 10) == CPIPE_ERR_ARG);
    CHECK(cpipe_conn_close(NULL) == CPIPE_ERR_ARG);
    cpipe_conn_free(NULL);

    /* Nothing listens on port 1. */
    cpipe_conn *c = cpipe_conn_create(host, 9, 1, 1000, 0, NULL, 0);
    CHECK(c != NULL);
    CHECK(cpipe_conn_connect(c) == CPIPE_ERR_CONN);
    CHECK(errstr_contains(c, "127.0.0.1:1"));
    /* An exchange reconnects first, and fails the same way without sending. */
    CHECK(cpipe_conn_exchange(c, p.bytes, (int32_t)p.len, out, sizeof out) == CPIPE_ERR_CONN);
    CHECK(cpipe_conn_pending(c) == 0);
    CHECK(cpipe_conn_exchange(c, p.bytes, (int32_t)p.len, out, 8) == CPIPE_ERR_ARG);
    CHECK(cpipe_conn_exchange(c, p.bytes, (int32_t)p.len, NULL, 100) == CPIPE_ERR_ARG);
    CHECK(cpipe_conn_exchange(c, p.bytes, -1, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_conn_exchange(c, p.bytes, (int32_t)p.len - 2, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(errstr_contains(c, "malformed"));
    /* A message longer than the caller's buffer is cut, and its length told. */
    uint8_t small[4];
    CHECK(cpipe_conn_errstr(c, small, sizeof small) > (int32_t)sizeof small);
    CHECK(cpipe_conn_close(c) == CPIPE_OK);
    CHECK(cpipe_conn_exchange(c, p.bytes, (int32_t)p.len, out, sizeof out) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_conn_connect(c) == CPIPE_ERR_CLOSED);
    CHECK(cpipe_conn_close(c) == CPIPE_OK);
    cpipe_conn_free(c);

    /* An unresolvable name. */
    const uint8_t nowhere[] = "no-such-host.invalid";
    c = cpipe_conn_create(nowhere, (int32_t)sizeof nowhere - 1, 6379, 1000, 0, NULL, 0);
    CHECK(c != NULL && cpipe_conn_connect(c) == CPIPE_ERR_CONN);
    cpipe_conn_free(c);
}

/* ---- a live server ------------------------------------------------------- */

static cpipe_conn *live(const char *socket, const packer *handshake, int timeout_ms) {
    cpipe_conn *c = cpipe_conn_create((const uint8_t *)socket, (int32_t)strlen(socket), 0, 2000, timeout_ms,
                                      handshake ? handshake->bytes : NULL, handshake ? (int32_t)handshake->len : 0);
    return c;
}

/* One command, one reply into `out`; returns the status. */
static int32_t call(cpipe_conn *c, int n, const char **args, const size_t *lens) {
    static packer p;
    p.len = 0;
    pack(&p, n, args, lens);
    return cpipe_conn_exchange(c, p.bytes, (int32_t)p.len, out, sizeof out);
}

static void test_live(const char *socket) {
    cpipe_conn *c = live(socket, NULL, 0);
    CHECK(c != NULL && cpipe_conn_connect(c) == CPIPE_OK);

    const char *ping[] = {"PING"};
    CHECK(call(c, 1, ping, NULL) == CPIPE_OK && header(0) == 1);
    CHECK(memcmp(out + CPIPE_REPLY_HEADER, "+\4\0\0\0PONG", 9) == 0);

    /* Binary values round-trip. */
    const char *set[] = {"SET", "bin", "a\0b\r\n\xff"};
    size_t set_lens[] = {3, 3, 6};
    CHECK(call(c, 3, set, set_lens) == CPIPE_OK);
    const char *get[] = {"GET", "bin"};
    CHECK(call(c, 2, get, NULL) == CPIPE_OK);
    CHECK(memcmp(out + CPIPE_REPLY_HEADER, "$\6\0\0\0a\0b\r\n\xff", 11) == 0);

    /* An error reply is a reply; the connection stays usable. */
    const char *bad[] = {"NOSUCHCOMMAND"};
    CHECK(call(c, 1, bad, NULL) == CPIPE_OK && out[CPIPE_REPLY_HEADER] == '-');
    CHECK(call(c, 1, ping, NULL) == CPIPE_OK);

    /* 20,000 commands with a small reply buffer: replies come back over many
     * exchanges, all of them, in order. */
    static packer many;
    many.len = 0;
    for (int i = 0; i < 2000; i++) {
        const char *incr[] = {"INCR", "counter"};
        pack(&many, 2, incr, NULL);
    }
    uint32_t total = 0;
    double expect = 1;
    int ordered = 1;
    for (int round = 0; round < 10; round++) {
        const uint8_t *cmds = many.bytes;
        int32_t len = (int32_t)many.len;
        uint32_t want = total + 2000;
        while (total < want) {
            int32_t rc = cpipe_conn_exchange(c, cmds, len, out, 1024);
            CHECK(rc == CPIPE_OK);
            if (rc != CPIPE_OK) break;
            if (!(header(2) & CPIPE_FLAG_UNSENT)) {
                cmds = NULL;
                len = 0;
            }
            uint8_t *r = out + CPIPE_REPLY_HEADER;
            for (uint32_t i = 0; i < header(0); i++, r += 9) {
                double v;
                memcpy(&v, r + 1, 8);
                if (r[0] != ':' || v != expect) ordered = 0;
                expect++;
            }
            total += header(0);
        }
    }
    CHECK(total == 20000 && ordered);
    CHECK(cpipe_conn_pending(c) == 0);

    /* cpipe_conn_send streams without waiting; exchanges collect the rest, in order. */
    CHECK(cpipe_conn_send(NULL, many.bytes, (int32_t)many.len, out, sizeof out) == CPIPE_ERR_ARG);
    CHECK(cpipe_conn_send(c, many.bytes, (int32_t)many.len - 1, out, sizeof out) == CPIPE_ERR_ARG);
    const char *reset[] = {"SET", "counter", "0"};
    CHECK(call(c, 3, reset, NULL) == CPIPE_OK);
    CHECK(cpipe_conn_send(c, many.bytes, (int32_t)many.len, out, sizeof out) == CPIPE_OK);
    uint32_t streamed = header(0);
    CHECK(streamed <= 2000 && cpipe_conn_pending(c) == (int32_t)(2000 - streamed));
    while (cpipe_conn_pending(c) > 0) {
        CHECK(cpipe_conn_exchange(c, NULL, 0, out, sizeof out) == CPIPE_OK);
        streamed += header(0);
    }
    CHECK(streamed == 2000);
    const char *getc[] = {"GET", "counter"};
    CHECK(call(c, 2, getc, NULL) == CPIPE_OK && memcmp(out + CPIPE_REPLY_HEADER + 5, "2000", 4) == 0);

    /* A reply larger than the buffer: reported as needed, then delivered. */
    static char big[300000];
    memset(big, 'x', sizeof big);
    const char *setbig[] = {"SET", "big", big};
    size_t setbig_lens[] = {3, 3, sizeof big};
    CHECK(call(c, 3, setbig, setbig_lens) == CPIPE_OK);
    static packer getbig;
    getbig.len = 0;
    const char *getb[] = {"GET", "big"};
    pack(&getbig, 2, getb, NULL);
    CHECK(cpipe_conn_exchange(c, getbig.bytes, (int32_t)getbig.len, out, 4096) == CPIPE_OK);
    CHECK(header(0) == 0 && header(3) == 5 + sizeof big);
    CHECK(cpipe_conn_exchange(c, NULL, 0, out, sizeof out) == CPIPE_OK);
    CHECK(header(0) == 1 && header(1) == 5 + sizeof big && out[CPIPE_REPLY_HEADER + 5 + 12345] == 'x');

    /* The server drops us: the error says so, the next exchange reconnects. */
    const char *kill[] = {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"};
    int32_t rc = call(c, 6, kill, NULL);
    CHECK(rc == CPIPE_ERR_CONN || rc == CPIPE_OK);
    if (rc == CPIPE_OK) CHECK(call(c, 1, ping, NULL) == CPIPE_ERR_CONN);
    CHECK(errstr_contains(c, socket));
    CHECK(cpipe_conn_pending(c) == 0);
    CHECK(call(c, 1, ping, NULL) == CPIPE_OK && header(0) == 1);
    cpipe_conn_free(c);

    /* Timeout: the connection is dropped (its reply would come late). */
    c = live(socket, NULL, 100);
    CHECK(cpipe_conn_connect(c) == CPIPE_OK);
    const char *sleep[] = {"DEBUG", "SLEEP", "0.5"};
    rc = call(c, 3, sleep, NULL);
    CHECK(rc == CPIPE_ERR_TIMEOUT && errstr_contains(c, "100 ms"));
    struct timespec server_busy = {0, 600 * 1000 * 1000};
    nanosleep(&server_busy, NULL); /* the sleeping server blocks every client */
    CHECK(call(c, 1, ping, NULL) == CPIPE_OK && out[CPIPE_REPLY_HEADER] == '+');
    cpipe_conn_free(c);

    /* The handshake runs on connect; an error reply fails the connect. */
    static packer hs;
    const char *select1[] = {"SELECT", "1"};
    const char *setname[] = {"CLIENT", "SETNAME", "cpipe-test"};
    pack(&hs, 2, select1, NULL);
    pack(&hs, 3, setname, NULL);
    c = live(socket, &hs, 0);
    CHECK(cpipe_conn_connect(c) == CPIPE_OK);
    const char *getname[] = {"CLIENT", "GETNAME"};
    CHECK(call(c, 2, getname, NULL) == CPIPE_OK && memcmp(out + CPIPE_REPLY_HEADER + 5, "cpipe-test", 10) == 0);
    cpipe_conn_free(c);
    static packer badhs;
    const char *select_bad[] = {"SELECT", "99999"};
    pack(&badhs, 2, select_bad, NULL);
    c = live(socket, &badhs, 0);
    CHECK(cpipe_conn_connect(c) == CPIPE_ERR_HANDSHAKE);
    CHECK(errstr_contains(c, "handshake failed: ERR"));
    cpipe_conn_free(c);

    /* Connect and close many times. */
    for (int i = 0; i < 200; i++) {
        c = live(socket, NULL, 0);
        CHECK(cpipe_conn_connect(c) == CPIPE_OK);
        cpipe_conn_free(c);
    }
}

#ifdef CPIPE_FAULT_INJECTION
/* Each allocation of a connection's life (create, connect with a handshake,
 * a pipelined exchange) fails in turn: the call reports an error, nothing
 * leaks, and the next exchange on the same handle gets the right replies. */
static void test_out_of_memory(const char *socket) {
    static packer handshake, cmds;
    handshake.len = cmds.len = 0;
    const char *setname[] = {"CLIENT", "SETNAME", "oom"};
    pack(&handshake, 3, setname, NULL);
    const char *set[] = {"SET", "oom", "a\0b"};
    const size_t set_lens[] = {3, 3, 3};
    const char *get[] = {"GET", "oom"};
    pack(&cmds, 3, set, set_lens);
    pack(&cmds, 2, get, NULL);
    int64_t live_before = cpipe_live_allocations();
    int failed = 0, finished = 0;
    for (long long n = 1; n < 1000 && !finished; n++) {
        cpipe_heap_fail_in(n);
        cpipe_conn *c = live(socket, &handshake, 2000);
        int32_t rc = c == NULL ? CPIPE_ERR_NOMEM : cpipe_conn_exchange(c, cmds.bytes, (int32_t)cmds.len, out, sizeof out);
        finished = cpipe_heap_fail_in(0) > 0; /* no allocation failed: every one was tried */
        if (rc != CPIPE_OK) {
            failed++;
            CHECK(c == NULL || errstr_contains(c, ""));
        }
        if (c != NULL) {
            /* Whatever failed, the handle answers the next exchange rightly. */
            CHECK(cpipe_conn_exchange(c, cmds.bytes, (int32_t)cmds.len, out, sizeof out) == CPIPE_OK);
            CHECK(header(0) == 2 && memcmp(out + CPIPE_REPLY_HEADER, "+\2\0\0\0OK$\3\0\0\0a\0b", 15) == 0);
            cpipe_conn_free(c);
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
    test_api_errors();
    const char *socket = getenv("CPIPE_TEST_SOCKET");
    CHECK(socket != NULL); /* `make asan` / `make valgrind` start a server and set it */
    if (socket) test_live(socket);
#ifdef CPIPE_FAULT_INJECTION
    if (socket) test_out_of_memory(socket);
#endif
    CHECK(cpipe_live_allocations() == 0);
    printf("test_core: %d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
