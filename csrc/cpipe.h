/* cpipe — the native core of a Redis client for Deno and Bun.
 *
 * The core owns sockets and protocol parsing (hiredis' reader); the host
 * language owns argument encoding and reply decoding. Both sides meet at a
 * few byte formats, so that one FFI crossing moves a whole batch. Every
 * number in them is little-endian. The constants below are the single
 * source: the TypeScript side checks its copies against this file in a test.
 *
 * Settings (host -> core), once per client or pool: a version, then entries
 * back to back, each  u32 key; u32 len; u8 value[len]  (CPIPE_SET_*). An
 * integer value is an i32 (len 4). An unknown key is refused, so that a host
 * newer than the core fails loudly instead of being half obeyed.
 *
 * Packed commands (host -> core), repeated back to back:
 *     u32 argc (>= 1), then argc times { u32 len; u8 bytes[len] }
 *
 * Calls (host -> core), one per packed command, in the same order:
 *     u32 id; u16 replies; u16 flags (CPIPE_CALL_*)
 * `id` is the host's name for the call (the core hands it back); `replies`
 * is how many replies the server sends for that command: 1 for most, one per
 * channel for a multi-channel UNSUBSCRIBE; never 0 (a call that silences
 * replies is refused). The core counts them: a reply
 * for which no call waits is a protocol error that drops the connection,
 * never a reply handed to another caller.
 *
 * Records (core -> host), written after a 16-byte header
 *     { u32 records; u32 used; u32 flags; u32 need }
 * at the start of the host's buffer (`used` counts the bytes after the
 * header; `need` is the size of a record too large for the buffer). Each
 * record is a 12-byte head then its payload:
 *     u8 kind; u8 flags; u16 connection; u32 id; u32 len; u8 payload[len]
 *   CPIPE_RECORD_REPLY   a reply to call `id`: one encoded reply. With
 *                        CPIPE_RECORD_PARTIAL more replies of that call follow.
 *   CPIPE_RECORD_FAILURE call `id` failed: i32 status; u32 message_len;
 *                        message; then, for a call flagged CPIPE_CALL_RESEND
 *                        that never left a connection that will dial again,
 *                        its packed command (nothing otherwise). With
 *                        CPIPE_RECORD_UNSENT its bytes never reached the
 *                        socket (staged while the connection was being made,
 *                        or a write failed before the socket took any byte of
 *                        it, though it took earlier commands of the same
 *                        submit): the server never saw it, and it may be sent
 *                        again.
 *   CPIPE_RECORD_PUSH    an out-of-band frame (RESP3 push) that answers no
 *                        call, or a Pub/Sub message of a RESP2 connection in
 *                        subscribed mode (see CPIPE_CALL_PUBSUB_MASK): one
 *                        encoded reply. `id` is 0.
 *   CPIPE_RECORD_EVENT   a connection changed state: u8 event (CPIPE_EVENT_*);
 *                        u8 0; u16 0; i32 status; u32 attempt; u32 delay_ms;
 *                        u32 message_len; message; then, when the server
 *                        refused the connection's handshake, its error reply
 *                        (encoded). `id` is 0.
 * `connection` is the index of the connection the record comes from.
 *
 * Encoded replies: one type byte followed by its payload:
 *     '+' status, '-' error, '$' bulk, '=' verbatim, '(' big number:
 *                         u32 len; u8 bytes[len]
 *     ':' integer within +-(2^53-1): f64     'L' any other integer: i64
 *     ',' double: f64     '#' boolean: u8     '_' nil
 *     '*' array, '~' set, '>' push, '%' map, '|' attribute:
 *                         u32 count, then count encoded replies
 *                         (for '%' and '|' count is the number of keys
 *                         and values together)
 *
 * Every function returns a status (CPIPE_OK or a negative CPIPE_ERR_*) and,
 * on failure, leaves a message readable with the handle's *_errstr(). No
 * function aborts or keeps a pointer to a caller's buffer past its return.
 * Messages never hold an argument of an AUTH or HELLO command. */
