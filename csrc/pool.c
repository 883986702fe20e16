/* A pool of connections to one Redis server, driven by one I/O thread.
 *
 * The host thread (JavaScript's) submits batches of packed commands: each
 * batch goes to one connection, its RESP is appended to that connection's
 * send buffer and written right away when the socket takes it (no thread
 * hop on the way out). The I/O thread polls every socket of the pool: it
 * connects and reconnects (with capped exponential backoff), runs the
 * handshake, writes what the host could not, and reads and parses replies.
 * Each reply becomes a completion record { id, encoded reply } in the
 * pool's completion queue; when the queue goes from empty to non-empty the
 * I/O thread writes one byte to the host's end of a socket pair, which the
 * host runtime watches in its own event loop. The host then drains the
 * queue with one call. No JavaScript ever runs on the I/O thread. While
 * replies are owed, the I/O thread asks its sockets again for SPIN_US
 * (yielding the CPU in between) before it sleeps: a reply on a fast network
 * comes sooner than a sleeping thread is woken, and a CPU that never idles
 * is not woken at all.
 *
 * Locks: each slot's lock guards that slot; `qlock` guards the completion
 * queue and the counters beside it. A thread holding a slot's lock may take
 * `qlock`, never the other way round. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/sockcompat.h>

#include "buffer.h"
#include "command.h"
#include "cpipe.h"
#include "heap.h"
#include "link.h"
#include "sys.h"

#define MAX_HOST_LEN 1024
#define MAX_SLOTS 1024
#define BACKOFF_FIRST_MS 10
#define RECORD_HEADER 8 /* u32 id, u32 len */
/* Reads per readable socket per loop turn: bounds one connection's share. */
#define READS_PER_TURN 8
/* While replies are owed, how long the I/O thread keeps asking for them
 * (yielding the CPU in between) before it sleeps in poll(): a reply on a
 * fast network comes within microseconds, sooner than a sleeping thread is
 * woken up. */
#define SPIN_US 200

enum slot_state {
    SLOT_UNUSED,     /* an exclusive slot that is not leased and not connected */
    SLOT_DOWN,       /* disconnected; connects again at retry_at */
    SLOT_CONNECTING, /* TCP connect in progress */
    SLOT_HANDSHAKE,  /* handshake commands sent, their replies awaited */
    SLOT_READY,
};

/* The ids of the commands a connection owes replies to, oldest first. */
typedef struct id_ring {
    uint32_t *ids;
    size_t head;  /* index of the oldest */
    size_t count;
    size_t cap;   /* a power of two, or 0 */
} id_ring;

/* One connection of the pool. Slots [0, size) are shared by every caller;
 * the others are exclusive: leased to one caller at a time, for blocking
 * commands and for state that must not leak to other callers. */
typedef struct pool_slot {
    cpipe_mutex lock; /* guards every field below but the fixed ones */
    int index;        /* fixed */
    int exclusive;    /* fixed */
    int leased;       /* an exclusive slot now leased */
    int state;        /* enum slot_state */
    cpipe_link link;
    id_ring ids;          /* commands sent or staged, awaiting replies */
    cpipe_buffer staged;  /* RESP of commands accepted before the connection was ready */
    size_t handshake_left; /* handshake replies still to come */
    int64_t deadline;     /* CONNECTING / HANDSHAKE: give up at this time (0: never) */
    int64_t progress_at;  /* READY: when bytes last came, or the first command was sent */
    int64_t retry_at;     /* DOWN: when to connect again */
    int32_t backoff_ms;   /* the wait after the next failure */
    char errstr[CPIPE_ERRSTR_LEN]; /* why it last failed */
} pool_slot;

struct cpipe_pool {
    /* Fixed at creation. */
    char *host;
    int port;
    int connect_timeout_ms;
    int command_timeout_ms;
    int reconnect_max_ms;
    uint8_t *handshake;   /* RESP of the handshake commands */
    size_t handshake_len;
    size_t handshake_count;
    int size;             /* shared slots */
    int nslots;           /* shared and exclusive slots */
    pool_slot *slots;
    size_t max_in_flight;
    struct pollfd *pfds;  /* the I/O thread's poll set: wake socket, then sockets */
    int *pfd_slot;        /* the slot of each entry of pfds */

    /* The I/O thread; the host wakes it through wake[1]. */
    cpipe_thread thread;
    int thread_started;
    redisFD wake[2];
    atomic_int wake_pending;
    atomic_int asleep;    /* the I/O thread sleeps in poll() (it does not spin) */
    atomic_int stop;

