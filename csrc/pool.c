/* A pool of connections (connection.h) driven by one I/O thread.
 *
 * The host thread (JavaScript's) submits batches of packed commands: each
 * batch goes to one connection and is written to its socket at once when
 * the connection is up (no thread hop on the way out). The I/O thread polls
 * every connection's socket: it dials and redials, replays handshakes,
 * writes what the host could not, and reads and parses replies. What the
 * connections report (records: replies, failures, pushes, events) goes to
 * the pool's record queue; when the queue goes from empty to non-empty the
 * I/O thread writes one byte to the host's end of a socket pair, which the
 * host runtime watches in its own event loop, and the host drains the queue
 * with one call. No JavaScript ever runs on the I/O thread. A connection
 * may also be handed over (cpipe_pool_hand_over): the host's runtime then
 * reads a second descriptor of its socket in its own event loop and feeds
 * the bytes (cpipe_pool_feed), parsed on the host's thread with no byte on
 * the socket pair, so a reply wakes that thread alone (with
 * CPIPE_HAND_OVER_PARSE_ASIDE, large chunks are set aside for the I/O
 * thread to parse, in order, beside the host); the I/O thread still
 * writes, redials and times the connection's calls. While replies
 * are owed, the I/O thread asks its sockets again for SPIN_US (yielding the
 * CPU in between) before it sleeps: a reply on a fast network comes sooner
 * than a sleeping thread is woken, and a CPU that never idles is not woken
 * at all (after a wait too long for a spin to catch, it sleeps at once until
 * a wait is short again). Confined to one CPU (taskset, a container's cpuset), the thread
 * never spins and is not woken early: every turn it took would be taken
 * from JavaScript, and measured on one CPU the spin for a lone call doubled
 * the process's CPU per call (L1, L2) and cost an HTTP service ~10 % more
 * CPU per request (H1) for no gain in latency; the reply wakes it from
 * poll() instead.
 *
 * Connections live in members, at fixed addresses for the pool's life: the
 * I/O thread reads `count` and then only members below it, so the host can
 * add members while the thread runs.
 *
 * Locks: each member's lock guards that member; `qlock` guards the record
 * queue and the counters beside it. A thread holding a member's lock may
 * take `qlock`, never the other way round. */
#include <stdarg.h>
#include <stdatomic.h>
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
#include "sock.h"
#include "sys.h"
#include "tls.h"

/* Reads per readable socket per loop turn: bounds one connection's share. */
#define READS_PER_TURN 8
/* While replies are owed, how long the I/O thread keeps asking for them
 * (yielding the CPU in between) before it sleeps in poll(). */
#define SPIN_US 200

/* Bytes of one connection's pushes that may wait in the record queue: past
 * this its socket is not read until the host drains (a subscriber whose
 * messages come faster than the host takes them; the server's output buffer
 * then holds the rest). */
#define PUSH_HOLD_MAX (256 * 1024)

/* CPIPE_HAND_OVER_PARSE_ASIDE: a fed chunk this large goes to the I/O thread
 * (a runtime reads 64 KiB or more at once from a busy socket, one message
 * from a quiet one), and at most this much waits there; past it the host
 * parses what waits and its own chunk itself. A runtime reads a flood
 * faster than the thread parses it: with 1 MiB the host parsed often, and
 * P1 in Bun was 0.94x the thread's own reading (medians of 5 rounds, one
 * round 0.66x); with 8 MiB, 0.99x. */
#define ASIDE_MIN (16 * 1024)
#define ASIDE_MAX (8 * 1024 * 1024)

/* What happens to a released exclusive connection once its calls are answered. */
enum { RETURN_NONE, RETURN_KEEP, RETURN_CLOSE };

typedef struct pool_member {
    cpipe_mutex lock; /* guards every field below */
    int used;         /* holds a connection */
    int role;         /* CPIPE_ROLE_* */
    int acquired;     /* an exclusive connection now acquired by a caller */
    int returning;    /* released, still answering its calls: RETURN_* */
    cpipe_connection conn;
    int64_t host_fd; /* the descriptor of its socket the host reads (cpipe_pool_hand_over), or -1 */
    uint32_t submitted_drops; /* conn.drops when its last submit was taken (CPIPE_CALL_SAME_SESSION) */
    /* A submit needing the session was refused: its holder's state is gone,
     * so every later submit is refused too, until it is acquired again. */
    int session_lost;
    unsigned stale_seen; /* the pool's stale_epoch when it was last compared with it */
    atomic_size_t pushes_held; /* bytes of its push records in the queue (not under `lock`) */

    /* Bytes the host fed and set aside for the I/O thread to parse
     * (CPIPE_HAND_OVER_PARSE_ASIDE), under `aside_lock`, not `lock`: the
     * host adds to them while the thread parses what it took before. */
    cpipe_mutex aside_lock;
    int aside_on;       /* this connect was handed over with CPIPE_HAND_OVER_PARSE_ASIDE */
    int64_t aside_fd;   /* the host's descriptor they came from */
    cpipe_buffer aside; /* in the order read */
    cpipe_buffer taken; /* taken from `aside` to parse, and what is left of it (under `lock`) */
} pool_member;

struct cpipe_pool {
    pool_member *members[CPIPE_MAX_POOL_CONNECTIONS];
    atomic_int count;        /* members made so far; never shrinks */
    int mutexes;             /* members whose lock was made (for cleanup) */
    size_t max_in_flight;
    int only_up; /* route -1 never stages on a connection that is not up */
    int spin_us; /* SPIN_US, or 0 when the process may use only one CPU */

    /* The I/O thread's; the host wakes it through wake[1]. */
    cpipe_thread thread;
    int thread_started;
    redisFD wake[2];
    atomic_int wake_pending;
    atomic_int asleep; /* the I/O thread sleeps in poll() (it does not spin) */
    atomic_int stop;
    struct pollfd *pfds; /* the poll set: wake socket, then sockets */
    int *pfd_member;     /* the member of each entry of pfds */
    size_t pfd_cap;

