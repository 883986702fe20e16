/* One connection to a Redis server, as both the synchronous client and the
 * pool's I/O thread drive it: its own address, its own transport, its own
 * handshake to replay after every connect, and the calls it owes replies,
 * in one non-blocking state machine:
 *
 *     IDLE or BACKOFF --dial--> DIALING --transport ready--> REPLAYING
 *         ^                                                   | handshake answered
 *         '---------------- failure (any state) <---- READY <-'
 *
 * DIALING covers the socket's connect and the transport's own handshake
 * (TLS); REPLAYING sends the handshake commands (HELLO, AUTH, SELECT,
 * CLIENT SETNAME… as the owner packed them) and waits for their replies;
 * calls submitted meanwhile are staged and go out once READY. With the
 * ready check, a PING ends the handshake: a server that restarted answers
 * LOADING until its data is read, and would answer every command so; the
 * connection asks again every LOADING_PROBE_MS, still REPLAYING, within the
 * connect timeout (the server answers, so it counts as a failure to connect
 * only once that passes). A failure
 * fails every call the connection carried (one failure record each), tells
 * the owner (an event record), and leads to BACKOFF, which dials again
 * after a capped exponential wait, or to IDLE when the owner dials itself
 * (the synchronous client reconnects on its next call).
 *
 * The connection counts replies: each call owes the number of replies its
 * submit said; a reply for which no call waits, or one the reader cannot
 * parse, is a protocol error that drops the connection. Pushes (RESP3
 * out-of-band frames) answer no call and become push records, except the
 * Pub/Sub confirmations a (un)subscribe call counts as its replies; in RESP2
 * subscribed mode the messages become push records too (cpipe.h:
 * CPIPE_CALL_PUBSUB_MASK).
 *
 * It never waits: its owner polls the descriptor for the events it asks
 * for and calls cpipe_connection_io(), and calls cpipe_connection_timers()
 * when a deadline is due. Not thread-safe: the owner serializes every call.
 * Everything it reports goes to the records buffer `out` given to each
 * call (see record.h). */
#ifndef CPIPE_CONNECTION_H
#define CPIPE_CONNECTION_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/read.h>

#include "buffer.h"
#include "cpipe.h"
#include "reply.h"
#include "settings.h"
#include "transport.h"

enum cpipe_connection_state {
    CPIPE_CONN_IDLE,      /* not connected; dials only when asked */
    CPIPE_CONN_BACKOFF,   /* down; dials again at retry_at */
    CPIPE_CONN_DIALING,   /* the transport connects (and secures) */
    CPIPE_CONN_REPLAYING, /* the handshake was sent; its replies are awaited */
    CPIPE_CONN_READY,
    CPIPE_CONN_CLOSED, /* for good */
};

/* A command sent (or staged) whose replies are owed. */
typedef struct cpipe_call {
    uint32_t id;      /* the host's name for it */
    uint16_t replies; /* replies still owed */
    uint16_t flags;   /* CPIPE_CALL_* */
    int64_t sent_at;  /* ms; 0 while staged */
    /* Where its submit's bytes begin among the bytes written ever
     * (cpipe_connection.written): none of them left while written is not past it. */
    uint64_t starts_at;
} cpipe_call;

/* The calls a connection owes, oldest first. */
typedef struct cpipe_call_ring {
    cpipe_call *items;
    size_t head;
    size_t count;
    size_t cap; /* a power of two, or 0 */
} cpipe_call_ring;