    /* The completion queue, guarded by qlock. */
    cpipe_mutex qlock;
    cpipe_buffer done;    /* records not yet drained */
    size_t in_flight;     /* commands submitted whose records were not drained */
    int notified;         /* a byte went to the host since the queue was last emptied */
    char last_error[CPIPE_ERRSTR_LEN]; /* the last connection failure */

    /* notify[0] is the host's end, notify[1] the I/O thread's. */
    redisFD notify[2];
    int notify_taken;     /* the host owns notify[0] */

    /* Host thread only. */
    size_t cursor;        /* where the search for a connection starts */
    int closed;
    char errstr[CPIPE_ERRSTR_LEN];
    size_t errlen;
};

/* ---- small helpers --------------------------------------------------------- */

static int32_t set_error(cpipe_pool *p, int32_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->errstr, sizeof p->errstr, fmt, ap);
    va_end(ap);
    p->errlen = n < 0 ? 0 : (size_t)n >= sizeof p->errstr ? sizeof p->errstr - 1 : (size_t)n;
    return code;
}

static void put_u32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4); /* every supported target is little-endian */
}

static uint32_t get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int ring_push(id_ring *r, uint32_t id) {
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        uint32_t *ids = cpipe_malloc(cap * sizeof *ids);
        if (ids == NULL) return -1;
        for (size_t i = 0; i < r->count; i++) ids[i] = r->ids[(r->head + i) & (r->cap - 1)];
        cpipe_free(r->ids);
        r->ids = ids;
        r->head = 0;
        r->cap = cap;
    }
    r->ids[(r->head + r->count) & (r->cap - 1)] = id;
    r->count++;
    return 0;
}

