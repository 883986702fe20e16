/**
 * Options and redis:// URLs (src/options.ts, src/url.ts); no server. URLs are parsed beside node-redis' and
 * ioredis' own parsers (installed as dev dependencies for the benchmarks), so "as peers parse it" is checked, not
 * assumed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import { RedisClient } from "@redis/client";
import ioredisUtils from "ioredis/built/utils/index.js";
import { runtime, test } from "../harness/shim.ts";
import {
  type ClientSettings,
  clientSettings,
  type ConnectArgs,
  type ConnectOptions,
  DEFAULTS,
  describeAddress,
  handshakeCommands,
  parseRedisUrl,
  type PoolArgs,
  poolSettings,
  redact,
  type RedisUrl,
} from "../../src/options.ts";
import { maskUrl } from "../../src/url.ts";
import { VERSION } from "../../src/version.ts";
import type { ConnectOptions as OldConnectOptions } from "../../src/types.ts";

/** A password no message may ever contain. */
const SECRET = "s3cret-XYZ";

// ---- the environment, set and restored ----------------------------------------------------------------------

function setEnv(name: string, value: string | undefined): void {
  if (runtime === "deno") {
    if (value === undefined) Deno.env.delete(name);
    else Deno.env.set(name, value);
    return;
  }
  const env = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env;
  if (value === undefined) delete env[name];
  else env[name] = value;
}

function getEnv(name: string): string | undefined {
  if (runtime === "deno") return Deno.env.get(name);
  return (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process.env[name];
}

/** Runs `fn` with REDIS_URL and VALKEY_URL as given (unset unless named), then puts them back. */
function withEnv<T>(vars: { REDIS_URL?: string; VALKEY_URL?: string }, fn: () => T): T {
  const names = ["REDIS_URL", "VALKEY_URL"] as const;
  const saved = names.map((n) => getEnv(n));
  try {
    for (const n of names) setEnv(n, vars[n]);
    return fn();
  } finally {
    names.forEach((n, i) => setEnv(n, saved[i]));
  }
}

// ---- URLs: the table ----------------------------------------------------------------------------------------

type Peer = "node-redis" | "ioredis";

interface Good {
  url: string;
  /** Fields that differ from "nothing said": a TCP address is 127.0.0.1:6379 unless given. */
  want: Partial<RedisUrl>;
  /** Peers whose parse of this URL agrees with ours on every field they report. */
  peers: Peer[];
}

const tcp = (host: string, port = 6379) => ({ kind: "tcp" as const, host, port });

const GOOD: Good[] = [
  { url: "redis://localhost", want: { address: tcp("localhost") }, peers: ["node-redis", "ioredis"] },
  { url: "redis://localhost:6380", want: { address: tcp("localhost", 6380) }, peers: ["node-redis", "ioredis"] },
  {
    url: `redis://alice:${SECRET}@cache.example.com:6380/2`,
    want: { address: tcp("cache.example.com", 6380), username: "alice", password: SECRET, db: 2 },
    peers: ["node-redis", "ioredis"],
  },
  { url: "redis://:pw@cache", want: { address: tcp("cache"), password: "pw" }, peers: ["node-redis", "ioredis"] },
  {
    url: "redis://alice:p%40ss%3Aw%2Fd%25@h",
    want: { address: tcp("h"), username: "alice", password: "p@ss:w/d%" },
    peers: ["node-redis", "ioredis"],
  },
  // The last "@" ends the user part, as WHATWG URL reads it.
  { url: "redis://u:p@ss@h", want: { address: tcp("h"), username: "u", password: "p@ss" }, peers: ["node-redis"] },
  { url: "rediss://h:6380", want: { address: tcp("h", 6380), tls: true }, peers: ["node-redis"] },
  { url: "redis://[::1]:6380", want: { address: tcp("::1", 6380) }, peers: ["node-redis", "ioredis"] },
  { url: "redis://[0:0::1]", want: { address: tcp("::1") }, peers: ["node-redis", "ioredis"] },
  { url: "redis://[2001:DB8::1]/3", want: { address: tcp("2001:db8::1"), db: 3 }, peers: ["node-redis"] },
  { url: "redis://10.0.0.5:6379", want: { address: tcp("10.0.0.5") }, peers: ["node-redis", "ioredis"] },
  { url: "redis://my_host-1.internal", want: { address: tcp("my_host-1.internal") }, peers: ["node-redis", "ioredis"] },
  { url: "redis://h/0", want: { address: tcp("h"), db: 0 }, peers: ["node-redis"] },
  { url: "redis://h/", want: { address: tcp("h") }, peers: ["node-redis", "ioredis"] },
  // `host:` with nothing after the colon is no port, for WHATWG URL and so for both peers.
  { url: "redis://h:", want: { address: tcp("h") }, peers: ["node-redis", "ioredis"] },
  { url: "REDIS://H:1", want: { address: tcp("H", 1) }, peers: ["node-redis", "ioredis"] },
  // No host: every peer falls back to its default host (node-redis reports "", ioredis nothing).
  { url: "redis://", want: {}, peers: [] },
  { url: "redis://:6380", want: { address: tcp("127.0.0.1", 6380) }, peers: [] },
  { url: "redis://h?db=4", want: { address: tcp("h"), db: 4 }, peers: [] },
  { url: "redis://h/4?db=4", want: { address: tcp("h"), db: 4 }, peers: [] },
  { url: "redis://h?protocol=3&name=worker-1", want: { address: tcp("h"), protocol: 3, name: "worker-1" }, peers: [] },
  { url: "redis://h?protocol=resp2", want: { address: tcp("h"), protocol: 2 }, peers: [] },
  { url: "redis://h?", want: { address: tcp("h") }, peers: ["node-redis", "ioredis"] },
  {
    url: `redis://h?username=bob&password=${SECRET}`,
    want: { address: tcp("h"), username: "bob", password: SECRET },
    peers: ["ioredis"],
  },
  // A user without a password parses (a password may come from the options); clientSettings refuses it alone.
  { url: "redis://alice@h", want: { address: tcp("h"), username: "alice" }, peers: ["node-redis"] },
  // `alice:` says "empty password" (an ACL user with nopass takes it); peers do not tell it from `alice@`.
  { url: "redis://alice:@h", want: { address: tcp("h"), username: "alice", password: "" }, peers: [] },
  { url: "redis://:@h", want: { address: tcp("h") }, peers: ["node-redis", "ioredis"] },
  {
    url: "unix:///tmp/redis.sock?db=3",
    want: { address: { kind: "unix", path: "/tmp/redis.sock" }, db: 3 },
    peers: ["node-redis"],
  },
  {
    url: `unix://alice:${SECRET}@/tmp/redis.sock`,
    want: { address: { kind: "unix", path: "/tmp/redis.sock" }, username: "alice", password: SECRET },
    peers: ["node-redis"],
  },
  { url: "unix:///tmp/my%20redis.sock", want: { address: { kind: "unix", path: "/tmp/my redis.sock" } }, peers: [] },
  // Bun's RedisClient spellings.
  { url: "redis+unix:///run/redis.sock", want: { address: { kind: "unix", path: "/run/redis.sock" } }, peers: [] },
  { url: "valkey://h:7000", want: { address: tcp("h", 7000) }, peers: [] },
  { url: "valkeys://h", want: { address: tcp("h"), tls: true }, peers: [] },
  { url: "redis+tls://h", want: { address: tcp("h"), tls: true }, peers: [] },
  {
    url: "redis+tls+unix:///run/redis.sock",
    want: { address: { kind: "unix", path: "/run/redis.sock" }, tls: true },
    peers: [],
  },
];

const NOTHING: RedisUrl = {
  address: tcp("127.0.0.1"),
  tls: false,
  username: null,
  password: null,
  db: null,
  name: null,
  protocol: null,
};

/** What a peer's parse says, in our terms; fields the peer leaves out are left out. */
function peerParse(peer: Peer, url: string): Partial<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  if (peer === "node-redis") {
    const p = RedisClient.parseURL(url) as {
      socket: { host?: string; port?: number; path?: string; tls?: boolean };
      username?: string;
      password?: string;
      database?: number;
    };
    if (p.socket.path !== undefined) out.path = p.socket.path;
    if (p.socket.host !== undefined && p.socket.host !== "") out.host = p.socket.host.toLowerCase();
    if (p.socket.port !== undefined) out.port = p.socket.port;
    out.tls = p.socket.tls;
    if (p.username !== undefined) out.username = p.username;
    if (p.password !== undefined) out.password = p.password;
    if (p.database !== undefined) out.db = p.database;
  } else {
    const p = (ioredisUtils as unknown as { parseURL(u: string): Record<string, string | undefined> }).parseURL(url);
    if (p.host !== undefined) out.host = p.host.toLowerCase();
    if (p.port !== undefined) out.port = Number(p.port);
    if (p.path !== undefined) out.path = p.path;
    // ioredis reports "" for the half of the credentials not given, and then sends no AUTH for "".
    if (p.username) out.username = p.username;
    if (p.password) out.password = p.password;
    if (p.db !== undefined) out.db = Number(p.db);
  }
  return out;
}

