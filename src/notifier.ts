/**
 * Watches descriptors the core hands over in the runtime's own event loop:
 * Deno through `node:net` (a socket made from the descriptor), Bun through
 * `Bun.connect({ fd })`. The host's end of a pool's notification socket, to
 * which the native I/O thread writes a byte when completions wait; and a
 * Redis connection's own socket, whose replies the runtime then reads for
 * the core (`read`). No JavaScript ever runs on a native thread.
 */
import { isDeno } from "../ffi/runtime.ts";

/** A watched socket. `ref()` keeps the process alive while work is in flight. */
export interface Notifier {
  ref(): void;
  unref(): void;
  /** Stops watching and closes the descriptor. */
  close(): void;
}

/** A socket read for the core: pausing it leaves what the server sends in the server's output buffer. */
export interface Reader {
  pause(): void;
  resume(): void;
  /** Stops reading and closes the descriptor. */
  close(): void;
}

interface DenoNetSocket {
  on(event: string, listener: (...args: never[]) => void): unknown;
  ref(): unknown;
  unref(): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(): unknown;
}

interface DenoNet {
  Socket: new (options: { fd: number; readable: boolean; writable: boolean }) => DenoNetSocket;
}

interface BunSocket {
  ref(): void;
  unref(): void;
  pause(): void;
  resume(): void;
  end(): void;
}

interface BunGlobal {
  connect(options: {
    fd: number;
    socket: {
      data(socket: BunSocket, data: Uint8Array): void;
      error?(socket: BunSocket, error: Error): void;
      end?(socket: BunSocket): void;
      close?(socket: BunSocket): void;
    };
  }): Promise<BunSocket>;
}

let denoNet: Promise<DenoNet> | null = null;

/** Starts loading what watching needs, so the first pool does not wait for it later. */
export function prepare(): Promise<unknown> {
  if (isDeno) return denoNet ??= import("node:net") as unknown as Promise<DenoNet>;
  return Promise.resolve();
}

/**
 * Watches `fd`, calling `onWake` whenever bytes arrive. `adopt(true)` is
 * called once the runtime owns the descriptor (it then closes it); when this
 * rejects, ownership stayed with the caller.
 */
export async function watch(fd: number, onWake: () => void, adopt: () => void): Promise<Notifier> {
  if (isDeno) {
    const net = await prepare() as DenoNet;
    const socket = new net.Socket({ fd, readable: true, writable: false });
    adopt();
    socket.on("data", onWake);
    // The pool's end closes only when the pool is freed; nothing to report.
    socket.on("error", () => {});
    return {
      ref: () => void socket.ref(),
      unref: () => void socket.unref(),
      close: () => void socket.destroy(),
    };
  }
  const bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  // Bun takes the descriptor as soon as connect() is called. Should it fail
  // (it does not for a socket pair), the descriptor is not closed here: Bun
  // may have closed it already, and closing a number reused since would
  // close someone else's file.
  adopt();
  const socket = await bun.connect({
    fd,
    socket: { data: onWake, error: () => {}, close: () => {} },
  });
  return {
    ref: () => socket.ref(),
    unref: () => socket.unref(),
    close: () => socket.end(),
  };
}

/**
 * Reads `fd` (a second descriptor of a connection's socket, see
 * `cpipe_pool_hand_over`), giving every chunk to `onData` and the end of the
 * stream, or a failure, once to `onEnd`. It never keeps the process alive
 * (the notifier does while replies are owed). The runtime owns `fd` from the
 * call on and closes it on `close()`.
 */
export async function read(fd: number, onData: (bytes: Uint8Array) => void, onEnd: () => void): Promise<Reader> {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  if (isDeno) {
    const net = await prepare() as DenoNet;
    const socket = new net.Socket({ fd, readable: true, writable: false });
    socket.unref();
    socket.on("data", onData);
    socket.on("end", end);
    socket.on("error", end);
    socket.on("close", end);
    return { pause: () => void socket.pause(), resume: () => void socket.resume(), close: () => void socket.destroy() };
  }
  const bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  const socket = await bun.connect({
    fd,
    socket: { data: (_, bytes) => onData(bytes), error: end, end, close: end },
  });
  socket.unref();
  return { pause: () => socket.pause(), resume: () => socket.resume(), close: () => socket.end() };
}
