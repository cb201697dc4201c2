/**
 * The machinery of the error walk (error-walk.test.ts): calls one public function, constructor
 * or method with its good arguments, then again with each argument replaced by each value of a
 * battery of bad ones, then with each option of each options argument (the known ones, read
 * from the refusal of an unknown one) set to each bad value, and reports every way a call fails
 * the library's error contract:
 *
 * - it throws (or rejects with) something that is not a WebtensorError;
 * - its message does not start with the name the user called (`gather:`, `Linear.forward:`,
 *   `init.uniform:`, `SGD:`), or one the table documents;
 * - it returns a result of another kind than the good call's (a string where a Tensor comes
 *   back: `wt.sub('a', t)`), or a returned tensor cannot be read;
 * - it accepts an unknown key in an options object (`{ bogusOption: 1 }` where the good call
 *   passes options must be refused);
 * - it returns a tensor whose shape holds a non-size (NaN);
 * - a function or constructor refuses but leaves tensors alive (a half-built layer's parameters);
 * - the good call itself fails (the table is stale).
 *
 * WT_WALK_LOG=<file> appends every bad call's outcome (and each failure) there, to read the
 * messages; the test then also prints how many calls it made.
 */
import * as wt from '../src/index.js';

/** What the walk knows about one callable. */
export interface Entry {
  /** good arguments, made fresh for every call (default: none) */
  args?: () => unknown[];
  /** why it is not walked (on this backend) */
  skip?: string | ((backend: string) => string | undefined);
  /** message prefixes accepted besides the called name */
  prefixes?: string[];
  /** battery values not to try (`2**31`), or not for one option (`epochs=2**31`); the reason in a comment at the entry */
  avoid?: string[];
  /** argument positions holding an object that is data, not options (state dicts, hooks) */
  notOptions?: number[];
  /** puts back global state a call changes (the backend, fusion, debug mode) */
  after?: () => void;
}

/** Method entries of a class, plus the instance factory its methods are called on. */
export interface ClassEntry extends Entry {
  /** a fresh instance for each method call (default: `new C(...args())`) */
  instance?: () => unknown;
  methods?: Record<string, Entry>;
  /** methods not walked (hooks called by fit with its context; the backend interface) */
  skipMethods?: string;
  /** the constructor is internal (instances come from a factory, e.g. Tokenizer.fromJSON): not walked, methods are (on `instance`) */
  privateConstructor?: string;
}

export interface Callee {
  /** the name the user wrote: `gather`, `nn.init.uniform`, `Linear.forward`, `new SGD` */
  label: string;
  /** accepted message prefixes */
  prefixes: string[];
  entry: Entry;
  /** calls it on one argument list */
  call: (args: unknown[]) => unknown;
  /** how many leading parameters it declares (Function.length) */
  arity: number;
  /** frees what the calls made besides their results (method receivers) */
  cleanup?: () => void;
  /** a refused call must leave no tensor alive (false where each call makes its own receiver) */
  leakFree?: boolean;
}

const HANG_MS = 20_000;

/** Calls made and how many threw (the walk asserts it did real work). */
export const stats = { callees: 0, calls: 0, threw: 0 };

/** The bad values, made on the current backend; `done` frees the tensors among them. */
export function battery(): { values: [string, unknown][]; done: () => void } {
  const dead = wt.ones([2, 3]);
  dead.dispose();
  const tensors = {
    bool: wt.ones([2, 3], { dtype: 'bool' }),
    int: wt.ones([2, 3], { dtype: 'int32' }),
    scalar: wt.tensor(1),
    rank5: wt.ones([1, 2, 1, 3, 1]),
    // past the 8 dims some WebGPU routines index with
    rank9: wt.ones([1, 1, 2, 1, 1, 1, 1, 3, 1]),
  };
  const values: [string, unknown][] = [
    ['null', null], ['undefined', undefined], ['a string', 'a'], ['NaN', NaN], ['a BigInt', 7n],
    ['-1', -1], ['1.5', 1.5], ['2**31', 2 ** 31], ['Infinity', Infinity], ['[]', []],
    ['{ bogusOption: 1 }', { bogusOption: 1 }], ['a disposed tensor', dead],
    ['a bool tensor', tensors.bool], ['an int32 tensor', tensors.int], ['a 0-D tensor', tensors.scalar], ['a 5-D tensor', tensors.rank5], ['a 9-D tensor', tensors.rank9],
  ];
  return { values, done: () => wt.dispose(Object.values(tensors)) };
}

