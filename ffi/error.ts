/**
 * The base class of every error cpipe throws. It lives at the lowest layer so
 * that the loader can throw it too; src/errors.ts re-exports it beside its
 * subclasses.
 */
export class CpipeError extends Error {
  /** Always `"CpipeError"`. */
  override name = "CpipeError";
}
