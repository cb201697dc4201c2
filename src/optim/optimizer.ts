/**
 * Optimizers. Each one's update is written once as IR expressions over (param, grad, state...)
 * with hyperparameters as runtime scalars, so a learning-rate change never recompiles and the
 * whole update of a parameter is one fused elementwise kernel per written tensor.
 */
import { DISPOSE, engine, noGrad } from '../engine.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { checkFloat, checkNumber, checkOptions, checkTensor, describeValue } from '../validate.js';
import { IR, type Expr } from '../kernel/ir.js';
import { keep } from '../memory.js';
import { noteStep } from '../debug.js';
import { zerosLike } from '../ops/creation.js';
import { runArenaInto, runElementwiseInto, runSegmentsInto } from '../ops/run.js';
import { Arena, inOpenArena, layoutOf, setGradSlot } from '../arena.js';
import { isRecording, onReplay, type DynamicScalars } from '../record.js';


export interface ParamGroup {
  params: Tensor[];
  lr: number;
  [hyper: string]: unknown;
}

/** What an update reads: p, g, then the optimizer's state tensors, as IR loads. */
export interface UpdateInputs {
  p: Expr;
  g: Expr;
  s: Expr[];
  /** hyperparameter scalars by name */
  h: Record<string, Expr>;
}

const load = (i: number) => IR.load(i, 'float32');

/**
 * Parameters of one group kept in arenas (src/arena.ts): the parameters in `param`'s slots, their
 * gradients' slots in `grad`, each state tensor's in `states[j]` (made at the first step), all of
 * one layout; a step with every gradient in its slot is one kernel over the arenas.
 */
interface ArenaSet {
  params: Tensor[];
  slots: number[];
  param: Arena;
  grad: Arena;
  states: Arena[] | null;
}

export abstract class Optimizer {
  readonly paramGroups: ParamGroup[];
  /** per-parameter state tensors and step counts */
  protected state = new Map<Tensor, { step: number; tensors: Tensor[] }>();
  /**
   * Whether optimizers made from now on keep their parameters, gradients and state in arenas
   * (src/arena.ts), so that a step updates every float32 contiguous parameter of a group in one
   * kernel (default true; false: one kernel per parameter, as before the arenas).
   */
  static arenas = true;
  /** the arenas of each group (one set per group, more when a group outgrows one binding) */
  private arenaSets = new Map<ParamGroup, ArenaSet[]>();

  constructor(params: Tensor[] | ParamGroup[] | Iterable<Tensor>, defaults: { lr: number; [hyper: string]: unknown }) {
    const op = this.constructor.name;
    if (typeof (params as Iterable<unknown>)?.[Symbol.iterator] !== 'function' || typeof params === 'string') {
      throw new ArgumentError(`${op}: params must be a list of tensors or of parameter groups, got ${describeValue(params)}`);
    }
    const list = [...(params as Iterable<Tensor | ParamGroup>)];
    if (list.length === 0) throw new ArgumentError(`${op}: got an empty parameter list`);
    const isGroup = (x: unknown) => typeof x === 'object' && x !== null && !(x instanceof Tensor) && 'params' in x;
    const groups: ParamGroup[] = isGroup(list[0]) ? (list as ParamGroup[]) : [{ params: list as Tensor[], lr: defaults.lr as number }];
    groups.forEach((g, gi) => {
      if (!isGroup(g) || typeof (g.params as Iterable<unknown>)?.[Symbol.iterator] !== 'function') throw new ArgumentError(`${op}: parameter group ${gi} must be { params: Tensor[], ... }, got ${describeValue(g)}`);
      // initialLr: what an LR scheduler adds to a group, so optimizer.paramGroups can seed a new optimizer
      checkOptions(op, g, ['params', ...Object.keys(defaults), 'initialLr'], `parameter group ${gi}`);
    });
    this.paramGroups = groups.map((g) => ({ ...defaults, ...g, params: [...g.params] }) as ParamGroup);
    const seen = new Map<Tensor, number>();
    this.paramGroups.forEach((g, gi) => {
      const where = (i: number) => (groups.length > 1 ? `group ${gi} params[${i}]` : `params[${i}]`);
      g.params.forEach((p, i) => {
        checkFloat(op, where(i), p);
        // as torch: a computed tensor is replaced by the next forward, so updating it would be lost
        if (!p.isLeaf) throw new ArgumentError(`${op}: ${where(i)} (shape [${p.shape.join(',')}]) is not a leaf tensor: it was computed by an op; optimize the tensors the model owns (model.parameters())`);
        const before = seen.get(p);
        if (before !== undefined) {
          throw new ArgumentError(`${op}: ${where(i)} (shape [${p.shape.join(',')}]) appears twice${before === gi ? ' in its group' : ` (also in group ${before})`}: its update would be applied twice`);
        }
        seen.set(p, gi);
      });
      checkNumber(op, 'lr', g.lr, { min: 0, finite: true });
      this.checkGroup(g);
    });
    if (Optimizer.arenas && !isRecording()) noGrad(() => this.paramGroups.forEach((g) => this.buildArenas(g)));
  }