/** The kind of a result, compared between the good call and the bad ones. */
export function kindOf(v: unknown): string {
  if (v instanceof wt.Tensor) return 'Tensor';
  if (Array.isArray(v)) return v.length && v.every((x) => x instanceof wt.Tensor) ? 'Tensor[]' : 'array';
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** Kinds a bad call must keep when it does not throw (a different one is a silent wrong answer). */
const STRICT = new Set(['Tensor', 'Tensor[]', 'number', 'boolean', 'string']);

const isOptions = (v: unknown): boolean => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/** Frees what a call returned or was given (tensors, modules, optimizers, nested in arrays/objects). */
export function release(x: unknown, depth = 0): void {
  if (x instanceof wt.Tensor) return x.dispose();
  if (depth > 2 || typeof x !== 'object' || x === null) return;
  if (x instanceof wt.nn.Module || x instanceof wt.optim.Optimizer || x instanceof wt.amp.GradScaler) return (x as { dispose(): void }).dispose();
  if (Array.isArray(x)) return x.forEach((y) => release(y, depth + 1));
  if (isOptions(x)) Object.values(x).forEach((y) => release(y, depth + 1));
}

/** A returned tensor (or one in a returned list) whose shape holds a size that is no size (NaN). */
function badShape(v: unknown): boolean {
  const ts = v instanceof wt.Tensor ? [v] : Array.isArray(v) ? v.filter((x) => x instanceof wt.Tensor) : [];
  return ts.some((t) => !t.shape.every((d: number) => Number.isInteger(d) && d >= 0));
}

interface Outcome {
  error?: unknown;
  value?: unknown;
}

/** Runs a call, awaiting a promise (with a time limit) and reading a returned tensor. */
async function attempt(fn: () => unknown): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    let v = fn();
    if (v instanceof Promise) {
      v = await Promise.race([v, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`hang: no answer in ${HANG_MS} ms`)), HANG_MS); })]);
    }
    // errors some checks report at the next read (WebGPU index ranges) belong to this call
    if (v instanceof wt.Tensor && !v.isDisposed) {
      try {
        await v.data();
      } catch (e) {
        v.dispose(); // the result whose read refused it (WebGPU's deferred checks)
        throw e;
      }
    }
    return { value: v };
  } catch (e) {
    return { error: e };
  } finally {
    clearTimeout(timer);
  }
}

/** The problem with a thrown error, or null when it keeps the contract. */
function checkError(e: unknown, prefixes: string[]): string | null {
  if (!(e instanceof wt.WebtensorError)) return `threw an untyped ${(e as Error)?.name ?? typeof e}: ${String((e as Error)?.message ?? e).slice(0, 160)}`;
  const m = e.message;
  if (!prefixes.some((p) => m.startsWith(`${p}:`) || m.startsWith(`${p} `))) return `message does not name ${prefixes.join(' / ')}: ${m.slice(0, 160)}`;
  if (/undefined is not|cannot read propert|is not a function|is not iterable/i.test(m)) return `message leaks a JavaScript error: ${m.slice(0, 160)}`;
  return null;
}

/** Appends a line to the file WT_WALK_LOG names (every call's outcome, for reading messages), if any. */
async function log(line: string): Promise<void> {
  if (process.env.WT_WALK_LOG) (await import('node:fs')).appendFileSync(process.env.WT_WALK_LOG, `${line}\n`);
}

