/* C tests of the bounded reply reader (csrc/reply.c), no server: bytes in,
 * replies or a protocol error with its reason out, memory and time bounded.
 * Built and run under ASan/UBSan by `make asan-reply` (part of `make test`). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "cpipe.h"
#include "heap.h"
#include "reply.h"

/* What one stream of bytes gave. */
typedef struct outcome {
    int32_t rc;           /* 0 (all fed, no reply pending or one half-read), or the failure */
    int replies;          /* whole replies produced */
    uint8_t last[256];    /* the first bytes of the last reply's encoding */
    size_t last_len;      /* its full length */
    int last_is_push;
    size_t fed;           /* bytes handed to the reader before the end or the failure */
    size_t peak_held;     /* most bytes the reader held at once */
    char why[CPIPE_ERRSTR_LEN];
} outcome;

typedef struct stream {
    redisReader *r;
    cpipe_reply_encoder enc;
    outcome out;
} stream;

static void stream_open(stream *s, uint64_t max_reply_bytes) {
    memset(s, 0, sizeof *s);
    s->r = cpipe_reply_reader_create(&s->enc, max_reply_bytes);
    CHECK(s->r != NULL);
}

/* Feeds one read's worth of bytes; returns the status (0 or a failure). */
static int32_t stream_feed(stream *s, const char *bytes, size_t len) {
    size_t off = 0;
    for (;;) {
        size_t used = 0;
        int32_t rc = cpipe_reply_parse(s->r, &s->enc, (const uint8_t *)bytes + off, len - off, &used, s->out.why,
                                       sizeof s->out.why);
        off += used;
        s->out.fed += used;
        if (s->r->len - s->r->pos > s->out.peak_held) s->out.peak_held = s->r->len - s->r->pos;
        if (rc < 0) {
            s->out.rc = rc;
            return rc;
        }
        if (rc == 0) return 0;
        s->out.replies++;
        s->out.last_len = cpipe_buffer_live(&s->enc.encoded);
        memcpy(s->out.last, s->enc.encoded.data, s->out.last_len < sizeof s->out.last ? s->out.last_len : sizeof s->out.last);
        s->out.last_is_push = s->enc.is_push;
        cpipe_buffer_reset(&s->enc.encoded);
    }
}

static void stream_close(stream *s) {
    redisReaderFree(s->r);
    cpipe_buffer_release(&s->enc.encoded);
}

/* The whole of `resp` in reads of `chunk` bytes (0: all at once). */
static outcome run(const char *resp, size_t len, size_t chunk, uint64_t max_reply_bytes) {
    stream s;
    stream_open(&s, max_reply_bytes);
    if (chunk == 0) chunk = len ? len : 1;
    for (size_t i = 0; i < len; i += chunk)
        if (stream_feed(&s, resp + i, len - i < chunk ? len - i : chunk) < 0) break;
    stream_close(&s);
    return s.out;
}

static outcome run_str(const char *resp, uint64_t max_reply_bytes) {
    return run(resp, strlen(resp), 0, max_reply_bytes);
}

static int fails_with(outcome o, const char *needle) {
    if (o.rc == CPIPE_ERR_PROTOCOL && strstr(o.why, needle) != NULL) return 1;
    fprintf(stderr, "  expected a protocol error with \"%s\", got rc %d: %s\n", needle, (int)o.rc, o.why);
    return 0;
}

