/** A command argument. Strings are sent as UTF-8, numbers and bigints in decimal. */
export type Arg = string | number | bigint | Uint8Array;

/**
 * A decoded reply: status and bulk strings as `string` (or `Uint8Array` from
 * the `*Buffer` methods), integers as `number` (`bigint` beyond 2^53), nil as
 * `null`, arrays (nested) as arrays. RESP3 adds `boolean`, `Map` and doubles.
 * Inside arrays and pipelines an error reply appears as a `ReplyError`.
 */
export type Reply =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | Error
  | Reply[]
  | Map<Reply, Reply>;

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  /** Milliseconds to wait for the TCP connection; 0 waits forever. Default 10,000. */
  connectTimeout?: number;
  /** Milliseconds without progress after which a command fails with `TimeoutError`; 0 (default) waits forever. */
  commandTimeout?: number;
  /** ACL user name for AUTH (Redis 6+). */
  username?: string;
  /** Password for AUTH. */
  password?: string;
  /** Database index to SELECT. */
  db?: number;
  /** Connection name (CLIENT SETNAME), shown by CLIENT LIST. */
  name?: string;
  /**
   * The protocol: 2 (RESP2, default) or 3 (RESP3, via `HELLO 3`, replayed
   * after every reconnect). With 3, maps come back as `Map`, doubles as
   * numbers, booleans as booleans.
   */
  protocol?: 2 | 3;
}