  /**
   * Moves the group's float32 contiguous parameters (each the whole of its storage, not in another
   * open optimizer's arena) into arenas of at most one storage binding each; groups of fewer than
   * two such parameters, and backends without Backend.slice, keep one kernel per parameter.
   */
  private buildArenas(group: ParamGroup): void {
    const fits = group.params.filter((p) => {
      const st = p._store, be = st.backend;
      return be.slice && be.copyBuffer && p.dtype === 'float32' && !st.external && p.offset === 0 && p.isContiguous() && p.numel() === st.numel && p.numel() > 0 && !inOpenArena(st.rawBuffer) && be === group.params[0].backend;
    });
    // parameters sharing a storage (views of one tensor) stay out: their update would run twice
    const counts = new Map<unknown, number>();
    for (const p of fits) counts.set(p._store, (counts.get(p._store) ?? 0) + 1);
    const mine = fits.filter((p) => counts.get(p._store) === 1);
    if (mine.length < 2) return;
    const be = mine[0].backend, align = be.sliceAlign ?? 1, limit = be.sliceLimit ?? Infinity;
    const sets: ArenaSet[] = [];
    let chunk: Tensor[] = [], size = 0;
    const flush = () => {
      if (chunk.length >= 2) {
        const layout = layoutOf(chunk.map((p) => p.numel()), align);
        const param = new Arena(be, layout), grad = new Arena(be, layout);
        const set: ArenaSet = { params: [], slots: [], param, grad, states: null };
        chunk.forEach((p, i) => {
          if (!param.place(p, i)) return;
          set.params.push(p);
          set.slots.push(i);
          setGradSlot(p, grad, i);
        });
        sets.push(set);
      }
      chunk = [];
      size = 0;
    };
    for (const p of mine) {
      const n = Math.ceil(p.numel() / align) * align;
      if (n > limit) continue;
      if (size + n > limit) flush();
      chunk.push(p);
      size += n;
    }
    flush();
    if (sets.length) this.arenaSets.set(group, sets);
  }