#ifndef CPIPE_H
#define CPIPE_H

#include <stdint.h>

#if defined(_WIN32)
#define CPIPE_API __declspec(dllexport)
#else
#define CPIPE_API __attribute__((visibility("default")))
#endif

#define CPIPE_ABI_VERSION 12

/* Status codes. */
#define CPIPE_OK 0
#define CPIPE_ERR_ARG (-1)       /* invalid argument or malformed buffer */
#define CPIPE_ERR_CLOSED (-2)    /* the handle was closed */
#define CPIPE_ERR_CONN (-3)      /* cannot connect, or the connection broke */
#define CPIPE_ERR_TIMEOUT (-4)   /* no reply within the command timeout */
#define CPIPE_ERR_PROTOCOL (-5)  /* the server sent bytes that break the protocol */
#define CPIPE_ERR_NOMEM (-6)     /* out of memory */
#define CPIPE_ERR_HANDSHAKE (-7) /* the server refused a handshake command */
#define CPIPE_ERR_BUSY (-8)      /* a limit is reached: retry after draining */

/* Settings keys. */
#define CPIPE_SETTINGS_VERSION 1
#define CPIPE_SET_HOST 1              /* bytes: a name or an address; a unix socket path starts with '/' */
#define CPIPE_SET_PORT 2              /* i32, 0..65535 */
#define CPIPE_SET_CONNECT_TIMEOUT 3   /* i32 ms, 0: none; covers the transport's and the replayed handshake */
#define CPIPE_SET_COMMAND_TIMEOUT 4   /* i32 ms, 0: none; from a command's send to its reply */
#define CPIPE_SET_RECONNECT_MAX 5     /* i32 ms: the longest wait between reconnects (pool) */
#define CPIPE_SET_MAX_IN_FLIGHT 6     /* i32: commands submitted and not yet drained (pool) */
#define CPIPE_SET_SHARED 7            /* i32: shared connections (pool), 0..1024 */
#define CPIPE_SET_EXCLUSIVE 8         /* i32: exclusive connections made on demand (pool), 0..1024 */
#define CPIPE_SET_HANDSHAKE 9         /* packed commands replayed after every connect (AUTH, HELLO, SELECT…) */
#define CPIPE_SET_MAX_REPLY_BYTES 10  /* u32 > 0: the largest reply accepted, checked at its header */
#define CPIPE_SET_KEEPALIVE 11        /* i32 s, 0: no TCP keepalive */
#define CPIPE_SET_ONLY_UP 12          /* i32 0/1 (pool): route -1 takes only connections that are up; with none,
                                         CPIPE_ERR_CONN, and the host keeps the commands (its offline queue) */
#define CPIPE_SET_READY_CHECK 13      /* i32 0/1, default 0: a PING ends every handshake, and a connection is not up
                                         while the server answers it LOADING (a restarted server reading its data);
                                         asked again every 100 ms, within the connect timeout */
#define CPIPE_SET_RECONNECT_ON_READONLY 14 /* i32 0/1, default 0: a reply READONLY to a call (the server became a
                                         replica: a failover that moved a DNS name) drops the connection once the
                                         replies already received are handed out, and it dials the name again */
#define CPIPE_SET_HANDSHAKE_LENIENT 15 /* i32, default 0: the last N commands of CPIPE_SET_HANDSHAKE may be refused
                                         (their error replies are ignored): CLIENT SETINFO, which servers before 7.2,
                                         and users without the permission, refuse */
/* TLS (numbered apart from the keys above, which other features extend). A
 * certificate that fails to parse or verify fails the dial (CPIPE_ERR_CONN)
 * with the reason in words; key material never appears in a message. */
