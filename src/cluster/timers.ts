/** A timer that does not keep the process alive, in Deno, Bun and Node. */

/** Starts a repeating timer that lets the process exit. */
export function unrefInterval(fn: () => void, ms: number): ReturnType<typeof setInterval> {
  const timer = setInterval(fn, ms);
  unref(timer);
  return timer;
}

/** Starts a timer that lets the process exit. */
export function unrefTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
  const timer = setTimeout(fn, ms);
  unref(timer);
  return timer;
}

function unref(timer: unknown): void {
  if (typeof timer === "number") {
    // Deno's timers are numbers, unref'd by id.
    (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno?.unrefTimer?.(timer);
  } else {
    (timer as { unref?(): void }).unref?.();
  }
}
