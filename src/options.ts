/**
 * Connection options in one place: whatever a user passes to `connect()` or `connectPool()` (a URL, a host and
 * port, an options object, or nothing and `REDIS_URL`) becomes one checked, normalized, frozen settings object,
 * and the engine reads only that. Every mistake is a `TypeError` that names the option and the bad value, never a
 * password; an unknown option name is a mistake too.
 */
import type { ClientCacheOptions, ClientCacheSettings } from "./client_cache.ts";
import {
  type Address,
  DEFAULT_HOST,
  DEFAULT_PORT,
  ipv6,
  maskUrl,
  MAX_DB,
  NAME,
  parseUrl,
  type RedisUrl,
} from "./url.ts";
import { VERSION } from "./version.ts";

export { type Address, maskUrl, parseRedisUrl, type RedisUrl } from "./url.ts";

// ---- what users write ---------------------------------------------------------------------------------------

/**
 * TLS options, named as Node's and Bun's `tls.connect` name them. Certificates are verified by default against the
 * roots the runtime trusts.
 *
 * @example
 * ```ts
 * connect("rediss://cache.example.com:6380", { tls: { ca: Deno.readTextFileSync("ca.pem") } });
 * ```
 */
export interface TlsOptions {
  /** Trusted CA certificates (PEM text or bytes), instead of the runtime's roots. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Client certificate chain (PEM), for servers that require mutual TLS; needs `key`. */
  cert?: string | Uint8Array;
  /** Private key of `cert` (PEM). Never printed, logged or put in a message. */
  key?: string | Uint8Array;
  /** Server name for SNI and for checking the certificate. Default: the host, unless it is an IP address. */
  servername?: string;
  /** `false` accepts any certificate (tests only: it defeats TLS). Default `true`. */
  rejectUnauthorized?: boolean;
}

/**
 * Options of {@linkcode connect}, also taken by {@linkcode connectPool}.
 *
 * @example
 * ```ts
 * connect("localhost", 6379, { password: "secret", db: 2, name: "worker-1", commandTimeout: 5_000 });
 * ```
 */
export interface ConnectOptions {
  /**
   * Milliseconds to wait for the TCP connection; 0 waits forever. Default 10,000.
   *
   * @example `{ connectTimeout: 2_000 }`
   */
  connectTimeout?: number;
  /**
   * Milliseconds from a command's send to its reply after which it fails with `TimeoutError` (its connection is
   * dropped); 0 (default) waits forever. Commands that block by design (BLPOP, XREAD BLOCK, WAIT…) are exempt: they wait as long as they ask.
   *
   * @example `{ commandTimeout: 5_000 }`
   */
  commandTimeout?: number;
  /**
   * ACL user name (Redis 6+). Needs `password` (an ACL user with `nopass` takes any, so `password: ""` will do).
   *
   * @example `{ username: "alice", password: "s3cret" }`
   */
  username?: string;
  /**
   * Password for AUTH (or HELLO's AUTH with `protocol: 3`). Never appears in a message.
   *
   * @example `{ password: "s3cret" }`
   */
  password?: string;
  /**
   * Database index to SELECT after every connect, from 0 to 2^31-1. Default 0.
   *
   * @example `{ db: 2 }`
   */
  db?: number;
  /**
   * Connection name (CLIENT SETNAME), shown by CLIENT LIST: printable ASCII without spaces.
   *
   * @example `{ name: "worker-1" }`
   */
  name?: string;
  /**
   * RESP version spoken: 2 (default) or 3 (`HELLO 3`, replayed after every reconnect).
   *
   * @example `{ protocol: 3 }`
   */
  protocol?: 2 | 3;
  /**
   * Prepended to every key argument (ioredis' name): the command table's key positions say which arguments are
   * keys, for typed methods, `send`, pipelines and scripts alike. Patterns are not keys: KEYS and SCAN's MATCH
   * are sent as given, and keys in replies keep the prefix (as ioredis).
   *
   * @example `{ keyPrefix: "app1:" }`
   */
  keyPrefix?: string;
  /**
   * TLS: `true` for the defaults (verified against the runtime's roots), or {@linkcode TlsOptions}. A `rediss://`
   * URL turns it on; `tls: false` beside one is an error.
   *
   * @example `{ tls: { ca: caPem, servername: "cache.internal" } }`
   */
  tls?: boolean | TlsOptions;
  /**
   * TCP keepalive: `true` (default, first probe after 15 s idle, as hiredis does), `false`, or the idle time in
   * milliseconds (the system rounds it up to whole seconds).
   *
   * @example `{ keepAlive: 60_000 }`
   */
  keepAlive?: boolean | number;
  /**
   * Largest reply accepted, in bytes, checked at its header: a larger one is a `ProtocolError` that drops the
   * connection. Default 512 MiB, Redis' own `proto-max-bulk-len`; at most 4 GiB.
   *
   * @example `{ maxReplyBytes: 64 * 1024 * 1024 }`
   */
  maxReplyBytes?: number;
  /**
   * Whether a connection waits for a restarted server to finish loading its data before it counts as up: a PING
   * ends the handshake after every connect, and while the server answers it `LOADING` (as it would answer every
   * command) the connection asks again every 100 ms instead, within `connectTimeout`. A pool's commands meanwhile
   * wait in its offline queue; the synchronous client's `connect` waits. Default `true` (ioredis'
   * `enableReadyCheck`); `false`, with `clientInfo: false` and no other handshake command (`password`, `db`,
   * `name`…), saves the handshake's round trip on each connect.
   *
   * @example `{ readyCheck: false }`
   */
  readyCheck?: boolean;
  /**
   * Whether a `READONLY` reply drops its connection, which then dials the address again (the reply still goes to its
   * command; the other commands in flight on that connection reject with `ConnectionError`); a pool's other
   * connections to the address dial again too, each once its commands in flight are answered. For a managed service
   * whose failover moves a DNS name to the new master (ElastiCache, Azure, Memorystore): the old master, made a
   * replica, keeps the connections open and refuses every write. ioredis users do this with `reconnectOnError`.
   * Default `false`: a connection to a replica on purpose keeps serving reads.
   *
   * @example `{ url: process.env.REDIS_URL, reconnectOnReadOnly: true }`
   */
  reconnectOnReadOnly?: boolean;
  /**
   * Whether every connection names this library to the server after it connects (`CLIENT SETINFO lib-name cpipe`
   * and `lib-ver`, sent with the other handshake commands, no round trip of its own), so that `CLIENT LIST` shows
   * which program holds it, as Redis asks of client libraries. A server before 7.2, or a user not allowed the
   * command, refuses it, and the refusal is ignored. Default `true`.
   *
   * @example `{ clientInfo: false }`
   */
  clientInfo?: boolean;
  /**
   * A suffix for the library name that `clientInfo` reports, as Redis suggests for a library built on this one:
   * `lib-name cpipe(<tag>)`. Printable ASCII without spaces or parentheses.
   *
   * @example `{ clientInfoTag: "my-queue_v1.2" }`
   */
  clientInfoTag?: string;
}

