/** Connection loss, server restarts, timeouts and peers that do not speak RESP. */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { PEER_OPTIONS, startPeer } from "../harness/peer.ts";
import { connect, ConnectionError, connectPool, ProtocolError, ReplyError, TimeoutError } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

test("a server restart while idle: the next call reconnects by itself, no error", async () => {
  const r = connect(server.host, server.port);
  r.set("restart:k", "v");
  await server.restart();
  // The old connection's end was seen before the GET went out: nothing was
  // sent into it, so nothing fails.
  assert.equal(r.get("restart:k"), null); // a fresh, empty server (no persistence)
  assert.equal(r.ping(), "PONG");
  r.close();
});

test("while the server is down every call fails fast with ConnectionError", async () => {
  const r = connect(server.host, server.port);
  await server.stop();
  try {
    for (let i = 0; i < 3; i++) assert.throws(() => r.ping(), ConnectionError);
    r.addCommand("PING").addCommand("PING");
    assert.throws(() => r.execute(), ConnectionError);
  } finally {
    await server.restart();
  }
  assert.equal(r.ping(), "PONG");
  assert.deepEqual(r.execute(), []);
  r.close();
});

test("a peer that answers garbage is a ProtocolError, a ConnectionError too: at connect (the ready check), and to a command", async () => {
  const peer = await startPeer("garbage");
  try {
    assert.throws(
      () => connect("127.0.0.1", peer.port),
      (e: unknown) => e instanceof ProtocolError && e instanceof ConnectionError,
    );
    const r = connect("127.0.0.1", peer.port, PEER_OPTIONS);
    assert.throws(() => r.ping(), (e: unknown) => e instanceof ProtocolError && e instanceof ConnectionError);
    r.close();
  } finally {
    peer.stop();
  }
});

test("a reply cut short by EOF is a ConnectionError, not a hang", async () => {
  const peer = await startPeer("partial");
  try {
    const r = connect("127.0.0.1", peer.port, PEER_OPTIONS);
    assert.throws(() => r.get("k"), (e: unknown) => e instanceof ConnectionError && /closed/.test(e.message));
    r.close();
  } finally {
    peer.stop();
  }
});

test("a peer that never answers: a ConnectionError after connectTimeout (the ready check), a TimeoutError after commandTimeout", async () => {
  const peer = await startPeer("silent");
  try {
    const connecting = Date.now();
    assert.throws(
      () => connect("127.0.0.1", peer.port, { connectTimeout: 200 }),
      (e: unknown) => e instanceof ConnectionError && /no answer within 200 ms/.test(e.message),
    );
    assert.ok(Date.now() - connecting >= 150);
    const r = connect("127.0.0.1", peer.port, { commandTimeout: 200, ...PEER_OPTIONS });
    const started = Date.now();
    assert.throws(() => r.ping(), TimeoutError);
    assert.ok(Date.now() - started >= 150);
    r.close();
  } finally {
    peer.stop();
  }
});

test("a peer that hangs up at once is a ConnectionError", async () => {
  const peer = await startPeer("close");
  try {
    assert.throws(() => {
      const r = connect("127.0.0.1", peer.port);
      try {
        r.ping();
      } finally {
        r.close();
      }
    }, ConnectionError);
  } finally {
    peer.stop();
  }
});

test("a 512 MB value round-trips; one byte more is refused by the server with its own error", () => {
  const r = connect(server.host, server.port);
  const size = 512 * 1024 * 1024;
  const value = new Uint8Array(size);
  for (let i = 0; i < size; i += 1 << 20) value[i] = (i >> 20) & 0xff;
  value[size - 1] = 0xab;
  assert.equal(r.set("huge", value), "OK");
  const back = r.getBuffer("huge");
  assert.ok(back !== null && back.length === size && back[size - 1] === 0xab && back[5 << 20] === 5);
  r.del("huge");
  const tooBig = new Uint8Array(size + 1);
  assert.throws(
    () => r.set("huge", tooBig),
    // The server answers before it hangs up: that answer is the SET's, in its own words.
    (e: unknown) => e instanceof ReplyError && /invalid bulk length/.test(e.message),
  );
  assert.equal(r.ping(), "PONG");
  r.close();
});

test("a server that refuses the connection as it accepts it (maxclients): connect says why, and so does the pool's offline wait", async () => {
  await using full = await startRedis({ args: ["--maxclients", "1"] });
  const holder = connect(full.host, full.port);
  try {
    assert.throws(
      () => connect(full.host, full.port),
      (e: unknown) => e instanceof ConnectionError && /max number of clients reached/.test(e.message),
    );
    const pool = connectPool({ host: full.host, port: full.port, size: 1, offlineTimeout: 300, reconnectMaxDelay: 50 });
    await assert.rejects(
      pool.get("k"),
      (e: unknown) => e instanceof ConnectionError && /max number of clients reached/.test(e.message),
    );
    await pool.close();
  } finally {
    holder.close();
  }
});
