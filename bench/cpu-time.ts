/**
 * webtensor's CPU backend timed in CPU time (process.cpuUsage) instead of wall-clock time: the
 * bench's workloads (bench/lib/workloads.ts, run through the same cases as `npm run bench`) for
 * before/after comparisons on a machine shared with other jobs, where wall-clock medians move
 * 2–4x with the load but the CPU time an op takes moves far less.
 *
 * Reported per workload: the best and the median CPU time of the timed runs (after 3 warm-up
 * runs) and the rate of the best. One library, one process, nothing else running in it.
 *
 * Run: npx esbuild bench/cpu-time.ts --bundle --platform=node --format=esm --packages=external \
 *        --loader:.wgsl=text --outfile=node_modules/.cache/webtensor-bench/cpu-time.mjs \
 *      && node node_modules/.cache/webtensor-bench/cpu-time.mjs [--quick] [--only TEXT]
 */
import { parseArgs } from 'node:util';
import { webtensorLib } from './lib/webtensor.js';
import { workloads } from './lib/workloads.js';

/** CPU milliseconds (user + system, all of the process's threads) of one call. */
async function cpuMs(run: () => Promise<void>): Promise<number> {
  const t = process.cpuUsage();
  await run();
  const u = process.cpuUsage(t);
  return (u.user + u.system) / 1000;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
  const lib = webtensorLib('cpu');
  await lib.init();
  await lib.activate?.();
  console.log(`webtensor CPU backend, CPU time per run (Node ${process.version})`);
  console.log('| workload | best ms | median ms | rate (best) |');
  console.log('|---|---:|---:|---:|');
  for (const w of workloads(a.quick!).filter((x) => !a.only || x.name.includes(a.only))) {
    const c = lib.setup(w);
    for (let i = 0; i < 3; i++) await c.run();
    const t: number[] = [];
    const runs = w.group === 'kernel' ? 15 : 8;
    for (let i = 0; i < runs; i++) t.push(await cpuMs(() => c.run()));
    c.done();
    t.sort((x, y) => x - y);
    const best = t[0], median = t[t.length >> 1];
    // work per run: FLOP, bytes, ops or one training step; the rate is of the best run
    const perSecond = (w.group === 'kernel' ? w.work : 1) / (best / 1000);
    const rate = `${(w.unit.startsWith('G') ? perSecond / 1e9 : perSecond).toPrecision(3)} ${w.unit}`;
    console.log(`| ${w.name} | ${best.toPrecision(3)} | ${median.toPrecision(3)} | ${rate} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
