/**
 * TLS against real redis-servers with certificates the harness makes (tests/harness/tls.ts): verification on by
 * default and every way it fails, mutual TLS, the client, pipelines, the pool, reconnects, large values, many calls.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { makeCertificates, startTlsRedis } from "../harness/tls.ts";
import { connect, ConnectionError, connectPool } from "../../mod.ts";

const certs = makeCertificates();
const server = await startTlsRedis(certs);
const expired = await startTlsRedis(certs, { expired: true });
const mutual = await startTlsRedis(certs, { authClients: "yes" });
const tls12 = await startTlsRedis(certs, { protocols: "TLSv1.2" });
afterAll(async () => {
  await Promise.all([server, expired, mutual, tls12].map((s) => s[Symbol.asyncDispose]()));
  certs.remove();
});

const url = `rediss://localhost:${server.tlsPort}`;
const ca = certs.ca;
let n = 0;
const key = (): string => `tls:${n++}`;

/** Asserts that `fn` fails with a ConnectionError naming the server's address and matching `reason`. */
function assertRefused(fn: () => unknown, address: string, reason: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConnectionError, `not a ConnectionError: ${e}`);
    assert.ok(e.message.includes(address), e.message);
    assert.match(e.message, reason);
    return true;
  });
}

test("rediss:// with tls.ca: a verified connection carries commands", () => {
  const r = connect(url, { tls: { ca } });
  const k = key();
  assert.equal(r.set(k, "v"), "OK");
  assert.equal(r.get(k), "v");
  r.close();
});

test("an IP address is checked against the certificate's IP entries", () => {
  const r = connect(`rediss://127.0.0.1:${server.tlsPort}`, { tls: { ca } });
  assert.equal(r.ping(), "PONG");
  r.close();
});

test("TLS 1.2: a server that speaks only 1.2, also after a reconnect", () => {
  const r = connect(`rediss://localhost:${tls12.tlsPort}`, { tls: { ca } });
  assert.equal(r.ping(), "PONG");
  tls12.cli("CLIENT", "KILL", "TYPE", "normal");
  try {
    r.ping();
  } catch (e) {
    assert.ok(e instanceof ConnectionError);
  }
  assert.equal(r.ping(), "PONG");
  r.close();
});

test("a server certificate from another CA is refused: unknown CA", () => {
  assertRefused(() => connect(url, { tls: { ca: certs.wrongCa } }), `localhost:${server.tlsPort}`, /unknown CA/);
});

test("without tls.ca the runtime's own roots are used, which do not hold the test CA", () => {
  assertRefused(() => connect(url), `localhost:${server.tlsPort}`, /unknown CA/);
});

test("a certificate for another name is refused: name mismatch", () => {
  assertRefused(
    () => connect(url, { tls: { ca, servername: "other.example" } }),
    `localhost:${server.tlsPort}`,
    /name mismatch/,
  );
});

test("an expired certificate is refused: expired", () => {
  assertRefused(
    () => connect(`rediss://localhost:${expired.tlsPort}`, { tls: { ca } }),
    `localhost:${expired.tlsPort}`,
    /expired/,
  );
});

