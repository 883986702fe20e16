/* cpipe — the native core of a Redis client for Deno and Bun.
 *
 * The core owns sockets and protocol parsing (hiredis' reader); the host
 * language owns argument encoding and reply decoding. Both sides meet at two
 * byte formats, so that one FFI crossing moves a whole batch:
 *
 * Packed commands (host -> core), little-endian, repeated back to back:
 *     u32 argc (>= 1), then argc times { u32 len; u8 bytes[len] }
 *
 * Encoded replies (core -> host), little-endian, written after a 16-byte
 * header { u32 replies; u32 used; u32 flags; u32 need } at the start of the
 * caller's output buffer. `used` counts the bytes after the header. Each reply
 * is one type byte followed by its payload:
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
 * on failure, leaves a message readable with cpipe_conn_errstr(). No function
 * aborts or keeps a pointer to a caller's buffer past its return. */
#ifndef CPIPE_H
#define CPIPE_H

#include <stdint.h>

#if defined(_WIN32)
#define CPIPE_API __declspec(dllexport)
#else
#define CPIPE_API __attribute__((visibility("default")))
#endif

#define CPIPE_ABI_VERSION 3

/* Status codes. */
#define CPIPE_OK 0
#define CPIPE_ERR_ARG (-1)       /* invalid argument or malformed buffer */
#define CPIPE_ERR_CLOSED (-2)    /* the handle was closed */
#define CPIPE_ERR_CONN (-3)      /* cannot connect, or the connection broke */
#define CPIPE_ERR_TIMEOUT (-4)   /* no progress within the command timeout */
#define CPIPE_ERR_PROTOCOL (-5)  /* the server sent bytes that are not RESP */
#define CPIPE_ERR_NOMEM (-6)     /* out of memory */
#define CPIPE_ERR_HANDSHAKE (-7) /* a handshake command got an error reply */
#define CPIPE_ERR_BUSY (-8)      /* a pool's limit is reached: retry after draining */

/* Bits of the reply header's `flags`. */
#define CPIPE_FLAG_UNSENT 0x1 /* bytes of earlier commands still wait to be sent */
#define CPIPE_FLAG_MORE 0x2   /* cpipe_pool_drain: more records wait to be drained */

#define CPIPE_REPLY_HEADER 16
#define CPIPE_ERRSTR_LEN 256

typedef struct cpipe_conn cpipe_conn;

/* Allocates a connection handle; does not connect. `host` is a name or an
 * address, or a unix socket path when it starts with '/'. `handshake` holds
 * packed commands (AUTH, SELECT, CLIENT SETNAME...) run after every connect.
 * Timeouts are in milliseconds, 0 for none. Returns NULL only when an
 * argument is invalid or memory is exhausted. */
CPIPE_API cpipe_conn *cpipe_conn_create(const uint8_t *host, int32_t host_len, int32_t port,
                                        int32_t connect_timeout_ms, int32_t command_timeout_ms,
                                        const uint8_t *handshake, int32_t handshake_len);

/* Connects (or reconnects) and runs the handshake. */
CPIPE_API int32_t cpipe_conn_connect(cpipe_conn *c);

/* Sends the packed commands in `cmds` (none when cmds_len is 0), then collects
 * replies into `out` until at least one reply is there and no more can be read
 * without waiting, or nothing is awaited, or `out` is full. A reply larger
 * than `out` is kept and its size is reported in the header's `need`; call
 * again with a larger buffer and no commands to receive it. Reconnects first
 * when an earlier failure dropped the connection. On CPIPE_ERR_CONN,
 * CPIPE_ERR_TIMEOUT and CPIPE_ERR_PROTOCOL the connection is dropped and
 * commands awaiting replies are forgotten; the header still describes the
 * replies that arrived before the failure. */
CPIPE_API int32_t cpipe_conn_exchange(cpipe_conn *c, const uint8_t *cmds, int32_t cmds_len,
                                      uint8_t *out, int32_t out_cap);

/* As cpipe_conn_exchange, without waiting for replies: queues the commands,
 * sends what the socket takes, collects the replies already there, and
 * returns once no more than 1 MiB waits to be sent. Lets a caller stream a
 * long pipeline while it is still encoding it; the remaining replies come
 * from later exchanges, in order. */
CPIPE_API int32_t cpipe_conn_send(cpipe_conn *c, const uint8_t *cmds, int32_t cmds_len, uint8_t *out,
                                  int32_t out_cap);

/* Number of commands sent whose replies have not been returned yet. */
CPIPE_API int32_t cpipe_conn_pending(const cpipe_conn *c);

/* Copies the last error message (not NUL-terminated) into buf; returns its
 * full length, which may exceed cap. */
CPIPE_API int32_t cpipe_conn_errstr(const cpipe_conn *c, uint8_t *buf, int32_t cap);

/* Closes the socket for good: later exchanges fail with CPIPE_ERR_CLOSED. */
CPIPE_API int32_t cpipe_conn_close(cpipe_conn *c);

/* Closes and frees the handle. NULL is accepted. */
CPIPE_API void cpipe_conn_free(cpipe_conn *c);

/* Checks packed commands without sending them: returns how many commands the
 * buffer holds, or CPIPE_ERR_ARG. */
CPIPE_API int32_t cpipe_commands_count(const uint8_t *cmds, int32_t cmds_len);

/* Heap blocks held by the core and its hiredis right now: zero once every
 * handle is freed. */
CPIPE_API int64_t cpipe_live_allocations(void);

