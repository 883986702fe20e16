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

/** Options of {@linkcode connect}; defined with the other options in `options.ts`, re-exported here for old imports. */
export type { ConnectOptions } from "./options.ts";
