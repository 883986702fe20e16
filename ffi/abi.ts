/**
 * The constants of the native core's byte formats and status codes, as
 * `csrc/cpipe.h` defines them (that file is the source; a unit test,
 * tests/unit/abi.test.ts, fails when a value here differs from it).
 */

/** `CPIPE_ABI_VERSION`: the ABI this TypeScript expects; `cpipe_abi_version()` must match. */
export const ABI_VERSION = 12;

/** Status codes (`CPIPE_OK`, `CPIPE_ERR_*`). */
export const Status = {
  OK: 0,
  ERR_ARG: -1,
  ERR_CLOSED: -2,
  ERR_CONN: -3,
  ERR_TIMEOUT: -4,
  ERR_PROTOCOL: -5,
  ERR_NOMEM: -6,
  ERR_HANDSHAKE: -7,
  ERR_BUSY: -8,
} as const;

/** Settings keys (`CPIPE_SET_*`) and the settings format's version. */
export const Setting = {
  SETTINGS_VERSION: 1,
  HOST: 1,
  PORT: 2,
  CONNECT_TIMEOUT: 3,
  COMMAND_TIMEOUT: 4,
  RECONNECT_MAX: 5,
  MAX_IN_FLIGHT: 6,
  SHARED: 7,
  EXCLUSIVE: 8,
  HANDSHAKE: 9,
  MAX_REPLY_BYTES: 10,
  KEEPALIVE: 11,
  ONLY_UP: 12,
  READY_CHECK: 13,
  RECONNECT_ON_READONLY: 14,
  HANDSHAKE_LENIENT: 15,
  TLS: 20,
  TLS_CA: 21,
  TLS_CERT: 22,
  TLS_KEY: 23,
  TLS_SERVERNAME: 24,
  TLS_VERIFY: 25,
} as const;

/** Bits of a call's flags (`CPIPE_CALL_*`); a Pub/Sub kind is one value under `PUBSUB_MASK`. */
export const Call = {
  BLOCKING: 0x1,
  /** On a submit's first call: refused (`ERR_CONN`) when the connection dropped since the submit before it. */
  SAME_SESSION: 0x2,
  /** Sent again should it never leave: its UNSENT failure carries its command (`RecordReader.command`). */
  RESEND: 0x4,
  PUBSUB_MASK: 0x70,
  SUBSCRIBE: 0x10,
  PSUBSCRIBE: 0x20,
  SSUBSCRIBE: 0x30,
  UNSUBSCRIBE: 0x40,
  PUNSUBSCRIBE: 0x50,
  SUNSUBSCRIBE: 0x60,
  SIZE: 8,
} as const;

/** Record kinds and flags (`CPIPE_RECORD_*`). */
export const Record = { REPLY: 1, FAILURE: 2, PUSH: 3, EVENT: 4, PARTIAL: 0x1, UNSENT: 0x2, HEAD: 12 } as const;

/** Connection events (`CPIPE_EVENT_*`). */
export const Event = { UP: 1, DOWN: 2, RELEASED: 3 } as const;

/** Roles of a pool's connections (`CPIPE_ROLE_*`). */
export const Role = { DIRECT: 0, SHARED: 1, EXCLUSIVE: 2 } as const;

/** Flags of `cpipe_pool_hand_over` (`CPIPE_HAND_OVER_*`). */
export const HandOver = { PARSE_ASIDE: 0x1 } as const;

/** Bits of the records header's flags (`CPIPE_FLAG_*`), and sizes. */
export const Header = { FLAG_UNSENT: 0x1, FLAG_MORE: 0x2, SIZE: 16 } as const;

/** `CPIPE_MAX_POOL_CONNECTIONS`. */
export const MAX_POOL_CONNECTIONS = 4096;