static uint32_t ring_pop(id_ring *r) {
    uint32_t id = r->ids[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->count--;
    return id;
}

static void ring_release(id_ring *r) {
    cpipe_free(r->ids);
    memset(r, 0, sizeof *r);
}

/* Appends { id, len, bytes }; 0 or -1 (no memory). */
static int put_record(cpipe_buffer *out, uint32_t id, const uint8_t *bytes, size_t len) {
    if (len > UINT32_MAX - RECORD_HEADER || cpipe_buffer_reserve(out, RECORD_HEADER + len) != 0) return -1;
    uint8_t *p = out->data + out->len;
    put_u32(p, id);
    put_u32(p + 4, (uint32_t)len);
    if (len) memcpy(p + RECORD_HEADER, bytes, len);
    out->len += RECORD_HEADER + len;
    return 0;
}

/* A failure record: '!' i32 code, u32 len, message. */
static int put_failure(cpipe_buffer *out, uint32_t id, int32_t code, const char *msg) {
    size_t len = strlen(msg);
    uint8_t rec[9 + CPIPE_ERRSTR_LEN];
    if (len > CPIPE_ERRSTR_LEN) len = CPIPE_ERRSTR_LEN;
    rec[0] = '!';
    put_u32(rec + 1, (uint32_t)code);
    put_u32(rec + 5, (uint32_t)len);
    memcpy(rec + 9, msg, len);
    return put_record(out, id, rec, 9 + len);
}

static void wake_io(cpipe_pool *p) {
    if (atomic_exchange(&p->wake_pending, 1) == 0) cpipe_socket_poke(p->wake[1]);
}

/* Moves records made by the I/O thread (or a failing submit) to the queue,
 * and tells the host when the queue was empty. */
static void publish(cpipe_pool *p, cpipe_buffer *out) {
    if (cpipe_buffer_live(out) == 0) return;
    cpipe_mutex_lock(&p->qlock);
    int ok = cpipe_buffer_append(&p->done, out->data + out->pos, cpipe_buffer_live(out)) == 0;
    int tell = ok && !p->notified;
    if (tell) p->notified = 1;
    cpipe_mutex_unlock(&p->qlock);
    if (ok) cpipe_buffer_reset(out);
    /* When out of memory the records stay in `out` for the next attempt. */
    if (tell) cpipe_socket_poke(p->notify[1]);
}

/* ---- slot state changes (slot lock held) ----------------------------------- */

/* Closes the connection and fails every command it owes a reply to. */
static void slot_fail(cpipe_pool *p, pool_slot *s, int32_t code, const char *why, cpipe_buffer *out) {
    snprintf(s->errstr, sizeof s->errstr, "%s:%d: %s", p->host, p->port, why);
    cpipe_link_close(&s->link);
    while (s->ids.count > 0) {
        uint32_t id = ring_pop(&s->ids);
        if (put_failure(out, id, code, s->errstr) != 0) {
            /* Out of memory: try the shortest record. Should that fail too,
             * the command stays unanswered until the pool is closed, when the
             * host fails whatever it still awaits. */
            put_failure(out, id, code, "");
        }
    }
    cpipe_buffer_release(&s->staged);
    s->handshake_left = 0;
    if (s->exclusive && !s->leased) {
        s->state = SLOT_UNUSED;
    } else {
        s->state = SLOT_DOWN;
        s->retry_at = cpipe_now_ms() + s->backoff_ms;
        s->backoff_ms = s->backoff_ms >= p->reconnect_max_ms / 2 ? p->reconnect_max_ms : s->backoff_ms * 2;
    }
    if (code != CPIPE_ERR_CLOSED) {
        cpipe_mutex_lock(&p->qlock);
        memcpy(p->last_error, s->errstr, sizeof p->last_error);
        cpipe_mutex_unlock(&p->qlock);
    }
}

static void slot_connect(cpipe_pool *p, pool_slot *s, cpipe_buffer *out) {
    int32_t rc = cpipe_link_open(&s->link, p->host, p->port, 0, 0);
    if (rc != CPIPE_OK) {
        slot_fail(p, s, rc, s->link.errstr, out);
        return;
    }
    s->state = SLOT_CONNECTING;
    s->deadline = p->connect_timeout_ms > 0 ? cpipe_now_ms() + p->connect_timeout_ms : 0;
}

static void slot_ready(cpipe_pool *p, pool_slot *s, cpipe_buffer *out) {
    s->state = SLOT_READY;
    s->backoff_ms = BACKOFF_FIRST_MS;
    s->progress_at = cpipe_now_ms();
    if (cpipe_buffer_live(&s->staged) > 0) {
        if (cpipe_buffer_append(&s->link.unsent, s->staged.data + s->staged.pos, cpipe_buffer_live(&s->staged)) != 0) {
            slot_fail(p, s, CPIPE_ERR_NOMEM, "out of memory", out);
            return;
        }
    }
    cpipe_buffer_release(&s->staged);
}

/* The TCP connect finished: send the handshake, or become ready. */
static void slot_connected(cpipe_pool *p, pool_slot *s, cpipe_buffer *out) {
    if (p->handshake_count == 0) {
        slot_ready(p, s, out);
        return;
    }
    if (cpipe_buffer_append(&s->link.unsent, p->handshake, p->handshake_len) != 0) {
        slot_fail(p, s, CPIPE_ERR_NOMEM, "out of memory", out);
        return;
    }
    s->handshake_left = p->handshake_count;
    s->state = SLOT_HANDSHAKE;
}

/* Hands the reply in the link's encoder to its command. 0, or -1 when the
 * slot failed. */
static int take_reply(cpipe_pool *p, pool_slot *s, cpipe_buffer *out) {
    cpipe_link *l = &s->link;
    const uint8_t *bytes = l->enc.encoded.data + l->enc.encoded.pos;
    size_t len = cpipe_buffer_live(&l->enc.encoded);
    if (s->handshake_left > 0) {
        if (bytes[0] == '-') {
            char why[CPIPE_ERRSTR_LEN];
            uint32_t n = get_u32(bytes + 1);
            snprintf(why, sizeof why, "handshake failed: %.*s", (int)(n > 200 ? 200 : n), (const char *)bytes + 5);
            slot_fail(p, s, CPIPE_ERR_HANDSHAKE, why, out);
            return -1;
        }
        cpipe_link_next_reply(l);
        if (--s->handshake_left == 0) slot_ready(p, s, out);
        return s->state == SLOT_READY || s->state == SLOT_HANDSHAKE ? 0 : -1;
    }
    if (l->enc.is_push) { /* out-of-band: answers no command */
        cpipe_link_next_reply(l);
        return 0;
    }
    if (s->ids.count == 0) {
        slot_fail(p, s, CPIPE_ERR_PROTOCOL, "protocol error: a reply to no command", out);
        return -1;
    }
    if (put_record(out, s->ids.ids[s->ids.head], bytes, len) != 0) {
        slot_fail(p, s, CPIPE_ERR_NOMEM, "out of memory", out);
        return -1;
    }
    ring_pop(&s->ids);
    cpipe_link_next_reply(l);
    return 0;
}

/* Reads what the socket has, hands out every whole reply, writes what waits. */
static void slot_io(cpipe_pool *p, pool_slot *s, short revents, cpipe_buffer *out) {
    cpipe_link *l = &s->link;
    int32_t rc;
    if (s->state == SLOT_CONNECTING) {
        int done = 0;
        if ((rc = cpipe_link_connect_done(l, &done)) != CPIPE_OK) {
            slot_fail(p, s, rc, l->errstr, out);
            return;
        }
        if (!done) return;
        slot_connected(p, s, out);
        if (s->state == SLOT_UNUSED || s->state == SLOT_DOWN) return;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        for (int i = 0; i < READS_PER_TURN; i++) {
            size_t got = 0;
            if ((rc = cpipe_link_read(l, &got)) != CPIPE_OK) {
                /* Replies that arrived before the failure still count. */
                while (cpipe_link_parse(l) == 1)
                    if (take_reply(p, s, out) != 0) return;
                slot_fail(p, s, rc, l->errstr, out);
                return;
            }
            if (got == 0) break;
            s->progress_at = cpipe_now_ms();
            while ((rc = cpipe_link_parse(l)) == 1)
                if (take_reply(p, s, out) != 0) return;
            if (rc < 0) {
                slot_fail(p, s, rc, l->errstr, out);
                return;
            }
            if (got < CPIPE_LINK_READ) break; /* the socket is empty: no need to ask again */
        }
    }
    if (cpipe_buffer_live(&l->unsent) > 0) {
        int progress = 0;
        if ((rc = cpipe_link_write(l, &progress)) != CPIPE_OK) slot_fail(p, s, rc, l->errstr, out);
    }
}

/* Starts connections that are due and gives up on those that took too long.
 * Returns the time of the slot's next deadline, or 0 for none. */
static int64_t slot_timers(cpipe_pool *p, pool_slot *s, int64_t now, cpipe_buffer *out) {
    char why[96];
    switch (s->state) {
    case SLOT_DOWN:
        if (now < s->retry_at) return s->retry_at;
        slot_connect(p, s, out);
        return s->state == SLOT_CONNECTING ? s->deadline : s->state == SLOT_DOWN ? s->retry_at : 0;
    case SLOT_CONNECTING:
    case SLOT_HANDSHAKE:
        if (s->deadline == 0 || now < s->deadline) return s->deadline;
        snprintf(why, sizeof why, "cannot connect: no answer within %d ms", p->connect_timeout_ms);
        slot_fail(p, s, CPIPE_ERR_CONN, why, out);
        return s->state == SLOT_DOWN ? s->retry_at : 0;
    case SLOT_READY:
        /* Exclusive slots run blocking commands: only the server's own
         * timeout applies to them. */
        if (p->command_timeout_ms == 0 || s->exclusive || s->ids.count == 0) return 0;
        if (now - s->progress_at < p->command_timeout_ms) return s->progress_at + p->command_timeout_ms;
        snprintf(why, sizeof why, "no reply within %d ms", p->command_timeout_ms);
        slot_fail(p, s, CPIPE_ERR_TIMEOUT, why, out);
        return s->retry_at;
    default:
        return 0;
    }
}

/* ---- the I/O thread -------------------------------------------------------- */

static void io_main(void *arg) {
    cpipe_pool *p = arg;
    cpipe_buffer out = {0};
    int64_t spin_until = 0;
    while (!atomic_load(&p->stop)) {
        int64_t now = cpipe_now_ms(), next = 0;
        size_t owed = 0;
        nfds_t n = 0;
        p->pfds[n].fd = p->wake[0];
        p->pfds[n].events = POLLIN;
        p->pfds[n].revents = 0;
        p->pfd_slot[n++] = -1;
        for (int i = 0; i < p->nslots; i++) {
            pool_slot *s = &p->slots[i];
            cpipe_mutex_lock(&s->lock);
            int64_t due = slot_timers(p, s, now, &out);
            if (due > 0 && (next == 0 || due < next)) next = due;
            if (s->state == SLOT_READY && !s->exclusive) owed += s->ids.count;
            short events = 0;
            if (s->state == SLOT_CONNECTING) events = POLLOUT;
            else if (s->state == SLOT_HANDSHAKE || s->state == SLOT_READY)
                events = POLLIN | (cpipe_buffer_live(&s->link.unsent) > 0 ? POLLOUT : 0);
            if (events) {
                p->pfds[n].fd = (redisFD)cpipe_link_fd(&s->link);
                p->pfds[n].events = events;
                p->pfds[n].revents = 0;
                p->pfd_slot[n++] = i;
            }
            cpipe_mutex_unlock(&s->lock);
        }
        publish(p, &out);
        int timeout = -1;
        if (cpipe_buffer_live(&out) > 0) {
            timeout = 10; /* records wait for memory: try again soon */
        } else if (next > 0) {
            int64_t left = next - cpipe_now_ms();
            timeout = left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
        }
        /* Replies owed on shared connections (blocking commands run on
         * exclusive ones): ask again for a while before sleeping. */
        if (owed > 0 && timeout != 0) {
            int64_t us = cpipe_now_us();
            if (spin_until == 0) spin_until = us + SPIN_US;
            if (us < spin_until) {
                timeout = 0;
                cpipe_thread_yield();
            }
        }
        if (timeout != 0) atomic_store(&p->asleep, 1);
        int ready = poll(p->pfds, n, timeout);
        atomic_store(&p->asleep, 0);
        if (ready <= 0) continue; /* a timer is due, or EINTR, or spinning */
        spin_until = 0;
        if (p->pfds[0].revents) {
            cpipe_socket_drain(p->wake[0]);
            atomic_store(&p->wake_pending, 0);
        }
        for (nfds_t k = 1; k < n; k++) {
            if (p->pfds[k].revents == 0) continue;
            pool_slot *s = &p->slots[p->pfd_slot[k]];
            cpipe_mutex_lock(&s->lock);
            /* The host may have closed the connection since the poll set
             * was made; a socket opened since then gets its turn next time. */
            if ((redisFD)cpipe_link_fd(&s->link) == p->pfds[k].fd &&
                (s->state == SLOT_CONNECTING || s->state == SLOT_HANDSHAKE || s->state == SLOT_READY))
                slot_io(p, s, p->pfds[k].revents, &out);
            cpipe_mutex_unlock(&s->lock);
        }
        publish(p, &out);
    }
    /* Records still held for want of memory are dropped: close() answers
     * every command that is left. */
    cpipe_buffer_release(&out);
}

/* Frees a pool whose thread is not running, of whose locks the first
 * `mutexes` were made (qlock, then the slots' in order): the end of
 * cpipe_pool_free, and of a cpipe_pool_create that failed half-way. */
static void pool_destroy(cpipe_pool *p, int mutexes) {
    for (int i = 0; p->slots != NULL && i < p->nslots; i++) {
        pool_slot *s = &p->slots[i];
        cpipe_link_close(&s->link);
        ring_release(&s->ids);
        cpipe_buffer_release(&s->staged);
        if (i + 1 < mutexes) cpipe_mutex_destroy(&s->lock);
    }
    if (mutexes > 0) cpipe_mutex_destroy(&p->qlock);
    for (int i = 0; i < 2; i++) {
        if (p->wake[i] != REDIS_INVALID_FD) cpipe_socket_close(p->wake[i]);
        if (p->notify[i] != REDIS_INVALID_FD && !(i == 0 && p->notify_taken)) cpipe_socket_close(p->notify[i]);
    }
    cpipe_buffer_release(&p->done);
    cpipe_free(p->handshake);
    cpipe_free(p->pfd_slot);
    cpipe_free(p->pfds);
    cpipe_free(p->slots);
    cpipe_free(p->host);
    cpipe_free(p);
}

/* ---- the API ---------------------------------------------------------------- */

CPIPE_API cpipe_pool *cpipe_pool_create(const uint8_t *host, int32_t host_len, int32_t port, int32_t size,
                                        int32_t exclusive, int32_t connect_timeout_ms, int32_t command_timeout_ms,
                                        int32_t reconnect_max_ms, int32_t max_in_flight,
                                        const uint8_t *handshake, int32_t handshake_len) {
    size_t count = 0, resp_size = 0;
    if (host == NULL || host_len <= 0 || host_len > MAX_HOST_LEN || memchr(host, 0, (size_t)host_len)) return NULL;
    if (port < 0 || port > 65535 || size < 1 || exclusive < 0 || size > MAX_SLOTS || exclusive > MAX_SLOTS) return NULL;
    if (connect_timeout_ms < 0 || command_timeout_ms < 0 || reconnect_max_ms < 1 || max_in_flight < 1) return NULL;
    if (handshake_len < 0 || cpipe_commands_measure(handshake, (size_t)handshake_len, &count, &resp_size) != 0)
        return NULL;

    /* The pool's thread must outlive any unloading of the library (see
     * sys.h). Pinning fails only where nothing can unload the code: when it
     * is linked into the program itself, as in the C tests. */
    static atomic_int pinned;
    if (!atomic_exchange(&pinned, 1)) (void)cpipe_pin_library();
    cpipe_alloc_install();
    cpipe_pool *p = cpipe_calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->wake[0] = p->wake[1] = p->notify[0] = p->notify[1] = REDIS_INVALID_FD;
    p->port = port;
    p->size = size;
    p->nslots = size + exclusive;
    p->connect_timeout_ms = connect_timeout_ms;
    p->command_timeout_ms = command_timeout_ms;
    p->reconnect_max_ms = reconnect_max_ms;
    p->max_in_flight = (size_t)max_in_flight;
    p->host = cpipe_malloc((size_t)host_len + 1);
    p->slots = cpipe_calloc((size_t)p->nslots, sizeof *p->slots);
    p->pfds = cpipe_calloc((size_t)p->nslots + 1, sizeof *p->pfds);
    p->pfd_slot = cpipe_calloc((size_t)p->nslots + 1, sizeof *p->pfd_slot);
    int mutexes = 0;
    if (p->host == NULL || p->slots == NULL || p->pfds == NULL || p->pfd_slot == NULL) goto fail;
    memcpy(p->host, host, (size_t)host_len);
    p->host[host_len] = '\0';
    if (count > 0) {
        cpipe_buffer resp = {0};
        if (cpipe_commands_write_resp(handshake, (size_t)handshake_len, resp_size, &resp) != 0) goto fail;
        p->handshake = resp.data; /* pos is 0, len is resp_size */
        p->handshake_len = resp.len;
        p->handshake_count = count;
    }
    if (cpipe_mutex_init(&p->qlock) != 0) goto fail;
    mutexes = 1;
    for (int i = 0; i < p->nslots; i++) {
        pool_slot *s = &p->slots[i];
        if (cpipe_mutex_init(&s->lock) != 0) goto fail;
        mutexes++;
        s->index = i;
        s->exclusive = i >= size;
        s->backoff_ms = BACKOFF_FIRST_MS;
        /* Shared slots connect at once; until then commands are staged. */
        s->state = s->exclusive ? SLOT_UNUSED : SLOT_DOWN;
    }
    if (cpipe_socket_pair(p->wake) != 0 || cpipe_socket_pair(p->notify) != 0) goto fail;
    if (cpipe_thread_start(&p->thread, io_main, p) != 0) goto fail;
    p->thread_started = 1;
    return p;

fail:
    pool_destroy(p, mutexes);
    return NULL;
}

CPIPE_API int32_t cpipe_pool_notify_fd(cpipe_pool *p, int32_t take) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return set_error(p, CPIPE_ERR_CLOSED, "pool is closed");
    if (p->notify_taken) return set_error(p, CPIPE_ERR_ARG, "the notification socket was already taken");
    if (take) p->notify_taken = 1;
    return (int32_t)p->notify[0];
}