/* Accepted and encoded alike at every split: whole, byte by byte, 3 bytes at a time. */
static int accepted(const char *resp, int replies) {
    size_t len = strlen(resp);
    outcome whole = run(resp, len, 0, 0);
    int ok = whole.rc == 0 && whole.replies == replies;
    for (size_t chunk = 1; chunk <= 3 && ok; chunk += 2) {
        outcome o = run(resp, len, chunk, 0);
        ok = o.rc == 0 && o.replies == replies && o.last_len == whole.last_len &&
             memcmp(o.last, whole.last, o.last_len < sizeof o.last ? o.last_len : sizeof o.last) == 0;
    }
    if (!ok) fprintf(stderr, "  not accepted alike at every split: %s (rc %d: %s)\n", resp, (int)whole.rc, whole.why);
    return ok;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- what stays accepted -------------------------------------------------- */

static void test_accepted(void) {
    CHECK(accepted("+OK\r\n", 1));
    CHECK(accepted("+OK\r\n-ERR x\r\n:5\r\n$3\r\nabc\r\n", 4));
    CHECK(accepted("*3\r\n$1\r\na\r\n%1\r\n+k\r\n,1.5\r\n~2\r\n#t\r\n_\r\n", 1));
    CHECK(accepted(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", 1));
    CHECK(accepted("=8\r\ntxt:abcd\r\n", 1));
    CHECK(accepted("(12345678901234567890\r\n(-42\r\n(007\r\n", 3));
    CHECK(accepted(",1.5\r\n,-1e10\r\n,+2\r\n,.5\r\n,5.\r\n,1E+3\r\n,inf\r\n,-inf\r\n,nan\r\n,-nan\r\n,INF\r\n", 11));
    CHECK(accepted("*-1\r\n$-1\r\n*0\r\n%0\r\n$0\r\n\r\n", 5));
    /* A push at the root is flagged; a reply after it is not. */
    outcome o = run_str(">1\r\n+p\r\n", 0);
    CHECK(o.rc == 0 && o.replies == 1 && o.last_is_push);
    o = run_str(">1\r\n+p\r\n*1\r\n>0\r\n", 0);
    CHECK(o.rc == 0 && o.replies == 2 && !o.last_is_push);
}

/* ---- flat frames (arrays or pushes of bulk strings), read without the reader ---- */

/* Every reply of `resp` read in reads of `chunk` bytes, each as its encoding and then a push flag, into `all`
 * (reading stops at a failure, whose status is returned). chunk 0: the bare reader with every byte fed at once, the
 * reference. */
static int32_t all_replies(const char *resp, size_t len, size_t chunk, cpipe_buffer *all) {
    stream s;
    stream_open(&s, 0);
    int32_t rc = 0;
    if (chunk == 0) {
        CHECK(redisReaderFeed(s.r, resp, len) == REDIS_OK);
        void *reply = NULL;
        while ((rc = redisReaderGetReply(s.r, &reply) == REDIS_OK ? 0 : CPIPE_ERR_PROTOCOL) == 0 && reply != NULL) {
            uint8_t push = (uint8_t)s.enc.is_push;
            CHECK(cpipe_buffer_append(all, s.enc.encoded.data, cpipe_buffer_live(&s.enc.encoded)) == 0);
            CHECK(cpipe_buffer_append(all, &push, 1) == 0);
            cpipe_buffer_reset(&s.enc.encoded);
        }
    } else {
        for (size_t off = 0; off < len && rc == 0; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk, at = 0;
            for (;;) {
                size_t used = 0;
                rc = cpipe_reply_parse(s.r, &s.enc, (const uint8_t *)resp + off + at, n - at, &used, s.out.why,
                                       sizeof s.out.why);
                at += used;
                if (rc != 1) break;
                uint8_t push = (uint8_t)s.enc.is_push;
                CHECK(cpipe_buffer_append(all, s.enc.encoded.data, cpipe_buffer_live(&s.enc.encoded)) == 0);
                CHECK(cpipe_buffer_append(all, &push, 1) == 0);
                cpipe_buffer_reset(&s.enc.encoded);
            }
        }
    }
    stream_close(&s);
    return rc;
}

/* Pub/Sub messages (RESP2 arrays, RESP3 pushes) among replies the reader reads (an integer, a nil in an array,
 * nested arrays, a map, 17 items, leading zeros refused later): every split gives the reference's replies, byte for
 * byte, push flags included. */
static void test_flat_frames(void) {
    static char resp[8192];
    size_t len = 0;
    const char *parts[] = {
        "*3\r\n$7\r\nmessage\r\n$2\r\np1\r\n$16\r\nmmmmmmmmmmmmmmmm\r\n",
        ">3\r\n$7\r\nmessage\r\n$2\r\np1\r\n$0\r\n\r\n",
        "*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\np1\r\n$5\r\nhello\r\n",
        "*3\r\n$9\r\nsubscribe\r\n$2\r\np1\r\n:1\r\n",
        "*2\r\n$1\r\na\r\n$-1\r\n",
        "*2\r\n*1\r\n$1\r\nx\r\n$1\r\ny\r\n",
        "%1\r\n$1\r\nk\r\n$1\r\nv\r\n",
        ("*17\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
         "$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"), /* one part */
        "*1\r\n$10\r\n0123456789\r\n",
        ":42\r\n",
        ">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$3\r\n\xff\x00\xfe\r\n",
    };
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            size_t n = strlen(parts[i]);
            if (i == sizeof parts / sizeof parts[0] - 1) n = strlen(">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$3\r\n") + 5;
            memcpy(resp + len, parts[i], n);
            len += n;
        }
    cpipe_buffer reference = {0};
    CHECK(all_replies(resp, len, 0, &reference) == 0);
    CHECK(cpipe_buffer_live(&reference) > 0);
    for (size_t chunk = 1; chunk <= 80; chunk++) {
        cpipe_buffer got = {0};
        int32_t rc = all_replies(resp, len, chunk, &got);
        int same = rc == 0 && got.len == reference.len && memcmp(got.data, reference.data, got.len) == 0;
        if (!same) fprintf(stderr, "  reads of %zu bytes: rc %d, %zu bytes of replies, not the reference's %zu\n", chunk,
                           (int)rc, got.len, reference.len);
        CHECK(same);
        cpipe_buffer_release(&got);
    }
    cpipe_buffer whole = {0};
    CHECK(all_replies(resp, len, len, &whole) == 0 && whole.len == reference.len &&
          memcmp(whole.data, reference.data, whole.len) == 0);
    cpipe_buffer_release(&whole);
    cpipe_buffer_release(&reference);

    /* What breaks the protocol or a bound is the reader's to refuse, with its reasons. */
    CHECK(fails_with(run_str("*3\r\n$7\r\nmessage\r\n$2\r\np1\r\n$3\r\nabcd\r\n", 0), "not followed by CRLF"));
    CHECK(fails_with(run_str("*3\r\n$7\r\nmessage\r\n$2\r\np1\r\n$05\r\nabcde\r\n", 0), "protocol error"));
    CHECK(fails_with(run_str("*3\r\n$7\r\nmessage\r\n$2\r\np1\r\n$100\r\n", 50), "larger than maxReplyBytes"));
    CHECK(fails_with(run_str(">2\r\n$40\r\n0123456789012345678901234567890123456789\r\n$40\r\n"
                             "0123456789012345678901234567890123456789\r\n", 40), "larger than maxReplyBytes"));
}

/* ---- bulk strings: refused at the header ------------------------------------ */

/* 1.2 GB announced and sent in 64 KiB reads: the reader gives up on the read
 * that carries the header, holding no more than that read. */
static void test_huge_bulk(void) {
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof chunk);
    const char header[] = "$4611686018427387904\r\n";
    memcpy(chunk, header, sizeof header - 1);
    stream s;
    stream_open(&s, 0);
    size_t sent = 0, total = (size_t)1200 * 1024 * 1024;
    int32_t rc = 0;
    while (sent < total && rc == 0) {
        rc = stream_feed(&s, chunk, sizeof chunk);
        sent += sizeof chunk;
        memset(chunk, 'x', sizeof header - 1);
    }
    CHECK(fails_with(s.out, "a bulk string of 4611686018427387904 bytes, larger than maxReplyBytes (536870912)"));
    CHECK(sent == sizeof chunk);                     /* the first read */
    CHECK(s.out.fed <= CPIPE_REPLY_FEED_SLICE);     /* the first slice of it */
    CHECK(s.out.peak_held <= CPIPE_REPLY_FEED_SLICE);
    stream_close(&s);

    /* The largest value Redis stores (proto-max-bulk-len) still passes the
     * header; one byte more does not. */
    CHECK(run_str("$536870912\r\nabc", 0).rc == 0);
    CHECK(fails_with(run_str("$536870913\r\nabc", 0), "a bulk string of 536870913 bytes"));
    CHECK(fails_with(run_str("=536870913\r\ntxt:", 0), "a bulk string of 536870913 bytes"));
    CHECK(fails_with(run_str("*1\r\n$536870913\r\n", 0), "larger than maxReplyBytes"));
    /* The largest lengths a header can carry: hiredis adds 2 to them in a
     * signed type (UBSan stops here unless it is built with -fwrapv). */
    CHECK(fails_with(run_str("$9223372036854775807\r\n", 0), "a bulk string of 9223372036854775807 bytes"));
    CHECK(fails_with(run_str("=9223372036854775807\r\n", 0), "a bulk string of 9223372036854775807 bytes"));
    CHECK(fails_with(run_str(">2\r\n$9223372036854775806\r\n", 0), "larger than maxReplyBytes"));

    /* A small bound, exactly: 1000 bytes pass, 1001 do not, in any split. */
    static char value[1100 + 32];
    for (int extra = 0; extra <= 1; extra++) {
        int n = sprintf(value, "$%d\r\n", 1000 + extra);
        memset(value + n, 'v', (size_t)(1000 + extra));
        memcpy(value + n + 1000 + extra, "\r\n", 2);
        size_t len = (size_t)n + 1000 + (size_t)extra + 2;
        for (size_t chunk = 0; chunk <= 7; chunk += 7) {
            outcome o = run(value, len, chunk, 1000);
            if (extra) CHECK(fails_with(o, "a bulk string of 1001 bytes"));
            else CHECK(o.rc == 0 && o.replies == 1 && o.last_len == 1005);
        }
    }

    /* A value that would take the reply past the bound is refused at its
     * header, before its payload: with a bound of 40,000 bytes a reply may
     * take 80,000 (a bound below the 64 KiB slack doubles), so two values of
     * 30,000 fit, not a third. */
    size_t cap = 3 * 30020 + 16;
    char *three = malloc(cap);
    size_t len = (size_t)sprintf(three, "*3\r\n");
    for (int i = 0; i < 3; i++) {
        len += (size_t)sprintf(three + len, "$30000\r\n");
        memset(three + len, 'v', 30000);
        len += 30000;
        memcpy(three + len, "\r\n", 2);
        len += 2;
    }
    outcome o = run(three, len, 4096, 40000);
    CHECK(fails_with(o, "a reply larger than maxReplyBytes (40000)"));
    CHECK(o.fed < 2 * 30010 + 8 + 2 * 4096); /* not the third payload */
    o = run(three, len, 0, 40000);           /* all in one read: the encoder refuses */
    CHECK(fails_with(o, "a reply larger than maxReplyBytes (40000)"));
    o = run(three, len, 0, 50000);
    CHECK(o.rc == 0 && o.replies == 1 && o.last_len == 5 + 3 * 30005);
    free(three);
}

/* ---- long lines: linear time --------------------------------------------------- */

static void test_long_lines(void) {
    /* 64 MB of a status line without CRLF, in 64 KiB reads: refused after
     * about 64 KiB. Before these bounds: 23 s of CPU, quadratic. */
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof chunk);
    chunk[0] = '+';
    stream s;
    stream_open(&s, 0);
    double t0 = now();
    size_t sent = 0;
    while (sent < (size_t)64 * 1024 * 1024 && s.out.rc == 0) {
        stream_feed(&s, chunk, sizeof chunk);
        sent += sizeof chunk;
        chunk[0] = 'x';
    }
    double took = now() - t0;
    CHECK(fails_with(s.out, "a status line longer than 65536 bytes"));
    CHECK(s.out.fed <= 2 * CPIPE_REPLY_MAX_LINE + 2 * CPIPE_REPLY_FEED_SLICE);
    CHECK(took < 2.0); /* milliseconds in practice, even under ASan */
    printf("64 MB status without CRLF: refused after %zu bytes in %.2f ms\n", s.out.fed, took * 1e3);
    stream_close(&s);

    /* A long line that does end is read in linear time: 60 KiB fed 1 KiB
     * at a time makes the reader rescan at most twice what it holds. */
    static char line[60 * 1024 + 3];
    memset(line, 'y', sizeof line);
    line[0] = '+';
    memcpy(line + sizeof line - 2, "\r\n", 2);
    outcome o = run(line, sizeof line, 1024, 0);
    CHECK(o.rc == 0 && o.replies == 1 && o.last_len == 5 + 60 * 1024);

    /* Exactly at the bound and one past it, whole and in pieces. */
    static char edge[CPIPE_REPLY_MAX_LINE + 4];
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = CPIPE_REPLY_MAX_LINE + (size_t)extra;
        edge[0] = '-';
        memset(edge + 1, 'e', n);
        memcpy(edge + 1 + n, "\r\n", 2);
        for (size_t chunk = 0; chunk <= 5000; chunk += 5000) {
            o = run(edge, n + 3, chunk, 0);
            if (extra) CHECK(fails_with(o, "an error line"));
            else CHECK(o.rc == 0 && o.replies == 1);
        }
    }

    /* Every kind of line, unfinished past the bound, is refused by name. */
    const char *kinds[][2] = {
        {":", "integer"},   {",", "double"},     {"_", "nil"},        {"#", "boolean"},
        {"(", "big number"}, {"$", "bulk string header"}, {"=", "verbatim string header"},
        {"*", "array header"}, {"%", "map header"}, {"~", "set header"}, {">", "push header"},
        {"*1\r\n+", "status"}, {"%1\r\n+k\r\n-", "error"},
    };
    static char junk[CPIPE_REPLY_MAX_LINE + 64];
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t p = strlen(kinds[k][0]);
        memcpy(junk, kinds[k][0], p);
        memset(junk + p, '7', sizeof junk - p);
        o = run(junk, sizeof junk, 4096, 0);
        CHECK(fails_with(o, kinds[k][1]));
        CHECK(fails_with(o, "line longer than 65536 bytes"));
    }
}

