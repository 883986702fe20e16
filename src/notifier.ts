/**
 * Watches the host's end of a pool's notification socket in the runtime's own
 * event loop: Deno through `node:net` (a socket made from the descriptor),
 * Bun through `Bun.connect({ fd })`. The native I/O thread writes a byte when
 * completions wait; no JavaScript ever runs on a native thread.
 */
import { isDeno } from "../ffi/runtime.ts";

/** A watched socket. `ref()` keeps the process alive while work is in flight. */
export interface Notifier {
  ref(): void;
  unref(): void;
  /** Stops watching and closes the descriptor. */
  close(): void;
}

interface DenoNetSocket {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  ref(): unknown;
  unref(): unknown;
  destroy(): unknown;
}

interface DenoNet {
  Socket: new (options: { fd: number; readable: boolean; writable: boolean }) => DenoNetSocket;
}

interface BunSocket {
  ref(): void;
  unref(): void;
  end(): void;
}

interface BunGlobal {
  connect(options: {
    fd: number;
    socket: {
      data(socket: BunSocket, data: Uint8Array): void;
      error?(socket: BunSocket, error: Error): void;
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