/** One bad call: its failure, or null when it keeps the contract. */
async function probe(c: Callee, args: unknown[], where: string, goodKind: string, mustRefuse: boolean): Promise<string | null> {
  const live = wt.memory().tensors;
  const r = await attempt(() => c.call(args));
  c.entry.after?.();
  stats.calls++;
  release(r.value);
  if (r.error) {
    stats.threw++;
    await log(`${where}\t${(r.error as Error)?.message}`);
    const problem = checkError(r.error, c.prefixes);
    if (problem) return `${where}: ${problem}`;
    // a refused call frees what it made before refusing (parameters of a half-built layer, ...)
    const leaked = c.leakFree ? wt.memory().tensors - live : 0;
    return leaked > 0 ? `${where}: refused, but left ${leaked} tensor${leaked > 1 ? 's' : ''} alive` : null;
  }
  await log(`${where}\t(returned ${kindOf(r.value)})`);
  if (mustRefuse) return `${where}: an unknown option was accepted`;
  if (STRICT.has(goodKind) && kindOf(r.value) !== goodKind && !(goodKind === 'Tensor[]' && kindOf(r.value) === 'array')) {
    return `${where}: returned ${kindOf(r.value)} where the good call returns ${goodKind}`;
  }
  if (badShape(r.value)) return `${where}: returned a tensor of shape [${(r.value as wt.Tensor).shape}]`;
  return null;
}

/** The option names an options position takes, read from the refusal of an unknown one. */
async function knownKeys(c: Callee, good: () => unknown[], i: number): Promise<string[]> {
  const args = good();
  args[i] = { ...(args[i] as object), zzProbe: 1 };
  const r = await attempt(() => c.call(args));
  c.entry.after?.();
  release(r.value);
  release(args);
  const m = /\(.*known: ([\w, ]+)\)/.exec((r.error as Error | undefined)?.message ?? '');
  return m ? m[1].split(', ') : [];
}

/**
 * Walks one callable; returns its failures as `label(arg i = value): problem`. Each argument
 * in turn takes each bad value; then, at each options position, each known option in turn.
 */
export async function walk(c: Callee, backend: string): Promise<string[]> {
  const skip = typeof c.entry.skip === 'function' ? c.entry.skip(backend) : c.entry.skip;
  if (skip) return [];
  stats.callees++;
  const failures: string[] = [];
  const good = c.entry.args ?? (() => []);
  const goodArgs = good();
  const first = await attempt(() => c.call(goodArgs));
  c.entry.after?.();
  release(goodArgs);
  release(first.value);
  if (first.error) return [`${c.label}(good arguments): the table's arguments fail: ${String((first.error as Error)?.message ?? first.error).slice(0, 200)}`];
  const goodKind = kindOf(first.value);
  const optionsAt = goodArgs.flatMap((a, i) => (isOptions(a) && !c.entry.notOptions?.includes(i) ? [i] : []));
  const { values, done } = battery();
  /** calls with argument i (or option `key` of argument i) set to each bad value */
  const vary = async (i: number, key: string | null): Promise<void> => {
    for (const [what, bad] of values) {
      if (c.entry.avoid?.includes(key ? `${key}=${what}` : what)) continue;
      const args = good();
      while (args.length <= i) args.push(undefined);
      const replaced = args[i];
      args[i] = key === null ? bad : { ...(replaced as object), [key]: bad };
      const where = `${c.label}(${key === null ? `arg ${i}` : `option ${key}`} = ${what})`;
      const problem = await probe(c, args, where, goodKind, key === null && optionsAt.includes(i) && what === '{ bogusOption: 1 }');
      if (problem) {
        failures.push(problem);
        await log(`FAIL ${problem}`);
      }
      if (key === null) args[i] = replaced;
      release(args);
    }
  };
  try {
    for (let i = 0; i < Math.max(goodArgs.length, c.arity); i++) await vary(i, null);
    for (const i of optionsAt) for (const key of await knownKeys(c, good, i)) await vary(i, key);
  } finally {
    done();
  }
  return failures;
}
