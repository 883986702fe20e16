/**
 * Watches descriptors the core hands over in the runtime's own event loop:
 * Deno through `node:net` (a socket made from the descriptor), Bun through
 * `Bun.connect({ fd })`. The host's end of a pool's notification socket, to
 * which the native I/O thread writes a byte when completions wait; and a
 * Redis connection's own socket, whose replies the runtime then reads for
 * the core (`read`). No JavaScript ever runs on a native thread.
 */
import { isDeno } from "../ffi/runtime.ts";

/**
 * A descriptor the runtime watches. `ref()` keeps the process alive while work is in flight; pausing a socket read
 * for the core leaves what the server sends in the server's output buffer.
 */
export interface Watched {
  ref(): void;
  unref(): void;
  pause(): void;
  resume(): void;
  /** Stops watching and closes the descriptor. */
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
 * Watches `fd` in the runtime's event loop: `onData` gets every chunk read, `onEnd` the end of the stream or a
 * failure (possibly more than once). `adopt()` is called once the runtime owns the descriptor (it then closes it);
 * when this rejects, ownership stayed with the caller.
 */
async function adoptSocket(
  fd: number,
  onData: (bytes: Uint8Array) => void,
  onEnd: () => void,
  adopt: () => void,
): Promise<Watched> {
  if (isDeno) {
    const net = await prepare() as DenoNet;
    const socket = new net.Socket({ fd, readable: true, writable: false });
    adopt();
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onEnd);
    socket.on("close", onEnd);
    return {
      ref: () => void socket.ref(),
      unref: () => void socket.unref(),
      pause: () => void socket.pause(),
      resume: () => void socket.resume(),
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
    socket: { data: (_, bytes) => onData(bytes), error: onEnd, end: onEnd, close: onEnd },
  });
  return {
    ref: () => socket.ref(),
    unref: () => socket.unref(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close: () => socket.end(),
  };
}

/**
 * Watches the pool's notification socket, calling `onWake` whenever bytes arrive. The pool's end closes only when
 * the pool is freed: nothing to report at its end. See `adoptSocket` for `adopt`.
 */
export function watch(fd: number, onWake: () => void, adopt: () => void): Promise<Watched> {
  return adoptSocket(fd, onWake, () => {}, adopt);
}

/**
 * Reads `fd` (a second descriptor of a connection's socket, see `cpipe_pool_hand_over`), giving every chunk to
 * `onData` and the end of the stream, or a failure, to `onEnd` (possibly more than once). It never keeps the
 * process alive (the notifier does while replies are owed). The runtime owns `fd` from the call on and closes it
 * on `close()`.
 */
export async function read(fd: number, onData: (bytes: Uint8Array) => void, onEnd: () => void): Promise<Watched> {
  const socket = await adoptSocket(fd, onData, onEnd, () => {});
  socket.unref();
  return socket;
}