    /* The record queue, guarded by qlock. */
    cpipe_mutex qlock;
    cpipe_buffer done;  /* records not yet drained */
    size_t in_flight;   /* calls submitted whose last record was not drained */
    int notified;       /* a byte went to the host since the queue was last emptied */
    char last_error[CPIPE_ERRSTR_LEN];
    /* The last address found stale (a connection dropped for a READONLY
     * answer, or answered LOADING), when, and why (a static string). The
     * shared connections to it up before then are retired
     * (retire_if_stale). The epoch counts such findings (not under qlock). */
    atomic_uint stale_epoch;
    char stale_host[CPIPE_MAX_HOST_LEN + 1];
    int stale_port;
    int64_t stale_at;
    const char *stale_why;

    /* notify[0] is the host's end, notify[1] the I/O thread's. */
    redisFD notify[2];
    int notify_taken;
    /* The host's end closed before close(): its owner is gone (a terminated
     * worker's runtime closes what it adopted but never calls close()). */
    atomic_int orphaned;

    /* Host thread only. */
    cpipe_tls_config **tls; /* parsed TLS settings, one per distinct set, shared by connections */
    size_t tls_count;
    size_t cursor; /* where the search for a shared connection starts */
    int closed;
    cpipe_error error; /* of the last failed call */
};

static void wake_io(cpipe_pool *p) {
    if (atomic_exchange(&p->wake_pending, 1) == 0) cpipe_socket_poke(p->wake[1]);
}

/* Moves records made by the I/O thread (or the host's calls) to the queue,
 * and tells the host when the queue was empty. */
/* Adds (sign 1) or takes away (-1) the push records among `count` records
 * (or all up to `end`) to their connections' pushes_held; returns whether a
 * connection fell back under PUSH_HOLD_MAX. */
static int count_pushes(cpipe_pool *p, const uint8_t *rec, const uint8_t *end, uint32_t count, int sign) {
    int freed = 0;
    for (uint32_t i = 0; rec + CPIPE_RECORD_HEAD <= end && i < count; i++) {
        uint32_t len = cpipe_get_u32(rec + 8);
        uint16_t connection = cpipe_get_u16(rec + 2);
        if (rec[0] == CPIPE_RECORD_PUSH && connection < atomic_load(&p->count)) {
            atomic_size_t *held = &p->members[connection]->pushes_held;
            if (sign > 0) atomic_fetch_add(held, (size_t)len);
            else freed |= atomic_fetch_sub(held, (size_t)len) >= PUSH_HOLD_MAX && atomic_load(held) < PUSH_HOLD_MAX;
        }
        rec += CPIPE_RECORD_HEAD + len;
    }
    return freed;
}

/* `quiet`: the host drains right after this call (it fed the bytes), no byte needed. */
static void publish_to(cpipe_pool *p, cpipe_buffer *out, int quiet) {
    if (cpipe_buffer_live(out) == 0) return;
    cpipe_mutex_lock(&p->qlock);
    int ok = cpipe_buffer_append(&p->done, out->data + out->pos, cpipe_buffer_live(out)) == 0;
    if (ok) count_pushes(p, out->data + out->pos, out->data + out->len, UINT32_MAX, 1);
    int tell = ok && !quiet && !p->notified;
    if (tell) p->notified = 1;
    cpipe_mutex_unlock(&p->qlock);
    if (ok) cpipe_buffer_reset(out);
    /* When out of memory the records stay in `out` for the next attempt. */
    if (tell) cpipe_socket_poke(p->notify[1]);
}

static void publish(cpipe_pool *p, cpipe_buffer *out) {
    publish_to(p, out, 0);
}

/* Remembers why a connection last failed, for submits that find none up. */
static void note_failure(cpipe_pool *p, const cpipe_connection *c) {
    cpipe_mutex_lock(&p->qlock);
    memcpy(p->last_error, c->errstr, sizeof p->last_error);
    cpipe_mutex_unlock(&p->qlock);
}

static const char READ_ONLY_WHY[] = "another connection to this address was answered READONLY (a replica now): "
                                    "reconnecting";

/* Remembers that a member's address is stale: every other shared connection
 * to it, up since before now, is retired too. Called by whichever thread
 * saw it, the member's lock held. */
static void note_stale(cpipe_pool *p, pool_member *m, int64_t now, const char *why) {
    cpipe_mutex_lock(&p->qlock);
    memcpy(p->stale_host, m->conn.host, sizeof p->stale_host);
    p->stale_port = m->conn.port;
    p->stale_at = now;
    p->stale_why = why;
    m->stale_seen = atomic_fetch_add(&p->stale_epoch, 1) + 1;
    cpipe_mutex_unlock(&p->qlock);
}

/* What a member's connection had counted before it read (its lock held),
 * for after_read to see what the read changed. */
typedef struct read_marks {
    uint32_t failures, read_only_drops, loading_replies;
    int loading;
} read_marks;

static read_marks marks_of(const cpipe_connection *c) {
    return (read_marks){c->failures, c->read_only_drops, c->loading_replies, c->loading};
}

/* After a member's connection read (its lock held): a drop for a READONLY
 * answer (reconnect_on_readonly: a failover moved the name) makes the others
 * to its address stale; so does a LOADING answer on a shared connection with
 * the ready check (a server reading its data after DEBUG RELOAD or a
 * replica's full resync refuses everything for seconds, while a new
 * connection's ready check waits for it), which retires this one too, so
 * that the pool's commands wait in the offline queue instead of failing. A
 * failure, or a change of loading, is remembered for submits that find none
 * up. Returns whether the connection failed. */
static int after_read(cpipe_pool *p, pool_member *m, read_marks before, int64_t now, cpipe_buffer *out) {
    if (m->conn.read_only_drops != before.read_only_drops) {
        note_stale(p, m, now, READ_ONLY_WHY);
    } else if (m->role == CPIPE_ROLE_SHARED &&
               cpipe_connection_retire_if_loading(&m->conn, before.loading_replies, out)) {
        note_stale(p, m, now, CPIPE_LOADING_WHY);
    }
    int failed = m->conn.failures != before.failures;
    if (failed || m->conn.loading != before.loading) note_failure(p, &m->conn);
    return failed;
}