#define CPIPE_SET_TLS 20              /* i32 0/1: connect with TLS */
#define CPIPE_SET_TLS_CA 21           /* bytes: trusted roots, PEM (one or more); required while verifying */
#define CPIPE_SET_TLS_CERT 22         /* bytes: client certificate chain, PEM (mutual TLS); needs TLS_KEY */
#define CPIPE_SET_TLS_KEY 23          /* bytes: its private key, PEM, unencrypted */
#define CPIPE_SET_TLS_SERVERNAME 24   /* bytes: the name to verify and send as SNI; default: the host (an IP address
                                         is checked against the certificate's IP entries and sends no SNI) */
#define CPIPE_SET_TLS_VERIFY 25       /* i32 0/1, default 1: 0 accepts any certificate */

/* Bits of a call's flags. */
#define CPIPE_CALL_BLOCKING 0x1 /* may wait on the server for ever: the command timeout does not apply; the calls
                                   queued behind it are timed from its reply, not from their send */
/* On a submit's first call: the submit needs the session of the one taken before it on that connection (an
 * acquired connection's WATCH, MULTI, SELECT…). When the connection went down since, the submit is refused whole
 * (CPIPE_ERR_CONN, nothing taken): its redial would run it in a new session without that state. So is every later
 * submit to that connection, flagged or not, until it is acquired again: its holder's state is gone. */
#define CPIPE_CALL_SAME_SESSION 0x2
/* The host would send it again should it never leave (a pool's single command): its UNSENT failure then carries
 * the command, packed, so that the host need not keep a copy of every command it sends. */
#define CPIPE_CALL_RESEND 0x4
/* A Pub/Sub (un)subscription, by kind (one value under CPIPE_CALL_PUBSUB_MASK).
 * Its replies are the server's confirmations of that kind, one per channel:
 * arrays under RESP2, push frames under RESP3 (counted as its replies, not
 * recorded as pushes); an error reply ends it whatever it still owed. On a
 * connection that a RESP2 confirmation put in subscribed mode, the messages
 * ("message", "pmessage", "smessage" arrays) and confirmations no call waits
 * for (the server's own SUNSUBSCRIBE when a slot moves) are push records. */
#define CPIPE_CALL_PUBSUB_MASK 0x70
#define CPIPE_CALL_SUBSCRIBE 0x10
#define CPIPE_CALL_PSUBSCRIBE 0x20
#define CPIPE_CALL_SSUBSCRIBE 0x30
#define CPIPE_CALL_UNSUBSCRIBE 0x40
#define CPIPE_CALL_PUNSUBSCRIBE 0x50
#define CPIPE_CALL_SUNSUBSCRIBE 0x60

/* Record kinds and flags. */
#define CPIPE_RECORD_REPLY 1
#define CPIPE_RECORD_FAILURE 2
#define CPIPE_RECORD_PUSH 3
#define CPIPE_RECORD_EVENT 4
#define CPIPE_RECORD_PARTIAL 0x1 /* a reply: more replies of its call follow */
#define CPIPE_RECORD_UNSENT 0x2  /* a failure: the call never left (see above) */

/* Roles of a pool's connections. */
#define CPIPE_ROLE_DIRECT 0    /* commands reach it by its index only */
#define CPIPE_ROLE_SHARED 1    /* one of those route -1 spreads commands over */
#define CPIPE_ROLE_EXCLUSIVE 2 /* acquired by one caller at a time */
#define CPIPE_MAX_POOL_CONNECTIONS 4096

/* How a handed-over connection's bytes are parsed (cpipe_pool_hand_over). */
#define CPIPE_HAND_OVER_PARSE_ASIDE 0x1 /* a large chunk (a flood) is parsed by the I/O thread, beside the host's;
                                           small ones at once, by the host */

/* Connection events. */
#define CPIPE_EVENT_UP 1      /* connected and handshake replayed; `attempt` failures came before */
#define CPIPE_EVENT_DOWN 2    /* it broke or could not be made: `status` says why; `delay_ms` until the next dial */
#define CPIPE_EVENT_RELEASED 3 /* an exclusive connection may be acquired again */

