/**
 * Import time of mod.ts and of the command table, in fresh processes of Deno and Bun: each sample is one new
 * process that times `await import(...)` of one module (after one unmeasured run that fills the runtimes'
 * transpile caches). Prints the median and the minimum of each.
 *
 *   node_modules/.bin/deno run -A bench/import_time.ts [samples=10]
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const samples = Number(Deno.args[0] ?? 10);
const root = new URL("..", import.meta.url).pathname;
const empty = join(tmpdir(), `cpipe-import-empty-${Deno.pid}.ts`);
writeFileSync(empty, "export const x = 1;\n");
const modules: [string, string][] = [
  ["an empty module (the floor)", empty],
  ["mod.ts", "mod.ts"],
  ["src/command_info.ts (+ command_table.ts)", "src/command_info.ts"],
  ["mod.ts + src/command_info.ts", "mod.ts+src/command_info.ts"],
  ["command_info.ts + first lookup (rows decoded)", "src/command_info.ts!"],
];
const probe = join(tmpdir(), `cpipe-import-probe-${Deno.pid}.mjs`);
writeFileSync(
  probe,
  `const spec = process.argv[process.argv.length - 1];
const root = ${JSON.stringify(root)};
const lookup = spec.endsWith("!");
const t0 = performance.now();
let last;
for (const m of spec.replace("!", "").split("+")) last = await import(m.startsWith("/") ? m : root + m);
if (lookup) last.commandInfo("get");
console.log((performance.now() - t0).toFixed(3));
`,
);
const runtimes: [string, string[]][] = [
  ["deno", [`${root}node_modules/.bin/deno`, "run", "-A", probe]],
  ["bun", [`${root}node_modules/.bin/bun`, probe]],
];
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`| runtime | module | median ms (${samples} fresh processes) | min |`);
console.log("|---|---|---|---|");
for (const [runtime, argv] of runtimes) {
  const run = (spec: string): number => {
    const r = spawnSync(argv[0]!, [...argv.slice(1), spec], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${runtime} ${spec}: ${r.stderr}`);
    return Number(r.stdout.trim());
  };
  // Rounds interleave the modules, so a busy moment on the machine falls on all of them alike.
  const times = modules.map(([, spec]) => (run(spec), [] as number[]));
  for (let i = 0; i < samples; i++) modules.forEach(([, spec], m) => times[m]!.push(run(spec)));
  modules.forEach(([label], m) => {
    const xs = times[m]!;
    console.log(`| ${runtime} | ${label} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(1)} |`);
  });
}
Deno.removeSync(probe);
Deno.removeSync(empty);
