// A TCP peer that misbehaves on purpose, run by node as a separate process
// (the synchronous client blocks its own event loop, so the peer cannot live
// in the test process). Usage: node peer.mjs <garbage|silent|close|partial>
// Prints the port it listens on, then serves until killed.
import { createServer } from "node:net";

const mode = process.argv[2];
const server = createServer((socket) => {
  socket.on("error", () => {});
  if (mode === "close") return socket.destroy();
  socket.on("data", () => {
    if (mode === "garbage") socket.write("this is not RESP\r\n");
    if (mode === "partial") socket.end("$10\r\nabc"); // a reply cut short, then EOF
    // "silent": read everything, answer nothing
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