/* Bits of the records header's `flags`. */
#define CPIPE_FLAG_UNSENT 0x1 /* bytes of earlier commands still wait to be sent */
#define CPIPE_FLAG_MORE 0x2   /* more records wait to be drained */

#define CPIPE_HEADER_SIZE 16
#define CPIPE_RECORD_HEAD 12
#define CPIPE_CALL_SIZE 8
#define CPIPE_ERRSTR_LEN 512

/* ---- the synchronous client ---------------------------------------------------
 * One connection driven on the caller's thread: each exchange blocks until
 * replies come (bounded by the command timeout). After a failure the next
 * exchange reconnects and replays the handshake. */
typedef struct cpipe_client cpipe_client;

/* Allocates a client from settings; does not connect. NULL when the
 * settings are invalid or memory is exhausted. */
CPIPE_API cpipe_client *cpipe_client_create(const uint8_t *settings, int32_t settings_len);

/* Connects (or reconnects) and replays the handshake. Records of what
 * happened (events, with the server's error reply when it refused the
 * handshake) go to `out`. */
CPIPE_API int32_t cpipe_client_connect(cpipe_client *c, uint8_t *out, int32_t out_cap);

/* Sends packed `cmds` under `calls` (none when cmds_len is 0; calls_len 0:
 * one reply each, no flags), then moves
 * records into `out` until a reply or failure record is there for the
 * oldest call and nothing more can be read without waiting, or no call is
 * owed, or `out` is full. A record larger than `out` is kept and its size
 * is reported in `need`; call again with a larger buffer and no commands.
 * A broken connection fails every call it carried (a failure record each)
 * and is dropped; the next exchange reconnects. */
CPIPE_API int32_t cpipe_client_exchange(cpipe_client *c, const uint8_t *cmds, int32_t cmds_len, const uint8_t *calls,
                                        int32_t calls_len, uint8_t *out, int32_t out_cap);

/* As cpipe_client_exchange, without waiting for replies: queues, sends what
 * the socket takes, collects the records already there, and returns once
 * no more than 1 MiB waits to be sent. Streams a long pipeline while the
 * host is still encoding it. */
CPIPE_API int32_t cpipe_client_send(cpipe_client *c, const uint8_t *cmds, int32_t cmds_len, const uint8_t *calls,
                                    int32_t calls_len, uint8_t *out, int32_t out_cap);

/* Waits at most `timeout_ms` (0: not at all) for records when none is held
 * (the messages of a subscribed connection), reads what came, and moves the
 * records into `out`. Sends nothing; a connection that is not up is left
 * as it is (no record: connect again). */
CPIPE_API int32_t cpipe_client_wait(cpipe_client *c, int32_t timeout_ms, uint8_t *out, int32_t out_cap);

/* Calls sent whose last record has not been returned yet. */
CPIPE_API int32_t cpipe_client_pending(const cpipe_client *c);

/* Copies the last error message (not NUL-terminated) into buf; returns its
 * full length, which may exceed cap. */
CPIPE_API int32_t cpipe_client_errstr(const cpipe_client *c, uint8_t *buf, int32_t cap);

/* Closes the socket for good: later exchanges fail with CPIPE_ERR_CLOSED. */
CPIPE_API int32_t cpipe_client_close(cpipe_client *c);

/* Closes and frees the client. NULL is accepted. */
CPIPE_API void cpipe_client_free(cpipe_client *c);