function ours(u: RedisUrl): Record<string, unknown> {
  const out: Record<string, unknown> = { tls: u.tls };
  if (u.address.kind === "unix") out.path = u.address.path;
  else [out.host, out.port] = [u.address.host.toLowerCase(), u.address.port];
  if (u.username !== null) out.username = u.username;
  if (u.password !== null && u.password !== "") out.password = u.password;
  if (u.db !== null) out.db = u.db;
  return out;
}

test("good URLs parse to what the table says", () => {
  for (const { url, want } of GOOD) {
    const got = parseRedisUrl(url);
    assert.deepEqual({ ...got, address: { ...got.address } }, { ...NOTHING, ...want }, url);
    assert.ok(Object.isFrozen(got) && Object.isFrozen(got.address), url);
  }
});

test("good URLs parse as node-redis and ioredis parse them, where the table says they agree", () => {
  let compared = 0;
  for (const { url, peers } of GOOD) {
    const mine = ours(parseRedisUrl(url));
    for (const peer of peers) {
      const theirs = peerParse(peer, url);
      for (const [key, value] of Object.entries(theirs)) {
        // ioredis decides TLS outside parseURL; a port or host a peer leaves out is its default, as ours.
        assert.deepEqual(mine[key], value, `${url}: ${key} per ${peer}`);
        compared++;
      }
      for (const key of ["username", "password", "db", "path"]) {
        if (!(key in theirs)) assert.equal(mine[key], undefined, `${url}: ${key} absent per ${peer}`);
      }
    }
  }
  assert.ok(compared > 60, `only ${compared} fields compared`);
});