  /**
   * One step of an arena set as one kernel over its arenas, when every parameter of it is still
   * in the group and in its slot, has a gradient that is (or can be put) in its slot, and state
   * in its slots at one common step count (made here at the first step). False: nothing was
   * updated (the per-parameter path does it; gradients may have moved into their slots).
   */
  private arenaStep(set: ArenaSet, group: ParamGroup, inGroup: ReadonlySet<Tensor>, op: string, stepped: { step: number }[], dynamic: (group: ParamGroup, st: { step: number }) => DynamicScalars | undefined): boolean {
    const { params, slots } = set;
    const names = this.stateNames(group);
    const sts = params.map((p) => this.state.get(p));
    const have = sts.filter((x) => x !== undefined);
    if (have.length !== 0 && have.length !== params.length) return false;
    if (have.some((x) => x!.step !== have[0]!.step || x!.tensors.length !== names.length)) return false;
    for (let k = 0; k < params.length; k++) {
      const p = params[k];
      if (!inGroup.has(p) || !p.grad || !set.param.holds(p, slots[k])) return false;
    }
    // gradients into their slots (a shared gradient tensor can be in one slot only: checked after)
    for (let k = 0; k < params.length; k++) if (!set.grad.place(params[k].grad!, slots[k])) return false;
    for (let k = 0; k < params.length; k++) if (!set.grad.holds(params[k].grad!, slots[k])) return false;
    // state is made or moved into its slots outside compiled steps only (a replay would repeat the copy)
    const recording = isRecording();
    if (!set.states) {
      if (recording) return false;
      set.states = names.map(() => new Arena(set.param.backend, set.param.layout));
    }
    if (set.states.length !== names.length) return false;
    const states = set.states;
    if (recording && params.some((_, k) => !sts[k] || sts[k]!.tensors.some((t, j) => !states[j].holds(t, slots[k])))) return false;
    for (let k = 0; k < params.length; k++) {
      let st = sts[k];
      if (!st) {
        st = { step: 0, tensors: names.map((n) => keep(this.initState(n, params[k], group))) };
        this.state.set(params[k], st);
        sts[k] = st;
      }
      for (let j = 0; j < names.length; j++) if (!states[j].place(st.tensors[j], slots[k])) return false;
    }
    for (const st of sts) {
      st!.step++;
      stepped.push(st!);
    }
    const st0 = sts[0]!;
    const hv = this.hypers(group, st0.step);
    const { exprs, scalars } = this.updateExprs(group, hv, names.length, false);
    const ins = [set.param.view(), set.grad.view(), ...states.map((a) => a.view())];
    const outs = [set.param.view(), ...states.map((a) => a.view())];
    const members = params.map((p, k) => ({ inputs: [p, p.grad!, ...sts[k]!.tensors], targets: [p, ...sts[k]!.tensors] }));
    runArenaInto(op, exprs, ins, outs, members, scalars, dynamic(group, st0));
    return true;
  }

  /** Checks a group's hyperparameters (each optimizer names its own ranges). */
  protected checkGroup(_group: ParamGroup): void {}

  /** The learning rate and the optimizer's own hyperparameters of a group, as they are now. */
  private checkHypers(op: string, group: ParamGroup): void {
    checkNumber(op, `paramGroups[${this.paramGroups.indexOf(group)}].lr`, group.lr, { min: 0, finite: true });
    this.checkGroup(group);
  }

  /** Names of the state tensors each parameter keeps (e.g. ['expAvg', 'expAvgSq']). */
  protected abstract stateNames(group: ParamGroup): string[];
  /** The new values of [param, ...state] as expressions of the old ones. */
  protected abstract update(x: UpdateInputs, group: ParamGroup): Expr[];
  /** Hyperparameter scalars for this step (names used by `update`). */
  protected abstract hypers(group: ParamGroup, step: number): Record<string, number>;
  /** Initial value of each state tensor. */
  protected initState(_name: string, p: Tensor, _group: ParamGroup): Tensor {
    return zerosLike(p);
  }

  /**
   * Applies one update to every parameter that has a gradient: one fused kernel per parameter
   * writes it and its state. Parameters whose tensors are all contiguous and whose gradient is
   * computed go by buckets of equal hyperparameters through runSegmentsInto, which packs several
   * into one multi-segment kernel where the backend allows it (Backend.segmentBuffers: the CPU
   * backend; WebGPU only with DispatcherOptions.segments, off by default); a pending gradient
   * folds into its parameter's own kernel.
   */
  step(): void {
    this.run(null);
    noteStep(this, `${this.constructor.name}.step()`); // debug mode: a loop whose tensors pile up
  }

  /**
   * step(), except that where `skip` (a one-element tensor on the device) is nonzero every
   * parameter and state tensor keeps its value: mixed precision's skipped update, decided on the
   * device (src/train/fit.ts). Returns the step counts it advanced, to take back (`_unstep`) once
   * the host knows the update was skipped.
   * @internal
   */
  _stepUnless(skip: Tensor): { step: number }[] {
    return this.run(skip);
  }

  /** Takes back the step counts of a skipped `_stepUnless`. @internal */
  _unstep(stepped: readonly { step: number }[]): void {
    for (const st of stepped) st.step--;
  }