/* ---- the pool ----------------------------------------------------------------
 * Connections served by one native I/O thread that connects, reconnects,
 * reads and parses; the host submits commands and drains records, and never
 * waits on the network. Each connection has its own address and handshake:
 * the pool starts with the shared and exclusive connections its settings
 * ask for (indexes 0.. in that order), and more (to other servers too) can
 * be added and removed while it runs.
 *
 * A submit's commands go to one connection, in order and contiguous, so a
 * MULTI ... EXEC inside it stays whole, and are written to the socket at
 * once when it is up (no thread hop on the way out). A broken connection
 * fails every call it carried and reconnects in the background, waiting
 * 10 ms, then twice as long after each failure, up to the reconnect limit.
 *
 * When records go from none to some the I/O thread writes one byte to the
 * host's end of a socket pair (cpipe_pool_notify_fd); the host watches it
 * in its event loop and calls cpipe_pool_drain until CPIPE_FLAG_MORE is
 * clear. The bytes carry no meaning. Records of a connection the host reads
 * itself (cpipe_pool_hand_over) come from its cpipe_pool_feed calls, with
 * no byte: it drains after each.
 *
 * Every function but cpipe_pool_free may be called only from one thread (the
 * host's) at a time. */
typedef struct cpipe_pool cpipe_pool;

/* Creates a pool from settings and starts its I/O thread, which connects the
 * shared connections at once. NULL when the settings are invalid or
 * resources are exhausted. */
CPIPE_API cpipe_pool *cpipe_pool_create(const uint8_t *settings, int32_t settings_len);

/* Adds a connection with its own settings (address, handshake, timeouts;
 * pool-wide keys are refused) in a role (CPIPE_ROLE_*), and returns its
 * index (CPIPE_ERR_BUSY when the pool holds CPIPE_MAX_POOL_CONNECTIONS
 * already). A direct or shared one connects at once; an exclusive one when
 * acquired. */
CPIPE_API int32_t cpipe_pool_add(cpipe_pool *p, const uint8_t *settings, int32_t settings_len, int32_t role);

/* Closes a connection for good: calls it owed fail with CPIPE_ERR_CLOSED;
 * its index may be given to a later cpipe_pool_add. */
CPIPE_API int32_t cpipe_pool_remove(cpipe_pool *p, int32_t connection);

/* The host's end of the notification socket pair. With `take` 1 the caller
 * owns it from now on (and closes it); otherwise the pool closes it when
 * freed. Fails once it was taken. */
CPIPE_API int32_t cpipe_pool_notify_fd(cpipe_pool *p, int32_t take);

/* Submits packed commands under `calls` to one connection. `route` -1 lets
 * the pool pick a shared connection (the least busy that is up; while all
 * are connecting, one of those, which sends them once ready); an index keeps
 * to that connection (an acquired exclusive one, or one added). Returns the
 * index of the connection, or CPIPE_ERR_CONN when it (or, for -1, every
 * shared connection) is down and waiting to retry, or when the first call
 * asks for CPIPE_CALL_SAME_SESSION and that session ended (or an earlier
 * submit's did, on this acquisition), CPIPE_ERR_BUSY past the
 * in-flight limit, CPIPE_ERR_ARG, CPIPE_ERR_NOMEM or CPIPE_ERR_CLOSED; on
 * failure nothing was submitted and no record will come for these calls. */
CPIPE_API int32_t cpipe_pool_submit(cpipe_pool *p, const uint8_t *cmds, int32_t cmds_len, const uint8_t *calls,
                                    int32_t calls_len, int32_t route);

/* Moves records into `out` (header first, whole records only). A record
 * larger than `out` stays queued and its size is reported in `need`. Works
 * after cpipe_pool_close too. */
CPIPE_API int32_t cpipe_pool_drain(cpipe_pool *p, uint8_t *out, int32_t out_cap);

/* Acquires an exclusive connection (connecting it when needed) and returns
 * its index, or CPIPE_ERR_BUSY when all are acquired or still finishing the
 * calls of their last caller (a CPIPE_EVENT_RELEASED record says when one is
 * free again). */
CPIPE_API int32_t cpipe_pool_acquire(cpipe_pool *p);