const BAD: Array<[url: string, why: RegExp]> = [
  ["localhost:6379", /expected redis:\/\//],
  ["", /expected redis:\/\//],
  ["redis:/h", /expected redis:\/\//],
  ["http://h", /unknown scheme "http:"/],
  ["redis://h:0", /port must be a number from 1 to 65535/],
  ["redis://h:65536", /port must be a number from 1 to 65535/],
  ["redis://h:abc", /port must be a number/],
  [`redis://alice:${SECRET}@h:99999`, /port must be a number/],
  ["redis://h/abc", /path must be a database number/],
  ["redis://h/1/2", /path must be a database number/],
  ["redis://h/2147483648", /database number must be from 0 to 2147483647/],
  ["redis://::1:6379", /IPv6 address must be in brackets/],
  ["redis://[::1", /closing "\]"/],
  ["redis://[zz::1]", /IPv6 address in brackets is not valid/],
  ["redis://[::1]x", /expected ":port"/],
  ["redis://h?foo=1", /unknown query option "foo"/],
  [`redis://h?passwd=${SECRET}`, /unknown query option "passwd"/],
  ["redis://h?db=1&db=2", /"db" is given twice/],
  ["redis://h/1?db=2", /both in the path and in \?db=/],
  ["redis://h?db=x", /db must be a database number/],
  ["redis://h?protocol=4", /protocol must be 2 or 3/],
  ["redis://h?name=a%20b", /printable ASCII/],
  [`redis://alice:${SECRET}@h?password=x`, /password is given both/],
  ["redis://h#frag", /fragment/],
  [`redis://alice:${SECRET}#1@h`, /fragment/],
  [`redis://alice:${SECRET}%zz@h`, /malformed percent-encoding/],
  ["redis://ho st", /whitespace/],
  [`redis://alice:${SECRET}\n@h`, /whitespace/],
  ["redis://h_!x", /not a valid host name/],
  ["redis://h%41", /not a valid host name/],
  ["unix://localhost/tmp/s", /has no host/],
  ["unix://", /socket path is missing/],
  ["unix:///", /socket path is missing/],
];

/** Asserts `fn` throws a TypeError matching `why`, with neither the secret in its message nor in its stack. */
function throwsClean(fn: () => unknown, why: RegExp, label: string): TypeError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof TypeError, `${label}: expected a TypeError, got ${caught}`);
  assert.match(caught.message, why, label);
  assert.match(caught.message, /^cpipe: /, label);
  for (const text of [caught.message, String(caught.stack)]) {
    assert.ok(!text.includes(SECRET), `${label}: the password leaked: ${text}`);
    assert.ok(!text.includes(encodeURIComponent(SECRET)), label);
  }
  return caught;
}

test("bad URLs are TypeErrors that quote the URL with the password masked", () => {
  for (const [url, why] of BAD) {
    const e = throwsClean(() => parseRedisUrl(url), why, JSON.stringify(url));
    assert.ok(e.message.includes("invalid Redis URL"), url);
    if (url.includes(`alice:${SECRET}`)) assert.ok(e.message.includes("alice:****@"), e.message);
  }
  throwsClean(() => parseRedisUrl(42 as unknown as string), /must be a string/, "a number");
});

test("maskUrl hides passwords, a lone user part and secret query values, even in broken URLs", () => {
  assert.equal(maskUrl(`redis://alice:${SECRET}@cache:6380/2`), "redis://alice:****@cache:6380/2");
  assert.equal(maskUrl(`redis://${SECRET}@cache`), "redis://****@cache");
  assert.equal(maskUrl(`redis://a:b/c#d@e@h:1`), "redis://a:****@h:1");
  assert.equal(maskUrl(`redis://h?db=1&password=${SECRET}&name=x`), "redis://h?db=1&password=****&name=x");
  assert.equal(maskUrl(`alice:${SECRET}@h`), "alice:****@h");
  assert.equal(maskUrl("redis://h:6379"), "redis://h:6379");
});

// ---- connect(): the forms -----------------------------------------------------------------------------------

const NO_ENV = {};

function plain(s: ClientSettings): Record<string, unknown> {
  return { ...s, address: { ...s.address } };
}

test("connect() with no address and no REDIS_URL: 127.0.0.1:6379 and every default as before", () => {
  const s = withEnv(NO_ENV, () => clientSettings());
  assert.deepEqual(plain(s), {
    address: tcp("127.0.0.1"),
    tls: null,
    username: null,
    password: null,
    db: 0,
    name: null,
    protocol: 2,
    keyPrefix: null,
    connectTimeout: 10_000,
    commandTimeout: 0,
    keepAlive: 15_000,
    maxReplyBytes: 512 * 1024 * 1024,
    readyCheck: true,
    reconnectOnReadOnly: false,
    libName: "cpipe",
  });
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.address));
  const p = withEnv(NO_ENV, () => poolSettings());
  assert.deepEqual({ ...p, address: { ...p.address } }, {
    ...plain(s),
    size: 10,
    exclusiveConnections: 10,
    maxInFlight: 131_072,
    maxQueued: 1_048_576,
    reconnectMaxDelay: 2_000,
    closeTimeout: 5_000,
    offlineQueue: true,
    offlineTimeout: DEFAULTS.offlineTimeout,
    acquireTimeout: 10_000,
    clientCache: null,
  });
});

