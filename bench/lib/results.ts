/**
 * Presenting benchmark rows: the console table (valid Markdown), the notes under it, the
 * section appended to bench/RESULTS.md, and the JSON written by `--json`.
 */
import type { Row } from './runner.js';
import type { BenchResult } from './suite.js';
import { fmt, table } from './report.js';

/** "webtensor ÷ this" for a row: webtensor's rate over the row's, within the row's section. */
export function ratio(rows: readonly Row[], r: Row): number | undefined {
  const ours = rows.find((o) => o.section === r.section && o.workload === r.workload && o.library === 'webtensor');
  if (!ours?.rate || !r.rate || r.status !== 'ok' || ours.status !== 'ok') return undefined;
  return ours.rate / r.rate;
}

function check(r: Row): string {
  if (r.loss) return `${r.ok ? 'ok' : 'FAIL'} loss ${fmt(r.loss[0])}→${fmt(r.loss[1])}`;
  if (r.relErr === undefined) return '';
  return `${r.ok ? 'ok' : 'FAIL'} ${r.relErr.toExponential(0)}`;
}

/** The results table: one row per (section, workload, library). */
export function resultsTable(rows: readonly Row[]): string {
  const head = ['section', 'workload', 'library', 'median ms', 'min–max ms', 'runs', 'rate', 'webtensor ÷ this', 'check'];
  const body = rows.map((r) => {
    const lib = `${r.library} (${r.backend})`;
    if (r.status !== 'ok' || !r.timing || r.rate === undefined) return [r.section, r.workload, lib, r.status === 'n/a' ? 'n/a' : 'error', '', '', '', '', 'see notes'];
    const t = r.timing, q = ratio(rows, r);
    const rel = r.library === 'webtensor' ? '—' : q === undefined ? 'n/a' : `${q.toFixed(2)}x`;
    return [r.section, r.workload, lib, fmt(t.median), `${fmt(t.min)}–${fmt(t.max)}`, String(t.runs), `${fmt(r.rate)} ${r.unit}`, rel, `${check(r)}${r.leaked ? ` leak ${r.leaked}` : ''}`];
  });
  return table(head, body, [false, false, false, true, true, true, true, true, false]);
}

/**
 * webtensor's training steps: dispatches per step, pipelines the first step compiled (on that
 * library's own backend, so kernels an earlier workload compiled are not counted again), and the
 * cold first step beside the steady-state median. Empty when no row has them.
 */
export function trainingTable(rows: readonly Row[]): string {
  const ours = rows.filter((r) => r.group === 'training' && r.status === 'ok' && r.timing && (r.dispatches !== undefined || r.pipelines !== undefined));
  if (!ours.length) return '';
  const cpu = ours.some((r) => r.timing!.cpuMedian !== undefined);
  const head = ['section', 'workload', 'library', 'dispatches / step', 'pipelines (1st step)', 'compile ms', 'cold 1st step ms', 'steps 2–3 ms', 'median ms', ...(cpu ? ['CPU ms / step'] : []), 'cold ÷ median'];
  const body = ours.map((r) => [
    r.section, r.workload, `${r.library} (${r.backend})`, r.dispatches === undefined ? '—' : String(r.dispatches),
    r.pipelines === undefined ? '—' : String(r.pipelines), r.compileMs === undefined ? '—' : fmt(r.compileMs),
    fmt(r.timing!.firstMs), r.recordMs === undefined ? '—' : fmt(r.recordMs), fmt(r.timing!.median),
    ...(cpu ? [r.timing!.cpuMedian === undefined ? '—' : fmt(r.timing!.cpuMedian)] : []), `${(r.timing!.firstMs / r.timing!.median).toFixed(1)}x`,
  ]);
  return table(head, body, [false, false, false, ...head.slice(3).map(() => true)]);
}

export const TRAINING_NOTE = 'Training steps of webtensor: kernel dispatches per step (compiled: per replay, `stats.dispatches`; eager: counted by `wt.profile` over one step), pipelines compiled by the first step (`wt.kernelStats()`; each library has its own backend, so kernels an earlier workload compiled are not counted again) and the cold first step (it compiles them; a compiled step runs it eagerly) beside the steady-state median; a compiled step records its 2nd and 3rd calls ("steps 2–3", both together), which run before the warm-up, so every timed step is a replay. In Node the process CPU time per step is given too: on a software adapter it includes the emulated GPU\'s threads, the work done, much less disturbed than the wall clock by other load on the machine.';

