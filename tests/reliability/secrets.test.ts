/**
 * No password in any error: a server without an AUTH command (renamed, or a
 * proxy) repeats the arguments it refuses, the password among them, and cut
 * short when long. Neither the message, the stack nor the cause may show it.
 */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, ConnectionError, connectPool } from "../../mod.ts";

const server = await startRedis({ args: ["--rename-command", "AUTH", ""] });
afterAll(() => server[Symbol.asyncDispose]());

const passwords = ["hunter2-secret", "p".repeat(100) + "-" + "q".repeat(200)];

/** `said`: the server's words the error must carry. */
function assertHidden(e: unknown, password: string, said: RegExp): void {
  assert.ok(e instanceof ConnectionError, String(e));
  const shown = [e.message, e.stack ?? "", String(e.cause), (e.cause as Error | undefined)?.stack ?? ""].join("\n");
  assert.match(shown, said); // the server's words are there…
  assert.ok(!shown.includes(password), shown); // …but not the password,
  assert.ok(!shown.includes(password.slice(0, 64)), shown); // not even cut short
}

for (const password of passwords) {
  test(`the client's handshake error hides a ${password.length}-character password`, () => {
    assert.throws(
      () => connect(server.host, server.port, { password, username: "alice" }),
      (e: unknown) => (assertHidden(e, password, /unknown command 'AUTH'.*\*\*\*\*/), true),
    );
    // HELLO's AUTH still works on such a server: it refuses the user, and names neither.
    assert.throws(
      () => connect(server.host, server.port, { password, username: "alice", protocol: 3 }),
      (e: unknown) => (assertHidden(e, password, /WRONGPASS/), true),
    );
  });

  test(`the pool's handshake error hides a ${password.length}-character password`, async () => {
    const pool = connectPool({ host: server.host, port: server.port, password, size: 1 });
    await assert.rejects(
      pool.ping(),
      (e: unknown) => (assertHidden(e, password, /unknown command 'AUTH'.*\*\*\*\*/), true),
    );
    await pool.close();
  });
}