/* Retires a shared connection that was up, to the address last found stale,
 * before that (the member's lock held): a quiet pool's other connections
 * would each be refused a command before redialing. Up in the same
 * millisecond counts as before (a needless redial at worst; the member that
 * found it has seen it). Returns whether it did. */
static int retire_if_stale(cpipe_pool *p, pool_member *m, cpipe_buffer *out) {
    unsigned epoch = atomic_load(&p->stale_epoch);
    if (m->stale_seen == epoch) return 0;
    m->stale_seen = epoch;
    if (m->role != CPIPE_ROLE_SHARED || m->conn.state != CPIPE_CONN_READY || m->conn.retiring) return 0;
    cpipe_mutex_lock(&p->qlock);
    int stale = m->conn.port == p->stale_port && strcmp(m->conn.host, p->stale_host) == 0 &&
                m->conn.ready_at <= p->stale_at;
    const char *why = p->stale_why;
    cpipe_mutex_unlock(&p->qlock);
    if (stale) cpipe_connection_retire(&m->conn, why, out);
    return stale;
}

/* Parses bytes the host read from a handed-over member's socket (its lock
 * held) and publishes their records at once, before the lock is let go: no
 * later chunk's records, parsed by the other thread, may overtake them.
 * `quiet`: the host feeds, and drains right after. Returns whether the
 * connection failed. */
static int feed_member(cpipe_pool *p, pool_member *m, const uint8_t *data, size_t len, int quiet) {
    cpipe_buffer out = {0};
    read_marks before = marks_of(&m->conn);
    int64_t now = cpipe_now_ms();
    cpipe_connection_feed(&m->conn, data, len, now, &out);
    int failed = after_read(p, m, before, now, &out);
    publish_to(p, &out, quiet);
    cpipe_buffer_release(&out);
    return failed;
}

/* Takes what waits aside for the member (its lock held) into `taken`, empty. */
static void take_aside(pool_member *m) {
    cpipe_buffer_reset(&m->taken);
    cpipe_mutex_lock(&m->aside_lock);
    cpipe_buffer waiting = m->aside;
    m->aside = m->taken; /* its storage is used again */
    m->taken = waiting;
    cpipe_mutex_unlock(&m->aside_lock);
}

/* The bytes set aside belong to a socket that is gone (member lock held);
 * `fd` and `on`: the next socket's, handed over now. Every hand-over and
 * removal comes here: what `taken` holds is always the current socket's. */
static void forget_aside(pool_member *m, int64_t fd, int on) {
    cpipe_mutex_lock(&m->aside_lock);
    m->aside_on = on;
    m->aside_fd = fd;
    cpipe_buffer_reset(&m->aside);
    cpipe_mutex_unlock(&m->aside_lock);
    cpipe_buffer_reset(&m->taken);
}

/* Parses what the host set aside for a member (its lock held), in the
 * stream's order: what was taken and is left, then what waits. The I/O
 * thread parses `slice` bytes at a time and stops while the connection is
 * paused or its pushes wait to be drained, as it would not read its socket
 * then (the bytes wait, bounded by ASIDE_MAX); the host (`slice` 0) parses
 * all before its own chunk. Returns whether the connection failed. */
static int parse_aside(cpipe_pool *p, pool_member *m, size_t slice, int quiet) {
    int failed = 0;
    for (;;) {
        if (slice > 0 && (m->conn.paused || atomic_load(&m->pushes_held) >= PUSH_HOLD_MAX)) return failed;
        if (cpipe_buffer_live(&m->taken) == 0) take_aside(m);
        size_t n = cpipe_buffer_live(&m->taken);
        if (n == 0) return failed;
        if (!m->conn.handed_over) {
            forget_aside(m, -1, 0); /* it failed since: the host's next feed is refused */
            return failed;
        }
        if (slice > 0 && n > slice) n = slice;
        failed |= feed_member(p, m, m->taken.data + m->taken.pos, n, quiet);
        m->taken.pos += n;
    }
}

/* A released connection whose calls are all answered can be leased again
 * (member lock held). */
static void finish_return(pool_member *m, cpipe_buffer *out) {
    if (m->returning == RETURN_NONE || m->conn.calls.count > 0) return;
    m->conn.reconnect = 0; /* given back: it dials again only when acquired */
    if (m->returning == RETURN_CLOSE || m->conn.state != CPIPE_CONN_READY)
        cpipe_connection_fail(&m->conn, CPIPE_ERR_CLOSED, "released", out); /* to IDLE */
    m->returning = RETURN_NONE;
    (void)cpipe_record_event(out, m->conn.index, CPIPE_EVENT_RELEASED, CPIPE_OK, 0, 0, "", NULL, 0);
}

/* ---- the I/O thread -------------------------------------------------------- */

static int grow_poll_set(cpipe_pool *p, size_t want) {
    if (want <= p->pfd_cap) return 0;
    size_t cap = p->pfd_cap ? p->pfd_cap : 16;
    while (cap < want) cap *= 2;
    struct pollfd *pfds = cpipe_realloc(p->pfds, cap * sizeof *pfds);
    if (pfds == NULL) return -1;
    p->pfds = pfds;
    int *owners = cpipe_realloc(p->pfd_member, cap * sizeof *owners);
    if (owners == NULL) return -1;
    p->pfd_member = owners;
    p->pfd_cap = cap;
    return 0;
}

/* Closes every connection for good (their calls fail with `why`), none
 * acquired or being given back any more. */
static void shut_members(cpipe_pool *p, const char *why, cpipe_buffer *out) {
    int count = atomic_load(&p->count);
    for (int i = 0; i < count; i++) {
        pool_member *m = p->members[i];
        cpipe_mutex_lock(&m->lock);
        m->acquired = 0;
        m->returning = RETURN_NONE;
        if (m->used) cpipe_connection_shutdown(&m->conn, CPIPE_ERR_CLOSED, why, out);
        cpipe_mutex_unlock(&m->lock);
    }
}

