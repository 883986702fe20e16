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

#define CPIPE_ABI_VERSION 1

/* Status codes. */
#define CPIPE_OK 0
#define CPIPE_ERR_ARG (-1)       /* invalid argument or malformed buffer */
#define CPIPE_ERR_CLOSED (-2)    /* the handle was closed */
#define CPIPE_ERR_CONN (-3)      /* cannot connect, or the connection broke */
#define CPIPE_ERR_TIMEOUT (-4)   /* no progress within the command timeout */
#define CPIPE_ERR_PROTOCOL (-5)  /* the server sent bytes that are not RESP */
#define CPIPE_ERR_NOMEM (-6)     /* out of memory */
#define CPIPE_ERR_HANDSHAKE (-7) /* a handshake command got an error reply */

/* Bits of the reply header's `flags`. */
#define CPIPE_FLAG_UNSENT 0x1 /* bytes of earlier commands still wait to be sent */

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

#endif
