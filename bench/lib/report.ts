/**
 * Reporting benchmark results: fixed-width tables (valid Markdown, so the console output can be
 * pasted as is), a JSON dump, and dated sections in bench/RESULTS.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** A Markdown table with padded columns; `right` marks columns aligned right (numbers). */
export function table(head: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[] = []): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cell = (c: string, i: number) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]));
  const line = (cells: readonly string[]) => `| ${head.map((_, i) => cell(cells[i] ?? '', i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (right[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

/** Numbers with 3 significant digits, without exponent notation for the usual benchmark range. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a >= 0.001) return x.toPrecision(3);
  return x.toExponential(1);
}

/** Today as YYYY-MM-DD (local time). */
export function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Appends `## heading` + body to a Markdown file, or replaces the section with that exact heading
 * when one exists (a rerun on the same day and machine updates its section rather than adding
 * another). A section runs to the next `## ` heading or the end of the file.
 */
export function upsertSection(path: string, heading: string, body: string): 'added' | 'replaced' {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const section = `## ${heading}\n\n${body.trimEnd()}\n`;
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trimEnd() === `## ${heading}`);
  if (start < 0) {
    writeFileSync(path, `${text.trimEnd()}\n\n${section}`);
    return 'added';
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  if (end < 0) end = lines.length;
  const before = lines.slice(0, start).join('\n').trimEnd();
  const after = lines.slice(end).join('\n').trim();
  writeFileSync(path, `${before}\n\n${section}${after ? `\n${after}\n` : ''}`);
  return 'replaced';
}