test("TLS to a plaintext port, or plaintext to a TLS port, fails clearly and at once", () => {
  // A plaintext port waits for a line the TLS hello never ends: the connect timeout says what was awaited.
  assertRefused(
    () => connect(`rediss://localhost:${server.port}`, { tls: { ca }, connectTimeout: 500 }),
    `localhost:${server.port}`,
    /TLS handshake \(is this the server's TLS port\?\)/,
  );
  assert.throws(() => {
    const r = connect("localhost", server.tlsPort, { connectTimeout: 5000 });
    try {
      r.ping();
    } finally {
      r.close();
    }
  }, (e: unknown) => e instanceof ConnectionError && e.message.includes(`localhost:${server.tlsPort}`));
});

test("rejectUnauthorized: false accepts what would not verify", () => {
  for (const port of [server.tlsPort, expired.tlsPort]) {
    const r = connect(`rediss://localhost:${port}`, { tls: { ca: certs.wrongCa, rejectUnauthorized: false } });
    assert.equal(r.ping(), "PONG");
    r.close();
  }
});

test("PEM that does not parse is a ConnectionError at connect that never shows the key", () => {
  assertRefused(() => connect(url, { tls: { ca: "not a certificate" } }), `localhost:${server.tlsPort}`, /tls\.ca/);
  const secretKey = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
  assert.throws(() => connect(url, { tls: { ca, cert: certs.clientCert, key: secretKey } }), (e: unknown) => {
    assert.ok(e instanceof ConnectionError);
    assert.match(e.message, /tls\.key/);
    assert.ok(!e.message.includes("c2VjcmV0"), e.message);
    return true;
  });
});

test("mutual TLS: a server that requires a client certificate refuses a client without one", () => {
  const address = `localhost:${mutual.tlsPort}`;
  // TLS 1.3 ends the handshake before the server checks the client: the refusal comes with the first reply.
  assert.throws(() => {
    const r = connect(`rediss://${address}`, { tls: { ca } });
    try {
      r.ping();
    } finally {
      r.close();
    }
  }, (e: unknown) => e instanceof ConnectionError && e.message.includes(address));
});

test("mutual TLS: with tls.cert and tls.key the client is let in", async () => {
  const tls = { ca, cert: certs.clientCert, key: certs.clientKey };
  const r = connect(`rediss://localhost:${mutual.tlsPort}`, { tls });
  assert.equal(r.ping(), "PONG");
  r.close();
  const pool = connectPool(`rediss://localhost:${mutual.tlsPort}`, { tls, size: 2 });
  assert.equal(await pool.ping(), "PONG");
  await pool.close();
});

test("a pipeline over TLS", () => {
  const r = connect(url, { tls: { ca } });
  const k = key();
  const replies = r.pipeline().set(k, "1").incr(k).get(k).execute();
  assert.deepEqual(replies, ["OK", 2, "2"]);
  r.close();
});

test("the client reconnects over TLS after CLIENT KILL", () => {
  const r = connect(url, { tls: { ca } });
  const k = key();
  r.set(k, "kept");
  const before = r.send("CLIENT", "ID");
  server.cli("CLIENT", "KILL", "TYPE", "normal");
  try {
    r.ping(); // sent on the dead connection, or on a new one
  } catch (e) {
    assert.ok(e instanceof ConnectionError);
  }
  assert.equal(r.get(k), "kept");
  assert.notEqual(r.send("CLIENT", "ID"), before);
  r.close();
});

test("the pool over TLS: concurrent calls, a reconnect after CLIENT KILL", async () => {
  const pool = connectPool(url, { tls: { ca }, size: 2 });
  const k = key();
  const values = await Promise.all(Array.from({ length: 1000 }, (_, i) => pool.set(`${k}:${i}`, String(i))));
  assert.ok(values.every((v) => v === "OK"));
  server.cli("CLIENT", "KILL", "TYPE", "normal");
  let got: unknown = null;
  for (let i = 0; i < 100 && got === null; i++) {
    try {
      got = await pool.get(`${k}:7`);
    } catch (e) {
      assert.ok(e instanceof ConnectionError); // it was on a killed connection
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  assert.equal(got, "7");
  await pool.close();
});

test("a 64 MB value round-trips over TLS, on the client and on the pool", async () => {
  const value = new Uint8Array(64 * 1024 * 1024);
  for (let i = 0; i < value.length; i += 4096) value[i] = i % 251;
  const k = key();
  const r = connect(url, { tls: { ca } });
  assert.equal(r.set(k, value), "OK");
  assert.deepEqual(r.getBuffer(k), value);
  r.close();
  const pool = connectPool(url, { tls: { ca } });
  assert.deepEqual(await pool.getBuffer(k), value);
  await pool.del(k);
  await pool.close();
});

test("a pipeline larger than the socket's buffers, sent while the server sleeps: every reply, in order", async () => {
  // The records of one write are gathered several to a send(); with the server asleep the socket fills (loopback
  // takes about 10 MB), so gathered records wait for the next turn, on the client and on the pool.
  const admin = connectPool(`redis://127.0.0.1:${server.port}`, { size: 1 });
  const value = new Uint8Array(24 * 1024 * 1024).fill(7);
  const n = 100_000;
  const k = key();
  for (const side of ["client", "pool"] as const) {
    const sleeping = admin.send("DEBUG", "SLEEP", "0.3");
    await new Promise((r) => setTimeout(r, 50));
    let replies: unknown[];
    if (side === "client") {
      const r = connect(url, { tls: { ca } });
      const p = r.pipeline().set(`${k}:big`, value);
      for (let i = 0; i < n; i++) p.incr(k);
      replies = p.execute();
      r.close();
    } else {
      const pool = connectPool(url, { tls: { ca }, size: 1 });
      const p = pool.pipeline().set(`${k}:big`, value);
      for (let i = 0; i < n; i++) p.incr(k);
      replies = await p.execute();
      await pool.close();
    }
    await sleeping;
    const first = side === "client" ? 1 : n + 1;
    assert.equal(replies.length, n + 1);
    assert.equal(replies[0], "OK");
    assert.ok(replies.slice(1).every((v, i) => v === first + i), `${side}: a reply out of order`);
  }
  await admin.del(`${k}:big`);
  await admin.close();
});

test("100,000 pool calls over TLS", async () => {
  const pool = connectPool(url, { tls: { ca }, size: 2 });
  const k = key();
  let total = 0;
  for (let round = 0; round < 10; round++) {
    const replies = await Promise.all(Array.from({ length: 10_000 }, () => pool.incr(k)));
    total += replies.length;
  }
  assert.equal(total, 100_000);
  assert.equal(await pool.get(k), "100000");
  await pool.close();
});

test("more TLS connections than Mbed TLS's fixed key store held: 40 shared, 8 acquired, a subscriber", async () => {
  await using pool = connectPool(url, { tls: { ca }, size: 40, exclusiveConnections: 8 });
  await Promise.all(Array.from({ length: 4_000 }, (_, i) => pool.set(key(), i)));
  assert.equal(pool.connected, 40);
  const acquired = await Promise.all(Array.from({ length: 8 }, () => pool.acquire()));
  for (const c of acquired) assert.equal(await c.ping(), "PONG");
  const got: string[] = [];
  const sub = await pool.subscribe("tls:news", ({ message }) => void got.push(message));
  await pool.publish("tls:news", "hello");
  for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, ["hello"]);
  await sub.unsubscribe();
  for (const c of acquired) c.release();
});