test("connect(host, port, options), today's form, keeps working", () => {
  withEnv({ REDIS_URL: "redis://elsewhere:1" }, () => {
    const s = clientSettings("localhost", 6380, { password: SECRET, db: 1, name: "w1", commandTimeout: 50 });
    assert.deepEqual(s.address, tcp("localhost", 6380));
    assert.equal(s.password, SECRET);
    assert.equal(s.db, 1);
    assert.equal(s.name, "w1");
    assert.equal(s.commandTimeout, 50);
    // An address given in any way keeps REDIS_URL out.
    assert.deepEqual(clientSettings(undefined, 6380).address, tcp("127.0.0.1", 6380));
    assert.deepEqual(clientSettings("cache").address, tcp("cache"));
    assert.deepEqual(clientSettings("/tmp/redis.sock").address, { kind: "unix", path: "/tmp/redis.sock" });
    assert.deepEqual(clientSettings("/tmp/redis.sock", 6379).address, { kind: "unix", path: "/tmp/redis.sock" });
    assert.deepEqual(clientSettings("::1", 6380).address, tcp("::1", 6380));
    assert.deepEqual(clientSettings("[::1]").address, tcp("::1"));
    assert.deepEqual(clientSettings({ host: "cache", port: 7000 }).address, tcp("cache", 7000));
    assert.deepEqual(clientSettings({ port: 7000 }).address, tcp("127.0.0.1", 7000));
    assert.deepEqual(clientSettings({ path: "run/r.sock" }).address, { kind: "unix", path: "run/r.sock" });
  });
});

test("connect(url, options) and connect({ url, ... }) merge the URL with the options", () => {
  const s = clientSettings(`redis://alice:${SECRET}@cache:6380/2?protocol=3`, { commandTimeout: 5, name: "x" });
  assert.deepEqual(s.address, tcp("cache", 6380));
  assert.deepEqual([s.username, s.password, s.db, s.protocol, s.name, s.commandTimeout], [
    "alice",
    SECRET,
    2,
    3,
    "x",
    5,
  ]);
  const t = clientSettings({ url: "rediss://cache", db: 3, password: SECRET });
  assert.equal(t.db, 3);
  assert.equal(t.tls?.servername, "cache");
  // The same value twice is no conflict; a password kept out of the URL is the usual case.
  assert.equal(clientSettings("redis://h/2", { db: 2 }).db, 2);
  assert.equal(clientSettings("redis://alice@h", { password: SECRET }).password, SECRET);
  const p = poolSettings("redis://cache/1", { size: 3, offlineQueue: false });
  assert.deepEqual([p.address, p.db, p.size, p.exclusiveConnections, p.offlineQueue], [tcp("cache"), 1, 3, 3, false]);
  const q = poolSettings({ url: "unix:///s.sock?db=4", size: 2, acquireTimeout: 100 });
  assert.deepEqual([q.address, q.db, q.acquireTimeout], [{ kind: "unix", path: "/s.sock" }, 4, 100]);
});

test("REDIS_URL (then VALKEY_URL) is read when no address is given, and only then", () => {
  withEnv({ REDIS_URL: `redis://alice:${SECRET}@from-env:6390/5` }, () => {
    for (
      const s of [clientSettings(), clientSettings({ commandTimeout: 9 }), poolSettings(), poolSettings({ size: 2 })]
    ) {
      assert.deepEqual(s.address, tcp("from-env", 6390));
      assert.deepEqual([s.username, s.password, s.db], ["alice", SECRET, 5]);
    }
    assert.equal(clientSettings(undefined, undefined, { db: 5 }).db, 5);
    const e = throwsClean(() => clientSettings({ db: 6 }), /db is given both in REDIS_URL and in the options/, "db");
    assert.ok(!e.message.includes("from-env"));
    assert.deepEqual(clientSettings("other").address, tcp("other"));
    assert.deepEqual(poolSettings({ host: "other" }).address, tcp("other"));
  });
  withEnv({ VALKEY_URL: "valkey://from-valkey:6391" }, () => {
    assert.deepEqual(clientSettings().address, tcp("from-valkey", 6391));
  });
  withEnv({ REDIS_URL: "redis://first", VALKEY_URL: "redis://second" }, () => {
    assert.deepEqual(clientSettings().address, tcp("first"));
  });
  withEnv({ REDIS_URL: "" }, () => assert.deepEqual(clientSettings().address, tcp("127.0.0.1")));
  withEnv({ REDIS_URL: `redis://alice:${SECRET}@h:0` }, () => {
    const e = throwsClean(
      () => clientSettings(),
      /invalid Redis URL in REDIS_URL "redis:\/\/alice:\*\*\*\*@h:0"/,
      "env",
    );
    assert.match(e.message, /port/);
  });
});

test("Deno without --allow-env: REDIS_URL is not read, and nothing prompts", async () => {
  if (runtime !== "deno") return;
  const code = `import { clientSettings } from ${JSON.stringify(new URL("../../src/options.ts", import.meta.url).href)};
    console.log(JSON.stringify(clientSettings().address));`;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, code);
  // `deno eval` would grant everything; `deno run` with no flags grants nothing, and --no-prompt makes a prompt fail.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-check", file],
    env: { REDIS_URL: "redis://from-env:6390", NO_COLOR: "1" },
    stdin: "null",
  }).output().finally(() => Deno.remove(file));
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(text), tcp("127.0.0.1"));
});

// ---- validation: every error ----------------------------------------------------------------------------------

const call = (...args: unknown[]) => () => clientSettings(...(args as ConnectArgs));
const pool = (...args: unknown[]) => () => poolSettings(...(args as PoolArgs));