/* Whether a slot takes commands now: sent at once when it is up, staged
 * while it connects or is about to. An exclusive slot stages them also
 * while it waits to reconnect: its caller has no other connection. */
static int slot_accepts(const pool_slot *s, int64_t now) {
    switch (s->state) {
    case SLOT_READY:
    case SLOT_CONNECTING:
    case SLOT_HANDSHAKE: return 1;
    case SLOT_DOWN: return s->exclusive || s->retry_at <= now;
    default: return 0;
    }
}

/* Which shared connection takes a batch: of those that are up, the one with
 * the fewest commands awaiting replies (an idle one at once); else one that
 * is connecting. -1 when every connection is down and waiting to retry. */
static int pick_slot(cpipe_pool *p, int64_t now) {
    int best = -1, fallback = -1;
    size_t best_load = SIZE_MAX, fallback_load = SIZE_MAX;
    for (int k = 0; k < p->size; k++) {
        int i = (int)((p->cursor + (size_t)k) % (size_t)p->size);
        pool_slot *s = &p->slots[i];
        cpipe_mutex_lock(&s->lock);
        int ready = s->state == SLOT_READY, accepts = slot_accepts(s, now);
        size_t load = s->ids.count;
        cpipe_mutex_unlock(&s->lock);
        if (ready && load < best_load) {
            best = i;
            best_load = load;
            if (load == 0) break;
        } else if (!ready && accepts && load < fallback_load) {
            fallback = i;
            fallback_load = load;
        }
    }
    if (best < 0) best = fallback;
    if (best >= 0) p->cursor = (size_t)best + 1;
    return best;
}

