/**
 * Redis Cluster over TLS: a 6-node cluster the harness starts with `tls-port` on every node and `tls-cluster yes`
 * (nodes then announce their TLS ports to TLS clients). The pool and the synchronous client discover it from a
 * `rediss://` seed, route to every master's TLS port, follow MOVED to a TLS port, and verify the certificate of
 * every node they dial, not only the seed's.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { makeCertificates, startTlsCluster, startTlsRedis } from "../harness/tls.ts";
import { ConnectionError, ReplyError } from "../../mod.ts";
import { connectCluster, connectClusterPool, slotOf } from "../../cluster.ts";

const certs = makeCertificates();
const cluster = await startTlsCluster(certs);
// A standalone server with an expired certificate, which a natMap puts in a node's place.
const impostor = await startTlsRedis(certs, { expired: true });
afterAll(async () => {
  await Promise.all([cluster.stop(), impostor[Symbol.asyncDispose]()]);
  certs.remove();
});
const ca = certs.ca;
const seed = `rediss://127.0.0.1:${cluster.tlsPorts[0]}`;
/** `127.0.0.1:<TLS port>` of a node. */
const tlsAddress = (i: number) => `127.0.0.1:${cluster.tlsPorts[i]}`;
/** One key per master (the first found of each). */
const keysPerMaster = (nodeFor: (key: string) => string): string[] => {
  const byNode = new Map<string, string>();
  for (let i = 0; byNode.size < 3 && i < 1000; i++) {
    if (!byNode.has(nodeFor(`tk:${i}`))) byNode.set(nodeFor(`tk:${i}`), `tk:${i}`);
  }
  return [...byNode.values()];
};

test("cluster over TLS: the pool routes to every master's TLS port with the certificates verified", async () => {
  await using pool = await connectClusterPool([seed], { tls: { ca } });
  const tlsPorts = new Set(cluster.tlsPorts.map((_, i) => tlsAddress(i)));
  assert.deepEqual(pool.masters.length, 3);
  for (const master of pool.masters) assert(tlsPorts.has(master), `${master} is a TLS port (${[...tlsPorts]})`);
  const keys = keysPerMaster((k) => pool.nodeFor("set", k, "v"));
  assert.deepEqual(keys.length, 3, "a key on each master");
  for (const key of keys) assert.deepEqual(await pool.set(key, `v:${key}`), "OK");
  assert.deepEqual(await Promise.all(keys.map((k) => pool.get(k))), keys.map((k) => `v:${k}`));
  const p = pool.pipeline();
  for (const key of keys) p.incr(`${key}:n`).get(key);
  assert.deepEqual(await p.execute(), keys.flatMap((k) => [1, `v:${k}`]));
  const sub = await pool.ssubscribe(keys);
  assert.deepEqual(await pool.spublish(keys[1]!, "over tls"), 1);
  assert.deepEqual((await sub[Symbol.asyncIterator]().next()).value, { channel: keys[1], message: "over tls" });
  await sub.unsubscribe();
});

test("cluster over TLS: the synchronous client routes, pipelines and follows MOVED to a TLS port", () => {
  using sync = connectCluster({ nodes: [seed], tls: { ca } });
  const keys = keysPerMaster((k) => sync.nodeFor("get", k));
  for (const key of keys) assert.deepEqual(sync.set(key, "sync"), "OK");
  assert.deepEqual(sync.pipeline().get(keys[0]!).get(keys[1]!).get(keys[2]!).execute(), ["sync", "sync", "sync"]);
  // A slot moved behind the client's back: MOVED names the new owner's TLS port.
  const key = "{tls-moving}k";
  const slot = slotOf(key);
  const source = cluster.masterOf(slot);
  const from = cluster.nodes.indexOf(source);
  assert.deepEqual(sync.nodeFor("get", key), tlsAddress(from));
  const to = cluster.nodes.findIndex((n, i) => i !== from && n.cli("role").startsWith("master"));
  const targetId = cluster.nodes[to]!.cli("cluster", "myid");
  cluster.nodes[to]!.cli("cluster", "setslot", String(slot), "importing", source.cli("cluster", "myid"));
  for (const node of [cluster.nodes[to]!, source, ...cluster.nodes.filter((_, i) => i !== to && i !== from)]) {
    node.cli("cluster", "setslot", String(slot), "node", targetId);
  }
  assert.deepEqual(sync.set(key, "moved"), "OK");
  assert(sync.stats.moved >= 1, JSON.stringify(sync.stats));
  assert.deepEqual(sync.nodeFor("get", key), tlsAddress(to));
  assert.deepEqual(cluster.nodes[to]!.cli("get", key), "moved");
});

test("cluster over TLS: a node whose certificate fails verification is refused, the others serve", async () => {
  // The second master's announced address leads to a server with an expired certificate.
  using probe = connectCluster({ nodes: [seed], tls: { ca } });
  const victim = probe.masters.find((m) => m !== tlsAddress(0))!;
  const natMap = (address: { host: string; port: number }) =>
    `${address.host}:${address.port}` === victim ? { host: "127.0.0.1", port: impostor.tlsPort } : address;
  await using pool = await connectClusterPool({ nodes: [seed], tls: { ca }, natMap, maxRedirects: 0 });
  const keys = keysPerMaster((k) => probe.nodeFor("get", k));
  for (const key of keys) {
    if (probe.nodeFor("get", key) === victim) {
      await assert.rejects(pool.get(key), (e: unknown) => {
        assert(e instanceof ConnectionError, String(e));
        assert.match(e.message, /expired/i);
        return true;
      });
    } else {
      assert.deepEqual(await pool.set(key, "ok"), "OK");
    }
  }
  // Without the CA, not even the seed is trusted.
  await assert.rejects(connectClusterPool([seed], { tls: { ca: certs.wrongCa } }), ConnectionError);
});

// Over TLS because the I/O thread reads a TLS subscriber connection (the runtime reads a plain one): a message it
// read while JavaScript was busy waits in the queue for the pool's next drain, which a long burst makes.
test("cluster pool: a call made while a long burst drains (a listener's sendTo) is never sent again as the burst's command", async () => {
  await using pool = await connectClusterPool({ nodes: [seed], tls: { ca }, refreshInterval: 0 });
  const key = "{burst}counter", owner = pool.nodeFor("incr", key);
  const elsewhere = pool.masters.find((node) => node !== owner)!;
  const asked: Promise<unknown>[] = [];
  // Asked of a node that does not serve the key: MOVED, which sendTo gives back as it is.
  const sub = await pool.subscribe(
    "burst-news",
    () => void asked.push(pool.sendTo(elsewhere, "GET", key).catch((e) => e)),
  );
  const publisher = cluster.nodes[cluster.tlsPorts.findIndex((_, i) => tlsAddress(i) === pool.subscriberNodes[0])]!;
  publisher.cli("publish", "burst-news", "now");
  for (const stop = Date.now() + 200; Date.now() < stop;);
  // A turn's 4096th command on one connection sends the turn's commands at once and drains, running the listener.
  const gets = Array.from({ length: 4095 }, () => pool.get(key));
  const incr = pool.incr(key);
  assert.deepEqual(asked.length, 1, "the listener ran while the INCR was being issued");
  await Promise.all(gets);
  assert.deepEqual(await incr, 1);
  const moved = await asked[0];
  assert(moved instanceof ReplyError && moved.message.startsWith("MOVED"), `sendTo's own reply: ${moved}`);
  assert.deepEqual(await pool.get(key), "1", "the INCR ran once");
  await sub.unsubscribe();
});