/** Where to connect, in an options object: a `url`, or `host` and `port`, or a unix socket `path`. */
export interface AddressOptions {
  /**
   * A Redis URL (see {@linkcode parseRedisUrl}); nothing else of the address may be given beside it.
   *
   * @example `{ url: "redis://alice:s3cret@cache:6380/2" }`
   */
  url?: string;
  /**
   * Server host name or IP address (IPv6 with or without brackets), or a unix socket path starting with `/`.
   * Default `127.0.0.1`.
   *
   * @example `{ host: "cache.internal", port: 6380 }`
   */
  host?: string;
  /**
   * Server port, 1 to 65535. Default 6379.
   *
   * @example `{ port: 6380 }`
   */
  port?: number;
  /**
   * Unix socket path, as ioredis and node-redis name it.
   *
   * @example `{ path: "/run/redis/redis.sock" }`
   */
  path?: string;
}

/**
 * The one-object form of {@linkcode connect}: address and options together.
 *
 * @example
 * ```ts
 * connect({ url: process.env.CACHE_URL, commandTimeout: 1_000 });
 * connect({ host: "cache.internal", port: 6380, db: 1 });
 * ```
 */
export interface ClientOptions extends ConnectOptions, AddressOptions {}

/**
 * Options of {@linkcode connectPool}: the address, the connection options, and the pool's own.
 *
 * @example
 * ```ts
 * connectPool({ url: "redis://cache:6379", size: 4, exclusiveConnections: 2, offlineTimeout: 3_000 });
 * ```
 */
export interface PoolOptions extends ConnectOptions, AddressOptions {
  /**
   * Shared connections, which every caller's commands are spread over; 1 to 1024. Default 10.
   *
   * @example `{ size: 4 }`
   */
  size?: number;
  /**
   * Exclusive connections, made on demand, for blocking commands (BLPOP…) and `acquire()`; 0 to 1024. More such
   * callers wait for one to be free. Default: `size`.
   *
   * @example `{ exclusiveConnections: 8 }`
   */
  exclusiveConnections?: number;
  /**
   * Commands sent and not yet answered, at most; more wait in the pool. Default 131,072.
   *
   * @example `{ maxInFlight: 10_000 }`
   */
  maxInFlight?: number;
  /**
   * Commands waiting to be sent, at most; more reject with `QueueFullError`. Default 1,048,576.
   *
   * @example `{ maxQueued: 100_000 }`
   */
  maxQueued?: number;
  /**
   * Longest wait between attempts to reconnect a dropped connection, in milliseconds. Default 2,000.
   *
   * @example `{ reconnectMaxDelay: 500 }`
   */
  reconnectMaxDelay?: number;
  /**
   * How long `close()` lets commands in flight finish, in milliseconds. Default 5,000.
   *
   * @example `{ closeTimeout: 1_000 }`
   */
  closeTimeout?: number;
  /**
   * Whether commands issued while no connection is up wait for one (`true`, default) or fail at once.
   *
   * @example `{ offlineQueue: false }`
   */
  offlineQueue?: boolean;
  /**
   * How long a command waits in the offline queue, in milliseconds; 0 waits forever. Default 5,000.
   *
   * @example `{ offlineTimeout: 10_000 }`
   */
  offlineTimeout?: number;
  /**
   * How long waiting for an exclusive connection (a blocking command, `acquire()`) may take, in milliseconds;
   * 0 waits forever. Default: `commandTimeout` when set, else 10,000.
   *
   * @example `{ acquireTimeout: 2_000 }`
   */
  acquireTimeout?: number;
  /**
   * Client-side caching: replies of read commands (GET, HGET, HGETALL, SMEMBERS…) sent by the pool's methods are
   * kept and served from the process until the server says their key changed (`CLIENT TRACKING`; needs RESP3, so
   * the pool speaks it unless `protocol: 2` was asked for, which is an error here). `true` takes the defaults.
   *
   * @example `{ clientCache: { maxEntries: 10_000, ttl: 60_000 } }`
   */
  clientCache?: boolean | ClientCacheOptions;
}

// ---- what the engine reads ----------------------------------------------------------------------------------

/** TLS settings, normalized: PEM text is turned into bytes, defaults are filled in. */
export interface TlsSettings {
  /** Trusted CA certificates; empty means the runtime's own roots. */
  readonly ca: readonly Uint8Array[];
  /** Client certificate chain for mutual TLS, or `null`. */
  readonly cert: Uint8Array | null;
  /** Its private key, or `null` (both or neither). Masked when the settings are printed. */
  readonly key: Uint8Array | null;
  /** SNI and certificate name: the host unless it is an IP address or a socket path, or as given. */
  readonly servername: string | null;
  /** Whether a certificate that does not verify fails the connection. */
  readonly rejectUnauthorized: boolean;
}