CPIPE_API int32_t cpipe_pool_submit(cpipe_pool *p, const uint8_t *cmds, int32_t cmds_len, const uint8_t *ids,
                                    int32_t ids_len, int32_t route) {
    size_t count = 0, resp_size = 0;
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return set_error(p, CPIPE_ERR_CLOSED, "pool is closed");
    if (cmds_len <= 0 || cpipe_commands_measure(cmds, (size_t)cmds_len, &count, &resp_size) != 0 || count == 0)
        return set_error(p, CPIPE_ERR_ARG, "malformed command buffer");
    if (ids == NULL || ids_len < 0 || (size_t)ids_len != count * 4)
        return set_error(p, CPIPE_ERR_ARG, "%zu commands need %zu bytes of ids", count, count * 4);
    if (route < -1 || route >= p->nslots) return set_error(p, CPIPE_ERR_ARG, "no connection %d", route);

    cpipe_mutex_lock(&p->qlock);
    int room = p->in_flight + count <= p->max_in_flight;
    if (room) p->in_flight += count;
    cpipe_mutex_unlock(&p->qlock);
    if (!room) return set_error(p, CPIPE_ERR_BUSY, "more than %zu commands in flight", p->max_in_flight);

    int32_t rc = CPIPE_ERR_CONN;
    cpipe_buffer failures = {0};
    int64_t now = cpipe_now_ms();
    for (int attempt = 0; attempt < 3; attempt++) {
        int i = route >= 0 ? route : pick_slot(p, now);
        if (i < 0) break;
        pool_slot *s = &p->slots[i];
        cpipe_mutex_lock(&s->lock);
        if (s->exclusive && !s->leased) {
            cpipe_mutex_unlock(&s->lock);
            rc = set_error(p, CPIPE_ERR_ARG, "exclusive connection %d is not leased", route);
            break;
        }
        if (!slot_accepts(s, now)) {
            cpipe_mutex_unlock(&s->lock);
            continue; /* went down since it was picked */
        }
        /* The ids first: taking them back is simpler than taking back bytes. */
        size_t before = s->ids.count;
        int ok = 1;
        for (size_t k = 0; ok && k < count; k++) ok = ring_push(&s->ids, get_u32(ids + 4 * k)) == 0;
        cpipe_buffer *dest = s->state == SLOT_READY ? &s->link.unsent : &s->staged;
        if (!ok || cpipe_commands_write_resp(cmds, (size_t)cmds_len, resp_size, dest) != 0) {
            s->ids.count = before; /* the batch is refused whole */
            cpipe_mutex_unlock(&s->lock);
            rc = set_error(p, CPIPE_ERR_NOMEM, "out of memory queueing %zu commands", count);
            break;
        }
        rc = i;
        if (s->state == SLOT_READY) {
            int progress = 0, timed = before == 0 && p->command_timeout_ms > 0 && !s->exclusive;
            if (before == 0) s->progress_at = now;
            int32_t wrc = cpipe_link_write(&s->link, &progress);
            if (wrc != CPIPE_OK) slot_fail(p, s, wrc, s->link.errstr, &failures);
            /* The I/O thread writes the rest when the socket takes it, and
             * starts the command timeout's clock. A sleeping I/O thread is
             * woken up now, while the server works, so that it is already
             * asking when the replies come: a thread sleeping then is woken
             * later, and a CPU that went idle is slow to wake up. */
            else if (timed || cpipe_buffer_live(&s->link.unsent) > 0 || atomic_load(&p->asleep)) wake_io(p);
        } else if (s->state == SLOT_DOWN) {
            wake_io(p); /* its connect is due */
        }
        cpipe_mutex_unlock(&s->lock);
        break;
    }
    if (rc < 0) {
        cpipe_mutex_lock(&p->qlock);
        p->in_flight -= count;
        char why[CPIPE_ERRSTR_LEN];
        memcpy(why, p->last_error, sizeof why);
        cpipe_mutex_unlock(&p->qlock);
        if (rc == CPIPE_ERR_CONN) set_error(p, rc, "no connection is up: %s", why[0] ? why : "not connected yet");
    }
    publish(p, &failures);
    cpipe_buffer_release(&failures);
    return rc;
}

