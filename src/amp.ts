/**
 * Mixed precision: dynamic loss scaling (`wt.amp.GradScaler`, as PyTorch's torch.amp.GradScaler).
 *
 * Under `wt.setFloat32MatmulPrecision('medium')` the big matmuls and convolutions of the WebGPU
 * backend take their operands through f16, whose smallest normal value is 6.1e-5 (subnormals
 * reach 6e-8 with fewer bits): the small gradients of the backward pass would round to zero or
 * lose their precision there. The scaler multiplies the loss by a large power of two before
 * `backward()`, so every gradient is scaled alike and stays in f16's range, then divides the
 * gradients by it again before the optimizer step; powers of two make both exact in float32.
 * When a step's gradients hold an infinity or NaN (the scale was too large), the step is skipped
 * and the scale halves; after `growthInterval` clean steps it doubles.
 *
 * @example
 * const scaler = new wt.amp.GradScaler();
 * const loss = F.crossEntropy(model.forward(x), y);
 * scaler.scale(loss).backward();
 * await scaler.step(opt);   // unscales, checks the gradients, steps unless they overflowed
 * scaler.update();          // adjusts the scale for the next step
 * opt.zeroGrad();
 */
import { noGrad } from './engine.js';
import { ArgumentError } from './errors.js';
import { keep, tidy } from './memory.js';
import { Optimizer } from './optim/optimizer.js';
import { full, zeros } from './ops/creation.js';
import type { Tensor } from './tensor.js';
import { checkBoolean, checkFloat, checkOptions, describeValue } from './validate.js';

export interface GradScalerOptions {
  /** the first scale (default 2^16) */
  initScale?: number;
  /** factor applied after growthInterval steps without an overflow (default 2) */
  growthFactor?: number;
  /** factor applied after a step whose gradients overflowed (default 0.5) */
  backoffFactor?: number;
  /** clean steps between growths (default 2000) */
  growthInterval?: number;
  /** false: every method passes through (scale 1, no checks), so one loop serves both modes */
  enabled?: boolean;
}

export interface GradScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  growthTracker: number;
}

/** What the scaler knows about one optimizer between `unscale` and `update`. */
interface PerOptimizer {
  /** 1 when any gradient was not finite, else 0 (a scalar on the device until step reads it) */
  found: Tensor;
  stepped: boolean;
}

export class GradScaler {
  private scaleValue: number;
  private readonly growthFactor: number;
  private readonly backoffFactor: number;
  private readonly growthInterval: number;
  private readonly enabled: boolean;
  private growthTracker = 0;
  /** the scale and its inverse as one-element tensors (made on first use, rewritten in place) */
  private tensors: { scale: Tensor; inv: Tensor } | null = null;
  private readonly perOpt = new Map<Optimizer, PerOptimizer>();
  /** whether any optimizer's gradients overflowed since the last update (read by step) */
  private overflowed = false;

  constructor(opts: GradScalerOptions = {}) {
    const op = 'GradScaler';
    checkOptions(op, opts, ['initScale', 'growthFactor', 'backoffFactor', 'growthInterval', 'enabled']);
    if (opts.enabled !== undefined) checkBoolean(op, 'enabled', opts.enabled);
    const { initScale = 2 ** 16, growthFactor = 2, backoffFactor = 0.5, growthInterval = 2000, enabled = true } = opts;
    const positive = (name: string, v: number): void => {
      if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new ArgumentError(`${op}: ${name} must be a positive finite number, got ${describeValue(v)}`);
    };
    positive('initScale', initScale);
    positive('growthFactor', growthFactor);
    positive('backoffFactor', backoffFactor);
    if (!(growthFactor > 1)) throw new ArgumentError(`${op}: growthFactor must be greater than 1, got ${growthFactor}`);
    if (!(backoffFactor < 1)) throw new ArgumentError(`${op}: backoffFactor must be less than 1, got ${backoffFactor}`);
    if (!Number.isInteger(growthInterval) || growthInterval < 1) throw new ArgumentError(`${op}: growthInterval must be a positive integer, got ${describeValue(growthInterval)}`);
    this.scaleValue = initScale;
    this.growthFactor = growthFactor;
    this.backoffFactor = backoffFactor;
    this.growthInterval = growthInterval;
    this.enabled = enabled !== false;
  }

  /** Whether the scaler scales (the `enabled` option). */
  isEnabled(): boolean {
    return this.enabled;
  }

  /** The current scale (1 when disabled). */
  getScale(): number {
    return this.enabled ? this.scaleValue : 1;
  }

  /**
   * `loss` times the scale, to call backward() on (the loss itself when disabled). The scale is
   * read from a one-element tensor the scaler keeps and rewrites in place when the scale changes,
   * so a step compiled with `wt.compile` that calls this replays with the current scale (keep
   * `step`, `unscale` and `update` outside the compiled function: they decide in JavaScript).
   */
  scale(loss: Tensor): Tensor {
    checkFloat('GradScaler.scale', 'loss', loss);
    if (!this.enabled) return loss;
    return loss.mul(this.scaleTensors(loss).scale);
  }

  /** Frees the tensors holding the scale (the scaler stays usable: they are made again on use). */
  dispose(): void {
    this.tensors?.scale.dispose();
    this.tensors?.inv.dispose();
    this.tensors = null;
  }

  /** The kept scale tensors, on the backend of `like` (the inverse from JavaScript: exact). */
  private scaleTensors(like: Tensor): { scale: Tensor; inv: Tensor } {
    const t = this.tensors;
    if (t && !t.scale.isDisposed && !t.inv.isDisposed && t.scale.backend === like.backend) return t;
    this.dispose();
    return (this.tensors = noGrad(() => ({ scale: keep(full([], this.scaleValue)), inv: keep(full([], 1 / this.scaleValue)) })));
  }

