/**
 * Redis connection URLs, parsed as node-redis (`RedisClient.parseURL`), ioredis (`utils.parseURL`) and Bun's
 * `RedisClient` parse them where they agree; where they disagree the choice is said beside the code. Nothing here
 * touches the environment or the network: `options.ts` decides where a URL comes from and what it is merged with.
 */

/** Where a connection goes: a TCP host and port, or a unix socket path. */
export type Address =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

/**
 * What a URL says. A field is `null` when the URL does not say it, so that options given beside the URL can be
 * told apart from a conflict.
 */
export interface RedisUrl {
  /** The server; a URL without a host means `127.0.0.1`, without a port 6379. */
  readonly address: Address;
  /** `true` for `rediss://`, `redis+tls://`, `valkeys://` and the `+tls+unix` schemes. */
  readonly tls: boolean;
  /** ACL user name, percent-decoded. */
  readonly username: string | null;
  /** Password, percent-decoded; `""` only when written out as `user:@`. */
  readonly password: string | null;
  /** Database from the path (`/2`) or `?db=2`. */
  readonly db: number | null;
  /** Connection name from `?name=`. */
  readonly name: string | null;
  /** RESP version from `?protocol=3` (or `resp3`, as redis-rs writes it). */
  readonly protocol: 2 | 3 | null;
}

/** The host a URL without one, and a client given no address at all, connects to. */
export const DEFAULT_HOST = "127.0.0.1";
/** The port a URL without one, and a client given no port, connects to. */
export const DEFAULT_PORT = 6379;
/** What CLIENT SETNAME accepts: printable ASCII without spaces (it refuses the rest on every reconnect). */
export const NAME: RegExp = /^[!-~]*$/;
/** Largest database index SELECT is given (Redis takes a signed 32-bit index). */
export const MAX_DB = 0x7fff_ffff;

interface Scheme {
  tls: boolean;
  unix: boolean;
}

// Bun's RedisClient accepts all of these (valkey* and +tls spellings too); node-redis and redis-py take `unix://`
// for a socket, Bun `redis+unix://`. Accepting the union lets a URL written for any of them work unchanged.
const SCHEMES: Readonly<Record<string, Scheme>> = {
  "redis": { tls: false, unix: false },
  "valkey": { tls: false, unix: false },
  "rediss": { tls: true, unix: false },
  "valkeys": { tls: true, unix: false },
  "redis+tls": { tls: true, unix: false },
  "valkey+tls": { tls: true, unix: false },
  "unix": { tls: false, unix: true },
  "redis+unix": { tls: false, unix: true },
  "valkey+unix": { tls: false, unix: true },
  "redis+tls+unix": { tls: true, unix: true },
  "valkey+tls+unix": { tls: true, unix: true },
};

// Query keys are implementation-defined (redis.io, "Connection URLs"). ioredis takes any option there, node-redis
// and Bun ignore the query of a TCP URL, redis-py takes db, protocol, password, username and more. These five mean
// the same in every peer that reads them; anything else is refused rather than silently ignored.
const QUERY_KEYS = ["db", "protocol", "name", "username", "password"] as const;
type QueryKey = typeof QUERY_KEYS[number];

/** Query keys whose values are safe to print (they cannot hold a secret). */
const SHOWN_QUERY_KEYS = new Set(["db", "protocol", "name"]);

/**
 * `url` with its secrets replaced by `****`, for messages: the password of `user:password@`, a whole user part
 * without a colon (it may be a password put in the wrong place), and every query value that could hold one. Works
 * on malformed URLs too, which is when it is needed.
 *
 * @example
 * ```ts
 * maskUrl("redis://alice:s3cret@cache:6380/2"); // "redis://alice:****@cache:6380/2"
 * ```
 */
export function maskUrl(url: string): string {
  const sep = url.indexOf("://");
  const start = sep < 0 ? 0 : sep + 3;
  let head = url.slice(0, start);
  let rest = url.slice(start);
  // The last "@" ends the user part, as in WHATWG URL; a password holding "/", "?" or "#" (not percent-encoded)
  // makes every earlier split point unreliable, so the search is not cut at them.
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const user = rest.slice(0, at);
    const colon = user.indexOf(":");
    head += colon >= 0 ? `${user.slice(0, colon)}:****` : "****";
    rest = rest.slice(at);
  }
  const q = rest.indexOf("?");
  if (q >= 0) {
    const query = rest.slice(q + 1).replace(/(^|&)([^=&]*)=([^&]*)/g, (all, sep: string, key: string) => {
      return SHOWN_QUERY_KEYS.has(key) ? all : `${sep}${key}=****`;
    });
    rest = `${rest.slice(0, q)}?${query}`;
  }
  return head + rest;
}

