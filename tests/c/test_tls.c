/* The TLS transport against a live redis-server with a TLS port
 * (CPIPE_TEST_TLS_PORT on 127.0.0.1) and the certificates of
 * scripts/test-certs.sh (CPIPE_TEST_CERTS): verified connects and each way
 * verification fails, bad PEM, a reconnect (with the kept session), values
 * larger than the reads of one turn (bytes held decrypted in the
 * transport), and a pool. Run under ASan/UBSan by `make asan-tls`. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "command.h"
#include "connection.h"
#include "cpipe.h"
#include "check.h"
#include "settings.h"
#include "sys.h"
#include "tls.h"
#include "wire.h"

static const char *certs_dir;
static int tls_port;
static uint8_t out[1 << 16];
static batch b;

static char *read_file(const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", certs_dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *text = malloc(1 << 16);
    *len = text ? fread(text, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    return text;
}

/* Settings for the TLS port: `ca` a file in the certificates or NULL,
 * `cert` and `key` likewise, `servername` or NULL, `verify` 0/1. */
static settings *tls_settings(settings *s, const char *ca, const char *cert, const char *key, const char *servername,
                              int verify) {
    settings_begin(s, CPIPE_SETTINGS_VERSION);
    settings_str(s, CPIPE_SET_HOST, "127.0.0.1");
    settings_int(s, CPIPE_SET_PORT, tls_port);
    settings_int(s, CPIPE_SET_CONNECT_TIMEOUT, 5000);
    settings_int(s, CPIPE_SET_TLS, 1);
    settings_int(s, CPIPE_SET_TLS_VERIFY, verify);
    const char *files[3] = {ca, cert, key};
    const uint32_t keys[3] = {CPIPE_SET_TLS_CA, CPIPE_SET_TLS_CERT, CPIPE_SET_TLS_KEY};
    for (int i = 0; i < 3; i++) {
        if (files[i] == NULL) continue;
        size_t len = 0;
        char *text = read_file(files[i], &len);
        CHECK(text != NULL && len > 0);
        if (text) settings_bytes(s, keys[i], text, (uint32_t)len);
        free(text);
    }
    if (servername) settings_str(s, CPIPE_SET_TLS_SERVERNAME, servername);
    return s;
}

/* Whether the client's last message holds `needle`; `loud`: say so when not. */
static int message_holds(cpipe_client *c, const char *needle, int loud) {
    char msg[CPIPE_ERRSTR_LEN + 1];
    int32_t n = cpipe_client_errstr(c, (uint8_t *)msg, CPIPE_ERRSTR_LEN);
    msg[n < 0 ? 0 : n > CPIPE_ERRSTR_LEN ? CPIPE_ERRSTR_LEN : n] = '\0';
    int found = strstr(msg, needle) != NULL;
    if (!found && loud) fprintf(stderr, "  message: %s (wanted '%s')\n", msg, needle);
    return found;
}

/* A client made from tls_settings(), or NULL when they are refused. */
static cpipe_client *tls_client(settings *s, const char *ca, const char *cert, const char *key, const char *servername,
                                int verify) {
    tls_settings(s, ca, cert, key, servername, verify);
    return cpipe_client_create(s->bytes, (int32_t)s->len);
}

static int errstr_has(cpipe_client *c, const char *needle) {
    return message_holds(c, needle, 1);
}

/* One exchange of `b`; the first reply record's encoded bytes (NULL if none). */
static const uint8_t *exchange_one(cpipe_client *c, uint32_t *len) {
    if (cpipe_client_exchange(c, b.cmds, (int32_t)b.len, b.calls, batch_calls_len(&b), out, sizeof out) != CPIPE_OK)
        return NULL;
    batch_reset(&b);
    records w;
    record r;
    records_open(&w, out, sizeof out);
    while (records_next(&w, &r))
        if (r.kind == CPIPE_RECORD_REPLY) {
            *len = r.len;
            return r.payload;
        }
    return NULL;
}

static int replies(cpipe_client *c, char type, const char *text) {
    uint32_t len = 0;
    const uint8_t *reply = exchange_one(c, &len);
    return reply != NULL && reply_is(reply, len, type, text);
}