const ERRORS: Array<[label: string, fn: () => unknown, why: RegExp]> = [
  // argument forms
  ["4 arguments", call("h", 1, {}, {}), /at most 3 arguments/],
  ["url, port", call("redis://h", 6380), /takes the port from the URL/],
  ["url, options, more", call("redis://h", {}, {}), /takes the port from the URL/],
  ["host, options", call("h", { db: 1 }), /connect\(host, options\) is not a form/],
  ["options string", call("h", 1, "str"), /options of connect\(\) must be an object, not "str"/],
  ["options null", call("h", 1, null), /must be an object, not null/],
  ["options array", call("h", 1, []), /must be an object, not an array/],
  ["url options null", call("redis://h", null), /must be an object, not null/],
  ["number first", call(6379), /connect\(\) takes .* not 6379 first/],
  ["null first", call(null), /not null first/],
  ["options, more", call({ db: 1 }, 2), /takes one argument/],
  ["pool: host string", pool("localhost"), /redis:\/\/ URL or an options object, not "localhost"/],
  ["pool: password in host string", pool(`alice:${SECRET}@h`), /not "alice:\*\*\*\*@h"/],
  ["pool: number", pool(6379), /not 6379/],
  ["pool: 3 arguments", pool("redis://h", {}, {}), /at most 2 arguments/],
  ["pool: undefined, options", pool(undefined, { size: 1 }), /use connectPool\(options\)/],
  ["pool: options, more", pool({}, {}), /takes one argument/],
  ["pool: url, options null", pool("redis://h", null), /options of connectPool\(\) must be an object, not null/],
  // names
  ["typo", call({ tsl: true }), /unknown option "tsl" for connect\(\); did you mean tls\?/],
  ["case", call("h", 1, { connecttimeout: 1 }), /unknown option "connecttimeout".*did you mean connectTimeout\?/],
  ["peer name", call({ database: 1 }), /unknown option "database".*did you mean db\?/],
  ["peer name 2", pool({ enableOfflineQueue: false }), /did you mean offlineQueue\?/],
  ["peer name 3", call({ enableReadyCheck: false }), /did you mean readyCheck\?/],
  ["readyCheck", call({ readyCheck: "no" }), /readyCheck must be/],
  ["peer name 4", pool({ reconnectOnError: () => true }), /did you mean reconnectOnReadOnly\?/],
  ["reconnectOnReadOnly", call({ reconnectOnReadOnly: 1 }), /reconnectOnReadOnly must be/],
  ["peer name 5", call({ disableClientInfo: true }), /did you mean clientInfo\?/],
  ["peer name 6", pool({ retryStrategy: () => 100 }), /did you mean reconnectMaxDelay \(cpipe redials with a delay/],
  ["peer name 7", pool({ maxRetriesPerRequest: 3 }), /did you mean offlineTimeout \(how long a command waits/],
  [
    "built in",
    pool({ lazyConnect: true }),
    /"lazyConnect" for connectPool\(\): none is needed, connectPool\(\) returns/,
  ],
  [
    "built in 2",
    call({ enableAutoPipelining: true }),
    /none is needed, the commands of one tick always leave together$/,
  ],
  ["clientInfo", call({ clientInfo: "yes" }), /clientInfo must be true or false/],
  ["clientInfoTag space", call({ clientInfoTag: "my app" }), /clientInfoTag must be printable ASCII without spaces/],
  ["clientInfoTag paren", call({ clientInfoTag: "a(b)" }), /without spaces or parentheses, not "a\(b\)"/],
  ["clientInfoTag type", pool({ clientInfoTag: 1 }), /clientInfoTag must be/],
  ["clientInfoTag empty", pool({ clientInfoTag: "" }), /clientInfoTag must be/],
  ["far off", call({ zzzzzz: 1 }), /unknown option "zzzzzz" for connect\(\)$/],
  ["pool-only", call({ size: 2 }), /size is an option of connectPool\(\), not of connect\(\)/],
  ["pool typo", pool({ sise: 2 }), /unknown option "sise" for connectPool\(\); did you mean size\?/],
  ["host twice", call("h", 1, { host: "x" }), /host is given in the options of connect\(…, options\)/],
  ["url twice", call("redis://h", { url: "redis://x" }), /url is given in the options of connect/],
  [
    "host, no args",
    call(undefined, undefined, { host: "x" }),
    /in one options object \(connect\(\{ host, … \}\)\)/,
  ],
  [
    "pool url twice",
    pool("redis://h", { port: 1 }),
    /port is given in the options of connectPool.*connectPool\(\{ port, … \}\)/,
  ],
  // address
  ["port null", call({ port: null }), /port must be a whole number from 1 to 65535, not null/],
  ["port 0", call("h", 0), /port must be .* not 0/],
  ["port string", call("h", "6379"), /port must be .* not "6379"/],
  ["port big", pool({ port: 70000 }), /not 70000/],
  ["port float", call("h", 6379.5), /not 6379.5/],
  ["host null", call({ host: null }), /host must be a non-empty string, not null/],
  ["host empty", call(""), /host must be a non-empty string, not ""/],
  ["host number", pool({ host: 1 }), /host must be a non-empty string, not 1/],
  ["host:port", call("localhost:6379"), /host must be a host name or an IP address, not "localhost:6379"/],
  ["host url", call({ host: `redis://alice:${SECRET}@h` }), /is a URL: pass it as connect\(url\)/],
  ["host creds", call(`alice:${SECRET}@h`), /not "alice:\*\*\*\*@h"/],
  ["host space", call("a b"), /host must be a host name/],
  ["url and host", call({ url: "redis://h", host: "x" }), /give the address once/],
  ["url number", pool({ url: 5 }), /url must be a string, not 5/],
  ["url bad", call({ url: `redis://alice:${SECRET}@h/x` }), /path must be a database number/],
  ["path and port", call({ path: "/s", port: 1 }), /path is a unix socket; give it without host and port/],
  ["path empty", pool({ path: "" }), /path must be a non-empty socket path/],
  // credentials, database, name, protocol
  ["username alone", call({ username: "alice" }), /username is given without a password/],
  ["username alone in URL", call("redis://alice@h"), /username is given without a password/],
  ["password number", call({ password: 12345 }), /password must be a string, not a number$/],
  ["username object", call({ username: {}, password: SECRET }), /username must be a string, not an object/],
  ["password conflict", call(`redis://:${SECRET}@h`, { password: "other" }), /password is given both in the URL/],
  ["db conflict", call("redis://h/1", { db: 2 }), /db is given both in the URL and in the options/],
  ["protocol conflict", call("redis://h?protocol=3", { protocol: 2 }), /protocol is given both/],
  ["db negative", call({ db: -1 }), /db must be a whole number from 0 to 2147483647, not -1/],
  ["db string", call("h", 1, { db: "2" }), /db must be .* not "2"/],
  ["db big", call({ db: 2 ** 31 }), /not 2147483648/],
  ["name space", call({ name: "a b" }), /name must be printable ASCII without spaces, not "a b"/],
  ["name number", call({ name: 1 }), /name must be printable ASCII/],
  ["protocol 4", call({ protocol: 4 }), /protocol must be 2 or 3, not 4/],
  ["protocol string", call({ protocol: "3" }), /protocol must be 2 or 3, not "3"/],
  // timeouts and sizes
  [
    "connectTimeout -1",
    call({ connectTimeout: -1 }),
    /connectTimeout must be a whole number of milliseconds .* not -1/,
  ],
  ["commandTimeout NaN", call({ commandTimeout: NaN }), /commandTimeout .* not NaN/],
  ["commandTimeout Infinity", call({ commandTimeout: Infinity }), /not Infinity/],
  ["commandTimeout null", call({ commandTimeout: null }), /not null/],
  ["commandTimeout 2^31", call({ commandTimeout: 2 ** 31 }), /not 2147483648/],
  ["commandTimeout bigint", call({ commandTimeout: 5n }), /not 5n/],
  ["keepAlive string", call({ keepAlive: "yes" }), /keepAlive must be true, false or a whole number .* not "yes"/],
  ["keepAlive -1", call({ keepAlive: -1 }), /keepAlive .* not -1/],
  ["maxReplyBytes 0", call({ maxReplyBytes: 0 }), /maxReplyBytes must be a whole number from 1 to 4294967295, not 0/],
  ["size 0", pool({ size: 0 }), /size must be a whole number from 1 to 1024, not 0/],
  ["size 1025", pool({ size: 1025 }), /not 1025/],
  ["exclusive -1", pool({ exclusiveConnections: -1 }), /exclusiveConnections must be .* from 0 to 1024, not -1/],
  ["maxInFlight 0", pool({ maxInFlight: 0 }), /maxInFlight must be a whole number from 1 to 67108864, not 0/],
  ["maxQueued big", pool({ maxQueued: 2 ** 30 + 1 }), /maxQueued must be .* from 1 to 1073741824/],
  ["reconnectMaxDelay 0", pool({ reconnectMaxDelay: 0 }), /reconnectMaxDelay must be .* from 1 to 2147483647, not 0/],
  ["closeTimeout -1", pool({ closeTimeout: -1 }), /closeTimeout must be .* milliseconds/],
  ["offlineQueue string", pool({ offlineQueue: "no" }), /offlineQueue must be true or false, not "no"/],
  ["offlineTimeout -1", pool({ offlineTimeout: -1 }), /offlineTimeout must be .* milliseconds .* not -1/],
  ["acquireTimeout 1.5", pool({ acquireTimeout: 1.5 }), /acquireTimeout must be .* not 1.5/],
  // TLS
  ["tls string", call({ tls: "on" }), /tls must be true, false or \{ ca, cert, key, servername, rejectUnauthorized \}/],
  [
    "tls unknown",
    call({ tls: { rejectUnauthorised: false } }),
    /unknown tls option "rejectUnauthorised".*rejectUnauthorized/,
  ],
  [
    "tls false with rediss",
    call("rediss://h", { tls: false }),
    /the URL asks for TLS \(rediss:\/\/\) but .* tls: false/,
  ],
  ["tls cert alone", call({ tls: { cert: "PEM" } }), /tls.cert and tls.key go together/],
  ["tls key alone", call({ tls: { key: SECRET } }), /tls.cert and tls.key go together/],
  ["tls key number", call({ tls: { cert: "PEM", key: 5 } }), /tls.key must be PEM text or bytes .* not a number$/],
  ["tls ca empty", call({ tls: { ca: "" } }), /tls.ca must be PEM text or bytes/],
  ["tls ca object", call({ tls: { ca: [{}] } }), /tls.ca must be .* not an object/],
  ["tls servername", call({ tls: { servername: "a b" } }), /tls.servername must be a host name, not "a b"/],
  ["tls rejectUnauthorized", call({ tls: { rejectUnauthorized: 0 } }), /tls.rejectUnauthorized must be true or false/],
];

test("every validation error is a TypeError naming the option and the bad value", () => {
  withEnv(NO_ENV, () => {
    for (const [label, fn, why] of ERRORS) throwsClean(fn, why, label);
  });
});

test("no error message or stack carries the password, whatever else is wrong", () => {
  withEnv({ REDIS_URL: `redis://u:${SECRET}@h:1/x` }, () => {
    throwsClean(() => clientSettings(), /database number/, "env");
  });
  const withPassword = [
    () => clientSettings({ password: SECRET, db: -1 }),
    () => clientSettings(`redis://u:${SECRET}@h`, { password: "x" }),
    () => clientSettings({ url: `redis://u:${SECRET}@h`, password: "other" }),
    () => clientSettings("h", 1, { password: SECRET, tsl: true } as ConnectOptions),
    () => clientSettings({ tls: { cert: "c", key: SECRET, ca: 1 } } as unknown as ConnectOptions),
    () => poolSettings(`redis://u:${SECRET}@h`, { size: 0 }),
    () => poolSettings(`rediss://u:${SECRET}@h`, { tls: false }),
    () => parseRedisUrl(`redis://${SECRET}@h:x`),
    () => parseRedisUrl(`redis://h?password=${SECRET}&x=1`),
  ];
  for (const [i, fn] of withPassword.entries()) throwsClean(fn, /./, `case ${i}`);
});

// ---- TLS ------------------------------------------------------------------------------------------------------

test("tls: true, an object, or rediss:// normalize to one TlsSettings", () => {
  const on = clientSettings("cache.internal", 6380, { tls: true }).tls;
  assert.deepEqual({ ...on, ca: [...on!.ca] }, {
    ca: [],
    cert: null,
    key: null,
    servername: "cache.internal",
    rejectUnauthorized: true,
  });
  assert.ok(Object.isFrozen(on) && Object.isFrozen(on!.ca));
  assert.equal(clientSettings("rediss://10.0.0.1").tls?.servername, null);
  assert.equal(clientSettings("rediss://[::1]").tls?.servername, null);
  assert.equal(clientSettings({ path: "/s", tls: true }).tls?.servername, null);
  assert.equal(clientSettings("redis://h", { tls: { servername: "other" } }).tls?.servername, "other");
  assert.equal(clientSettings("redis://h").tls, null);
  assert.equal(clientSettings("h", 1, { tls: false }).tls, null);
  const bytes = new Uint8Array([1, 2, 3]);
  const t = clientSettings({ tls: { ca: ["A", bytes], cert: "CERT", key: bytes, rejectUnauthorized: false } }).tls!;
  assert.deepEqual(t.ca.map((c) => [...c]), [[65], [1, 2, 3]]);
  assert.deepEqual([...t.cert!], [67, 69, 82, 84]);
  assert.equal(t.rejectUnauthorized, false);
  bytes[0] = 9; // the settings keep their own copy
  assert.deepEqual([...t.key!], [1, 2, 3]);
  assert.deepEqual([...clientSettings("rediss://h", { tls: { ca: "A" } }).tls!.ca[0]!], [65]);
});

test("printing settings shows neither the password nor the TLS key", () => {
  const key = "-----BEGIN PRIVATE KEY-----KEYSECRET";
  const s = poolSettings({ url: `rediss://alice:${SECRET}@h`, tls: { cert: "C", key } });
  const printed = [JSON.stringify(s), inspect(s, { depth: 9 })];
  if (runtime === "deno") printed.push(Deno.inspect(s, { depth: 9 }));
  else printed.push((globalThis as unknown as { Bun: { inspect(v: unknown): string } }).Bun.inspect(s));
  const keyBytes = [...new TextEncoder().encode("KEYSECRET")].join(", ");
  for (const text of printed) {
    assert.ok(!text.includes(SECRET), text);
    assert.ok(!text.includes(keyBytes.slice(0, 20)), text);
    assert.ok(text.includes("****"), text);
    assert.ok(text.includes("alice"), text);
  }
  for (const text of [inspect(s.tls, { depth: 9 }), JSON.stringify(s.tls)]) {
    assert.ok(!text.includes(keyBytes.slice(0, 20)) && !text.includes("75,69,89"), text);
    assert.ok(text.includes("****"), text);
  }
  // The values are there for the engine, and a spread copies them (the print hooks are not enumerable).
  assert.equal(s.password, SECRET);
  assert.equal({ ...s }.password, SECRET);
  assert.deepEqual(Object.keys(s).includes("toJSON"), false);
});

// ---- what the engine calls ------------------------------------------------------------------------------------

test("handshakeCommands: HELLO carries AUTH and SETNAME with protocol 3; AUTH, SELECT, CLIENT SETNAME with 2", () => {
  const h = (o: ConnectOptions) => handshakeCommands(clientSettings("h", 1, { clientInfo: false, ...o }));
  assert.deepEqual(h({}), []);
  assert.deepEqual(h({ db: 0 }), []);
  assert.deepEqual(h({ password: "pw" }), [["AUTH", "pw"]]);
  assert.deepEqual(h({ username: "alice", password: "pw", db: 2, name: "w1" }), [
    ["AUTH", "alice", "pw"],
    ["SELECT", "2"],
    ["CLIENT", "SETNAME", "w1"],
  ]);
  assert.deepEqual(h({ username: "alice", password: "" }), [["AUTH", "alice", ""]]);
  assert.deepEqual(h({ protocol: 3 }), [["HELLO", "3"]]);
  assert.deepEqual(h({ protocol: 3, password: "pw", db: 2, name: "w1" }), [
    ["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "w1"],
    ["SELECT", "2"],
  ]);
  assert.deepEqual(h({ protocol: 3, username: "alice", password: "pw" }), [["HELLO", "3", "AUTH", "alice", "pw"]]);
  assert.deepEqual(handshakeCommands(clientSettings("redis://:pw@h/3?protocol=3&name=n", { clientInfo: false })), [
    ["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "n"],
    ["SELECT", "3"],
  ]);
  // An empty name is no name (CLIENT SETNAME "" would only clear it).
  assert.deepEqual(h({ name: "" }), []);
  // The caller owns the arrays.
  const s = clientSettings("h", 1, { password: "pw", clientInfo: false });
  handshakeCommands(s)[0]!.push("x");
  assert.deepEqual(handshakeCommands(s), [["AUTH", "pw"]]);
});

test("handshakeCommands: CLIENT SETINFO names the library and its version last, by default", () => {
  const setinfo = (
    name: string,
  ) => [["CLIENT", "SETINFO", "LIB-NAME", name], ["CLIENT", "SETINFO", "LIB-VER", VERSION]];
  assert.deepEqual(handshakeCommands(clientSettings("h", 1)), setinfo("cpipe"));
  assert.deepEqual(handshakeCommands(clientSettings("h", 1, { db: 2, clientInfoTag: "jobs_v2" })), [
    ["SELECT", "2"],
    ...setinfo("cpipe(jobs_v2)"),
  ]);
  assert.deepEqual(handshakeCommands(clientSettings("h", 1, { clientInfo: false, clientInfoTag: "x" })), []);
  // The version it reports is the package's.
  for (const file of ["package.json", "deno.json"]) {
    const manifest = JSON.parse(readFileSync(new URL(`../../${file}`, import.meta.url), "utf8"));
    assert.equal(manifest.version, VERSION, file);
  }
});

test("describeAddress: host:port, [v6]:port, or the socket path", () => {
  assert.equal(describeAddress(clientSettings("cache", 6380)), "cache:6380");
  assert.equal(describeAddress(clientSettings("redis://[::1]:6380")), "[::1]:6380");
  assert.equal(describeAddress(clientSettings("/tmp/r.sock")), "/tmp/r.sock");
  assert.equal(describeAddress({ kind: "tcp", host: "h", port: 1 }), "h:1");
  withEnv(NO_ENV, () => assert.equal(describeAddress(poolSettings()), "127.0.0.1:6379"));
});

test("redact hides the password as written, percent-encoded, JSON-escaped and cut short by Redis", () => {
  const s = clientSettings("h", 1, { username: "alice", password: 'p"w/' + SECRET });
  const pw = s.password!;
  const cases = [
    `ERR unknown command 'AUTH', with args beginning with: 'alice' '${pw}' `,
    `ERR unknown command 'AUTH', with args beginning with: 'alice' '${pw.slice(0, 6)}' `,
    `redis://alice:${encodeURIComponent(pw)}@h`,
    `{"user":"alice","password":${JSON.stringify(pw)}}`,
    `alice ${pw} alice:${pw}`,
  ];
  for (const text of cases) {
    const out = redact(text, s);
    assert.ok(!out.includes(SECRET) && !out.includes(pw.slice(0, 6)), out);
    assert.ok(out.includes("****") && out.includes("alice"), out);
  }
  assert.equal(redact("alice pw", clientSettings("h", 1, { username: "alice", password: "pw" })), "alice ****");
  assert.equal(redact("nothing here", s), "nothing here");
  assert.equal(redact("ERR 'ab'", clientSettings("h", 1, {})), "ERR 'ab'");
  // Short quoted words that merely start the password stay (four characters at least are needed).
  assert.equal(redact("'p\"w' x", s), "'p\"w' x");
});

// ---- types: what must (and must not) compile ------------------------------------------------------------------

test("the old ConnectOptions import and today's call forms still type-check", () => {
  const old: OldConnectOptions = { connectTimeout: 1, commandTimeout: 2, username: "u", password: "p", db: 1 };
  const now: ConnectOptions = old;
  const forms: ConnectArgs[] = [
    [],
    ["localhost", 6379, { password: "p" }],
    ["localhost", 6379],
    ["localhost"],
    [undefined, 6380],
    ["redis://h:1/2", { commandTimeout: 5 }],
    ["redis://h"],
    [{ url: "redis://h", db: 1 }],
    [{ host: "h", port: 1, tls: { ca: "x" } }],
    [{ path: "/s", protocol: 3 }],
    ["h", 1, now],
  ];
  withEnv(NO_ENV, () => {
    for (const f of forms) assert.ok(clientSettings(...f).address);
  });
  const poolForms: PoolArgs[] = [[], ["redis://h"], ["redis://h", { size: 2 }], [{
    host: "h",
    size: 2,
    keepAlive: false,
  }]];
  withEnv(NO_ENV, () => {
    for (const f of poolForms) assert.ok(poolSettings(...f).address);
  });
  // @ts-expect-error a string where options go
  assert.throws(() => clientSettings("h", 1, "str"), TypeError);
  // @ts-expect-error a pool option in connect()
  assert.throws(() => clientSettings({ size: 2 }), TypeError);
  // @ts-expect-error null is not a port
  assert.throws(() => clientSettings({ port: null }), TypeError);
  // @ts-expect-error an address beside a URL
  assert.throws(() => poolSettings("redis://h", { host: "x" }), TypeError);
});