CPIPE_API int32_t cpipe_pool_drain(cpipe_pool *p, uint8_t *out, int32_t out_cap) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (out == NULL || out_cap < CPIPE_REPLY_HEADER) return set_error(p, CPIPE_ERR_ARG, "completion buffer too small");
    size_t room = (size_t)out_cap - CPIPE_REPLY_HEADER, used = 0;
    uint32_t records = 0, need = 0, flags = 0;
    cpipe_mutex_lock(&p->qlock);
    cpipe_buffer *q = &p->done;
    while (cpipe_buffer_live(q) >= RECORD_HEADER) {
        size_t size = RECORD_HEADER + get_u32(q->data + q->pos + 4);
        if (size > room - used) {
            if (records == 0) need = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
            break;
        }
        memcpy(out + CPIPE_REPLY_HEADER + used, q->data + q->pos, size);
        used += size;
        q->pos += size;
        records++;
    }
    p->in_flight -= records;
    if (cpipe_buffer_live(q) == 0) {
        cpipe_buffer_reset(q);
        p->notified = 0;
    } else {
        flags = CPIPE_FLAG_MORE;
    }
    cpipe_mutex_unlock(&p->qlock);
    put_u32(out, records);
    put_u32(out + 4, (uint32_t)used);
    put_u32(out + 8, flags);
    put_u32(out + 12, need);
    return CPIPE_OK;
}