  private run(skip: Tensor | null): { step: number }[] {
    // a compiled step (wt.compile) replays these kernels: each replay advances the step counts
    // and recomputes the hyperparameters (learning rate, bias corrections) from the live values
    const recording = isRecording();
    const stepped: { step: number }[] = [];
    if (recording) onReplay(() => stepped.forEach((st) => st.step++));
    const op = `${this.constructor.name}.step`;
    const dynamic = (group: ParamGroup, st: { step: number }): DynamicScalars | undefined => {
      if (!recording) return undefined;
      const names = Object.keys(this.hypers(group, st.step));
      return { n: names.length, values: () => { this.checkHypers(op, group); const hv = this.hypers(group, st.step); return names.map((k) => hv[k]); } };
    };
    // hyperparameters may have been changed since the constructor checked them (schedulers, by hand)
    for (const group of this.paramGroups) this.checkHypers(op, group);
    noGrad(() => {
      for (const group of this.paramGroups) {
        const names = this.stateNames(group);
        const buckets = new Map<string, { hv: Record<string, number>; st: { step: number }; ins: Tensor[][]; outs: Tensor[][] }>();
        const storages = new Set<unknown>();
        // arenas first: a set whose every parameter is ready is one kernel
        const done = new Set<Tensor>();
        const sets = skip || engine.debug ? undefined : this.arenaSets.get(group);
        if (sets) {
          const inGroup = new Set(group.params);
          for (const set of sets) if (this.arenaStep(set, group, inGroup, op, stepped, dynamic)) for (const p of set.params) done.add(p);
        }
        for (const p of group.params) {
          if (!p.grad || done.has(p)) continue;
          let st = this.state.get(p);
          if (!st) {
            st = { step: 0, tensors: names.map((n) => keep(this.initState(n, p, group))) };
            this.state.set(p, st);
          }
          st.step++;
          stepped.push(st);
          const hv = this.hypers(group, st.step);
          const inputs = [p, p.grad, ...st.tensors];
          const targets = [p, ...st.tensors];
          if (skip) {
            // the gate, read by every element (a broadcast view): one kernel per parameter
            const gate = skip.expand([...p.shape]);
            this.updateOne(op, group, hv, [...inputs, gate], targets, dynamic(group, st), true);
            gate.dispose();
            continue;
          }
          // (an arena's slots are one buffer: a multi-segment kernel would bind it twice, writing)
          const shared = !engine.debug && !p.grad._store.recipe && inputs.every((t) => t.isContiguous() && !inOpenArena(t._store.rawBuffer)) && !storages.has(p._store);
          if (!shared) {
            this.updateOne(op, group, hv, inputs, targets, dynamic(group, st));
            continue;
          }
          storages.add(p._store);
          const key = Object.entries(hv).map(([k, v]) => `${k}=${v}`).join(',');
          const b = buckets.get(key) ?? { hv, st, ins: [], outs: [] };
          buckets.set(key, b);
          b.ins.push(inputs);
          b.outs.push(targets);
        }
        for (const b of buckets.values()) {
          if (b.ins.length === 1) {
            this.updateOne(op, group, b.hv, b.ins[0], b.outs[0], dynamic(group, b.st));
            continue;
          }
          const { exprs, scalars } = this.updateExprs(group, b.hv, b.ins[0].length - 2, false);
          // a bucket's parameters share their hyperparameters (the bucket key), so the first one's count serves
          runSegmentsInto(op, exprs, b.ins, b.outs, scalars, dynamic(group, b.st));
        }
      }
    });
    return stepped;
  }

  /** The update's expressions over loads (p, g, state...) and its hyperparameter scalars. */
  private updateExprs(group: ParamGroup, hv: Record<string, number>, nState: number, gated: boolean): { exprs: Expr[]; scalars: number[] } {
    const hnames = Object.keys(hv);
    const h = Object.fromEntries(hnames.map((k, i) => [k, IR.scalar(i)]));
    const exprs = this.update({ p: load(0), g: load(1), s: Array.from({ length: nState }, (_, i) => load(2 + i)), h }, group);
    // gated (the skip flag is the last input): a nonzero flag keeps each output's old value
    const gate = load(2 + nState);
    const kept = (e: Expr, i: number) => IR.where(gate, load(i === 0 ? 0 : 1 + i), e);
    return { exprs: gated ? exprs.map(kept) : exprs, scalars: hnames.map((k) => hv[k]) };
  }

