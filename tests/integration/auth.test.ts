/** AUTH against a password-protected server, with the default user and an ACL user. */
import assert from "node:assert/strict";
import { afterAll, test } from "../harness/shim.ts";
import { startRedis } from "../harness/server.ts";
import { connect, ConnectionError, ReplyError } from "../../mod.ts";

const server = await startRedis({ args: ["--requirepass", "s3cret"] });
afterAll(() => server[Symbol.asyncDispose]());

test("without a password, commands fail with NOAUTH", () => {
  const r = connect(server.host, server.port);
  assert.throws(() => r.get("k"), (e: unknown) => e instanceof ReplyError && e.code === "NOAUTH");
  r.close();
});

test("the right password authenticates, also after a reconnect", () => {
  const r = connect(server.host, server.port, { password: "s3cret" });
  assert.equal(r.set("auth:k", "v"), "OK");
  const before = r.send("CLIENT", "ID");
  r.send("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no");
  // The drop is seen either by the next call, which fails (it was sent on
  // the dead connection), or before it, which then goes out on a new one.
  try {
    r.ping();
  } catch (e) {
    assert.ok(e instanceof ConnectionError);
  }
  assert.equal(r.get("auth:k"), "v");
  assert.notEqual(r.send("CLIENT", "ID"), before);
  r.close();
});

test("a wrong password is a ConnectionError caused by the server's WRONGPASS", () => {
  assert.throws(() => connect(server.host, server.port, { password: "nope" }), (e: unknown) => {
    assert.ok(e instanceof ConnectionError);
    assert.match(e.message, /WRONGPASS/);
    assert.ok(e.cause instanceof ReplyError);
    assert.equal(e.cause.code, "WRONGPASS");
    return true;
  });
});

test("an ACL user name with its password", () => {
  const admin = connect(server.host, server.port, { password: "s3cret" });
  admin.send("ACL", "SETUSER", "alice", "on", ">alice-pw", "~alice:*", "+@all");
  const alice = connect(server.host, server.port, { username: "alice", password: "alice-pw" });
  assert.equal(alice.set("alice:k", "1"), "OK");
  assert.throws(() => alice.set("other:k", "1"), (e: unknown) => e instanceof ReplyError && e.code === "NOPERM");
  assert.throws(() => connect(server.host, server.port, { username: "alice", password: "bad" }), ConnectionError);
  alice.close();
  admin.close();
});