/* The host is gone without close(): its connections are closed now (the
 * server sees them go, blocking commands end) and the thread ends. The pool's
 * memory stays until a close() or free() that may never come: a few
 * kilobytes, where its sockets and thread were the leak. */
static void abandon(cpipe_pool *p) {
    atomic_store(&p->orphaned, 1);
    cpipe_buffer out = {0};
    shut_members(p, "the pool's owner is gone", &out);
    cpipe_buffer_release(&out); /* nobody is left to read them */
}

static void io_main(void *arg) {
    cpipe_pool *p = arg;
    cpipe_buffer out = {0};
    int64_t waiting_since = 0; /* replies are owed and none came: since when (µs); 0 otherwise */
    int spin = 1;              /* the last such wait ended soon enough for a spin to have caught its end */
    cpipe_thread_name("cpipe-io");
    while (!atomic_load(&p->stop)) {
        int count = atomic_load(&p->count);
        int64_t now = cpipe_now_ms(), next = 0;
        size_t owed = 0;
        nfds_t n = 0;
        int pending = 0; /* a connection holds received bytes its socket will not announce */
        if (grow_poll_set(p, (size_t)count + 2) != 0) {
            cpipe_thread_yield(); /* out of memory: try again */
            continue;
        }
        p->pfds[n].fd = p->wake[0];
        p->pfds[n].events = POLLIN;
        p->pfds[n].revents = 0;
        p->pfd_member[n++] = -1;
        /* The host never writes to its end: readable means it was closed. */
        p->pfds[n].fd = p->notify[1];
        p->pfds[n].events = POLLIN;
        p->pfds[n].revents = 0;
        p->pfd_member[n++] = -1;
        for (int i = 0; i < count; i++) {
            pool_member *m = p->members[i];
            cpipe_mutex_lock(&m->lock);
            if (m->used) {
                if (m->aside_on) (void)parse_aside(p, m, PUSH_HOLD_MAX, 0);
                uint32_t failures = m->conn.failures;
                (void)retire_if_stale(p, m, &out);
                int64_t due = cpipe_connection_timers(&m->conn, now, &out);
                if (m->conn.failures != failures) note_failure(p, &m->conn);
                /* A submit to a handed-over connection does not wake this
                 * thread to time its call: it looks again within a quarter
                 * of the timeout, and then sleeps until the call is due. */
                if (due == 0 && m->conn.handed_over && m->conn.command_timeout_ms > 0)
                    due = now + m->conn.command_timeout_ms / 4 + 1;
                if (due > 0 && (next == 0 || due < next)) next = due;
                finish_return(m, &out);
                if (m->conn.state == CPIPE_CONN_READY && m->role != CPIPE_ROLE_EXCLUSIVE && !m->conn.handed_over)
                    owed += m->conn.calls.count;
                short events = cpipe_connection_events(&m->conn);
                if (atomic_load(&m->pushes_held) >= PUSH_HOLD_MAX) events &= ~POLLIN;
                else pending |= cpipe_connection_pending(&m->conn);
                if (events) {
                    p->pfds[n].fd = (redisFD)cpipe_connection_fd(&m->conn);
                    p->pfds[n].events = events;
                    p->pfds[n].revents = 0;
                    p->pfd_member[n++] = i;
                }
            }
            cpipe_mutex_unlock(&m->lock);
        }
        publish(p, &out);
        int timeout = -1;
        if (pending) {
            timeout = 0;
        } else if (cpipe_buffer_live(&out) > 0) {
            timeout = 10; /* records wait for memory: try again soon */
        } else if (next > 0) {
            int64_t left = next - cpipe_now_ms();
            timeout = left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
        }
        /* Replies owed on shared connections (blocking commands run on
         * exclusive ones): ask again for a while before sleeping. */
        if (owed > 0 && timeout != 0) {
            int64_t us = cpipe_now_us();
            if (waiting_since == 0) waiting_since = us;
            if (p->spin_us > 0 && spin && us < waiting_since + p->spin_us) {
                timeout = 0;
                cpipe_thread_yield();
            }
        }
        if (timeout != 0) atomic_store(&p->asleep, 1);
        int ready = poll(p->pfds, n, timeout);
        atomic_store(&p->asleep, 0);
        if (ready <= 0 && !pending) continue; /* a timer is due, or EINTR, or spinning */
        if (waiting_since != 0) {
            /* A server busy with a long pipeline answers in bursts a
             * millisecond or more apart: spinning for each would be in vain
             * (measured on 2 CPUs: a fifth of the process's CPU for a
             * pipeline of 10,000 HSETs, CPU the server wanted). So a wait
             * that lasted more than twice the spin turns spinning off until
             * a wait is short again. */
            spin = cpipe_now_us() - waiting_since <= 2 * (int64_t)p->spin_us;
            waiting_since = 0;
        }
        if (p->pfds[0].revents) {
            cpipe_socket_drain(p->wake[0]);
            atomic_store(&p->wake_pending, 0);
        }
        if (p->pfds[1].revents && cpipe_socket_closed(p->notify[1])) {
            abandon(p);
            break;
        }
        now = cpipe_now_ms();
        for (nfds_t k = 2; k < n; k++) {
            short revents = p->pfds[k].revents;
            if (revents == 0 && !pending) continue;
            pool_member *m = p->members[p->pfd_member[k]];
            cpipe_mutex_lock(&m->lock);
            if (revents == 0 && m->used && atomic_load(&m->pushes_held) < PUSH_HOLD_MAX &&
                cpipe_connection_pending(&m->conn))
                revents = POLLIN;
            /* The host may have closed the connection since the poll set was
             * made; a socket opened since then gets its turn next time. */
            if (revents != 0 && m->used && (redisFD)cpipe_connection_fd(&m->conn) == p->pfds[k].fd) {
                read_marks before = marks_of(&m->conn);
                cpipe_connection_io(&m->conn, revents, READS_PER_TURN, now, &out);
                (void)after_read(p, m, before, now, &out);
                finish_return(m, &out);
            }
            cpipe_mutex_unlock(&m->lock);
        }
        publish(p, &out);
    }
    /* Records still held for want of memory are dropped: close() answers
     * every call that is left. */
    cpipe_buffer_release(&out);
}