/**
 * Everything a connection needs, checked and frozen; made by {@linkcode clientSettings}. Printing it (console.log,
 * JSON.stringify, Deno.inspect, Bun.inspect) shows `****` in place of the password and the TLS key.
 */
export interface ClientSettings {
  /** Where to connect. */
  readonly address: Address;
  /** TLS settings, or `null` for a plain connection. */
  readonly tls: TlsSettings | null;
  /** ACL user name, or `null`. When set, `password` is set too. */
  readonly username: string | null;
  /** Password, or `null` for no AUTH. */
  readonly password: string | null;
  /** Database to SELECT; 0 sends no SELECT. */
  readonly db: number;
  /** Connection name for CLIENT SETNAME, or `null`. */
  readonly name: string | null;
  /** RESP version: 3 sends `HELLO 3`. */
  readonly protocol: 2 | 3;
  /** Prepended to every key argument, or `null`. */
  readonly keyPrefix: string | null;
  /** Milliseconds to wait for a connection; 0 waits forever. */
  readonly connectTimeout: number;
  /** Milliseconds without progress before a command fails; 0 waits forever. */
  readonly commandTimeout: number;
  /** TCP keepalive idle time in milliseconds; 0 turns keepalive off. */
  readonly keepAlive: number;
  /** Largest reply accepted, in bytes. */
  readonly maxReplyBytes: number;
  /** A PING ends every handshake, and the connection is not up while the server answers it LOADING. */
  readonly readyCheck: boolean;
  /** A READONLY reply drops its connection, which dials the address again. */
  readonly reconnectOnReadOnly: boolean;
  /** The `lib-name` every connection reports with CLIENT SETINFO (with this version as `lib-ver`), or `null`. */
  readonly libName: string | null;
  /**
   * Send READONLY after every connect (a cluster replica's connection that serves reads); set by
   * {@linkcode withReadOnly} only.
   */
  readonly readOnly?: boolean;
}

/** A pool's settings: a connection's, and the pool's own; made by {@linkcode poolSettings}. */
export interface PoolSettings extends ClientSettings {
  /** Shared connections. */
  readonly size: number;
  /** Exclusive connections at most. */
  readonly exclusiveConnections: number;
  /** Commands sent and not yet answered, at most. */
  readonly maxInFlight: number;
  /** Commands waiting to be sent, at most. */
  readonly maxQueued: number;
  /** Longest wait between reconnect attempts, in milliseconds. */
  readonly reconnectMaxDelay: number;
  /** How long `close()` lets commands in flight finish, in milliseconds. */
  readonly closeTimeout: number;
  /** Whether commands wait while no connection is up. */
  readonly offlineQueue: boolean;
  /** How long a command waits in the offline queue, in milliseconds; 0 waits forever. */
  readonly offlineTimeout: number;
  /** How long waiting for an exclusive connection may take, in milliseconds; 0 waits forever. */
  readonly acquireTimeout: number;
  /** Client-side caching's bounds; null when off. */
  readonly clientCache: ClientCacheSettings | null;
}

const MS_MAX = 0x7fff_ffff;

/**
 * The defaults, as numbers; `exclusiveConnections` defaults to `size`, `acquireTimeout` to `commandTimeout` when
 * that is set.
 */
export const DEFAULTS: Readonly<{
  host: string;
  port: number;
  connectTimeout: number;
  commandTimeout: number;
  keepAlive: number;
  maxReplyBytes: number;
  size: number;
  maxInFlight: number;
  maxQueued: number;
  reconnectMaxDelay: number;
  closeTimeout: number;
  offlineTimeout: number;
  acquireTimeout: number;
}> = Object.freeze({
  host: DEFAULT_HOST,
  port: DEFAULT_PORT,
  connectTimeout: 10_000,
  commandTimeout: 0,
  // hiredis' REDIS_KEEPALIVE_INTERVAL (15 s), so turning it on by default changes nothing for its users
  keepAlive: 15_000,
  // Redis' proto-max-bulk-len default: no real server sends a larger bulk string unless configured to
  maxReplyBytes: 512 * 1024 * 1024,
  size: 10,
  maxInFlight: 1 << 17,
  maxQueued: 1 << 20,
  reconnectMaxDelay: 2_000,
  closeTimeout: 5_000,
  // "a few seconds" (issue 11): long enough to ride out a restart, short enough that a request handler answers
  offlineTimeout: 5_000,
  // No promise waits unbounded: a caller that cannot get an exclusive connection in 10 s hears why
  acquireTimeout: 10_000,
});

/** The argument lists `connect()` takes. */
export type ConnectArgs =
  | []
  | [url: string, options?: ConnectOptions]
  | [host: string | undefined, port?: number, options?: ConnectOptions]
  | [options: ClientOptions];

/** The argument lists `connectPool()` takes; `options` beside a URL must not name an address again. */
export type PoolArgs =
  | []
  | [url: string, options?: Omit<PoolOptions, keyof AddressOptions>]
  | [options: PoolOptions];

// ---- entry points -------------------------------------------------------------------------------------------