CPIPE_API int32_t cpipe_abi_version(void);

/* ---- the pool ----------------------------------------------------------------
 * A pool of connections to one server, served by one native I/O thread that
 * connects, reconnects, reads and parses; the host only submits commands
 * and drains completions, and never waits on the network.
 *
 * Commands are submitted in batches under host-chosen u32 ids; one batch
 * goes to one connection, in order and contiguous, so a MULTI ... EXEC
 * inside a batch stays whole. Each command
 * gets exactly one completion record, drained into the caller's buffer after
 * the 16-byte header { u32 records; u32 used; u32 flags; u32 need }:
 *     u32 id; u32 len; u8 bytes[len]
 * where bytes is one encoded reply (see above), or a failure:
 *     '!' i32 status (CPIPE_ERR_CONN, _TIMEOUT, _PROTOCOL, _HANDSHAKE,
 *         _CLOSED, _NOMEM); u32 len; u8 message[len]
 * A command fails only when its connection breaks before its reply came
 * (every command that connection owed a reply fails with it) or the pool
 * closes. Broken connections reconnect in the background, waiting 10 ms,
 * then twice as long after each failure, up to `reconnect_max_ms`.
 *
 * When the completion queue goes from empty to non-empty the I/O thread
 * writes one byte to the host's end of a socket pair (cpipe_pool_notify_fd);
 * the host watches it in its event loop and then calls cpipe_pool_drain
 * until the header's flags lack CPIPE_FLAG_MORE. The bytes carry no meaning.
 *
 * Every function but cpipe_pool_free may be called only from one thread (the
 * host's) at a time. */
typedef struct cpipe_pool cpipe_pool;

/* Creates a pool of `size` shared connections (1 to 1024) and up to
 * `exclusive` more (0 to 1024) made on demand for cpipe_pool_lease, and
 * starts its I/O thread, which connects the shared ones at once. `host`,
 * `handshake` and the timeouts are as for cpipe_conn_create; the connect
 * timeout covers the handshake. The command timeout (0 for none) drops a
 * shared connection that owes replies and received nothing for that long.
 * At most `max_in_flight` commands may be submitted and not yet drained.
 * Returns NULL when an argument is invalid or resources are exhausted. */
CPIPE_API cpipe_pool *cpipe_pool_create(const uint8_t *host, int32_t host_len, int32_t port, int32_t size,
                                        int32_t exclusive, int32_t connect_timeout_ms, int32_t command_timeout_ms,
                                        int32_t reconnect_max_ms, int32_t max_in_flight,
                                        const uint8_t *handshake, int32_t handshake_len);

/* The host's end of the notification socket pair. With `take` 1 the caller
 * owns it from now on (and closes it); otherwise the pool closes it when
 * freed. Fails once it was taken. */
CPIPE_API int32_t cpipe_pool_notify_fd(cpipe_pool *p, int32_t take);

/* Submits packed commands to one connection, under the ids in `ids` (one
 * u32 per command, little-endian; the pool does not interpret them).
 * `route` -1 lets the pool pick a shared connection (the least busy that is
 * up; while all are connecting, one of those, which sends them once ready);
 * an index from an earlier submit keeps to that connection (so that batches
 * stay in order); a leased exclusive connection's index sends them there.
 * Returns the index of the connection, or CPIPE_ERR_CONN when it (or, for
 * -1, every shared connection) is down and waiting to retry, CPIPE_ERR_BUSY
 * past max_in_flight, CPIPE_ERR_ARG, CPIPE_ERR_NOMEM or CPIPE_ERR_CLOSED; on
 * failure nothing was submitted and no record will come for these ids. */
CPIPE_API int32_t cpipe_pool_submit(cpipe_pool *p, const uint8_t *cmds, int32_t cmds_len, const uint8_t *ids,
                                    int32_t ids_len, int32_t route);

/* Moves completion records into `out` (header first, whole records only).
 * A record larger than `out` stays queued and its size is reported in the
 * header's `need`. Works after cpipe_pool_close too. */
CPIPE_API int32_t cpipe_pool_drain(cpipe_pool *p, uint8_t *out, int32_t out_cap);

/* Leases an exclusive connection (connecting it when needed) and returns
 * its index for cpipe_pool_submit, or CPIPE_ERR_BUSY when all are leased. */
CPIPE_API int32_t cpipe_pool_lease(cpipe_pool *p);

/* Ends a lease. With `keep` 0, or when the connection is not up or still
 * owes replies, it is closed (commands it owed fail with CPIPE_ERR_CLOSED);
 * otherwise it stays open for the next lease. */
CPIPE_API int32_t cpipe_pool_release(cpipe_pool *p, int32_t slot, int32_t keep);

/* Number of connections up now (shared and exclusive). */
CPIPE_API int32_t cpipe_pool_connected(cpipe_pool *p);

/* Copies the last error message of a failed call (not NUL-terminated) into
 * buf; returns its full length. */
CPIPE_API int32_t cpipe_pool_errstr(const cpipe_pool *p, uint8_t *buf, int32_t cap);

/* Stops and joins the I/O thread, closes every connection, and fails every
 * command still owed a reply with CPIPE_ERR_CLOSED (drain to collect them).
 * Later submits fail with CPIPE_ERR_CLOSED. Safe to call twice. */
CPIPE_API int32_t cpipe_pool_close(cpipe_pool *p);

/* Closes the pool when needed and frees it. NULL is accepted. */
CPIPE_API void cpipe_pool_free(cpipe_pool *p);

#endif
