/**
 * Attaches the generated typed methods (src/command_method_list.ts) to `Commands.prototype`, so that the
 * client, the pool, acquired connections and both pipelines get them from one place. Each method sends its
 * command with its arguments as given, through the executor's `dispatch` (the reply as decoded) or, for a
 * command that blocks or changes its connection, `route` (as `send` routes it). A method already on the
 * prototype (hand-written, with its own shaping) is left alone.
 */
import { COMMAND_METHODS } from "./command_method_list.ts";
import type { Arg } from "./types.ts";

/** What a generated method calls on its executor (the protected members of `Commands`). */
interface Executor {
  dispatch(command: string, args: Arg[], transform: null, asBuffer: boolean): unknown;
  route(command: string, args: Arg[], asBuffer: boolean): unknown;
}

type Method = (this: Executor, ...args: Arg[]) => unknown;

function method(command: string, sub: string, asBuffer: boolean, routed: boolean): Method {
  if (routed) {
    return sub
      ? function (...args) {
        args.unshift(sub);
        return this.route(command, args, asBuffer);
      }
      : function (...args) {
        return this.route(command, args, asBuffer);
      };
  }
  return sub
    ? function (...args) {
      args.unshift(sub);
      return this.dispatch(command, args, null, asBuffer);
    }
    : function (...args) {
      return this.dispatch(command, args, null, asBuffer);
    };
}

/**
 * Defines each generated method on `prototype` that it does not have yet. Called once, when the first client,
 * pool, connection or pipeline is made, not at import: defining five hundred methods takes 2–4 ms in either
 * runtime (measured), a tenth of importing mod.ts.
 */
export function attachCommandMethods(prototype: object): void {
  for (const entry of COMMAND_METHODS.split(";")) {
    const [name, command, sub, flags] = entry.split(" ") as [string, string, string, string];
    const routed = flags.includes("r");
    const own = !flags.includes("h");
    for (const [key, asBuffer] of [[name, false], [`${name}Buffer`, true]] as const) {
      if (asBuffer ? !flags.includes("b") : !own) continue;
      if (Object.hasOwn(prototype, key)) continue;
      Object.defineProperty(prototype, key, {
        value: method(command, sub, asBuffer, routed),
        writable: true,
        configurable: true,
      });
    }
  }
}