typedef struct cpipe_connection {
    /* Fixed at init. */
    uint16_t index;   /* the owner's name for it, in every record */
    int reconnect;    /* after a failure: BACKOFF (1) or IDLE (0) */
    char host[CPIPE_MAX_HOST_LEN + 1];
    int port;
    int connect_timeout_ms;
    int command_timeout_ms;
    int reconnect_max_ms;
    uint32_t max_reply_bytes;
    cpipe_socket_options socket_options;
    cpipe_buffer replay;    /* RESP of the handshake commands */
    size_t replay_count;    /* how many */
    size_t replay_lenient;  /* the last of them (before the ready check) whose error replies are ignored */
    int ready_check;        /* the last of them is a PING that LOADING answers until the server has its data */
    int reconnect_on_readonly; /* a READONLY reply to a call drops the connection (then it dials again) */
    cpipe_buffer secrets;   /* arguments never to show in a message: u32 len, bytes; repeated */
    cpipe_transport transport;
    short dial_events;     /* DIALING: what the transport waits for */

    int state;             /* enum cpipe_connection_state */
    int64_t deadline;      /* DIALING, REPLAYING: give up then (0: never) */
    int64_t retry_at;      /* BACKOFF: dial then */
    int32_t backoff_ms;    /* the wait after the next failure */
    uint32_t failures;     /* failures since it was last up */
    uint32_t drops;        /* DOWN events, ever: a session ended with each */
    int32_t status;        /* why it last failed (CPIPE_ERR_*) */
    uint64_t received;     /* bytes received, ever: tells an owner whether anything moved */
    uint64_t written;      /* bytes the transport took, ever: tells which calls never left (cpipe_call.starts_at) */
    /* ms: when the last blocking call was answered; the calls that waited
     * behind it are timed from then, not from their send (cpipe_connection_timers). */
    int64_t blocking_ended_at;
    int drained;           /* the last read emptied the socket */
    size_t replay_left;    /* handshake replies still to come */
    int loading;           /* REPLAYING: the ready check was answered LOADING */
    int read_only;         /* READY: a call was answered READONLY; dropped once the replies received are handed out */
    uint32_t read_only_drops; /* drops for a READONLY answer, ever: tells an owner to retire the others */
    uint32_t loading_replies; /* calls answered LOADING, ever: tells an owner the server is reading its data */
    int retiring;          /* READY: takes no new shared commands, and drops once it owes nothing (cpipe_connection_retire) */
    const char *retire_why; /* retiring: the reason its drop gives (a static string) */
    int64_t ready_at;      /* READY: since when (ms) */
    int64_t probe_at;      /* REPLAYING: when to ask again (0: not waiting to) */
    int paused;            /* the owner stopped reading (a slow subscriber): no POLLIN, no command timeout */
    int handed_over;       /* READY: the host reads a shared descriptor of the socket and feeds the bytes (never read here) */
    /* Subscribed mode (RESP2), from the counts the last confirmations
     * reported: channels and patterns, and shard channels. While either is
     * positive, messages are pushes. RESP3 confirmations (pushes) leave them 0. */
    uint32_t subscriptions;
    uint32_t shard_subscriptions;

    redisReader *reader;     /* NULL while not connected */
    cpipe_reply_encoder enc; /* the reply being parsed, then the whole reply */
    int reply_ready;         /* enc holds a whole reply not yet taken */
    cpipe_buffer unsent;     /* RESP bytes not yet written */
    cpipe_buffer staged;     /* RESP of calls accepted before READY */
    cpipe_buffer inbox;      /* bytes received, not yet given to the reader */
    cpipe_call_ring calls;   /* every call owed, staged ones last */
    size_t staged_calls;     /* how many of them are staged */
    uint32_t next_id;        /* the id of a call submitted without a calls buffer */

    char errstr[CPIPE_ERRSTR_LEN]; /* why it last failed, or why it is not up yet (loading) */
} cpipe_connection;

/* Sets a connection up from settings (copied; its handshake's AUTH and
 * HELLO arguments are kept as secrets to redact). IDLE afterwards. `funcs`
 * NULL: the transport the settings ask for (TLS over s->tls_config, or
 * plain). 0, or -1 when out of memory. */
int cpipe_connection_init(cpipe_connection *c, uint16_t index, const cpipe_settings *s,
                          const cpipe_transport_funcs *funcs, int reconnect);

/* Closes the socket and frees everything, without records. */
void cpipe_connection_free(cpipe_connection *c);

/* Makes a READY connection found stale (its address answered READONLY: the
 * name has moved; or LOADING: the server reads its data, which the ready
 * check of a new connection waits for) drop once the calls it owes are
 * answered (at once when it owes none), `why` (a static string) its drop's
 * reason, and dial again; meanwhile it takes no shared commands
 * (cpipe_connection_accepts). */
void cpipe_connection_retire(cpipe_connection *c, const char *why, cpipe_buffer *out);

/* Retires a READY connection with the ready check that was answered LOADING
 * since its loading_replies read `before` (a server reading its data again:
 * DEBUG RELOAD, a replica's full resync), so that it redials and its ready
 * check waits for the data. Returns whether it did. */