  /** One parameter's update: one fused kernel writes it and its state from the old values. */
  private updateOne(op: string, group: ParamGroup, hv: Record<string, number>, inputs: Tensor[], targets: Tensor[], dynamic?: DynamicScalars, gated = false): void {
    const { exprs, scalars } = this.updateExprs(group, hv, targets.length - 1, gated);
    runElementwiseInto(op, exprs, inputs, targets.map((t) => t._view()), scalars, dynamic);
  }

  /** Clears every parameter's gradient. */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.zeroGrad();
  }

  /** Learning rate of the first group (schedulers set every group). */
  get lr(): number {
    return this.paramGroups[0].lr;
  }

  /** State for checkpoints: hyperparameters and per-parameter state, keyed by parameter index. */
  stateDict(): { paramGroups: Omit<ParamGroup, 'params'>[]; state: Record<string, { step: number; tensors: Tensor[] }> } {
    const all = this.paramGroups.flatMap((g) => g.params);
    const state: Record<string, { step: number; tensors: Tensor[] }> = {};
    all.forEach((p, i) => {
      const s = this.state.get(p);
      if (s) state[i] = s;
    });
    return { paramGroups: this.paramGroups.map(({ params: _p, ...rest }) => rest), state };
  }

  loadStateDict(sd: ReturnType<Optimizer['stateDict']>): void {
    const op = `${this.constructor.name}.loadStateDict`;
    const all = this.paramGroups.flatMap((g) => g.params);
    if (typeof sd !== 'object' || sd === null || !Array.isArray(sd.paramGroups) || typeof sd.state !== 'object' || sd.state === null) {
      throw new ArgumentError(`${op}: expected { paramGroups, state } from optimizer.stateDict() or wt.loadOptimizerState(), got ${describeValue(sd)}`);
    }
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new ArgumentError(`${op}: the state has ${sd.paramGroups.length} parameter groups but the optimizer has ${this.paramGroups.length}`);
    }
    for (const [k, s] of Object.entries(sd.state)) {
      const p = all[Number(k)];
      if (!p) throw new ArgumentError(`${op}: state for parameter ${k} but the optimizer has ${all.length}`);
      if (!s || !Array.isArray(s.tensors) || typeof s.step !== 'number') throw new ArgumentError(`${op}: state ${k} must be { step, tensors }`);
      s.tensors.forEach((t, j) => {
        checkTensor(op, `state ${k} tensor ${j}`, t);
        if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
          throw new ShapeError(`${op}: state ${k} tensor ${j} has shape [${t.shape.join(',')}] but parameter ${k} has [${p.shape.join(',')}]`);
        }
      });
    }
    sd.paramGroups.forEach((h, i) => Object.assign(this.paramGroups[i], h));
    noGrad(() => {
      for (const [k, s] of Object.entries(sd.state)) {
        const p = all[Number(k)];
        if (!p) throw new ArgumentError(`loadStateDict: state for parameter ${k} but the optimizer has ${all.length}`);
        const mine = this.state.get(p);
        const tensors = s.tensors.map((t, j) => {
          const dst = mine?.tensors[j] ?? keep(zerosLike(p));
          dst.copy_(t);
          return dst;
        });
        this.state.set(p, { step: s.step, tensors });
      }
    });
  }

  /** Frees the state tensors (and the arenas, once the parameters and gradients in them are gone). */
  dispose(): void {
    for (const s of this.state.values()) s.tensors.forEach((t) => t.dispose());
    this.state.clear();
    for (const sets of this.arenaSets.values()) {
      for (const set of sets) {
        for (const p of set.params) setGradSlot(p, null);
        for (const a of [set.param, set.grad, ...(set.states ?? [])]) a.close();
      }
    }
    this.arenaSets.clear();
  }

  /** dispose(), for `using opt = new wt.optim.Adam(...)`: the state tensors go at the end of the block. */
  [DISPOSE](): void {
    this.dispose();
  }
}

