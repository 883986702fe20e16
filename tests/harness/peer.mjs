// A TCP peer that misbehaves on purpose, run by node as a separate process
// (the synchronous client blocks its own event loop, so the peer cannot live
// in the test process). Usage: node peer.mjs <mode>, one of
//   garbage   answers bytes that are not RESP
//   silent    reads everything, answers nothing
//   close     hangs up at once
//   partial   a reply cut short, then EOF
//   surplus   two replies to every command, the second a while later
//   dribble   "+PONG\r\n" one byte every 100 ms, to every command
// Prints the port it listens on, then serves until killed.
import { createServer } from "node:net";

const mode = process.argv[2];
const server = createServer((socket) => {
  socket.on("error", () => {});
  if (mode === "close") return socket.destroy();
  socket.on("data", () => {
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