/**
 * The settings of `connect(...args)`:
 *
 * - `connect()`: `REDIS_URL` (then `VALKEY_URL`, as Bun reads them) when set and readable (in Deno only with the
 *   env permission already granted: this never prompts), else `127.0.0.1:6379`;
 * - `connect(url, options?)`: a string with `://` is a URL (see {@linkcode parseRedisUrl});
 * - `connect(host?, port?, options?)`: today's form; a host starting with `/` is a unix socket path;
 * - `connect(options)`: `url`, or `host`/`port`, or `path`, beside the other options.
 *
 * The environment is read only when no address is given at all. Options given both in a URL and beside it must
 * agree; a `rediss://` URL turns TLS on.
 *
 * @example
 * ```ts
 * clientSettings("redis://alice:s3cret@cache:6380/2", { commandTimeout: 1_000 }).address;
 * // { kind: "tcp", host: "cache", port: 6380 }
 * ```
 */
export function clientSettings(...args: ConnectArgs): ClientSettings {
  const a = args as unknown[];
  if (a.length > 3) throw new TypeError(`cpipe: connect() takes at most 3 arguments, not ${a.length}`);
  const [a0, a1, a2] = a;
  if (typeof a0 === "string" && a0.includes("://")) {
    if (a.length > 2 || typeof a1 === "number") {
      throw new TypeError("cpipe: connect(url, options?) takes the port from the URL; its second argument is options");
    }
    return build("connect", options(a1, "connect"), { kind: "url", url: parseUrl(a0, "") }, false);
  }
  if (a0 === undefined || typeof a0 === "string") {
    if (isRecord(a1)) {
      throw new TypeError(
        "cpipe: connect(host, options) is not a form: use connect(host, port, options) or connect(url)",
      );
    }
    const opts = options(a2, "connect");
    if (a0 === undefined && a1 === undefined) return build("connect", opts, null, false);
    return build("connect", opts, { kind: "host", host: a0 ?? DEFAULT_HOST, port: a1 ?? DEFAULT_PORT }, false);
  }
  if (isRecord(a0)) {
    if (a.length > 1) throw new TypeError("cpipe: connect(options) takes one argument: put everything in the object");
    return build("connect", a0, null, true);
  }
  throw new TypeError(
    `cpipe: connect() takes (url, options?), (host?, port?, options?) or (options), not ${show(a0)} first`,
  );
}

/**
 * The settings of `connectPool(...args)`: `connectPool()` (then `REDIS_URL` as for {@linkcode clientSettings}),
 * `connectPool(url, options?)`, or `connectPool(options)` with `url`, `host`/`port` or `path` in it.
 *
 * @example
 * ```ts
 * poolSettings({ url: "redis://cache:6379/1", size: 4 }).exclusiveConnections; // 4
 * ```
 */
export function poolSettings(...args: PoolArgs): PoolSettings {
  const a = args as unknown[];
  if (a.length > 2) throw new TypeError(`cpipe: connectPool() takes at most 2 arguments, not ${a.length}`);
  const [a0, a1] = a;
  if (typeof a0 === "string") {
    if (!a0.includes("://")) {
      // Any string here was silently ignored before (issue 10), so a host is likely: say what to write instead.
      throw new TypeError(
        `cpipe: connectPool() takes a redis:// URL or an options object, not "${maskUrl(a0)}"; for a host, ` +
          "use connectPool({ host, port })",
      );
    }
    return build("connectPool", options(a1, "connectPool"), { kind: "url", url: parseUrl(a0, "") }, false);
  }
  if (a0 === undefined) {
    if (a1 !== undefined) throw new TypeError("cpipe: connectPool(undefined, options): use connectPool(options)");
    return build("connectPool", {}, null, true);
  }
  if (isRecord(a0)) {
    if (a.length > 1) throw new TypeError("cpipe: connectPool(options) takes one argument: put everything in it");
    return build("connectPool", a0, null, true);
  }
  throw new TypeError(`cpipe: connectPool() takes a redis:// URL or an options object, not ${show(a0)}`);
}

/**
 * `host:port` (IPv6 in brackets) or the socket path, for messages and `address` getters.
 *
 * @example
 * ```ts
 * describeAddress(clientSettings("redis://[::1]:6380")); // "[::1]:6380"
 * ```
 */