  /** The scale changed: rewrite the kept tensors in place (a compiled step reads their buffers). */
  private setScale(v: number): void {
    this.scaleValue = v;
    const t = this.tensors;
    if (t && !t.scale.isDisposed && !t.inv.isDisposed) noGrad(() => {
      t.scale.fill_(v);
      t.inv.fill_(1 / v);
    });
  }

  /**
   * Divides the gradients of `optimizer`'s parameters by the scale in place (multiplying by the
   * kept inverse, so that a compiled step replays with the current one); 1 when any is then
   * infinite or NaN, else 0.
   */
  private divideGrads(optimizer: Optimizer): Tensor {
    const grads = optimizer.paramGroups.flatMap((g) => g.params).map((p) => p.grad).filter((g): g is Tensor => !!g);
    return noGrad(() => tidy(() => {
      if (!grads.length) return zeros([]);
      const { inv } = this.scaleTensors(grads[0]);
      for (const g of grads) g.mul_(inv);
      // 1 when some element is ±inf or NaN (after the division: one it overflowed counts too)
      return grads.map((g) => g.isFinite().all().logicalNot().float()).reduce((a, b) => a.maximum(b));
    }));
  }

  /**
   * Divides the gradients of `optimizer`'s parameters by the scale, in place, and notes on the
   * device whether any is infinite or NaN. Call it before reading or clipping gradients
   * (clipGradNorm); `step` calls it when you have not. Once per optimizer between updates.
   */
  unscale(optimizer: Optimizer): void {
    const op = 'GradScaler.unscale';
    if (!(optimizer instanceof Optimizer)) throw new ArgumentError(`${op}: expected an optimizer, got ${describeValue(optimizer)}`);
    if (!this.enabled) return;
    if (this.perOpt.has(optimizer)) throw new ArgumentError(`${op}: already called for this optimizer since the last update()`);
    this.perOpt.set(optimizer, { found: keep(this.divideGrads(optimizer)), stepped: false });
  }

  /**
   * Unscales the gradients (unless `unscale` ran), reads whether they are finite and runs
   * `optimizer.step()` only if they are. Resolves to whether it stepped.
   */
  async step(optimizer: Optimizer): Promise<boolean> {
    const op = 'GradScaler.step';
    if (!(optimizer instanceof Optimizer)) throw new ArgumentError(`${op}: expected an optimizer, got ${describeValue(optimizer)}`);
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    if (!this.perOpt.has(optimizer)) this.unscale(optimizer);
    const st = this.perOpt.get(optimizer)!;
    if (st.stepped) throw new ArgumentError(`${op}: already stepped this optimizer since the last update()`);
    st.stepped = true;
    const bad = (await st.found.item()) !== 0;
    if (bad) this.overflowed = true;
    else optimizer.step();
    return !bad;
  }

  /**
   * Adjusts the scale after the iteration's steps: times backoffFactor when any stepped
   * optimizer's gradients overflowed, times growthFactor after growthInterval clean iterations.
   * `newScale` sets it outright instead.
   */
  update(newScale?: number): void {
    if (!this.enabled) return;
    if (newScale !== undefined) {
      if (!(typeof newScale === 'number' && newScale > 0 && Number.isFinite(newScale))) throw new ArgumentError(`GradScaler.update: newScale must be a positive finite number, got ${describeValue(newScale)}`);
      this.setScale(newScale);
      this.growthTracker = 0;
    } else if (this.perOpt.size === 0) {
      throw new ArgumentError('GradScaler.update: no step or unscale since the last update(); call scaler.step(optimizer) first');
    } else {
      this.adjust();
    }
    for (const st of this.perOpt.values()) st.found.dispose();
    this.perOpt.clear();
    this.overflowed = false;
  }

  /** Backs the scale off after an overflow, or counts a clean iteration towards growth. */
  private adjust(): void {
    if (this.overflowed) {
      this.setScale(this.scaleValue * this.backoffFactor);
      this.growthTracker = 0;
    } else if (++this.growthTracker >= this.growthInterval) {
      this.setScale(this.scaleValue * this.growthFactor);
      this.growthTracker = 0;
    }
    this.overflowed = false;
  }

  /**
   * For `fit`'s mixed-precision steps (src/train/fit.ts), compiled with the unscaling inside:
   * `unscale` without its bookkeeping; returns the overflow flag (1 or 0) to read after the step.
   * @internal
   */
  _unscaleInStep(optimizer: Optimizer): Tensor {
    return this.divideGrads(optimizer);
  }

  /** For `fit`: ends an iteration whose gradients did (`overflowed`) or did not overflow. @internal */
  _endIteration(overflowed: boolean): void {
    this.overflowed ||= overflowed;
    this.adjust();
  }

  /** The scale and its schedule, to save with a checkpoint. */
  stateDict(): GradScalerState {
    return { scale: this.scaleValue, growthFactor: this.growthFactor, backoffFactor: this.backoffFactor, growthInterval: this.growthInterval, growthTracker: this.growthTracker };
  }

  /** Restores the scale and growth count of {@link stateDict} (the factors stay this scaler's). */
  loadStateDict(sd: GradScalerState): void {
    if (typeof sd !== 'object' || sd === null || !(typeof sd.scale === 'number' && sd.scale > 0 && Number.isFinite(sd.scale)) || !Number.isInteger(sd.growthTracker)) {
      throw new ArgumentError(`GradScaler.loadStateDict: expected { scale, growthTracker, ... } from stateDict(), got ${describeValue(sd)}`);
    }
    this.setScale(sd.scale);
    this.growthTracker = sd.growthTracker;
  }
}
