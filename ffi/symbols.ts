/**
 * Every symbol of the native core, under its C name, with the C type of each
 * parameter beside it. Written in Deno's notation; `ffi/load.ts` maps it for
 * Bun. See `csrc/cpipe.h` for what each function does.
 */
export const symbols = {
  cpipe_conn_create: {
    parameters: [
      "buffer", // const uint8_t *host
      "i32", // int32_t host_len
      "i32", // int32_t port
      "i32", // int32_t connect_timeout_ms
      "i32", // int32_t command_timeout_ms
      "buffer", // const uint8_t *handshake
      "i32", // int32_t handshake_len
    ],
    result: "pointer", // cpipe_conn *
  },
  cpipe_conn_connect: {
    parameters: ["pointer"], // cpipe_conn *c
    result: "i32",
  },
  cpipe_conn_exchange: {
    parameters: [
      "pointer", // cpipe_conn *c
      "buffer", // const uint8_t *cmds
      "i32", // int32_t cmds_len
      "buffer", // uint8_t *out
      "i32", // int32_t out_cap
    ],
    result: "i32",
  },
  cpipe_conn_send: {
    parameters: [
      "pointer", // cpipe_conn *c
      "buffer", // const uint8_t *cmds
      "i32", // int32_t cmds_len
      "buffer", // uint8_t *out
      "i32", // int32_t out_cap
    ],
    result: "i32",
  },
  cpipe_conn_pending: {
    parameters: ["pointer"], // const cpipe_conn *c
    result: "i32",
  },
  cpipe_conn_errstr: {
    parameters: [
      "pointer", // const cpipe_conn *c
      "buffer", // uint8_t *buf
      "i32", // int32_t cap
    ],
    result: "i32",
  },
  cpipe_conn_close: {
    parameters: ["pointer"], // cpipe_conn *c
    result: "i32",
  },
  cpipe_conn_free: {
    parameters: ["pointer"], // cpipe_conn *c
    result: "void",
  },
  cpipe_commands_count: {
    parameters: [
      "buffer", // const uint8_t *cmds
      "i32", // int32_t cmds_len
    ],
    result: "i32",
  },
  cpipe_live_allocations: {
    parameters: [],
    result: "i64",
  },
  cpipe_abi_version: {
    parameters: [],
    result: "i32",
  },
  cpipe_pool_create: {
    parameters: [
      "buffer", // const uint8_t *host
      "i32", // int32_t host_len
      "i32", // int32_t port
      "i32", // int32_t size
      "i32", // int32_t exclusive
      "i32", // int32_t connect_timeout_ms
      "i32", // int32_t command_timeout_ms
      "i32", // int32_t reconnect_max_ms
      "i32", // int32_t max_in_flight
      "buffer", // const uint8_t *handshake
      "i32", // int32_t handshake_len
    ],
    result: "pointer", // cpipe_pool *
  },
  cpipe_pool_notify_fd: {
    parameters: [
      "pointer", // cpipe_pool *p
      "i32", // int32_t take
    ],
    result: "i32",
  },
  cpipe_pool_submit: {
    parameters: [
      "pointer", // cpipe_pool *p
      "buffer", // const uint8_t *cmds
      "i32", // int32_t cmds_len
      "buffer", // const uint8_t *ids
      "i32", // int32_t ids_len
      "i32", // int32_t route
    ],
    result: "i32",
  },
  cpipe_pool_drain: {
    parameters: [
      "pointer", // cpipe_pool *p
      "buffer", // uint8_t *out
      "i32", // int32_t out_cap
    ],
    result: "i32",
  },
  cpipe_pool_lease: {
    parameters: ["pointer"], // cpipe_pool *p
    result: "i32",
  },
  cpipe_pool_release: {
    parameters: [
      "pointer", // cpipe_pool *p
      "i32", // int32_t slot
      "i32", // int32_t keep
    ],
    result: "i32",
  },
  cpipe_pool_connected: {
    parameters: ["pointer"], // cpipe_pool *p
    result: "i32",
  },
  cpipe_pool_errstr: {
    parameters: [
      "pointer", // const cpipe_pool *p
      "buffer", // uint8_t *buf
      "i32", // int32_t cap
    ],
    result: "i32",
  },
  cpipe_pool_close: {
    parameters: ["pointer"], // cpipe_pool *p
    result: "i32",
  },
  cpipe_pool_free: {
    parameters: ["pointer"], // cpipe_pool *p
    result: "void",
  },
} as const;

/** The ABI this TypeScript expects; `cpipe_abi_version()` must match. */
export const ABI_VERSION = 3;

/** An opaque native handle (a pointer object in Deno, a number in Bun). */
export type Handle = NonNullable<unknown>;

/** The native functions as the rest of cpipe calls them, in either runtime. */
export interface Native {
  cpipe_conn_create(
    host: Uint8Array,
    hostLen: number,
    port: number,
    connectTimeoutMs: number,
    commandTimeoutMs: number,
    handshake: Uint8Array,
    handshakeLen: number,
  ): Handle | null;
  cpipe_conn_connect(conn: Handle): number;
  cpipe_conn_exchange(conn: Handle, cmds: Uint8Array, cmdsLen: number, out: Uint8Array, outCap: number): number;
  cpipe_conn_send(conn: Handle, cmds: Uint8Array, cmdsLen: number, out: Uint8Array, outCap: number): number;
  cpipe_conn_pending(conn: Handle): number;
  cpipe_conn_errstr(conn: Handle, buf: Uint8Array, cap: number): number;
  cpipe_conn_close(conn: Handle): number;
  cpipe_conn_free(conn: Handle): void;
  cpipe_commands_count(cmds: Uint8Array, cmdsLen: number): number;
  cpipe_live_allocations(): number | bigint;
  cpipe_abi_version(): number;
  cpipe_pool_create(
    host: Uint8Array,
    hostLen: number,
    port: number,
    size: number,
    exclusive: number,
    connectTimeoutMs: number,
    commandTimeoutMs: number,
    reconnectMaxMs: number,
    maxInFlight: number,
    handshake: Uint8Array,
    handshakeLen: number,
  ): Handle | null;
  cpipe_pool_notify_fd(pool: Handle, take: number): number;
  cpipe_pool_submit(
    pool: Handle,
    cmds: Uint8Array,
    cmdsLen: number,
    ids: Uint8Array,
    idsLen: number,
    route: number,
  ): number;
  cpipe_pool_drain(pool: Handle, out: Uint8Array, outCap: number): number;
  cpipe_pool_lease(pool: Handle): number;
  cpipe_pool_release(pool: Handle, slot: number, keep: number): number;
  cpipe_pool_connected(pool: Handle): number;
  cpipe_pool_errstr(pool: Handle, buf: Uint8Array, cap: number): number;
  cpipe_pool_close(pool: Handle): number;
  cpipe_pool_free(pool: Handle): void;
}
