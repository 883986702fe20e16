/**
 * Every symbol of the native core, under its C name, with the C type of each
 * parameter beside it. Written in Deno's notation; `ffi/load.ts` maps it for
 * Bun, and the `Native` type below is derived from it. See `csrc/cpipe.h`
 * for what each function does.
 */
export const symbols = {
  cpipe_client_create: {
    parameters: [
      "buffer", // const uint8_t *settings
      "i32", // int32_t settings_len
    ],
    result: "pointer", // cpipe_client *
  },
  cpipe_client_connect: {
    parameters: [
      "pointer", // cpipe_client *c
      "buffer", // uint8_t *out
      "i32", // int32_t out_cap
    ],
    result: "i32",
  },
  cpipe_client_exchange: {
    parameters: [
      "pointer", // cpipe_client *c
      "buffer", // const uint8_t *cmds
      "i32", // int32_t cmds_len
      "buffer", // const uint8_t *calls
      "i32", // int32_t calls_len
      "buffer", // uint8_t *out
      "i32", // int32_t out_cap
    ],
    result: "i32",
  },
  cpipe_client_send: {
    parameters: [
      "pointer", // cpipe_client *c
      "buffer", // const uint8_t *cmds
      "i32", // int32_t cmds_len
      "buffer", // const uint8_t *calls
      "i32", // int32_t calls_len
      "buffer", // uint8_t *out
      "i32", // int32_t out_cap
    ],
    result: "i32",
  },
  cpipe_client_wait: {
    parameters: [
      "pointer", // cpipe_client *c
      "i32", // int32_t timeout_ms
      "buffer", // uint8_t *out
      "i32", // int32_t out_cap
    ],
    result: "i32",
  },
  cpipe_client_pending: {
    parameters: ["pointer"], // const cpipe_client *c
    result: "i32",
  },
  cpipe_client_errstr: {
    parameters: [
      "pointer", // const cpipe_client *c
      "buffer", // uint8_t *buf
      "i32", // int32_t cap
    ],
    result: "i32",
  },
  cpipe_client_close: {
    parameters: ["pointer"], // cpipe_client *c
    result: "i32",
  },
  cpipe_client_free: {
    parameters: ["pointer"], // cpipe_client *c
    result: "void",
  },
  cpipe_pool_create: {
    parameters: [
      "buffer", // const uint8_t *settings
      "i32", // int32_t settings_len
    ],
    result: "pointer", // cpipe_pool *
  },
  cpipe_pool_add: {
    parameters: [
      "pointer", // cpipe_pool *p
      "buffer", // const uint8_t *settings
      "i32", // int32_t settings_len
      "i32", // int32_t role
    ],
    result: "i32",
  },
  cpipe_pool_remove: {
    parameters: [
      "pointer", // cpipe_pool *p
      "i32", // int32_t connection
    ],
    result: "i32",
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
      "buffer", // const uint8_t *calls
      "i32", // int32_t calls_len
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
  cpipe_pool_acquire: {
    parameters: ["pointer"], // cpipe_pool *p
    result: "i32",
  },
  cpipe_pool_release: {
    parameters: [
      "pointer", // cpipe_pool *p
      "i32", // int32_t connection
      "i32", // int32_t keep
    ],
    result: "i32",
  },
  cpipe_pool_pause: {
    parameters: [
      "pointer", // cpipe_pool *p
      "i32", // int32_t connection
      "i32", // int32_t paused
    ],
    result: "i32",
  },
  cpipe_pool_hand_over: {
    parameters: [
      "pointer", // cpipe_pool *p
      "i32", // int32_t connection
      "i32", // int32_t flags
    ],
    result: "i32",
  },
  cpipe_pool_feed: {
    parameters: [
      "pointer", // cpipe_pool *p
      "i32", // int32_t connection
      "i32", // int32_t fd
      "buffer", // const uint8_t *data
      "i32", // int32_t len
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
} as const;

/** An opaque native handle (a pointer object in Deno, a number in Bun). */
export type Handle = NonNullable<unknown>;

/** The JavaScript type of a parameter of each FFI type. */
interface ParameterTypes {
  buffer: Uint8Array;
  pointer: Handle;
  i32: number;
  i64: number | bigint;
}

/** The JavaScript type of a result of each FFI type. */
interface ResultTypes {
  pointer: Handle | null;
  i32: number;
  i64: number | bigint;
  void: void;
}

type Parameters<P extends readonly (keyof ParameterTypes)[]> = { -readonly [K in keyof P]: ParameterTypes[P[K]] };

/** The native functions as the rest of cpipe calls them, in either runtime: derived from `symbols`. */
export type Native = {
  [Name in keyof typeof symbols]: (
    ...args: Parameters<(typeof symbols)[Name]["parameters"]>
  ) => ResultTypes[(typeof symbols)[Name]["result"]];
};