/* ---- members --------------------------------------------------------------------- */

/* Sets a member up at index i (a new one, or a removed one's); 0 or -1. */
static int member_init(cpipe_pool *p, int i, const cpipe_settings *s, int role) {
    pool_member *m = p->members[i];
    cpipe_mutex_lock(&m->lock);
    int ok = cpipe_connection_init(&m->conn, (uint16_t)i, s, NULL, role != CPIPE_ROLE_EXCLUSIVE) == 0;
    if (ok) {
        m->used = 1;
        m->role = role;
        m->acquired = 0;
        m->returning = RETURN_NONE;
        m->host_fd = -1;
        m->submitted_drops = 0;
        m->session_lost = 0;
        if (role != CPIPE_ROLE_EXCLUSIVE) cpipe_connection_dial_soon(&m->conn, 1);
    }
    cpipe_mutex_unlock(&m->lock);
    return ok ? 0 : -1;
}

/* A member slot for a new connection: a removed one, or a new one. -1 when full. */
static int member_slot(cpipe_pool *p) {
    int count = atomic_load(&p->count);
    for (int i = 0; i < count; i++) {
        pool_member *m = p->members[i];
        cpipe_mutex_lock(&m->lock);
        int free_slot = !m->used;
        cpipe_mutex_unlock(&m->lock);
        if (free_slot) return i;
    }
    if (count == CPIPE_MAX_POOL_CONNECTIONS) return -1;
    pool_member *m = cpipe_calloc(1, sizeof *m);
    if (m == NULL) return -1;
    if (cpipe_mutex_init(&m->lock) != 0) {
        cpipe_free(m);
        return -1;
    }
    if (cpipe_mutex_init(&m->aside_lock) != 0) {
        cpipe_mutex_destroy(&m->lock);
        cpipe_free(m);
        return -1;
    }
    m->conn.state = CPIPE_CONN_CLOSED;
    m->conn.transport.fd = REDIS_INVALID_FD;
    p->members[count] = m;
    atomic_store(&p->count, count + 1); /* published after the member is whole */
    return count;
}

/* The pool's parsed TLS config for these settings: one it made for the
 * same material before, or a new one. NULL when out of memory. */
static const cpipe_tls_config *tls_config_for(cpipe_pool *p, const cpipe_settings *s) {
    for (size_t i = 0; i < p->tls_count; i++)
        if (cpipe_tls_config_matches(p->tls[i], s)) return p->tls[i];
    cpipe_tls_config **grown = cpipe_realloc(p->tls, (p->tls_count + 1) * sizeof *grown);
    if (grown == NULL) return NULL;
    p->tls = grown;
    cpipe_tls_config *cfg = cpipe_tls_config_create(s);
    if (cfg != NULL) p->tls[p->tls_count++] = cfg;
    return cfg;
}

static int add_member(cpipe_pool *p, const cpipe_settings *s, int role) {
    cpipe_settings with_tls;
    if (s->tls && s->tls_config == NULL) {
        with_tls = *s;
        if ((with_tls.tls_config = tls_config_for(p, s)) == NULL) return -1;
        s = &with_tls;
    }
    int i = member_slot(p);
    if (i < 0 || member_init(p, i, s, role) != 0) return -1;
    return i;
}

/* Frees a pool whose thread is not running. */
static void pool_destroy(cpipe_pool *p) {
    int count = atomic_load(&p->count);
    for (int i = 0; i < count; i++) {
        pool_member *m = p->members[i];
        if (m->used) cpipe_connection_free(&m->conn);
        cpipe_buffer_release(&m->aside);
        cpipe_buffer_release(&m->taken);
        cpipe_mutex_destroy(&m->aside_lock);
        cpipe_mutex_destroy(&m->lock);
        cpipe_free(m);
    }
    for (size_t i = 0; i < p->tls_count; i++) cpipe_tls_config_free(p->tls[i]);
    cpipe_free(p->tls);
    if (p->mutexes > 0) cpipe_mutex_destroy(&p->qlock);
    for (int i = 0; i < 2; i++) {
        if (p->wake[i] != REDIS_INVALID_FD) cpipe_socket_close(p->wake[i]);
        if (p->notify[i] != REDIS_INVALID_FD && !(i == 0 && p->notify_taken)) cpipe_socket_close(p->notify[i]);
    }
    cpipe_buffer_release(&p->done);
    cpipe_free(p->pfd_member);
    cpipe_free(p->pfds);
    cpipe_free(p);
}

/* ---- the API ---------------------------------------------------------------- */

CPIPE_API cpipe_pool *cpipe_pool_create(const uint8_t *settings, int32_t settings_len) {
    cpipe_settings s;
    char why[CPIPE_ERRSTR_LEN];
    if (settings_len < 0 ||
        cpipe_settings_read(&s, settings, (size_t)settings_len, CPIPE_SETTINGS_POOL, why, sizeof why) != 0)
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
    p->max_in_flight = (size_t)s.max_in_flight;
    p->only_up = s.only_up;
    p->spin_us = cpipe_cpus_usable() > 1 ? SPIN_US : 0;
    if (cpipe_mutex_init(&p->qlock) != 0) goto fail;
    p->mutexes = 1;
    if (s.tls && (s.tls_config = tls_config_for(p, &s)) == NULL) goto fail;
    for (int i = 0; i < s.shared + s.exclusive; i++)
        if (add_member(p, &s, i < s.shared ? CPIPE_ROLE_SHARED : CPIPE_ROLE_EXCLUSIVE) != i) goto fail;
    if (cpipe_socket_pair(p->wake) != 0 || cpipe_socket_pair(p->notify) != 0) goto fail;
    if (cpipe_thread_start(&p->thread, io_main, p) != 0) goto fail;
    p->thread_started = 1;
    return p;

fail:
    pool_destroy(p);
    return NULL;
}

