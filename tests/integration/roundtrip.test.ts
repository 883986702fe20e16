/**
 * Random values round-trip byte for byte: through the client, a pipeline and
 * the pool, as bytes (any byte: NUL, CR LF, invalid UTF-8) and as text (any
 * well-formed string: astral characters, lone CR). A seeded generator, so a
 * failure names the seed that reproduces it.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, connectPool } from "../../mod.ts";

const server = await startRedis();
afterAll(() => server[Symbol.asyncDispose]());

/** xorshift32: small, seeded, good enough to pick lengths and bytes. */
function generator(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Lengths weighted toward the edges: empty, one byte, around the encoder's and reader's chunk sizes. */
const LENGTHS = [0, 1, 2, 13, 64, 65, 4095, 4096, 4097, 65535, 65536, 262_145];

function randomBytes(next: () => number): Uint8Array {
  const len = next() < 0.5 ? LENGTHS[Math.floor(next() * LENGTHS.length)]! : Math.floor(next() * 2000);
  const bytes = new Uint8Array(len);
  const alphabet = next() < 0.3 ? [0, 13, 10, 0xff, 0xc3, 0x28, 36, 42] : null; // protocol-looking bytes
  for (let i = 0; i < len; i++) {
    bytes[i] = alphabet ? alphabet[Math.floor(next() * alphabet.length)]! : Math.floor(next() * 256);
  }
  return bytes;
}

function randomText(next: () => number): string {
  const pieces = ["a", "é", "€", "😀", "\r\n", "\0", "$5", "*1", "\u2028", "中"];
  let s = "";
  const n = Math.floor(next() * 300);
  for (let i = 0; i < n; i++) s += pieces[Math.floor(next() * pieces.length)]!;
  return s;
}

const SEED = Number(Date.now() % 100_000);

test(`random values round-trip through the client and a pipeline (seed ${SEED})`, () => {
  const next = generator(SEED);
  const r = connect(server.host, server.port);
  for (let i = 0; i < 300; i++) {
    const key = randomBytes(next), value = randomBytes(next), text = randomText(next);
    assert.equal(r.set(key, value), "OK");
    assert.deepEqual(r.getBuffer(key), value, `seed ${SEED}, case ${i}`);
    r.set(`t:${SEED}:${i}`, text);
    assert.equal(r.get(`t:${SEED}:${i}`), text, `seed ${SEED}, case ${i}`);
  }
  const values = Array.from({ length: 500 }, () => randomBytes(next));
  const p = r.pipeline();
  values.forEach((v, i) => p.set(`p:${SEED}:${i}`, v));
  values.forEach((_, i) => p.getBuffer(`p:${SEED}:${i}`));
  const replies = p.execute();
  values.forEach((v, i) => assert.deepEqual(replies[values.length + i], v, `seed ${SEED}, pipeline ${i}`));
  r.close();
});

test(`random values round-trip through the pool and its pipelines (seed ${SEED})`, async () => {
  const next = generator(SEED + 1);
  const pool = connectPool({ host: server.host, port: server.port, size: 3 });
  const values = Array.from({ length: 1000 }, () => randomBytes(next));
  await Promise.all(values.map((v, i) => pool.set(`q:${SEED}:${i}`, v)));
  const back = await Promise.all(values.map((_, i) => pool.getBuffer(`q:${SEED}:${i}`)));
  values.forEach((v, i) => assert.deepEqual(back[i], v, `seed ${SEED}, pool ${i}`));
  const texts = Array.from({ length: 200 }, () => randomText(next));
  const pipe = pool.pipeline();
  texts.forEach((t, i) => pipe.set(`qt:${SEED}:${i}`, t).get(`qt:${SEED}:${i}`));
  const replies = await pipe.execute();
  texts.forEach((t, i) => assert.equal(replies[2 * i + 1], t, `seed ${SEED}, pool pipeline ${i}`));
  await pool.close();
});
