/**
 * The module's default client, so the seed's one-liners work:
 * `cpipe.connect(); cpipe.hset("h", "k", "v"); cpipe.hget("h", "k")`.
 */
import { Client } from "./client.ts";
import { CpipeError } from "./errors.ts";
import type { SetOptions } from "./commands.ts";
import { type ClientOptions, clientSettings, type ConnectOptions } from "./options.ts";
import type { Arg, Reply } from "./types.ts";

let current: Client | null = null;

/**
 * Connects a synchronous client and makes it the module's default. With no
 * argument it reads `REDIS_URL` (then `VALKEY_URL`), else `127.0.0.1:6379`.
 *
 * @example
 * ```ts
 * import * as cpipe from "jsr:@x/cpipe";
 * const r = cpipe.connect("redis://:secret@localhost:6379/2");
 * r.set("greeting", "hello");
 * cpipe.get("greeting"); // "hello", through the default client
 * ```
 */
export function connect(): Client;
/** Connects to a `redis://`, `rediss://` or `unix://` URL. */
export function connect(url: string, options?: ConnectOptions): Client;
/** Connects to a host and port (a host starting with `/` is a unix socket path). */
export function connect(host: string | undefined, port?: number, options?: ConnectOptions): Client;
/** Connects with everything in one object: `url`, or `host`/`port`, or `path`, and the options. */
export function connect(options: ClientOptions): Client;
export function connect(...args: unknown[]): Client {
  const client = new Client(clientSettings(...(args as Parameters<typeof clientSettings>)));
  current = client;
  return client;
}

/** The client made by the last `connect()`. */
export function defaultClient(): Client {
  if (current === null) throw new CpipeError("cpipe: no client yet: call cpipe.connect() first");
  return current;
}

/** `send` on the default client. */
export function send(command: string, ...args: Arg[]): Reply {
  return defaultClient().send(command, ...args);
}

/** `get` on the default client. */
export function get(key: Arg): string | null {
  return defaultClient().get(key);
}

/** `set` on the default client. */
export function set(key: Arg, value: Arg, options?: SetOptions): string | null {
  return defaultClient().set(key, value, options);
}

/** `del` on the default client. */
export function del(...keys: Arg[]): number {
  return defaultClient().del(...keys);
}

/** `hset` on the default client. */
export function hset(key: Arg, field: Arg, value: Arg, ...more: Arg[]): number {
  return defaultClient().hset(key, field, value, ...more);
}

/** `hget` on the default client. */
export function hget(key: Arg, field: Arg): string | null {
  return defaultClient().hget(key, field);
}

/** `addCommand` on the default client: queue for the next `execute()`. */
export function addCommand(command: string, ...args: Arg[]): void {
  defaultClient().addCommand(command, ...args);
}

/** `execute` on the default client: send the queued commands, replies in order. */
export function execute(): Reply[] {
  return defaultClient().execute();
}