CPIPE_API int32_t cpipe_pool_add(cpipe_pool *p, const uint8_t *settings, int32_t settings_len, int32_t role) {
    cpipe_settings s;
    char why[CPIPE_ERRSTR_LEN] = "a negative length"; /* the reason when the settings are not read at all */
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return cpipe_error_set(&p->error, CPIPE_ERR_CLOSED, "pool is closed");
    if (role < CPIPE_ROLE_DIRECT || role > CPIPE_ROLE_EXCLUSIVE) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "no role %d", role);
    if (settings_len < 0 ||
        cpipe_settings_read(&s, settings, (size_t)settings_len, CPIPE_SETTINGS_CONNECTION, why, sizeof why) != 0)
        return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "invalid connection settings: %s", why);
    int full = atomic_load(&p->count) == CPIPE_MAX_POOL_CONNECTIONS;
    int i = add_member(p, &s, role);
    if (i < 0 && full) return cpipe_error_set(&p->error, CPIPE_ERR_BUSY, "a pool holds %d connections at most", CPIPE_MAX_POOL_CONNECTIONS);
    if (i < 0) return cpipe_error_set(&p->error, CPIPE_ERR_NOMEM, "out of memory adding a connection");
    wake_io(p);
    return i;
}

/* The member at `index` when it holds a connection; NULL otherwise. */
static pool_member *member_at(cpipe_pool *p, int32_t index) {
    if (index < 0 || index >= atomic_load(&p->count)) return NULL;
    return p->members[index];
}

CPIPE_API int32_t cpipe_pool_remove(cpipe_pool *p, int32_t connection) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return cpipe_error_set(&p->error, CPIPE_ERR_CLOSED, "pool is closed");
    pool_member *m = member_at(p, connection);
    if (m == NULL) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "no connection %d", connection);
    cpipe_buffer out = {0};
    cpipe_mutex_lock(&m->lock);
    int was = m->used;
    if (was) {
        cpipe_connection_shutdown(&m->conn, CPIPE_ERR_CLOSED, "connection removed", &out);
        cpipe_connection_free(&m->conn);
        m->used = 0;
        forget_aside(m, -1, 0);
    }
    cpipe_mutex_unlock(&m->lock);
    publish(p, &out);
    cpipe_buffer_release(&out);
    /* A poll() that watches the socket holds it open until it returns: the
     * peer would not see it close until the I/O thread woke up for another
     * reason (a subscriber given back stayed subscribed on the server). */
    if (was) wake_io(p);
    return was ? CPIPE_OK : cpipe_error_set(&p->error, CPIPE_ERR_ARG, "no connection %d", connection);
}

CPIPE_API int32_t cpipe_pool_notify_fd(cpipe_pool *p, int32_t take) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return cpipe_error_set(&p->error, CPIPE_ERR_CLOSED, "pool is closed");
    if (p->notify_taken) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "the notification socket was already taken");
    if (take) p->notify_taken = 1;
    return (int32_t)p->notify[0];
}

CPIPE_API int32_t cpipe_pool_hand_over(cpipe_pool *p, int32_t connection, int32_t flags) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return cpipe_error_set(&p->error, CPIPE_ERR_CLOSED, "pool is closed");
    pool_member *m = member_at(p, connection);
    if (m == NULL) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "no connection %d", connection);
    if ((flags & ~CPIPE_HAND_OVER_PARSE_ASIDE) != 0) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "unknown flags %d", flags);
    cpipe_mutex_lock(&m->lock);
    /* Not an exclusive one: it changes hands between callers, and the
     * host knows it only while acquired. */
    int64_t fd = m->used && m->role != CPIPE_ROLE_EXCLUSIVE ? cpipe_connection_hand_over(&m->conn) : -1;
    if (fd >= 0) {
        m->host_fd = fd;
        forget_aside(m, fd, (flags & CPIPE_HAND_OVER_PARSE_ASIDE) != 0);
    }
    cpipe_mutex_unlock(&m->lock);
    if (fd < 0) return cpipe_error_set(&p->error, CPIPE_ERR_BUSY, "connection %d cannot be handed over", connection);
    wake_io(p); /* its socket leaves the poll set */
    return (int32_t)fd;
}

CPIPE_API int32_t cpipe_pool_feed(cpipe_pool *p, int32_t connection, int32_t fd, const uint8_t *data, int32_t len) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (len < 0 || (len > 0 && data == NULL)) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "invalid bytes");
    pool_member *m = member_at(p, connection);
    if (m == NULL) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "no connection %d", connection);
    if (len > 0) {
        /* A large chunk, or any while some wait aside (their order is the
         * stream's), is the I/O thread's to parse (the end of the stream is
         * never: what waits is parsed first, below). */
        cpipe_mutex_lock(&m->aside_lock);
        size_t waiting = cpipe_buffer_live(&m->aside);
        int aside = m->aside_on && m->aside_fd == fd && (waiting > 0 || len >= ASIDE_MIN) &&
                    waiting + (size_t)len <= ASIDE_MAX && cpipe_buffer_append(&m->aside, data, (size_t)len) == 0;
        cpipe_mutex_unlock(&m->aside_lock);
        if (aside) {
            wake_io(p);
            return CPIPE_OK;
        }
    }
    cpipe_mutex_lock(&m->lock);
    /* A descriptor of a connection that failed since (or of an earlier
     * socket of it) is stale: its bytes belong to no call. */
    int current = m->used && m->conn.handed_over && m->host_fd == fd, failed = 0;
    if (current) {
        /* What waits aside, the thread has not parsed yet, comes first. */
        if (m->aside_on) failed = parse_aside(p, m, 0, 1);
        if (!failed) failed = feed_member(p, m, data, (size_t)len, 1);
    }
    cpipe_mutex_unlock(&m->lock);
    if (failed) wake_io(p); /* it redials after its backoff: the thread's timer */
    return current ? CPIPE_OK : cpipe_error_set(&p->error, CPIPE_ERR_CLOSED, "that socket of connection %d is closed", connection);
}

