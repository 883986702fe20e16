/** Waiting in tests for a state that comes asynchronously. */

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until `done()` holds, asking every `pauseMs`; fails after `ms` with an error naming `what`.
 * A check that talks to the server (a `redis-cli` per call) asks less often.
 */
export async function until(
  done: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = "a condition",
  pauseMs = 5,
): Promise<void> {
  const stop = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > stop) throw new Error(`timed out waiting for ${what}`);
    await sleep(pauseMs);
  }
}