CPIPE_API int32_t cpipe_pool_lease(cpipe_pool *p) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return set_error(p, CPIPE_ERR_CLOSED, "pool is closed");
    int pick = -1;
    /* A connected one first, so that blocking commands reuse connections. */
    for (int pass = 0; pass < 2 && pick < 0; pass++) {
        for (int i = p->size; i < p->nslots && pick < 0; i++) {
            pool_slot *s = &p->slots[i];
            cpipe_mutex_lock(&s->lock);
            if (!s->leased && (pass == 1 || s->state == SLOT_READY)) {
                s->leased = 1;
                pick = i;
                if (s->state == SLOT_UNUSED) {
                    s->state = SLOT_DOWN;
                    s->retry_at = 0;
                    s->backoff_ms = BACKOFF_FIRST_MS;
                }
            }
            cpipe_mutex_unlock(&s->lock);
        }
    }
    if (pick < 0) return set_error(p, CPIPE_ERR_BUSY, "every exclusive connection is leased");
    wake_io(p);
    return pick;
}

CPIPE_API int32_t cpipe_pool_release(cpipe_pool *p, int32_t slot, int32_t keep) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (slot < p->size || slot >= p->nslots) return set_error(p, CPIPE_ERR_ARG, "no exclusive connection %d", slot);
    pool_slot *s = &p->slots[slot];
    cpipe_buffer failures = {0};
    cpipe_mutex_lock(&s->lock);
    int was = s->leased;
    s->leased = 0;
    /* A connection whose state may differ from a fresh one's, or that still
     * owes replies, is not handed to the next caller. */
    if (was && (!keep || s->state != SLOT_READY || s->ids.count > 0)) slot_fail(p, s, CPIPE_ERR_CLOSED, "released", &failures);
    cpipe_mutex_unlock(&s->lock);
    publish(p, &failures);
    cpipe_buffer_release(&failures);
    return was ? CPIPE_OK : set_error(p, CPIPE_ERR_ARG, "exclusive connection %d is not leased", slot);
}