/** Geometric mean of webtensor ÷ peer per section and peer, over the workloads both ran. */
export function summary(rows: readonly Row[]): string[] {
  const out: string[] = [];
  const peers = [...new Set(rows.filter((r) => r.library !== 'webtensor').map((r) => `${r.section}|${r.library}|${r.backend}`))];
  for (const key of peers) {
    const [section, library, backend] = key.split('|');
    const qs = rows.filter((r) => r.section === section && r.library === library && r.backend === backend).map((r) => ratio(rows, r)).filter((q): q is number => q !== undefined);
    if (!qs.length) continue;
    const geo = Math.exp(qs.reduce((a, q) => a + Math.log(q), 0) / qs.length);
    out.push(`${section}: webtensor ÷ ${library} (${backend}) = ${geo.toFixed(2)}x (geometric mean over ${qs.length} workloads; > 1: webtensor faster)`);
  }
  return out;
}

export function notes(result: BenchResult): string[] {
  const out = [...result.libErrors];
  for (const r of result.rows) {
    const who = `${r.library} (${r.backend}) · ${r.workload}`;
    if (r.status !== 'ok') out.push(`${who}: ${r.status} — \`${r.error}\``);
    else if (r.ok === false) out.push(`${who}: the check failed (${check(r)})`);
    if (r.note) out.push(`${who}: ${r.note}`);
    if (r.leaked) out.push(`${who}: ${r.leaked} more live tensors after the timed runs than before`);
  }
  return out;
}

/** One line naming an adapter, e.g. "google swiftshader (SwiftShader driver 5.0.0)". */
export function adapterLabel(a: BenchResult['adapter']): string {
  if (!a) return 'no WebGPU adapter';
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || a.device || 'unknown adapter';
  return a.description ? `${name} (${a.description})` : name;
}

export function isSoftware(a: BenchResult['adapter']): boolean {
  return !!a && /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
}

/** The body of the bench/RESULTS.md section for one run. */
export function resultsSection(result: BenchResult, meta: { date: string; command: string; where: string; cpu: string; seconds: number }): string {
  const lines = [
    `${meta.date} · adapter: ${adapterLabel(result.adapter)} · ${meta.where} · ${meta.cpu} · \`${meta.command}\` (\`bench/run.ts\`), ${meta.seconds.toFixed(0)} s`,
    '',
  ];
  if (isSoftware(result.adapter)) {
    lines.push(
      '**The WebGPU adapter is a software emulation (SwiftShader) that runs shaders on the CPU:**',
      '**absolute WebGPU figures measure emulation; compare only the ratios, and those roughly.**',
      '',
    );
  }
  lines.push(
    'Each library runs the same workload in the same page (or process), one case at a time. A run is',
    'the op plus a sync (webtensor and TF.js read one element; jax-js awaits `blockUntilReady()`); a',
    'training step is forward, backward and an SGD update plus reading the loss. Median of the timed runs',
    'after an untimed first run that compiles and checks the output against a float64 reference (kernels)',
    'or checks that the loss falls (training), then untimed warm-up runs for at least 0.3 s (`--quick`) or',
    '1 s, and timed runs for at least as long (cheap cases get up to 10x the run count). "webtensor ÷',
    'this" > 1: webtensor is faster. In the CPU',
    'section webtensor is single-threaded JavaScript with its GEMMs, float32 elementwise kernels and softmax rows in WebAssembly SIMD, and',
    'TF.js\'s wasm backend is WebAssembly with SIMD.',
    '',
    resultsTable(result.rows),
  );
  const s = summary(result.rows);
  if (s.length) lines.push('', ...s.map((x) => `- ${x}`));
  const t = trainingTable(result.rows);
  if (t) lines.push('', TRAINING_NOTE, '', t);
  const n = notes(result);
  if (n.length) lines.push('', 'Notes:', '', ...n.map((x) => `- ${x}`));
  for (const r of result.rows.filter((x) => x.profile)) {
    lines.push('', `Top kernels of ${r.library} (${r.backend}) · ${r.workload} (\`wt.profile\`, one run):`, '', '```', r.profile!, '```');
  }
  return lines.join('\n');
}