/* Which shared connection takes a batch: of those that are up, the one with
 * the fewest calls owed (an idle one at once); else one on its way up
 * (unless `only_up`: the host then keeps the batch until one is up). -1
 * when none takes it. */
static int pick_shared(cpipe_pool *p, int64_t now, cpipe_buffer *out) {
    int count = atomic_load(&p->count);
    int best = -1, fallback = -1;
    size_t best_load = SIZE_MAX, fallback_load = SIZE_MAX;
    for (int k = 0; k < count; k++) {
        int i = (int)((p->cursor + (size_t)k) % (size_t)count);
        pool_member *m = p->members[i];
        cpipe_mutex_lock(&m->lock);
        int shared = m->used && m->role == CPIPE_ROLE_SHARED;
        if (shared && retire_if_stale(p, m, out) && m->conn.state != CPIPE_CONN_READY) {
            note_failure(p, &m->conn);
            wake_io(p); /* it redials after its backoff: the thread's timer */
        }
        int ready = shared && m->conn.state == CPIPE_CONN_READY && !m->conn.retiring;
        int accepts = shared && !p->only_up && cpipe_connection_accepts(&m->conn, now, 0);
        size_t load = m->conn.calls.count;
        cpipe_mutex_unlock(&m->lock);
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

CPIPE_API int32_t cpipe_pool_submit(cpipe_pool *p, const uint8_t *cmds, int32_t cmds_len, const uint8_t *calls,
                                    int32_t calls_len, int32_t route) {
    size_t count = 0, resp_size = 0;
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return cpipe_error_set(&p->error, CPIPE_ERR_CLOSED, "pool is closed");
    if (atomic_load(&p->orphaned)) return cpipe_error_set(&p->error, CPIPE_ERR_CLOSED, "the pool's owner is gone");
    if (cmds_len <= 0 || cpipe_commands_measure(cmds, (size_t)cmds_len, &count, &resp_size) != 0 || count == 0)
        return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "malformed command buffer");
    if (calls == NULL || calls_len < 0 || (size_t)calls_len != count * CPIPE_CALL_SIZE)
        return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "%zu commands need %zu bytes of calls", count, count * CPIPE_CALL_SIZE);
    if (route < -1 || (route >= 0 && member_at(p, route) == NULL))
        return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "no connection %d", route);
    char why[CPIPE_ERRSTR_LEN];
    if (cpipe_calls_check(calls, count, why, sizeof why) != CPIPE_OK) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "%s", why);

    cpipe_mutex_lock(&p->qlock);
    int room = p->in_flight + count <= p->max_in_flight;
    if (room) p->in_flight += count;
    cpipe_mutex_unlock(&p->qlock);
    if (!room) return cpipe_error_set(&p->error, CPIPE_ERR_BUSY, "more than %zu commands in flight", p->max_in_flight);

    int32_t rc = CPIPE_ERR_CONN;
    int session_lost = 0;
    cpipe_buffer out = {0};
    int64_t now = cpipe_now_ms();
    for (int attempt = 0; attempt < 3; attempt++) {
        int i = route >= 0 ? route : pick_shared(p, now, &out);
        if (i < 0) break;
        pool_member *m = p->members[i];
        cpipe_mutex_lock(&m->lock);
        if (!m->used || (m->role == CPIPE_ROLE_EXCLUSIVE && (!m->acquired || m->returning != RETURN_NONE))) {
            cpipe_mutex_unlock(&m->lock);
            rc = cpipe_error_set(&p->error, CPIPE_ERR_ARG, "connection %d is not acquired or not open", i);
            break;
        }
        /* An acquired or direct connection takes commands also while it waits
         * to redial: its caller has no other connection. */
        if (!cpipe_connection_accepts(&m->conn, now, route >= 0)) {
            cpipe_mutex_unlock(&m->lock);
            continue; /* went down since it was picked */
        }
        if (m->session_lost ||
            ((cpipe_get_u16(calls + 6) & CPIPE_CALL_SAME_SESSION) && m->conn.drops != m->submitted_drops)) {
            m->session_lost = 1;
            cpipe_mutex_unlock(&m->lock);
            rc = cpipe_error_set(&p->error, CPIPE_ERR_CONN, "connection %d dropped after it was given state (WATCH, "
                                 "MULTI, SELECT...), which the server's new session does not have; release it and "
                                 "acquire another", i);
            session_lost = 1;
            break;
        }
        uint32_t failures = m->conn.failures, drops = m->conn.drops;
        size_t owed_before = m->conn.calls.count;
        rc = cpipe_connection_submit(&m->conn, cmds, (size_t)cmds_len, count, resp_size, calls, now, &out);
        if (rc != CPIPE_OK) {
            cpipe_mutex_unlock(&m->lock);
            rc = cpipe_error_set(&p->error, rc, "out of memory queueing %zu commands", count);
            break;
        }
        rc = i;
        m->submitted_drops = drops; /* a write that failed just now ended the session these calls were given */
        if (m->conn.failures != failures) {
            note_failure(p, &m->conn);
            wake_io(p); /* it redials after its backoff: the thread's timer */
        } else if (m->conn.state == CPIPE_CONN_READY) {
            /* The I/O thread writes the rest when the socket takes it and
             * watches the command timeout. A sleeping I/O thread is woken up
             * now, while the server works, so that it is already asking when
             * the replies come: a thread sleeping then is woken later, and a
             * CPU that went idle is slow to wake up. Not when confined to
             * one CPU (see the top of this file). */
            int host = m->conn.handed_over; /* the host reads the replies; timers: see io_main */
            int timed = !host && owed_before == 0 && m->conn.command_timeout_ms > 0;
            int early = !host && p->spin_us > 0 && atomic_load(&p->asleep);
            if (timed || cpipe_buffer_live(&m->conn.unsent) > 0 || early) wake_io(p);
        } else {
            wake_io(p); /* a dial may be due */
        }
        cpipe_mutex_unlock(&m->lock);
        break;
    }
    if (rc < 0) {
        cpipe_mutex_lock(&p->qlock);
        p->in_flight -= count;
        char why[CPIPE_ERRSTR_LEN];
        memcpy(why, p->last_error, sizeof why);
        cpipe_mutex_unlock(&p->qlock);
        if (rc == CPIPE_ERR_CONN && !session_lost)
            cpipe_error_set(&p->error, rc, "no connection is up: %s", why[0] ? why : "not connected yet");
    }
    publish(p, &out);
    cpipe_buffer_release(&out);
    return rc;
}