CPIPE_API int32_t cpipe_pool_connected(cpipe_pool *p) {
    if (p == NULL) return CPIPE_ERR_ARG;
    int32_t n = 0;
    for (int i = 0; i < p->nslots; i++) {
        cpipe_mutex_lock(&p->slots[i].lock);
        n += p->slots[i].state == SLOT_READY;
        cpipe_mutex_unlock(&p->slots[i].lock);
    }
    return n;
}

CPIPE_API int32_t cpipe_pool_errstr(const cpipe_pool *p, uint8_t *buf, int32_t cap) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (buf != NULL && cap > 0) memcpy(buf, p->errstr, p->errlen < (size_t)cap ? p->errlen : (size_t)cap);
    return (int32_t)p->errlen;
}

CPIPE_API int32_t cpipe_pool_close(cpipe_pool *p) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return CPIPE_OK;
    p->closed = 1;
    if (p->thread_started) {
        atomic_store(&p->stop, 1);
        cpipe_socket_poke(p->wake[1]);
        cpipe_thread_join(p->thread);
        p->thread_started = 0;
    }
    cpipe_buffer failures = {0};
    for (int i = 0; i < p->nslots; i++) {
        pool_slot *s = &p->slots[i];
        cpipe_mutex_lock(&s->lock);
        s->leased = 0;
        slot_fail(p, s, CPIPE_ERR_CLOSED, "pool is closed", &failures);
        s->state = SLOT_UNUSED;
        cpipe_mutex_unlock(&s->lock);
    }
    publish(p, &failures);
    cpipe_buffer_release(&failures);
    cpipe_socket_close(p->wake[0]);
    cpipe_socket_close(p->wake[1]);
    cpipe_socket_close(p->notify[1]);
    p->wake[0] = p->wake[1] = p->notify[1] = REDIS_INVALID_FD;
    return CPIPE_OK;
}

CPIPE_API void cpipe_pool_free(cpipe_pool *p) {
    if (p == NULL) return;
    cpipe_pool_close(p);
    pool_destroy(p, p->nslots + 1);
}
