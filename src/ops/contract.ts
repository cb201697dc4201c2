/**
 * Contractions on top of matmul: bmm (torch.bmm's strict 3-D form) and einsum.
 *
 * einsum lowers an equation to the ops autograd already knows: a repeated index within one
 * operand (a diagonal) is a product with an identity mask summed over one of the two dims, an
 * index found in only one operand and not in the output is summed first, and the operands are
 * then contracted left to right, each pair as one batched matmul over (batch, kept-left,
 * contracted) × (batch, contracted, kept-right) after a permute and a reshape. The result is
 * permuted into the output's order. So it is as fast as the matmuls it becomes, and
 * differentiable through them.
 */
import { ArgumentError, DTypeError, ShapeError, fmt } from '../errors.js';
import { tidy } from '../memory.js';
import { Tensor } from '../tensor.js';
import { checkFloat, checkTensor, describeValue } from '../validate.js';
import { eye } from './creation.js';
import { matmul } from './linalg.js';
import { checkSameBackend } from './run.js';

/**
 * Batched matrix product of 3-D tensors, as torch.bmm: a [B, n, m] · b [B, m, p] → [B, n, p];
 * no broadcasting (matmul broadcasts).
 *
 * @example wt.bmm(wt.ones([2, 3, 4]), wt.ones([2, 4, 5])) // [2, 3, 5] of 4s
 */
export function bmm(a: Tensor, b: Tensor): Tensor {
  checkFloat('bmm', 'input', a);
  checkFloat('bmm', 'mat2', b);
  if (a.ndim !== 3) throw new ShapeError(`bmm: input must be a 3-D tensor [B, n, m], got ${fmt(a.shape)}`);
  if (b.ndim !== 3) throw new ShapeError(`bmm: mat2 must be a 3-D tensor [B, m, p], got ${fmt(b.shape)}`);
  if (b.shape[0] !== a.shape[0] || b.shape[1] !== a.shape[2]) {
    throw new ShapeError(`bmm: expected size for first two dimensions of mat2 to be [${a.shape[0]}, ${a.shape[2]}] but got [${b.shape[0]}, ${b.shape[1]}] (input ${fmt(a.shape)}, mat2 ${fmt(b.shape)})`);
  }
  return matmul(a, b);
}

interface Term {
  t: Tensor;
  /** one letter per dim */
  labels: string[];
}

const LETTER = /^[A-Za-z]$/;

/** The label of broadcast (`...`) dim k, counted from the left of the widest `...`. */
const ELL = (k: number): string => `...${k}`;
/** A label as the equation writes it (broadcast dims as `...`). */
const shown = (c: string): string => (c.startsWith('...') ? `... (broadcast dim ${c.slice(3)})` : c);

/**
 * The equation's input terms and output as label lists, checked against the operands (sizes in
 * `size`). `...` stands for the dims no letter names, right-aligned across operands (as
 * broadcasting aligns them): they get the labels ELL(0..E-1).
 */
