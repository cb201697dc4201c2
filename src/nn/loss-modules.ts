/**
 * Loss modules, as torch.nn's: each keeps its options and its forward calls the functional loss
 * (src/nn/losses-more.ts) under the module's name, which checks the arguments, so errors name
 * `KLDivLoss.forward`.
 *
 * @example
 * const crit = new wt.nn.SmoothL1Loss({ beta: 0.5 });
 * const loss = crit.forward(pred, target);
 */
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkNumber, checkOneOf, checkOptions } from '../validate.js';
import { Module } from './module.js';
import type { LossOptions } from './losses.js';
import { cosineEmbeddingLoss, klDiv, marginRankingLoss, smoothL1Loss, type KLDivOptions } from './losses-more.js';

/** torch.nn.KLDivLoss: forward(input log-probabilities, target). */
export class KLDivLoss extends Module {
  readonly options: KLDivOptions;
  constructor(o: KLDivOptions = {}) {
    super();
    this.options = { ...checkOptions('KLDivLoss', o, ['reduction', 'logTarget']) };
    if (o.reduction !== undefined) checkOneOf('KLDivLoss', 'reduction', o.reduction, ['mean', 'batchmean', 'sum', 'none']);
    if (o.logTarget !== undefined) checkBoolean('KLDivLoss', 'logTarget', o.logTarget);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return klDiv('KLDivLoss.forward', input, target, this.options);
  }
}

/** torch.nn.SmoothL1Loss: forward(input, target). */
export class SmoothL1Loss extends Module {
  readonly options: LossOptions & { beta?: number };
  constructor(o: LossOptions & { beta?: number } = {}) {
    super();
    this.options = { ...checkOptions('SmoothL1Loss', o, ['reduction', 'beta']) };
    if (o.reduction !== undefined) checkOneOf('SmoothL1Loss', 'reduction', o.reduction, ['mean', 'sum', 'none']);
    if (o.beta !== undefined) checkNumber('SmoothL1Loss', 'beta', o.beta, { min: 0, finite: true });
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return smoothL1Loss('SmoothL1Loss.forward', input, target, this.options);
  }
}

/** torch.nn.CosineEmbeddingLoss: forward(input1, input2, target). */
export class CosineEmbeddingLoss extends Module {
  readonly options: LossOptions & { margin?: number };
  constructor(o: LossOptions & { margin?: number } = {}) {
    super();
    this.options = { ...checkOptions('CosineEmbeddingLoss', o, ['reduction', 'margin']) };
    if (o.reduction !== undefined) checkOneOf('CosineEmbeddingLoss', 'reduction', o.reduction, ['mean', 'sum', 'none']);
    if (o.margin !== undefined) checkNumber('CosineEmbeddingLoss', 'margin', o.margin, { finite: true });
  }
  forward(input1: Tensor, input2: Tensor, target: Tensor): Tensor {
    return cosineEmbeddingLoss('CosineEmbeddingLoss.forward', input1, input2, target, this.options);
  }
}

/** torch.nn.MarginRankingLoss: forward(input1, input2, target). */
export class MarginRankingLoss extends Module {
  readonly options: LossOptions & { margin?: number };
  constructor(o: LossOptions & { margin?: number } = {}) {
    super();
    this.options = { ...checkOptions('MarginRankingLoss', o, ['reduction', 'margin']) };
    if (o.reduction !== undefined) checkOneOf('MarginRankingLoss', 'reduction', o.reduction, ['mean', 'sum', 'none']);
    if (o.margin !== undefined) checkNumber('MarginRankingLoss', 'margin', o.margin, { finite: true });
  }
  forward(input1: Tensor, input2: Tensor, target: Tensor): Tensor {
    return marginRankingLoss('MarginRankingLoss.forward', input1, input2, target, this.options);
  }
}