/**
 * Parses a Redis URL:
 *
 * - `redis://[user[:password]@]host[:port][/db][?query]`, and `rediss://` for TLS (also `valkey://`, `valkeys://`,
 *   `redis+tls://`, as Bun accepts);
 * - `unix://[user[:password]@]/path/to.sock[?db=N]` (also `redis+unix://`, and `redis+tls+unix://`);
 * - IPv6 literals in brackets (`redis://[::1]:6380`); percent-encoded credentials;
 * - query keys `db`, `protocol` (`2`, `3`, `resp2`, `resp3`), `name`, `username`, `password`.
 *
 * Anything else is a `TypeError` that quotes the URL with its password masked.
 *
 * @example
 * ```ts
 * parseRedisUrl("rediss://alice:p%40ss@cache.example.com:6380/2?protocol=3");
 * // { address: { kind: "tcp", host: "cache.example.com", port: 6380 }, tls: true, username: "alice",
 * //   password: "p@ss", db: 2, name: null, protocol: 3 }
 * ```
 */
export function parseRedisUrl(url: string): RedisUrl {
  return parseUrl(url, "");
}

/** {@linkcode parseRedisUrl}, with `where` (such as "REDIS_URL") named in its errors. */
export function parseUrl(url: string, where: string): RedisUrl {
  if (typeof url !== "string") throw new TypeError(`cpipe: a Redis URL must be a string, not ${typeof url}`);
  const bad = (why: string): TypeError => {
    const from = where === "" ? "" : ` in ${where}`;
    return new TypeError(`cpipe: invalid Redis URL${from} "${maskUrl(url)}": ${why}`);
  };
  // deno-lint-ignore no-control-regex -- control characters are exactly what is refused
  if (/[\s\x00-\x1f\x7f]/.test(url)) throw bad("it contains whitespace or control characters");
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/.exec(url);
  if (m === null) throw bad("expected redis://[user[:password]@]host[:port][/db] or unix:///path/to.sock");
  // The regular expression's groups 1 to 3 always take part in a match (possibly empty).
  const [, schemeText = "", authority = "", pathText = "", queryText, fragment] = m;
  // WHATWG URL lowercases the scheme, so node-redis and Bun take `REDIS://`; ioredis then misses TLS for
  // `REDISS://`. Taking any case and meaning the same thing is the least surprising.
  const scheme = SCHEMES[schemeText.toLowerCase()];
  if (scheme === undefined) {
    throw bad(`unknown scheme "${schemeText}:"; expected one of ${Object.keys(SCHEMES).join(", ")}`);
  }
  // redis-rs reads `#insecure`; no JavaScript peer reads a fragment. Refusing it also catches a password with an
  // unencoded "#", which would otherwise silently cut the URL short.
  if (fragment !== undefined) throw bad('a fragment ("#…") means nothing here; write "#" in a password as %23');

  const at = authority.lastIndexOf("@");
  const userinfo = at >= 0 ? authority.slice(0, at) : null;
  const hostport = authority.slice(at + 1);
  let username: string | null = null;
  let password: string | null = null;
  if (userinfo !== null) {
    const colon = userinfo.indexOf(":");
    const user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, bad);
    const pass = colon >= 0 ? decode(userinfo.slice(colon + 1), bad) : null;
    // As ioredis: `redis://:@host` carries no credentials. `alice:@` keeps its empty password, which an ACL user
    // with `nopass` accepts (AUTH alice ""); `alice@` has none, and options.ts refuses a user without a password.
    if (user !== "" || (pass !== null && pass !== "")) {
      username = user === "" ? null : user;
      password = pass;
    }
  }

  let address: Address;
  let db: number | null = null;
  if (scheme.unix) {
    if (hostport !== "") throw bad("a unix socket URL has no host: write unix:///path/to.sock");
    if (pathText === "" || pathText === "/") throw bad("the socket path is missing: write unix:///path/to.sock");
    address = { kind: "unix", path: decode(pathText, bad) };
  } else {
    address = tcpAddress(hostport, bad);
    if (pathText !== "" && pathText !== "/") {
      // node-redis throws on a non-numeric path, Bun reads it as 0, ioredis passes the text on to SELECT: a
      // TypeError here is the only answer that cannot select the wrong database.
      const dbm = /^\/(\d+)$/.exec(pathText);
      if (dbm === null) throw bad("the path must be a database number, as in redis://host:6379/2");
      db = dbNumber(dbm[1]!, bad);
    }
  }

  let name: string | null = null;
  let protocol: 2 | 3 | null = null;
  if (queryText !== undefined && queryText !== "") {
    const seen = new Set<string>();
    for (const [key, value] of new URLSearchParams(queryText)) {
      if (!(QUERY_KEYS as readonly string[]).includes(key)) {
        throw bad(`unknown query option "${key}"; accepted: ${QUERY_KEYS.join(", ")}`);
      }
      if (seen.has(key)) throw bad(`the query option "${key}" is given twice`);
      seen.add(key);
      switch (key as QueryKey) {
        case "db": {
          if (!/^\d+$/.test(value)) throw bad("db must be a database number, as in ?db=2");
          const n = dbNumber(value, bad);
          // ioredis lets the path win, redis-py the query: with two different answers, neither is safe to pick.
          if (db !== null && db !== n) throw bad("the database is given both in the path and in ?db=");
          db = n;
          break;
        }
        case "protocol":
          if (value === "2" || value === "resp2") protocol = 2;
          else if (value === "3" || value === "resp3") protocol = 3;
          else throw bad("protocol must be 2 or 3 (or resp2, resp3)");
          break;
        case "name":
          if (!NAME.test(value)) throw bad("the name must be printable ASCII without spaces (CLIENT SETNAME)");
          name = value;
          break;
        case "username":
          if (username !== null) throw bad("the user name is given both before the host and in ?username=");
          username = value === "" ? null : value;
          break;
        case "password":
          if (password !== null) throw bad("the password is given both before the host and in ?password=");
          password = value;
          break;
      }
    }
  }
  return Object.freeze({ address: Object.freeze(address), tls: scheme.tls, username, password, db, name, protocol });
}

