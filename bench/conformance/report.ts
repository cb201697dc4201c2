/**
 * The conformance report: a Markdown page (adapter first, then the summary, the configurations'
 * paths, failures, and a row per case and configuration with its worst output) and the JSON
 * with every output's figures.
 */
import type { AdapterReport } from '../lib/adapter.js';
import { table } from '../lib/report.js';
import type { OutputResult, PathResult, Row, Status } from './runner.js';

export interface Report {
  date: string;
  command: string;
  seconds: number;
  small: boolean;
  hardwarePlans: boolean;
  adapter: AdapterReport;
  rows: Row[];
  paths: PathResult[];
  /** IR primitives no case reached (empty when complete; null when --only left cases out) */
  irMissing: string[] | null;
}

const e = (x: number): string => (x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(1) : String(x));

export function counts(rows: readonly Row[]): Record<Status, number> {
  const c: Record<Status, number> = { pass: 0, fail: 0, known: 0, fixed: 0, skipped: 0 };
  for (const r of rows) c[r.status]++;
  return c;
}

/** Whether the run found nothing wrong: no failed case, no configuration that missed its path, full IR coverage. */
export function passed(r: Report): boolean {
  return counts(r.rows).fail === 0 && !r.paths.some((p) => p.status === 'missing') && !(r.irMissing?.length);
}

function worst(r: Row): OutputResult | undefined {
  return r.outputs.reduce<OutputResult | undefined>((w, x) => (!w || x.cmp.ratio > w.cmp.ratio ? x : w), undefined);
}

/** Rows of the results table: one per case and configuration, with its worst output. */
function resultRows(rows: readonly Row[]): string[][] {
  return rows.map((r) => {
    const w = worst(r);
    const result = r.status === 'pass' ? 'pass' : `**${r.status}**${r.error ? `: ${r.error.replace(/\|/g, '\\|')}` : ''}`;
    if (!w) return [r.case, r.variant, r.size, '', '', '', '', '', result];
    return [r.case, r.variant, r.size, w.name, e(w.cmp.maxAbs), e(w.cmp.maxRel), w.tol, w.cmp.ratio.toFixed(3), result];
  });
}

export function summaryLines(r: Report): string[] {
  const c = counts(r.rows);
  const missing = r.paths.filter((p) => p.status === 'missing');
  return [
    `${r.rows.length} results (case × configuration): ${c.pass} pass, ${c.fail} fail, ${c.known} known defects, ${c.fixed} known defects that now pass (drop their mark), ${c.skipped} skipped`,
    `configurations that never took their path: ${missing.length ? missing.map((p) => p.variant).join(', ') : 'none'}`,
    `IR primitives without a case: ${r.irMissing === null ? 'not checked (--only)' : r.irMissing.length ? r.irMissing.join(', ') : 'none'}`,
    `${passed(r) ? 'CONFORMANT' : 'MISMATCH'} in ${r.seconds.toFixed(0)} s`,
  ];
}

export function markdown(r: Report): string {
  const head = ['case', 'configuration', 'size', 'worst output', 'max abs err', 'max rel err', 'tolerance', 'err / bound', 'result'];
  const right = [false, false, false, false, true, true, false, true, false];
  const bad = r.rows.filter((x) => x.status !== 'pass');
  const pathRows = r.paths.map((p) => [p.variant, p.what, String(p.runs), p.status, p.note ?? (p.pipelines.length ? `${p.pipelines.length} pipelines, e.g. \`${p.pipelines[0].slice(0, 60)}\`` : '')]);
  return [
    `# webtensor GPU conformance — ${r.date}`,
    '',
    ...r.adapter.lines.map((l) => `- ${l}`),
    `- command: \`${r.command}\` (${r.small ? 'small sizes' : 'realistic sizes'}${r.hardwarePlans ? ', GPU kernel plans on a software adapter' : ''})`,
    '',
    '## Summary',
    '',
    ...summaryLines(r).map((l) => `- ${l}`),
    '',
    '## Configurations and the paths they took',
    '',
    table(['configuration', 'what', 'runs', 'path', 'evidence'], pathRows),
    '',
    ...(bad.length ? ['## Not passing', '', table(head, resultRows(bad), right), ''] : []),
    '## Results',
    '',
    'Each row: a case under one WebGPU configuration against the CPU backend; the output whose error came closest to its bound. ' +
      'max rel err is relative to the value or, near zero, to the output\'s root mean square. Tolerances: bench/conformance/tolerance.ts.',
    '',
    table(head, resultRows(r.rows), right),
    '',
  ].join('\n');
}

/** Everything, for tools: every output of every row. */
export function json(r: Report): string {
  return JSON.stringify({ ...r, summary: counts(r.rows), passed: passed(r) }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1);
}