/* ---- aggregate counts, depth ---------------------------------------------------- */

static void test_aggregates(void) {
    const char *huge[] = {"%4294967295\r\n", "*4294967295\r\n", "~4294967295\r\n", ">4294967295\r\n",
                          "*9223372036854775807\r\n", "*536936444\r\n"};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        outcome o = run_str(huge[i], 0);
        CHECK(fails_with(o, "aggregate length out of range"));
        CHECK(strstr(o.why, "out of memory") == NULL);
    }
    /* The largest count that could fit passes the header. */
    CHECK(run_str("*536936443\r\n", 0).rc == 0);
    /* A map's count is doubled after hiredis' check: the encoder cuts it. */
    CHECK(fails_with(run_str("%300000000\r\n", 0), "an aggregate of 600000000 elements"));
    CHECK(run_str("%268468221\r\n", 0).rc == 0);
    CHECK(fails_with(run_str("%268468222\r\n", 0), "an aggregate of 536936444 elements"));
    /* Nested: what the outer levels took counts (20 bytes here). */
    CHECK(run_str("*2\r\n$10\r\n0123456789\r\n*536936423\r\n", 0).rc == 0);
    CHECK(fails_with(run_str("*2\r\n$10\r\n0123456789\r\n*536936424\r\n", 0), "an aggregate of 536936424"));
    CHECK(fails_with(run_str("*-2\r\n", 0), "aggregate length out of range (below -1"));
    CHECK(fails_with(run_str("*x\r\n", 0), "Bad multi-bulk length"));

    /* Depth: 10,000 levels pass, 10,001 do not; refused as it comes, not
     * after buffering a million levels. */
    enum { LEVELS = 10001 };
    static char deep[LEVELS * 4 + 8];
    for (int levels = LEVELS - 1; levels <= LEVELS; levels++) {
        size_t n = 0;
        for (int i = 0; i < levels; i++) n += (size_t)sprintf(deep + n, "*1\r\n");
        n += (size_t)sprintf(deep + n, ":7\r\n");
        for (size_t chunk = 0; chunk <= 4096; chunk += 4096) {
            outcome o = run(deep, n, chunk, 0);
            if (levels == LEVELS) CHECK(fails_with(o, "aggregates nested deeper than 10000 levels"));
            else CHECK(o.rc == 0 && o.replies == 1 && o.last_len == (size_t)levels * 5 + 9);
        }
    }
    stream s;
    stream_open(&s, 0);
    static char ones[64 * 1024];
    for (size_t i = 0; i < sizeof ones; i += 4) memcpy(ones + i, "*1\r\n", 4);
    for (int i = 0; i < 64 && s.out.rc == 0; i++) stream_feed(&s, ones, sizeof ones); /* 4 MB of levels */
    CHECK(fails_with(s.out, "nested deeper"));
    CHECK(s.out.fed <= 10001 * 4 + CPIPE_REPLY_FEED_SLICE);
    CHECK(s.r->tasks <= 10001 + 9 + 1024 + 9); /* hiredis' task stack stayed bounded */
    stream_close(&s);
}