CPIPE_API int32_t cpipe_pool_drain(cpipe_pool *p, uint8_t *out, int32_t out_cap) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (out == NULL || out_cap < CPIPE_HEADER_SIZE) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "record buffer too small");
    cpipe_mutex_lock(&p->qlock);
    uint32_t n = cpipe_records_move(&p->done, out, (size_t)out_cap, 0);
    const uint8_t *rec = out + CPIPE_HEADER_SIZE;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t kind = rec[0], flags = rec[1];
        if ((kind == CPIPE_RECORD_REPLY && !(flags & CPIPE_RECORD_PARTIAL)) || kind == CPIPE_RECORD_FAILURE)
            p->in_flight--;
        rec += CPIPE_RECORD_HEAD + cpipe_get_u32(rec + 8);
    }
    int freed = count_pushes(p, out + CPIPE_HEADER_SIZE, out + out_cap, n, -1);
    if (cpipe_buffer_live(&p->done) == 0) p->notified = 0;
    cpipe_mutex_unlock(&p->qlock);
    if (freed) wake_io(p); /* a connection held back may be read again */
    return CPIPE_OK;
}

CPIPE_API int32_t cpipe_pool_acquire(cpipe_pool *p) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return cpipe_error_set(&p->error, CPIPE_ERR_CLOSED, "pool is closed");
    int count = atomic_load(&p->count), pick = -1;
    /* A connected one first, so that blocking commands reuse connections. */
    for (int pass = 0; pass < 2 && pick < 0; pass++) {
        for (int i = 0; i < count && pick < 0; i++) {
            pool_member *m = p->members[i];
            cpipe_mutex_lock(&m->lock);
            if (m->used && m->role == CPIPE_ROLE_EXCLUSIVE && !m->acquired && m->returning == RETURN_NONE &&
                (pass == 1 || m->conn.state == CPIPE_CONN_READY)) {
                m->acquired = 1;
                m->submitted_drops = m->conn.drops; /* a new holder: no state of its own yet */
                m->session_lost = 0;
                pick = i;
                cpipe_connection_dial_soon(&m->conn, 1);
            }
            cpipe_mutex_unlock(&m->lock);
        }
    }
    if (pick < 0) return cpipe_error_set(&p->error, CPIPE_ERR_BUSY, "every exclusive connection is acquired");
    wake_io(p);
    return pick;
}

CPIPE_API int32_t cpipe_pool_release(cpipe_pool *p, int32_t connection, int32_t keep) {
    if (p == NULL) return CPIPE_ERR_ARG;
    pool_member *m = member_at(p, connection);
    if (m == NULL) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "no exclusive connection %d", connection);
    cpipe_buffer out = {0};
    cpipe_mutex_lock(&m->lock);
    int was = m->used && m->role == CPIPE_ROLE_EXCLUSIVE && m->acquired;
    if (was) {
        m->acquired = 0;
        m->returning = keep ? RETURN_KEEP : RETURN_CLOSE;
        finish_return(m, &out);
    }
    cpipe_mutex_unlock(&m->lock);
    publish(p, &out);
    cpipe_buffer_release(&out);
    if (was) wake_io(p);
    return was ? CPIPE_OK : cpipe_error_set(&p->error, CPIPE_ERR_ARG, "exclusive connection %d is not acquired", connection);
}

CPIPE_API int32_t cpipe_pool_pause(cpipe_pool *p, int32_t connection, int32_t paused) {
    if (p == NULL) return CPIPE_ERR_ARG;
    if (p->closed) return cpipe_error_set(&p->error, CPIPE_ERR_CLOSED, "pool is closed");
    pool_member *m = member_at(p, connection);
    if (m == NULL) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "no connection %d", connection);
    cpipe_mutex_lock(&m->lock);
    int was = m->used;
    if (was) m->conn.paused = paused != 0;
    cpipe_mutex_unlock(&m->lock);
    if (!was) return cpipe_error_set(&p->error, CPIPE_ERR_ARG, "no connection %d", connection);
    wake_io(p); /* its poll set changes */
    return CPIPE_OK;
}

CPIPE_API int32_t cpipe_pool_connected(cpipe_pool *p) {
    if (p == NULL) return CPIPE_ERR_ARG;
    int32_t n = 0, count = atomic_load(&p->count);
    for (int i = 0; i < count; i++) {
        cpipe_mutex_lock(&p->members[i]->lock);
        n += p->members[i]->used && p->members[i]->conn.state == CPIPE_CONN_READY;
        cpipe_mutex_unlock(&p->members[i]->lock);
    }
    return n;
}

CPIPE_API int32_t cpipe_pool_errstr(const cpipe_pool *p, uint8_t *buf, int32_t cap) {
    if (p == NULL) return CPIPE_ERR_ARG;
    return cpipe_error_copy(&p->error, buf, cap);
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
    cpipe_buffer out = {0};
    shut_members(p, "pool is closed", &out);
    publish(p, &out);
    cpipe_buffer_release(&out);
    cpipe_socket_close(p->wake[0]);
    cpipe_socket_close(p->wake[1]);
    cpipe_socket_close(p->notify[1]);
    p->wake[0] = p->wake[1] = p->notify[1] = REDIS_INVALID_FD;
    return CPIPE_OK;
}

CPIPE_API void cpipe_pool_free(cpipe_pool *p) {
    if (p == NULL) return;
    cpipe_pool_close(p);
    pool_destroy(p);
}
