/**
 * What the training loop and its callbacks need of a model. `nn.Module` has all of it; train/
 * names this shape instead of importing nn/, whose Module offers fit, evaluate and predict by
 * calling into train/ (so the two folders do not import each other).
 */
import type { Tensor } from '../tensor.js';

export interface Trainable {
  forward(...args: unknown[]): unknown;
  parameters(): Tensor[];
  /** every sub-module, with its training flag (fit and evaluate put each back as it was) */
  namedModules(): [string, { training: boolean }][];
  train(mode?: boolean): unknown;
  eval(): unknown;
  zeroGrad(): void;
  stateDict(): Record<string, Tensor>;
  loadStateDict(state: Record<string, Tensor>, strict?: boolean): unknown;
}