int cpipe_connection_retire_if_loading(cpipe_connection *c, uint32_t before, cpipe_buffer *out);

/* The reason such a connection's drop gives. */
extern const char CPIPE_LOADING_WHY[];

/* Starts dialing now (from IDLE or BACKOFF). */
void cpipe_connection_dial(cpipe_connection *c, int64_t now, cpipe_buffer *out);

/* Makes an IDLE connection dial at its owner's next cpipe_connection_timers()
 * (on another thread, say), with `reconnect` as given from then on. */
void cpipe_connection_dial_soon(cpipe_connection *c, int reconnect);

/* Whether calls submitted now would be taken: up, on the way up, or about
 * to dial (`waiting_ok`: also while backing off, while the server loads its
 * data, or while retiring). */
int cpipe_connection_accepts(const cpipe_connection *c, int64_t now, int waiting_ok);

/* Takes packed commands (already measured: `count` commands, `resp_size`
 * bytes of RESP) with their calls (CPIPE_CALL_SIZE bytes each; NULL: one
 * reply each, no flags, ids counted by the connection); writes them
 * at once when READY, else stages them. CPIPE_OK, or CPIPE_ERR_NOMEM with
 * nothing taken. A write failure is reported through records, as any. */
int32_t cpipe_connection_submit(cpipe_connection *c, const uint8_t *cmds, size_t len, size_t count, size_t resp_size,
                                const uint8_t *calls, int64_t now, cpipe_buffer *out);

/* Checks `count` calls (CPIPE_CALL_SIZE bytes each): every call owes at
 * least one reply (a command that owes none, CLIENT REPLY OFF/SKIP, would
 * shift every later reply to the wrong call) and has only known flags.
 * CPIPE_OK, or CPIPE_ERR_ARG with the reason in `why`. */
int32_t cpipe_calls_check(const uint8_t *calls, size_t count, char *why, size_t cap);

/* The poll events the connection waits for (0: none, no socket). */
short cpipe_connection_events(const cpipe_connection *c);

/* The descriptor to poll, or -1. */
int64_t cpipe_connection_fd(const cpipe_connection *c);

/* Whether received bytes wait inside the transport (decrypted TLS records)
 * that polling the descriptor would not announce: read before sleeping. */
int cpipe_connection_pending(const cpipe_connection *c);

/* Dials when due, fails what took too long; returns the next time it must
 * be called (ms), or 0 for none. */
int64_t cpipe_connection_timers(cpipe_connection *c, int64_t now, cpipe_buffer *out);

/* Makes progress after the socket woke up with `revents` (POLLIN,
 * POLLOUT…): connects, writes, reads, and records every whole reply. At most
 * `reads` reads, so one busy connection does not starve the others. */
void cpipe_connection_io(cpipe_connection *c, short revents, int reads, int64_t now, cpipe_buffer *out);

/* Hands the reading of a READY plain connection to its owner's host: a
 * second descriptor of the socket (cpipe_socket_share), which the host
 * watches in its own event loop and whose bytes it gives to
 * cpipe_connection_feed. The connection never reads the socket again; on
 * any failure it ends the socket (the host sees the end of the stream) and
 * the hand-over ends with it. The descriptor (the host's to close), or -1
 * when this connection cannot be handed over (TLS, not up, a platform
 * without shared descriptors). */
int64_t cpipe_connection_hand_over(cpipe_connection *c);

/* Takes bytes the host read from a handed-over connection, as a read of its
 * own would: records every whole reply. len 0: the host's descriptor read
 * the end of the stream (or failed). */
void cpipe_connection_feed(cpipe_connection *c, const uint8_t *data, size_t len, int64_t now, cpipe_buffer *out);

/* Drops the connection: every call it owed fails with `status` and `why`
 * (prefixed with its address), a DOWN event is recorded, and it goes to
 * BACKOFF or IDLE. */
void cpipe_connection_fail(cpipe_connection *c, int32_t status, const char *why, cpipe_buffer *out);

/* Drops the connection for good: CLOSED; calls fail with `status`. */
void cpipe_connection_shutdown(cpipe_connection *c, int32_t status, const char *why, cpipe_buffer *out);

/* Writes `text` into `dst` with every secret replaced by "****". */
void cpipe_connection_redact(const cpipe_connection *c, const char *text, size_t len, char *dst, size_t cap);

#endif