function parse(equation: string, operands: readonly Tensor[]): { inputs: string[][]; output: string[]; size: Map<string, number> } {
  const bad = (why: string): never => {
    throw new ArgumentError(`einsum: ${why} in equation ${JSON.stringify(equation)}`);
  };
  const eq = equation.replace(/\s+/g, '');
  const arrows = eq.split('->');
  if (arrows.length > 2) bad("more than one '->'");
  /** a term's letters on either side of its `...` (null: no `...`) */
  const split = (term: string, where: string): { left: string[]; right: string[] | null } => {
    const parts = term.split('...');
    if (parts.length > 2) bad(`more than one '...' in ${where}`);
    for (const part of parts) for (const c of part) if (!LETTER.test(c)) bad(`${JSON.stringify(c)} is not a subscript (letters a-z, A-Z, or '...') in ${where}`);
    return { left: [...parts[0]], right: parts.length === 2 ? [...parts[1]] : null };
  };
  const terms = arrows[0].split(',');
  if (terms.length !== operands.length) bad(`${terms.length} input term${terms.length === 1 ? '' : 's'} for ${operands.length} operand${operands.length === 1 ? '' : 's'}`);
  const parsed = terms.map((term, i) => split(term, `term ${i}`));
  const ellDims = parsed.map(({ left, right }, i) => {
    const named = left.length + (right?.length ?? 0), nd = operands[i].ndim;
    if (right === null ? named !== nd : named > nd) {
      throw new ShapeError(`einsum: term ${i} ${JSON.stringify(terms[i])} has ${named} subscript${named === 1 ? '' : 's'} but operand ${i} has ${nd} dims ${fmt(operands[i].shape)} (equation ${JSON.stringify(equation)})`);
    }
    return nd - named;
  });
  const E = Math.max(0, ...ellDims);
  const inputs = parsed.map(({ left, right }, i) => (right === null ? left : [...left, ...Array.from({ length: ellDims[i] }, (_, k) => ELL(E - ellDims[i] + k)), ...right]));
  const size = new Map<string, number>();
  inputs.forEach((labels, i) => labels.forEach((c, k) => {
    const n = operands[i].shape[k];
    const m = size.get(c);
    // a size-1 dim broadcasts against the others of its label (as torch)
    if (m === undefined || m === 1) size.set(c, n);
    else if (n !== m && n !== 1) {
      throw new ShapeError(`einsum: subscript ${shown(c)} has size ${m} and ${n} (operand ${i} ${fmt(operands[i].shape)}, dim ${k}) in equation ${JSON.stringify(equation)}`);
    }
  }));
  const ell = Array.from({ length: E }, (_, k) => ELL(k));
  let output: string[];
  if (arrows.length === 2) {
    const { left, right } = split(arrows[1], 'the output');
    // without '...' in the output the broadcast dims are summed, as torch
    output = right === null ? left : [...left, ...ell, ...right];
    output.forEach((c, k) => {
      if (c.startsWith('...')) return;
      if (!size.has(c)) bad(`output subscript ${c} appears in no input`);
      if (output.indexOf(c) !== k) bad(`output subscript ${c} appears more than once`);
    });
  } else {
    // implicit output: the broadcast dims, then the letters that appear once, in alphabetical (ASCII) order
    const count = new Map<string, number>();
    for (const labels of inputs) for (const c of labels) if (!c.startsWith('...')) count.set(c, (count.get(c) ?? 0) + 1);
    output = [...ell, ...[...count].filter(([, n]) => n === 1).map(([c]) => c).sort()];
  }
  return { inputs, output, size };
}

/** x's diagonal over dims p < q (same size): dim q removed. */
function diagonal(x: Tensor, p: number, q: number): Tensor {
  const n = x.shape[p];
  const mask = eye(n).reshape(x.shape.map((s, i) => (i === p || i === q ? n : 1)));
  return x.mul(mask).sum(q);
}

/** Sizes of the letters, after broadcasting size-1 dims to the letter's size. */
function expandTo(term: Term, size: Map<string, number>): Term {
  const want = term.labels.map((c) => size.get(c)!);
  return want.every((n, i) => n === term.t.shape[i]) ? term : { t: term.t.expand(want), labels: term.labels };
}

/** Sums the dims whose letters are not in `keep`. */
function sumUnused(term: Term, keep: ReadonlySet<string>): Term {
  const dims = term.labels.flatMap((c, i) => (keep.has(c) ? [] : [i]));
  if (!dims.length) return term;
  return { t: term.t.sum(dims), labels: term.labels.filter((c) => keep.has(c)) };
}

/** Contracts two terms: letters in both and in `keep` are batch dims, those in both and not kept are summed. */
function contractPair(a: Term, b: Term, keep: ReadonlySet<string>, size: Map<string, number>): Term {
  const inB = new Set(b.labels), inA = new Set(a.labels);
  const batch = a.labels.filter((c) => inB.has(c) && keep.has(c));
  const summed = a.labels.filter((c) => inB.has(c) && !keep.has(c));
  const aOnly = a.labels.filter((c) => !inB.has(c));
  const bOnly = b.labels.filter((c) => !inA.has(c));
  const prod = (ls: string[]) => ls.reduce((p, c) => p * size.get(c)!, 1);
  const perm = (t: Term, order: string[]) => {
    const p = order.map((c) => t.labels.indexOf(c));
    return p.every((d, i) => d === i) ? t.t : t.t.permute(p);
  };
  const A = perm(a, [...batch, ...aOnly, ...summed]).reshape([prod(batch), prod(aOnly), prod(summed)]);
  const B = perm(b, [...batch, ...summed, ...bOnly]).reshape([prod(batch), prod(summed), prod(bOnly)]);
  const labels = [...batch, ...aOnly, ...bOnly];
  return { t: matmul(A, B).reshape(labels.map((c) => size.get(c)!)), labels };
}