type Bad = (why: string) => TypeError;

function decode(text: string, bad: Bad): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw bad("it holds a malformed percent-encoding (%XX)");
  }
}

function dbNumber(digits: string, bad: Bad): number {
  const n = Number(digits);
  if (n > MAX_DB) throw bad(`the database number must be from 0 to ${MAX_DB}`);
  return n;
}

function tcpAddress(hostport: string, bad: Bad): Address {
  let host: string;
  let portText: string;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) throw bad('an IPv6 address lacks its closing "]"');
    const v6 = ipv6(hostport.slice(1, close));
    if (v6 === null) throw bad("the IPv6 address in brackets is not valid");
    host = v6;
    const after = hostport.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw bad('expected ":port" after the IPv6 address');
    portText = after.slice(1);
  } else {
    const colon = hostport.indexOf(":");
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    portText = colon >= 0 ? hostport.slice(colon + 1) : "";
    if (portText.includes(":")) throw bad("an IPv6 address must be in brackets, as in redis://[::1]:6379");
    // WHATWG URL keeps the letters of a non-special scheme's host as written (no IDNA, no percent-decoding), so
    // what node-redis and Bun dial is what is written here; only plain DNS names and IPv4 make sense to dial.
    if (host !== "" && !/^[A-Za-z0-9._-]+$/.test(host)) throw bad(`the host "${host}" is not a valid host name`);
    // A URL without a host (`redis://:6380`) means the default host in every peer.
    if (host === "") host = DEFAULT_HOST;
  }
  // `host:` with nothing after the colon is no port, as WHATWG URL reads it.
  let port = DEFAULT_PORT;
  if (portText !== "") {
    // Bun refuses port 0 for TCP; nothing listens there.
    if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw bad("the port must be a number from 1 to 65535");
    }
    port = Number(portText);
  }
  return { kind: "tcp", host, port };
}

/** The canonical text of an IPv6 address (without brackets), or `null` when it is not one. */
export function ipv6(text: string): string | null {
  // WHATWG URL parses and compresses IPv6 literals for every scheme, so an http: URL is a ready-made checker.
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(":")) return null;
  try {
    const host = new URL(`http://[${text}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return null;
  }
}
