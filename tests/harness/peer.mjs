// A TCP peer that misbehaves on purpose, run by node as a separate process
// (the synchronous client blocks its own event loop, so the peer cannot live
// in the test process). Usage: node peer.mjs <mode>, one of
//   garbage   answers bytes that are not RESP
//   silent    reads everything, answers nothing
//   close     hangs up at once
//   partial   a reply cut short, then EOF
//   surplus   two replies to every command, the second a while later
//   dribble   "+PONG\r\n" one byte every 100 ms, to every command
//   reply:<name>  answers every command with one of the hostile replies below
// Prints the port it listens on, then serves until killed.
import { createServer } from "node:net";

const MB = 1 << 20;
/** Streams `total` bytes of `fill` in 1 MB writes, waiting for the socket to take each. */
function stream(socket, head, total, fill = "x") {
  socket.write(head);
  const chunk = Buffer.alloc(MB, fill);
  let sent = 0;
  const more = () => {
    while (sent < total && socket.writable) {
      sent += MB;
      if (!socket.write(chunk)) return socket.once("drain", more);
    }
  };
  more();
}

/** Replies a real server never sends, by name (tests/reliability/hostile.test.ts). */
const hostile = {
  // A bulk string that claims 4 EiB, then 256 MB of it: refused at the header.
  "huge-bulk": (s) => stream(s, "$4611686018427387904\r\n", 256 * MB),
  // 64 MB of a status line that never ends.
  "endless-line": (s) => stream(s, "+", 64 * MB),
  // An aggregate that claims 2^32 - 1 members, then nothing.
  "huge-map": (s) => s.write("%4294967295\r\n"),
  "huge-array": (s) => s.write("*4294967295\r\n"),
  // 100,000 nested arrays.
  "deep": (s) => s.write("*1\r\n".repeat(100_000) + ":1\r\n"),
  "bad-bignum": (s) => s.write("(-\r\n"),
  "bad-integer": (s) => s.write(":12ab\r\n"),
  "bad-double": (s) => s.write(",1.5.5\r\n"),
  "negative-length": (s) => s.write("$-5\r\n"),
  "unknown-type": (s) => s.write("?what\r\n"),
  "missing-crlf": (s) => s.write("$3\r\nabcXY"),
};

const mode = process.argv[2];
const reply = mode.startsWith("reply:") ? hostile[mode.slice(6)] : null;
if (mode.startsWith("reply:") && !reply) throw new Error(`unknown reply ${mode}`);
const server = createServer((socket) => {
  socket.on("error", () => {});
  if (mode === "close") return socket.destroy();
  socket.on("data", () => {
    if (reply) reply(socket);
    if (mode === "garbage") socket.write("this is not RESP\r\n");
    if (mode === "partial") socket.end("$10\r\nabc"); // a reply cut short, then EOF
    if (mode === "surplus") {
      socket.write("+OK\r\n");
      setTimeout(() => socket.writable && socket.write("+SURPLUS\r\n"), 50);
    }
    if (mode === "dribble") {
      const bytes = "+PONG\r\n";
      let i = 0;
      const timer = setInterval(() => {
        if (!socket.writable || i >= bytes.length) return clearInterval(timer);
        socket.write(bytes[i++]);
      }, 100);
    }
    // "silent": read everything, answer nothing
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