/* ---- values hiredis lets through -------------------------------------------------- */

static void test_values(void) {
    CHECK(fails_with(run_str("$3\r\nabcXY", 0), "a bulk string of 3 bytes not followed by CRLF"));
    CHECK(fails_with(run_str("*2\r\n$1\r\na\r\n=5\r\ntxt:b\n\r", 0), "a bulk string of 5 bytes not followed by CRLF"));
    CHECK(fails_with(run_str("(\r\n", 0), "a big number that is not an optional '-' and digits: \"\""));
    CHECK(fails_with(run_str("(-\r\n", 0), "a big number that is not an optional '-' and digits: \"-\""));
    CHECK(fails_with(run_str("*2\r\n:1\r\n(-\r\n", 0), "big number"));
    CHECK(fails_with(run_str("(+1\r\n", 0), "Bad bignum value"));
    CHECK(fails_with(run_str(", 1.5\r\n", 0), "a double that is not a decimal number: \" 1.5\""));
    CHECK(fails_with(run_str(",0x10\r\n", 0), "a double that is not a decimal number: \"0x10\""));
    CHECK(fails_with(run_str(",1e5 \r\n", 0), "Bad double value"));
    CHECK(fails_with(run_str(",.\r\n", 0), "Bad double value"));
    CHECK(fails_with(run_str(",infinity\r\n", 0), "Bad double value"));
    CHECK(fails_with(run_str(",+inf\r\n", 0), "Bad double value"));
    CHECK(fails_with(run_str(",-.e1\r\n", 0), "double"));
    /* A reason quotes at most 24 bytes of what came, escaped. */
    CHECK(fails_with(run_str(",\t0x1111111111111111111111111111\r\n", 0), "\"\\x090x111111111111111111111...\""));
    /* No null map, set or push in RESP3: a null push would answer no command. */
    CHECK(fails_with(run_str(">-1\r\n", 0), "a null push (length -1)"));
    CHECK(fails_with(run_str("%-1\r\n", 0), "a null map"));
    CHECK(fails_with(run_str("*1\r\n~-1\r\n", 0), "a null set"));
    CHECK(fails_with(run_str("!21\r\nSYNTAX invalid syntax\r\n", 0), "Protocol error, got \"!\" as reply type byte"));
}

/* ---- memory running out is still "out of memory" ----------------------------------- */

static void test_out_of_memory(void) {
#ifdef CPIPE_FAULT_INJECTION
    stream s;
    stream_open(&s, 0);
    cpipe_heap_fail_in(1); /* the encoder's first reserve */
    stream_feed(&s, "+OK\r\n", 5);
    cpipe_heap_fail_in(0);
    CHECK(s.out.rc == CPIPE_ERR_NOMEM && strcmp(s.out.why, "out of memory reading a reply") == 0);
    stream_close(&s);
#endif
}

int main(void) {
    cpipe_alloc_install(); /* hiredis too allocates through the counted (and failable) functions */
    test_accepted();
    test_flat_frames();
    test_huge_bulk();
    test_long_lines();
    test_aggregates();
    test_values();
    test_out_of_memory();
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