/* Gives an acquired connection back. Calls already submitted on it still
 * get their replies; then, with `keep` 1 and the connection up, it waits for the next caller, else it
 * is closed (its state may differ from a fresh one's). Either way a
 * CPIPE_EVENT_RELEASED record follows once it can be acquired again. */
CPIPE_API int32_t cpipe_pool_release(cpipe_pool *p, int32_t connection, int32_t keep);

/* Stops (`paused` 1) or resumes (0) reading from one connection: what the
 * server sends waits in its output buffer, whose limit then applies (a
 * subscriber whose consumer is slow). The command timeout does not run while
 * paused. */
CPIPE_API int32_t cpipe_pool_pause(cpipe_pool *p, int32_t connection, int32_t paused);

/* Hands the reading of a shared or direct connection that is up (plain TCP
 * or unix, not TLS) to the host: returns a second descriptor of its socket, which the
 * host owns, watches in its own event loop and closes, giving every byte it
 * reads (and the end of the stream) to cpipe_pool_feed. The I/O thread then
 * only writes what the host could not, and times the calls: a reply wakes
 * the host's thread alone. On any failure of the connection the pool ends
 * the socket (the host reads the end of the stream); the next connect is
 * the pool's own again until handed over anew. While paused
 * (cpipe_pool_pause) the host stops reading it too. CPIPE_ERR_BUSY when it
 * cannot be handed over (not up, paused, TLS, exclusive, already handed
 * over, or a platform without shared descriptors: Windows). With
 * CPIPE_HAND_OVER_PARSE_ASIDE in `flags`, a fed chunk of 16 KiB or more
 * (and every chunk while some wait) is set aside for the I/O thread to
 * parse, in order, while the host reads on: its records then come as the
 * I/O thread's do, after a byte on the notification socket. A subscriber's
 * lone message still wakes the host alone, and a flood is parsed on two
 * threads as when the pool reads it. */
CPIPE_API int32_t cpipe_pool_hand_over(cpipe_pool *p, int32_t connection, int32_t flags);

/* Gives the pool `len` bytes the host read from the descriptor `fd` of a
 * handed-over connection (len 0: that descriptor read the end of the
 * stream, or failed); the records they complete are then drained as any,
 * with no byte on the notification socket. CPIPE_ERR_CLOSED when `fd` is no
 * longer that connection's (it failed, or was handed over anew): the host
 * closes it, its bytes are dropped. */
CPIPE_API int32_t cpipe_pool_feed(cpipe_pool *p, int32_t connection, int32_t fd, const uint8_t *data, int32_t len);

/* Number of connections up now. */
CPIPE_API int32_t cpipe_pool_connected(cpipe_pool *p);

/* Copies the last error message of a failed call (not NUL-terminated) into
 * buf; returns its full length. */
CPIPE_API int32_t cpipe_pool_errstr(const cpipe_pool *p, uint8_t *buf, int32_t cap);

/* Stops and joins the I/O thread, closes every connection, and fails every
 * call still owed a reply with CPIPE_ERR_CLOSED (drain to collect them).
 * Later submits fail with CPIPE_ERR_CLOSED. Safe to call twice. */
CPIPE_API int32_t cpipe_pool_close(cpipe_pool *p);

/* Closes the pool when needed and frees it. NULL is accepted. */
CPIPE_API void cpipe_pool_free(cpipe_pool *p);

/* ---- both --------------------------------------------------------------------- */

/* Checks packed commands without sending them: returns how many commands the
 * buffer holds, or CPIPE_ERR_ARG. */
CPIPE_API int32_t cpipe_commands_count(const uint8_t *cmds, int32_t cmds_len);

/* Heap blocks held by the core and its hiredis right now: zero once every
 * handle is freed. */
CPIPE_API int64_t cpipe_live_allocations(void);

CPIPE_API int32_t cpipe_abi_version(void);

#endif
