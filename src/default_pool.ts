/**
 * The module's default pool, so the seed's asynchronous one-liners work:
 * `cpipe.connectPool({ port }); await cpipe.phset("h", "k", "v")`.
 */
import { CpipeError } from "./errors.ts";
import { type AddressOptions, type PoolOptions, poolSettings } from "./options.ts";
import { Pool } from "./pool.ts";
import type { Arg, Reply } from "./types.ts";

let current: Pool | null = null;

/**
 * Creates a pool of connections and makes it the module's default. It
 * connects in the background: when the server cannot be reached, the first
 * calls reject with `ConnectionError`. With no argument it reads
 * `REDIS_URL` (then `VALKEY_URL`), else `127.0.0.1:6379`.
 *
 * @example
 * ```ts
 * import * as cpipe from "jsr:@x/cpipe";
 * const pool = cpipe.connectPool({ host: "localhost", port: 6379, size: 10 });
 * await Promise.all(Array.from({ length: 10_000 }, (_, i) => cpipe.phset("words", `word|${i}`, 1)));
 * await pool.close();
 * ```
 */
export function connectPool(): Pool;
/** A pool for a `redis://`, `rediss://` or `unix://` URL. */
export function connectPool(url: string, options?: Omit<PoolOptions, keyof AddressOptions>): Pool;
/** A pool from one object: `url`, or `host`/`port`, or `path`, and the options. */
export function connectPool(options: PoolOptions): Pool;
export function connectPool(...args: unknown[]): Pool {
  const pool = new Pool(poolSettings(...(args as Parameters<typeof poolSettings>)));
  current = pool;
  return pool;
}

function noPool(): CpipeError {
  return new CpipeError("cpipe: no pool yet: call cpipe.connectPool() first");
}

/** The pool made by the last `connectPool()`. */
export function defaultPool(): Pool {
  if (current === null) throw noPool();
  return current;
}

/** The default pool, or a rejected promise when there is none: the p* functions never throw. */
function pool(): Pool | Promise<never> {
  return current ?? Promise.reject(noPool());
}

/** `hset` on the default pool. */
export function phset(key: Arg, field: Arg, value: Arg, ...more: Arg[]): Promise<number> {
  const p = pool();
  return p instanceof Pool ? p.hset(key, field, value, ...more) : p;
}

/** `hget` on the default pool. */
export function phget(key: Arg, field: Arg): Promise<string | null> {
  const p = pool();
  return p instanceof Pool ? p.hget(key, field) : p;
}

/** `send` on the default pool. */
export function psend(command: string, ...args: Arg[]): Promise<Reply> {
  const p = pool();
  return p instanceof Pool ? p.send(command, ...args) : p;
}