static void test_refusals(void) {
    settings s;
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d", tls_port);
    struct {
        const char *ca, *servername, *reason;
    } cases[] = {
        {"wrong-ca.crt", NULL, "unknown CA"},
        {"ca.crt", "other.example", "name mismatch"},
        {"client.crt", NULL, "unknown CA"}, /* a leaf is no root */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cpipe_client *c = tls_client(&s, cases[i].ca, NULL, NULL, cases[i].servername, 1);
        CHECK(c != NULL);
        CHECK(cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_CONN);
        CHECK(errstr_has(c, where) && errstr_has(c, cases[i].reason));
        cpipe_client_free(c);
    }
    /* PEM that does not parse: refused at connect, the key never shown. */
    tls_settings(&s, NULL, NULL, NULL, NULL, 1);
    settings_str(&s, CPIPE_SET_TLS_CA, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    cpipe_client *c = cpipe_client_create(s.bytes, (int32_t)s.len);
    CHECK(c != NULL && cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_CONN && errstr_has(c, "tls.ca"));
    cpipe_client_free(c);
    tls_settings(&s, "ca.crt", "client.crt", NULL, NULL, 1);
    const char *fake_key = "-----BEGIN PRIVATE KEY-----\nU0VDUkVUS0VZ\n-----END PRIVATE KEY-----\n";
    settings_str(&s, CPIPE_SET_TLS_KEY, fake_key);
    c = cpipe_client_create(s.bytes, (int32_t)s.len);
    CHECK(c != NULL && cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_CONN && errstr_has(c, "tls.key"));
    CHECK(!message_holds(c, "U0VDUkVUS0VZ", 0));
    cpipe_client_free(c);
    /* No verification without roots is refused up front; a certificate without its key too. */
    c = tls_client(&s, NULL, NULL, NULL, NULL, 1);
    CHECK(c != NULL && cpipe_client_connect(c, out, sizeof out) == CPIPE_ERR_CONN && errstr_has(c, "tls.ca"));
    cpipe_client_free(c);
    CHECK(tls_client(&s, "ca.crt", "client.crt", NULL, NULL, 1) == NULL);
}

static void test_client(void) {
    settings s;
    cpipe_client *c = tls_client(&s, "ca.crt", NULL, NULL, NULL, 1);
    CHECK(c != NULL && cpipe_client_connect(c, out, sizeof out) == CPIPE_OK);
    batch_add(&b, 1, "SET", "tls:k", "v");
    CHECK(replies(c, '+', "OK"));
    batch_add(&b, 2, "GET", "tls:k");
    CHECK(replies(c, '$', "v"));

    /* 8 MB: more than the 64 reads of 64 KB one turn takes, so decrypted
     * bytes wait in the transport while the socket is quiet. */
    size_t big = 8u << 20;
    char *value = malloc(big);
    CHECK(value != NULL);
    if (value) {
        for (size_t i = 0; i < big; i++) value[i] = (char)('a' + i % 26);
        const char *set[] = {"SET", "tls:big", value};
        size_t lens[] = {3, 7, big};
        /* Packed by hand: the shared batch holds 1 MB of commands. */
        size_t cmds_len = 4 + 3 * 4 + 3 + 7 + big;
        uint8_t *cmds = malloc(cmds_len);
        CHECK(cmds != NULL);
        if (cmds) {
            size_t at = 0;
            wire_put32(cmds, 3);
            at = 4;
            for (int i = 0; i < 3; i++) {
                wire_put32(cmds + at, (uint32_t)lens[i]);
                memcpy(cmds + at + 4, set[i], lens[i]);
                at += 4 + lens[i];
            }
            CHECK(cpipe_client_exchange(c, cmds, (int32_t)cmds_len, NULL, 0, out, sizeof out) == CPIPE_OK);
            free(cmds);
        }
        batch_reset(&b);
        batch_add(&b, 3, "GET", "tls:big");
        uint8_t *whole = malloc(big + 64);
        CHECK(whole != NULL);
        if (whole) {
            int32_t rc = cpipe_client_exchange(c, b.cmds, (int32_t)b.len, b.calls, batch_calls_len(&b), whole,
                                               (int32_t)(big + 64));
            batch_reset(&b);
            records w;
            record r;
            records_open(&w, whole, big + 64);
            CHECK(rc == CPIPE_OK && records_next(&w, &r) && r.kind == CPIPE_RECORD_REPLY && r.len == 5 + big &&
                  memcmp(r.payload + 5, value, big) == 0);
            free(whole);
        }
        free(value);
    }

    /* A pipeline of 15,000 small commands (400 KB, 25 records): the
     * records one write makes are gathered, several to a send(); every
     * reply arrives, in order. (The 8 MB SET above fills the socket, so
     * gathered records also wait there for the next turn.) */
    batch_reset(&b);
    {
        const int n = 15000;
        static uint8_t many[1 << 20];
        batch_add(&b, 8, "DEL", "tls:n");
        for (int i = 1; i <= n; i++) batch_add(&b, (uint32_t)(8 + i), "INCR", "tls:n");
        const uint8_t *cmds = b.cmds;
        int32_t cmds_len = (int32_t)b.len, calls_len = batch_calls_len(&b);
        /* An exchange returns the replies that are there; the rest come with the next ones. */
        int seen = -1, in_order = 1; /* the DEL's reply first, then INCR's 1, 2, … */
        for (int turns = 0; in_order && seen < n && turns < 100000; turns++) {
            int32_t rc = cpipe_client_exchange(c, cmds, cmds_len, b.calls, calls_len, many, (int32_t)sizeof many);
            cmds = NULL;
            cmds_len = calls_len = 0;
            in_order = rc == CPIPE_OK;
            records w;
            record r;
            records_open(&w, many, sizeof many);
            while (in_order && records_next(&w, &r)) {
                double v = -1;
                in_order = r.kind == CPIPE_RECORD_REPLY && r.len == 9 && r.payload[0] == ':';
                if (in_order) memcpy(&v, r.payload + 1, 8);
                in_order = in_order && (seen < 0 || v == seen + 1);
                seen++;
            }
        }
        batch_reset(&b);
        in_order = in_order && seen == n;
        CHECK(in_order);
    }

    /* Killed: the next exchange reconnects (offering the kept session) and replays. */
    batch_add(&b, 4, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no");
    uint32_t len = 0;
    (void)exchange_one(c, &len);
    batch_reset(&b);
    batch_add(&b, 5, "PING");
    (void)exchange_one(c, &len); /* fails if it went on the dead connection */
    batch_reset(&b);
    batch_add(&b, 6, "GET", "tls:k");
    CHECK(replies(c, '$', "v"));
    cpipe_client_free(c);

    /* Without verification no roots are needed; an IP address matches the certificate's IP entry. */
    c = tls_client(&s, NULL, NULL, NULL, NULL, 0);
    CHECK(c != NULL && cpipe_client_connect(c, out, sizeof out) == CPIPE_OK);
    batch_add(&b, 7, "PING");
    CHECK(replies(c, '+', "PONG"));
    cpipe_client_free(c);
}

/* A write that fails after some of its records reached the socket: the
 * server dropped the connection, and before that is noticed (a pool submits
 * from the host's thread while its I/O thread has not read the end yet) 900
 * KB of commands are written in one go. Linux takes the first send() and the
 * reset fails a later one, inside one write of the transport. The server may
 * have run the calls in the records that went; those after them are UNSENT
 * (which tells the caller that a retry is safe). */
static void test_write_failure(void) {
    settings s;
    tls_settings(&s, "ca.crt", NULL, NULL, NULL, 1);
    cpipe_settings cs;
    char why[CPIPE_ERRSTR_LEN];
    CHECK(cpipe_settings_read(&cs, s.bytes, s.len, CPIPE_SETTINGS_CONNECTION, why, sizeof why) == 0);
    cpipe_tls_config *cfg = cpipe_tls_config_create(&cs);
    CHECK(cfg != NULL);
    if (cfg == NULL) return;
    cs.tls_config = cfg;
    cpipe_connection conn;
    cpipe_buffer records_out = {0};
    CHECK(cpipe_connection_init(&conn, 0, &cs, NULL, 0) == 0);
    cpipe_connection_dial(&conn, cpipe_now_ms(), &records_out);
    for (int turns = 0; conn.state != CPIPE_CONN_READY && conn.state != CPIPE_CONN_BACKOFF && turns < 1000; turns++) {
        struct pollfd pfd = {.fd = (int)cpipe_connection_fd(&conn), .events = cpipe_connection_events(&conn)};
        if (poll(&pfd, 1, 100) > 0) cpipe_connection_io(&conn, pfd.revents, 8, cpipe_now_ms(), &records_out);
    }
    CHECK(conn.state == CPIPE_CONN_READY);

    /* The server drops it: CLIENT KILL from another client, by the port it sees. */
    struct sockaddr_in local;
    socklen_t local_len = sizeof local;
    CHECK(getsockname((int)cpipe_connection_fd(&conn), (struct sockaddr *)&local, &local_len) == 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)ntohs(local.sin_port));
    settings s2;
    cpipe_client *killer = tls_client(&s2, "ca.crt", NULL, NULL, NULL, 1);
    CHECK(killer != NULL && cpipe_client_connect(killer, out, sizeof out) == CPIPE_OK);
    batch_add(&b, 1, "CLIENT", "KILL", addr);
    CHECK(replies(killer, '+', "OK"));
    cpipe_client_free(killer);
    struct pollfd nap = {.fd = -1};
    (void)poll(&nap, 0, 100); /* the server's end is closed by now */

    const int n = 15000; /* 900 KB */
    for (int i = 0; i < n; i++) batch_add(&b, (uint32_t)(100 + i), "SET", "tls:w", "a value of thirty bytes, 30 B");
    size_t count = 0, resp_size = 0;
    CHECK(cpipe_commands_measure(b.cmds, b.len, &count, &resp_size) == 0 && count == (size_t)n);
    cpipe_buffer_reset(&records_out);
    CHECK(cpipe_connection_submit(&conn, b.cmds, b.len, count, resp_size, b.calls, cpipe_now_ms(), &records_out) ==
          CPIPE_OK);
    batch_reset(&b);
    int may_have_run = 0, unsent = 0, in_order = 1;
    uint32_t next = 100;
    /* The connection's records, as they are before a drain adds the header. */
    int malformed = 0;
    for (size_t pos = records_out.pos; pos < records_out.len;) {
        const uint8_t *p = records_out.data + pos;
        uint32_t len = wire_get32(p + 8);
        malformed |= records_out.len - pos < CPIPE_RECORD_HEAD || len > records_out.len - pos - CPIPE_RECORD_HEAD;
        if (malformed) break;
        pos += CPIPE_RECORD_HEAD + len;
        if (p[0] != CPIPE_RECORD_FAILURE) continue;
        in_order = in_order && wire_get32(p + 4) == next++;
        if (p[1] & CPIPE_RECORD_UNSENT) unsent++;
        else {
            in_order = in_order && unsent == 0; /* the unsent come last */
            may_have_run++;
        }
    }
    CHECK(!malformed && in_order && may_have_run + unsent == n);
    CHECK(may_have_run > 0 && unsent > 0);
    cpipe_buffer_release(&records_out);
    cpipe_connection_free(&conn);
    cpipe_tls_config_free(cfg);
}

static void test_pool(void) {
    settings s;
    tls_settings(&s, "ca.crt", "client.crt", "client.key", "localhost", 1);
    settings_int(&s, CPIPE_SET_SHARED, 2);
    cpipe_pool *p = cpipe_pool_create(s.bytes, (int32_t)s.len);
    CHECK(p != NULL);
    if (p == NULL) return;
    const int calls = 2000;
    int submitted = 0, replied = 0;
    for (int i = 0; i < calls; i++) {
        batch_reset(&b);
        batch_add(&b, (uint32_t)i, "INCR", "tls:pool");
        if (cpipe_pool_submit(p, b.cmds, (int32_t)b.len, b.calls, batch_calls_len(&b), -1) >= 0) submitted++;
    }
    batch_reset(&b);
    CHECK(submitted == calls);
    int fd = cpipe_pool_notify_fd(p, 0);
    static uint8_t drained[1 << 20];
    for (int turns = 0; replied < submitted && turns < 2000; turns++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 10);
        char bytes[64];
        while (recv(fd, bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
        }
        for (;;) {
            CHECK(cpipe_pool_drain(p, drained, sizeof drained) == CPIPE_OK);
            records w;
            record r;
            records_open(&w, drained, sizeof drained);
            while (records_next(&w, &r))
                if (r.kind == CPIPE_RECORD_REPLY && r.payload[0] == ':') replied++;
            if (!(w.flags & CPIPE_FLAG_MORE)) break;
        }
    }
    CHECK(replied == calls);
    cpipe_pool_free(p);
}

int main(void) {
    certs_dir = getenv("CPIPE_TEST_CERTS");
    const char *port = getenv("CPIPE_TEST_TLS_PORT");
    CHECK(certs_dir != NULL && port != NULL); /* `make asan-tls` makes them and starts a server */
    if (certs_dir && port) {
        tls_port = atoi(port);
        test_refusals();
        test_client();
        test_write_failure();
        test_pool();
    }
    CHECK(cpipe_live_allocations() == 0);
    printf("test_tls: %d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