export function describeAddress(settings: { readonly address: Address } | Address): string {
  const address = "kind" in settings ? settings : settings.address;
  if (address.kind === "unix") return address.path;
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * The commands a connection sends, in order, after every connect and reconnect, before anything else:
 * `HELLO 3 [AUTH user pass] [SETNAME name]` with `protocol: 3` (HELLO carries both), else `AUTH [user] pass`;
 * then `SELECT db` unless db is 0; then `CLIENT SETNAME name` with `protocol: 2`. Each command is an array of
 * strings, name first; the caller owns the arrays.
 *
 * @example
 * ```ts
 * handshakeCommands(clientSettings({ password: "pw", db: 2, protocol: 3, name: "w1" }));
 * // [["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "w1"], ["SELECT", "2"]]
 * ```
 */
export function handshakeCommands(settings: ClientSettings & { readonly clientCache?: unknown }): string[][] {
  const commands: string[][] = [];
  const { username, password, name } = settings;
  if (settings.protocol === 3) {
    const hello = ["HELLO", "3"];
    // HELLO's AUTH always takes a user name; "default" is the user a bare AUTH password logs in as.
    if (password !== null) hello.push("AUTH", username ?? "default", password);
    if (name !== null) hello.push("SETNAME", name);
    commands.push(hello);
  } else if (password !== null) {
    // A bare `AUTH password` keeps Redis 5 and older (no ACL users) working when no user is named.
    commands.push(username !== null ? ["AUTH", username, password] : ["AUTH", password]);
  }
  if (settings.db !== 0) commands.push(["SELECT", String(settings.db)]);
  if (settings.protocol === 2 && name !== null) commands.push(["CLIENT", "SETNAME", name]);
  // Client-side caching: the server remembers what this connection reads and pushes invalidations for it.
  if (settings.clientCache) commands.push(["CLIENT", "TRACKING", "ON"]);
  if (settings.readOnly === true) commands.push(["READONLY"]);
  // Last: the core ignores their refusals (CPIPE_SET_HANDSHAKE_LENIENT counts them).
  commands.push(...clientInfoCommands(settings));
  return commands;
}

/** The commands that name this library to the server, which may refuse them (before Redis 7.2): none, or two. */
export function clientInfoCommands(settings: ClientSettings): string[][] {
  if (settings.libName === null) return [];
  return [["CLIENT", "SETINFO", "LIB-NAME", settings.libName], ["CLIENT", "SETINFO", "LIB-VER", VERSION]];
}

/**
 * The same settings, with READONLY sent after every connect: for a cluster router's connections, which may be
 * asked to serve reads from a replica (READONLY changes nothing on a master).
 */
export function withReadOnly<S extends ClientSettings>(settings: S): S {
  const copy: Record<string, unknown> = { ...settings as ClientSettings, readOnly: true };
  hideSecrets(copy, (s) => ({ ...s, password: s.password === null ? null : "****" }));
  return Object.freeze(copy) as unknown as S;
}

/**
 * `message` with the password replaced by `****` wherever it occurs: as written, percent-encoded (in a URL),
 * JSON-escaped, and cut short inside quotes, as Redis quotes the arguments of a command it does not know
 * (`ERR unknown command 'AUTH', with args beginning with: 'alice' 'pass…'` cuts them at 128 bytes). A user name
 * next to the password stays, so `alice pw` and `alice:pw` read `alice ****` and `alice:****`.
 *
 * @example
 * ```ts
 * redact("ERR unknown command 'AUTH', with args beginning with: 'pw' ", settings);
 * // "ERR unknown command 'AUTH', with args beginning with: '****' "
 * ```
 */
export function redact(message: string, settings: { readonly password: string | null }): string {
  const secret = settings.password;
  if (secret === null || secret === "") return message;
  let out = String(message);
  const forms = new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]);
  // Longest first, so that a form containing another is replaced whole.
  for (const form of [...forms].sort((x, y) => y.length - x.length)) out = out.split(form).join("****");
  // A quoted argument that is the start of the password (four characters or more) is the password cut short.
  return out.replace(/'([^']{4,})'/g, (all, inner: string) => secret.startsWith(inner) ? "'****'" : all);
}

// ---- building the settings ----------------------------------------------------------------------------------

type Entry = "connect" | "connectPool";

/** The address given by the arguments themselves, ahead of the options object. */
type Given = { kind: "url"; url: RedisUrl } | { kind: "host"; host: unknown; port: unknown };

const CONNECT_KEYS = new Set<string>([
  "connectTimeout",
  "commandTimeout",
  "username",
  "password",
  "db",
  "name",
  "protocol",
  "tls",
  "keepAlive",
  "maxReplyBytes",
  "keyPrefix",
  "readyCheck",
  "reconnectOnReadOnly",
  "clientInfo",
  "clientInfoTag",
]);
const ADDRESS_KEYS = new Set<string>(["url", "host", "port", "path"]);
const POOL_KEYS = new Set<string>([
  "size",
  "exclusiveConnections",
  "maxInFlight",
  "maxQueued",
  "reconnectMaxDelay",
  "closeTimeout",
  "offlineQueue",
  "offlineTimeout",
  "acquireTimeout",
  "clientCache",
]);
const CACHE_KEYS = new Set<string>(["maxEntries", "maxBytes", "ttl"]);
const TLS_KEYS = new Set<string>(["ca", "cert", "key", "servername", "rejectUnauthorized"]);

/** Options of node-redis, ioredis and Bun for what cpipe always does, and why none is needed. */
const PEER_BUILT_IN: Readonly<Record<string, string>> = {
  lazyConnect: "connectPool() returns at once and dials in the background (connect() dials before it returns)",
  enableAutoPipelining: "the commands of one tick always leave together",
  autoResubscribe: "subscriptions are always made again after a reconnect",
  noDelay: "TCP_NODELAY is always on",
};

/** What the peers' reconnection options (a strategy, a count of retries, on or off) are in cpipe. */
const REDIAL = "reconnectMaxDelay (cpipe redials with a delay that doubles up to it, until close())";

/** Option names of node-redis, ioredis and Bun that mean one of ours, so that a migrating user is told which. */
const PEER_NAMES: Readonly<Record<string, string>> = {
  database: "db",
  connectionName: "name",
  clientName: "name",
  RESP: "protocol",
  enableOfflineQueue: "offlineQueue",
  disableOfflineQueue: "offlineQueue",
  enableReadyCheck: "readyCheck",
  reconnectOnError: "reconnectOnReadOnly",
  disableClientInfo: "clientInfo",
  connectionTimeout: "connectTimeout",
  retryStrategy: REDIAL,
  reconnectStrategy: REDIAL,
  maxRetries: REDIAL,
  autoReconnect: REDIAL,
  maxRetriesPerRequest: "offlineTimeout (how long a command waits for a connection to come up)",
  commandsQueueMaxLength: "maxQueued",
  pingInterval: "keepAlive (TCP keepalive keeps an idle connection open)",
  socket: "host, port or path",
  family: "host (an IPv6 address picks IPv6)",
};