/**
 * Einstein summation, as torch.einsum: `equation` names each operand's dims with letters
 * (a-z, A-Z); letters shared between operands are multiplied along, letters missing from the
 * output are summed. The output is explicit (`'ij,jk->ik'`) or implicit (no `->`: the letters
 * that appear once, in alphabetical order). A letter repeated within one operand takes its
 * diagonal (`'ii->i'`, trace `'ii'`); dims of size 1 broadcast against their letter's size.
 * `...` stands for the dims no letter names, broadcast across operands (right-aligned); it leads
 * an implicit output, and an explicit output without it sums those dims (as torch). Float32
 * operands.
 *
 * @example
 * wt.einsum('bij,bjk->bik', a, b)  // batched matmul
 * wt.einsum('ij->ji', x)           // transpose
 * wt.einsum('i,j->ij', u, v)       // outer product
 * wt.einsum('...ij,jk->...ik', x, w) // any leading dims
 */
export function einsum(equation: string, ...operands: Tensor[] | [Tensor[]]): Tensor {
  if (typeof equation !== 'string') throw new ArgumentError(`einsum: equation must be a string, got ${describeValue(equation)}`);
  const ops: Tensor[] = operands.length === 1 && Array.isArray(operands[0]) ? operands[0] : (operands as Tensor[]);
  if (ops.length === 0) throw new ArgumentError(`einsum: needs at least one operand (equation ${JSON.stringify(equation)})`);
  ops.forEach((t, i) => checkTensor('einsum', `operands[${i}]`, t));
  ops.forEach((t, i) => {
    if (t.dtype !== 'float32') throw new DTypeError(`einsum: operands must be float32, got ${t.dtype} for operand ${i} ${fmt(t.shape)} (use .float())`);
  });
  checkSameBackend('einsum', ops);
  const { inputs, output, size } = parse(equation, ops);
  return tidy(() => {
    let terms: Term[] = ops.map((t, i) => {
      let term: Term = { t, labels: inputs[i] };
      // repeated letters: diagonals (the sizes must agree exactly, as torch)
      for (;;) {
        const q = term.labels.findIndex((c, k) => term.labels.indexOf(c) !== k);
        if (q < 0) break;
        const p = term.labels.indexOf(term.labels[q]);
        if (term.t.shape[p] !== term.t.shape[q]) {
          throw new ShapeError(`einsum: subscript ${shown(term.labels[q])} is repeated in term ${i} but dims ${p} and ${q} of operand ${i} ${fmt(ops[i].shape)} differ (equation ${JSON.stringify(equation)})`);
        }
        term = { t: diagonal(term.t, p, q), labels: term.labels.filter((_, k) => k !== q) };
      }
      return expandTo(term, size);
    });
    const lettersOf = (ts: readonly Term[]) => new Set(ts.flatMap((x) => x.labels));
    // letters that only one operand has and the output lacks: summed up front
    terms = terms.map((term, i) => sumUnused(term, new Set([...output, ...lettersOf(terms.filter((_, j) => j !== i))])));
    let acc = terms[0];
    for (let i = 1; i < terms.length; i++) {
      const keep = new Set([...output, ...lettersOf(terms.slice(i + 1))]);
      acc = sumUnused(contractPair(acc, terms[i], keep, size), keep);
    }
    acc = sumUnused(acc, new Set(output));
    const p = output.map((c) => acc.labels.indexOf(c));
    const out = p.every((d, i) => d === i) ? acc.t : acc.t.permute(p);
    // a fresh tensor even when nothing was computed ('ij->ij'), as torch
    return out === ops[0] ? out.clone() : out;
  });
}
