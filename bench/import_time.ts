/**
 * Import time of mod.ts and of the command table, in fresh processes of Deno and Bun: each sample is one new
 * process that times `await import(...)` of one module (after one unmeasured run that fills the runtimes'
 * transpile caches). Prints the median, the 10th percentile and the minimum of each, and the median CPU time
 * (user + system of the whole process during the import, every thread: steadier than wall time on a busy machine).
 *
 *   node_modules/.bin/deno run -A bench/import_time.ts [--samples 25] [--against /tmp/ae4d376] [--only mod.ts]
 *     [--installed /tmp/proj]
 *
 * `--against` names a second checkout (built with `make`, e.g. `git worktree add /tmp/ae4d376 ae4d376`): its
 * modules are measured in the same rounds, interleaved with this checkout's, and each row of this checkout gets
 * its ratio to the same row of that one. `--only` keeps the rows whose module contains the text (the floor stays).
 * `--installed` names a project with the packed package installed (`npm pack`, then `bun add ./x-cpipe-0.1.0.tgz`
 * in a `bun init` project): a row imports `@x/cpipe` from there, as its own code would (under Bun only: Deno takes
 * the JSR package), and its ratio is to the baseline's mod.ts row.
 */
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";

const args: Record<string, string> = {};
for (let i = 0; i < Deno.args.length; i++) {
  const a = Deno.args[i]!;
  // A bare number is the sample count, as before the flags.
  if (/^\d+$/.test(a)) args.samples = a;
  else args[a.replace(/^--/, "")] = Deno.args[++i] ?? "";
}
const samples = Number(args.samples ?? 10);
const root = decodeURIComponent(new URL("..", import.meta.url).pathname);
const against = args.against ? args.against.replace(/\/?$/, "/") : undefined;
const empty = join(tmpdir(), `cpipe-import-empty-${Deno.pid}.ts`);
writeFileSync(empty, "export const x = 1;\n");
/** [label, spec]: a spec is `+`-joined modules, relative to a checkout, imported in turn; a trailing `!` looks up. */
const allModules: [string, string][] = [
  ["mod.ts", "mod.ts"],
  ["src/command_info.ts (+ command_table.ts)", "src/command_info.ts"],
  ["mod.ts + src/command_info.ts", "mod.ts+src/command_info.ts"],
  ["command_info.ts + first lookup (rows decoded)", "src/command_info.ts!"],
];
const modules = allModules.filter(([label]) => !args.only || label.includes(args.only));

interface Row {
  checkout: string;
  label: string;
  /** Absolute, `+`-joined; or the package's name, for the installed row. */
  spec: string;
  times: number[];
  /** The installed package's project, where its probe runs from (a bare specifier resolves from the importer). */
  project?: string;
  /** The baseline's row this one is compared with, when its label differs. */
  baseLabel?: string;
}
const checkouts: [string, string][] = [["this", root], ...(against ? [["baseline", against] as [string, string]] : [])];
const rowsOf = (): Row[] => [
  { checkout: "-", label: "an empty module (the floor)", spec: empty, times: [] },
  ...checkouts.flatMap(([name, dir]) =>
    modules
      .filter(([, spec]) => spec.replace("!", "").split("+").every((m) => existsSync(dir + m)))
      .map(([label, spec]) => ({
        checkout: name,
        label,
        spec: spec.replace("!", "").split("+").map((m) => dir + m).join("+") + (spec.endsWith("!") ? "!" : ""),
        times: [] as number[],
      }))
  ),
  ...(args.installed
    ? [{
      checkout: "installed",
      label: `@x/cpipe installed in ${args.installed}`,
      spec: "@x/cpipe",
      times: [] as number[],
      project: args.installed,
      baseLabel: "mod.ts",
    }]
    : []),
];

const probeName = `cpipe-import-probe-${Deno.pid}.mjs`;
const probeSource = `const spec = process.argv[process.argv.length - 1];
const lookup = spec.endsWith("!");
const c0 = process.cpuUsage();
const t0 = performance.now();
let last;
for (const m of spec.replace("!", "").split("+")) last = await import(m);
if (lookup) last.commandInfo("get");
const wall = performance.now() - t0, cpu = process.cpuUsage(c0);
console.log(wall.toFixed(3), ((cpu.user + cpu.system) / 1000).toFixed(3));
`;
const probe = join(tmpdir(), probeName);
writeFileSync(probe, probeSource);
const installedProbe = args.installed ? join(args.installed, probeName) : undefined;
if (installedProbe) writeFileSync(installedProbe, probeSource);
const runtimes: [string, string[]][] = [
  ["deno", [`${root}node_modules/.bin/deno`, "run", "-A", probe]],
  ["bun", [`${root}node_modules/.bin/bun`, probe]],
];
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const median = (xs: number[]): number => sorted(xs)[xs.length >> 1]!;
const p10 = (xs: number[]): number => sorted(xs)[Math.floor((xs.length - 1) * 0.1)]!;
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(" ");

const loadBefore = load();
const lines = [
  `| runtime | checkout | module | median ms (${samples} fresh processes) | p10 | min | CPU ms (median) | ÷ baseline (median, p10, CPU) |`,
  "|---|---|---|---:|---:|---:|---:|---:|",
];
for (const [runtime, argv] of runtimes) {
  const rows = rowsOf().filter((row) => !row.project || runtime === "bun");
  /** CPU time (user + system, every thread) of each import, by spec: steadier than wall time on a busy machine. */
  const cpus = new Map(rows.map((row) => [row.spec, [] as number[]]));
  const run = (spec: string): number => {
    const installed = spec === "@x/cpipe";
    const probeArgs = installed ? [...argv.slice(1, -1), installedProbe!] : argv.slice(1);
    const r = spawnSync(argv[0]!, [...probeArgs, spec], {
      encoding: "utf8",
      cwd: installed ? args.installed : undefined,
    });
    if (r.status !== 0) throw new Error(`${runtime} ${spec}: ${r.stderr}`);
    const [wall, cpu] = r.stdout.trim().split(" ").map(Number);
    cpus.get(spec)!.push(cpu!);
    return wall!;
  };
  // Rounds interleave the modules and the checkouts, so a busy moment on the machine falls on all of them alike.
  for (const row of rows) run(row.spec);
  for (const row of rows) cpus.get(row.spec)!.length = 0;
  for (let i = 0; i < samples; i++) for (const row of rows) row.times.push(run(row.spec));
  for (const row of rows) {
    const base = rows.find((r) => r.checkout === "baseline" && r.label === (row.baseLabel ?? row.label));
    const cpu = cpus.get(row.spec)!;
    const ratio = row.checkout !== "baseline" && base
      ? [
        median(row.times) / median(base.times),
        p10(row.times) / p10(base.times),
        median(cpu) / median(cpus.get(base.spec)!),
      ]
        .map((r) => r.toFixed(3)).join(", ")
      : "";
    lines.push(
      `| ${runtime} | ${row.checkout} | ${row.label} | ${median(row.times).toFixed(1)} | ${
        p10(row.times).toFixed(1)
      } | ${Math.min(...row.times).toFixed(1)} | ${median(cpu).toFixed(1)} | ${ratio} |`,
    );
  }
}
console.log(lines.join("\n"));
console.log(
  `\nload average (1, 5, 15 min): before ${loadBefore}, after ${load()}${against ? `; baseline ${against}` : ""}`,
);
Deno.removeSync(probe);
if (installedProbe) Deno.removeSync(installedProbe);
Deno.removeSync(empty);