function build(
  entry: Entry,
  opts: Record<string, unknown>,
  given: Given | null,
  addressInOptions: boolean,
): PoolSettings {
  checkNames(entry, opts, addressInOptions);
  let url: RedisUrl | null = given?.kind === "url" ? given.url : null;
  let where = "the URL";
  let address: Address;
  if (given?.kind === "host") {
    address = hostAddress(given.host, given.port);
  } else if (url !== null) {
    address = url.address;
  } else if (opts.url !== undefined) {
    if (opts.host !== undefined || opts.port !== undefined || opts.path !== undefined) {
      throw new TypeError("cpipe: give the address once: url, or host and port, or path");
    }
    if (typeof opts.url !== "string") throw new TypeError(`cpipe: url must be a string, not ${show(opts.url)}`);
    url = parseUrl(opts.url, "");
    address = url.address;
  } else if (opts.path !== undefined) {
    if (opts.host !== undefined || opts.port !== undefined) {
      throw new TypeError("cpipe: path is a unix socket; give it without host and port");
    }
    address = { kind: "unix", path: socketPath("path", opts.path) };
  } else if (opts.host !== undefined || opts.port !== undefined) {
    address = hostAddress(
      opts.host === undefined ? DEFAULT_HOST : opts.host,
      opts.port === undefined ? DEFAULT_PORT : opts.port,
    );
  } else {
    const env = environmentUrl();
    if (env !== null) {
      url = parseUrl(env.value, env.name);
      where = env.name;
      address = url.address;
    } else {
      address = { kind: "tcp", host: DEFAULT_HOST, port: DEFAULT_PORT };
    }
  }

  /** An option's checked value, or the URL's when only the URL gives it; both must agree. */
  function pick<T>(key: string, fromUrl: T | null, fromOptions: T | null): T | null {
    if (url === null || fromUrl === null) return fromOptions;
    if (fromOptions !== null && fromOptions !== fromUrl) {
      // No values: one of them may be a password.
      throw new TypeError(`cpipe: ${key} is given both in ${where} and in the options, with different values`);
    }
    return fromUrl;
  }
  const username = pick("username", url?.username ?? null, secretText("username", opts.username));
  const password = pick("password", url?.password ?? null, secretText("password", opts.password));
  if (username !== null && password === null) {
    // ioredis sends no AUTH then, node-redis sends AUTH user "" (RESP2) or nothing (RESP3): peers disagree, and
    // either way the user did not get what they named. An ACL user with `nopass` takes any password, even "".
    throw new TypeError(
      `cpipe: username is given without a password; AUTH needs both (for an ACL user with nopass, ` +
        `give password: "" or redis://user:@host)`,
    );
  }
  const db = pick("db", url?.db ?? null, opts.db === undefined ? null : int("db", opts.db, 0, MAX_DB));
  const name = pick("name", url?.name ?? null, clientName(opts.name));
  const protocol = pick("protocol", url?.protocol ?? null, protocolVersion(opts.protocol));
  const commandTimeout = ms("commandTimeout", opts.commandTimeout, DEFAULTS.commandTimeout);
  const settings: Record<string, unknown> = {
    address: Object.freeze(address),
    tls: tlsSettings(opts.tls, url?.tls ?? false, where, address),
    username,
    password,
    db: db ?? 0,
    name: name === "" ? null : name,
    protocol: protocol ?? 2,
    keyPrefix: keyPrefixOption(opts.keyPrefix),
    connectTimeout: ms("connectTimeout", opts.connectTimeout, DEFAULTS.connectTimeout),
    commandTimeout,
    keepAlive: keepAlive(opts.keepAlive),
    maxReplyBytes: int("maxReplyBytes", opts.maxReplyBytes, 1, 2 ** 32 - 1, DEFAULTS.maxReplyBytes),
    readyCheck: bool("readyCheck", opts.readyCheck, true),
    reconnectOnReadOnly: bool("reconnectOnReadOnly", opts.reconnectOnReadOnly, false),
    libName: libName(opts.clientInfo, opts.clientInfoTag),
  };
  if (entry === "connectPool") {
    const size = int("size", opts.size, 1, 1024, DEFAULTS.size);
    Object.assign(settings, {
      size,
      exclusiveConnections: int("exclusiveConnections", opts.exclusiveConnections, 0, 1024, size),
      maxInFlight: int("maxInFlight", opts.maxInFlight, 1, 1 << 26, DEFAULTS.maxInFlight),
      maxQueued: int("maxQueued", opts.maxQueued, 1, 1 << 30, DEFAULTS.maxQueued),
      reconnectMaxDelay: int("reconnectMaxDelay", opts.reconnectMaxDelay, 1, MS_MAX, DEFAULTS.reconnectMaxDelay),
      closeTimeout: ms("closeTimeout", opts.closeTimeout, DEFAULTS.closeTimeout),
      offlineQueue: bool("offlineQueue", opts.offlineQueue, true),
      offlineTimeout: ms("offlineTimeout", opts.offlineTimeout, DEFAULTS.offlineTimeout),
      acquireTimeout: ms("acquireTimeout", opts.acquireTimeout, commandTimeout || DEFAULTS.acquireTimeout),
      clientCache: clientCache(opts.clientCache),
    });
    if (settings.clientCache !== null) {
      // Invalidations arrive as pushes on the connection that read the key: RESP3.
      if (protocol === 2) throw new TypeError("cpipe: clientCache needs protocol: 3 (invalidations are RESP3 pushes)");
      settings.protocol = 3;
    }
  }
  hideSecrets(settings, (s) => ({ ...s, password: s.password === null ? null : "****" }));
  return Object.freeze(settings) as unknown as PoolSettings;
}

/** Refuses a name no entry knows, naming what the user may have meant. */
function checkNames(entry: Entry, opts: Record<string, unknown>, addressInOptions: boolean): void {
  for (const key of Object.keys(opts)) {
    if (CONNECT_KEYS.has(key)) continue;
    const defined = opts[key] !== undefined;
    if (ADDRESS_KEYS.has(key)) {
      if (addressInOptions || !defined) continue;
      throw new TypeError(
        `cpipe: ${key} is given in the options of ${entry}(…, options); the address goes either in the ` +
          `arguments or in one options object (${entry}({ ${key}, … }))`,
      );
    }
    if (POOL_KEYS.has(key)) {
      if (entry === "connectPool" || !defined) continue;
      throw new TypeError(`cpipe: ${key} is an option of connectPool(), not of connect()`);
    }
    if (key in PEER_BUILT_IN) {
      throw new TypeError(`cpipe: unknown option "${key}" for ${entry}(): none is needed, ${PEER_BUILT_IN[key]}`);
    }
    const known = [...CONNECT_KEYS, ...ADDRESS_KEYS, ...(entry === "connectPool" ? POOL_KEYS : [])];
    const hint = key in PEER_NAMES ? PEER_NAMES[key] : nearest(key, known);
    throw new TypeError(
      `cpipe: unknown option "${key}" for ${entry}()${hint === null ? "" : `; did you mean ${hint}?`}`,
    );
  }
}

/** The known name closest to a misspelt one (case aside, or at most two edits away), or `null`. */
function nearest(key: string, known: string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const name of known) {
    const d = name.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      // Every index read here was written the turn before: the rows are whole.
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

function hostAddress(host: unknown, port: unknown): Address {
  if (typeof host !== "string" || host.length === 0) {
    throw new TypeError(`cpipe: host must be a non-empty string, not ${show(host)}`);
  }
  if (host.startsWith("/")) {
    // Today's form `connect("/path/to.sock", port)`: the port means nothing there, but was always accepted.
    if (port !== DEFAULT_PORT) checkPort(port);
    return { kind: "unix", path: socketPath("host", host) };
  }
  if (host.includes("://")) {
    throw new TypeError(`cpipe: host "${maskUrl(host)}" is a URL: pass it as connect(url) or { url }`);
  }
  let name: string | null = host;
  if (host.startsWith("[") && host.endsWith("]")) name = ipv6(host.slice(1, -1));
  else if (host.includes(":")) name = ipv6(host);
  // deno-lint-ignore no-control-regex -- control characters are exactly what is refused
  if (name === null || /[\s/?#@\\[\]\x00-\x1f\x7f]/.test(name)) {
    // maskUrl, because `user:password@host` put where a host goes is a plausible mistake.
    throw new TypeError(
      `cpipe: host must be a host name or an IP address, not "${maskUrl(host)}" (the port goes apart, or use a ` +
        "redis:// URL)",
    );
  }
  return { kind: "tcp", host: name, port: checkPort(port) };
}

function checkPort(port: unknown): number {
  // 0 was accepted before and then failed to connect; Bun refuses it too.
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`cpipe: port must be a whole number from 1 to 65535, not ${show(port)}`);
  }
  return port;
}

function socketPath(key: string, path: unknown): string {
  if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
    throw new TypeError(`cpipe: ${key} must be a non-empty socket path, not ${show(path)}`);
  }
  return path;
}

/** A string option that may be a secret: its value is never printed, only its type. */
function secretText(key: string, value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== "string") throw new TypeError(`cpipe: ${key} must be a string, not ${kindOf(value)}`);
  return key === "username" && value === "" ? null : value;
}

function clientName(value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== "string" || !NAME.test(value)) {
    // CLIENT SETNAME refuses spaces and anything outside printable ASCII, on every reconnect: say so now.
    throw new TypeError(`cpipe: name must be printable ASCII without spaces, not ${show(value)}`);
  }
  return value;
}

function libName(clientInfo: unknown, tag: unknown): string | null {
  if (tag !== undefined && (typeof tag !== "string" || !/^[!-'*-~]+$/.test(tag))) {
    throw new TypeError(
      `cpipe: clientInfoTag must be printable ASCII without spaces or parentheses, not ${show(tag)}`,
    );
  }
  if (!bool("clientInfo", clientInfo, true)) return null;
  return tag === undefined ? "cpipe" : `cpipe(${tag})`;
}

export function keyPrefixOption(value: unknown): string | null {
  if (value === undefined || value === "") return null;
  if (typeof value !== "string") throw new TypeError(`cpipe: keyPrefix must be a string, not ${show(value)}`);
  return value;
}

function protocolVersion(value: unknown): 2 | 3 | null {
  if (value === undefined) return null;
  if (value !== 2 && value !== 3) throw new TypeError(`cpipe: protocol must be 2 or 3, not ${show(value)}`);
  return value;
}

function int(key: string, value: unknown, min: number, max: number, fallback?: number): number {
  const v = value === undefined ? fallback : value;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(`cpipe: ${key} must be a whole number from ${min} to ${max}, not ${show(value)}`);
  }
  return v;
}

/** An option in whole milliseconds (0 to 2^31-1), `fallback` when not given; a TypeError naming `key` otherwise. */
export function ms(key: string, value: unknown, fallback: number): number {
  const v = value === undefined ? fallback : value;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MS_MAX) {
    throw new TypeError(`cpipe: ${key} must be a whole number of milliseconds from 0 to 2^31-1, not ${show(value)}`);
  }
  return v;
}

/** An option that is true or false, `fallback` when not given; a TypeError naming `key` otherwise. */
export function bool(key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new TypeError(`cpipe: ${key} must be true or false, not ${show(value)}`);
  return value;
}

function keepAlive(value: unknown): number {
  if (value === undefined || value === true) return DEFAULTS.keepAlive;
  if (value === false) return 0;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MS_MAX) {
    throw new TypeError(
      `cpipe: keepAlive must be true, false or a whole number of milliseconds from 0 to 2^31-1, not ${show(value)}`,
    );
  }
  return value;
}

/** The `clientCache` option: off, on with the defaults, or bounds of one's own. */
function clientCache(value: unknown): ClientCacheSettings | null {
  if (value === undefined || value === false) return null;
  const given = value === true ? {} : value;
  if (!isRecord(given)) {
    throw new TypeError(`cpipe: clientCache must be true, false or { maxEntries, maxBytes, ttl }, not ${show(value)}`);
  }
  for (const key of Object.keys(given)) {
    if (!CACHE_KEYS.has(key)) {
      const hint = nearest(key, [...CACHE_KEYS]);
      throw new TypeError(
        `cpipe: unknown clientCache option "${key}"${hint === null ? "" : `; did you mean ${hint}?`}`,
      );
    }
  }
  return Object.freeze({
    maxEntries: int("clientCache.maxEntries", given.maxEntries, 1, 1 << 30, 10_000),
    maxBytes: int("clientCache.maxBytes", given.maxBytes, 1, Number.MAX_SAFE_INTEGER, 64 << 20),
    ttl: ms("clientCache.ttl", given.ttl, 0),
  });
}

function tlsSettings(value: unknown, fromUrl: boolean, where: string, address: Address): TlsSettings | null {
  if (value === false && fromUrl) {
    // node-redis refuses this mismatch too; ioredis and Bun let the URL or the option win, one each.
    throw new TypeError(`cpipe: ${where} asks for TLS (rediss://) but the options say tls: false`);
  }
  if (value === undefined && !fromUrl || value === false) return null;
  // A redis:// URL beside tls: true or { … } connects with TLS, as ioredis and Bun do: the option is explicit.
  const given = value === undefined || value === true ? {} : value;
  if (!isRecord(given)) {
    throw new TypeError(
      `cpipe: tls must be true, false or { ca, cert, key, servername, rejectUnauthorized }, not ${show(value)}`,
    );
  }
  for (const key of Object.keys(given)) {
    if (!TLS_KEYS.has(key)) {
      const hint = nearest(key, [...TLS_KEYS]);
      throw new TypeError(`cpipe: unknown tls option "${key}"${hint === null ? "" : `; did you mean ${hint}?`}`);
    }
  }
  const ca = given.ca === undefined ? [] : Array.isArray(given.ca) ? given.ca : [given.ca];
  const cert = given.cert === undefined ? null : pem("tls.cert", given.cert);
  const key = given.key === undefined ? null : pem("tls.key", given.key);
  if ((cert === null) !== (key === null)) {
    throw new TypeError("cpipe: tls.cert and tls.key go together (a client certificate needs its key)");
  }
  let servername: string | null = null;
  if (given.servername !== undefined) {
    if (typeof given.servername !== "string" || !/^[^\s/]+$/.test(given.servername)) {
      throw new TypeError(`cpipe: tls.servername must be a host name, not ${show(given.servername)}`);
    }
    servername = given.servername;
  } else if (address.kind === "tcp" && !address.host.includes(":") && !/^[\d.]+$/.test(address.host)) {
    // SNI carries no IP addresses (RFC 6066), so an IP literal gets none and is checked against the certificate's
    // IP entries by the TLS library instead.
    servername = address.host;
  }
  const tls: Record<string, unknown> = {
    ca: Object.freeze(ca.map((c: unknown) => pem("tls.ca", c))),
    cert,
    key,
    servername,
    rejectUnauthorized: bool("tls.rejectUnauthorized", given.rejectUnauthorized, true),
  };
  hideSecrets(tls, (t) => ({ ...t, key: t.key === null ? null : "****" }));
  return Object.freeze(tls) as unknown as TlsSettings;
}

const utf8 = new TextEncoder();

/** PEM text or bytes, copied, so that changing the caller's buffer later changes nothing here. */
function pem(key: string, value: unknown): Uint8Array {
  if (typeof value === "string" && value.length > 0) return utf8.encode(value);
  if (value instanceof Uint8Array && value.length > 0) return new Uint8Array(value);
  // No value: for tls.key it would be the key itself.
  throw new TypeError(
    `cpipe: ${key} must be PEM text or bytes (a non-empty string or Uint8Array), not ${kindOf(value)}`,
  );
}

/**
 * Makes console.log, Deno.inspect, Bun.inspect and JSON.stringify print `masked(object)` instead of `object`, so
 * a logged settings object shows no secret. The hooks are not enumerable: spreads and deep comparisons skip them.
 */
function hideSecrets(object: Record<string, unknown>, masked: (o: Record<string, unknown>) => unknown): void {
  const show = (): unknown => masked(object);
  Object.defineProperty(object, "toJSON", { value: show });
  Object.defineProperty(object, Symbol.for("nodejs.util.inspect.custom"), { value: show });
  Object.defineProperty(object, Symbol.for("Deno.customInspect"), {
    value: (inspect: (v: unknown, o: unknown) => string, options: unknown) => inspect(masked(object), options),
  });
}

// ---- the environment ----------------------------------------------------------------------------------------

interface DenoEnv {
  permissions: { querySync(descriptor: { name: "env"; variable: string }): { state: string } };
  env: { get(name: string): string | undefined };
}

/** `REDIS_URL`, then `VALKEY_URL` (Bun reads both, in this order), when set, not empty and readable. */
function environmentUrl(): { name: string; value: string } | null {
  for (const name of ["REDIS_URL", "VALKEY_URL"]) {
    const value = readEnv(name);
    if (value !== undefined && value !== "") return { name, value };
  }
  return null;
}

function readEnv(name: string): string | undefined {
  const deno = (globalThis as { Deno?: DenoEnv }).Deno;
  if (deno !== undefined) {
    // Only when already granted: a library must not prompt (or throw) for a variable the user may never have set.
    const state = deno.permissions?.querySync?.({ name: "env", variable: name }).state;
    return state === "granted" ? deno.env.get(name) : undefined;
  }
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

// ---- small helpers ------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function options(value: unknown, entry: Entry): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new TypeError(`cpipe: the options of ${entry}() must be an object, not ${show(value)}`);
  return value;
}

/** A value for a message: short strings quoted, others by kind. Never used on a secret. */
function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === "bigint") return `${value}n`;
  return kindOf(value);
}

/** A value's kind for a message, without its content. */
function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
