/**
 * The models of the demo pages, also trained by the benchmark (bench/lib) so that its steps/s are
 * the demo's. Shape legend: B batch, T sequence length, C model width, V vocabulary.
 */
import * as wt from '../../src/index.js';

const { nn } = wt;

/**
 * A small LeNet-style CNN for MNIST: two 3×3 conv blocks (8 and 16 channels) with 2×2 max
 * pooling, then one linear layer; ~9k parameters and ~0.3 MFLOP per image forward, so it trains
 * interactively even on a laptop GPU (≈98% test accuracy after one epoch).
 */
export class MnistCNN extends nn.Module {
  features = new nn.Sequential(
    new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), // (B, 8, 14, 14)
    new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), // (B, 16, 7, 7)
  );
  head = new nn.Sequential(new nn.Flatten(), new nn.Linear(16 * 7 * 7, 10));
  /** x (B, 1, 28, 28) normalised pixels → logits (B, 10) */
  forward(x: wt.Tensor): wt.Tensor {
    return this.head.forward(this.features.forward(x));
  }
}

/** The MNIST MLP of examples/mnist.ts without dropout: 784-256-128-10, ReLU. */
export class MnistMLP extends nn.Module {
  net = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 128), new nn.ReLU(), new nn.Linear(128, 10));
  forward(x: wt.Tensor): wt.Tensor {
    return this.net.forward(x);
  }
}

export type { GptConfig } from '../../examples/gpt-model.js';
import type { GptConfig } from '../../examples/gpt-model.js';
import { CharGPT } from '../../examples/gpt-model.js';

/** Model sizes offered by the character-transformer page (and used by the benchmark). */
export const GPT_SIZES: Record<'tiny' | 'small' | 'medium', Omit<GptConfig, 'vocabSize'>> = {
  tiny: { blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 32 },
  small: { blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64 },
  medium: { blockSize: 128, nLayer: 4, nHead: 4, nEmbd: 128 },
};

/** The character transformer of the demo page and the benchmark (examples/gpt-model.ts). */
export { CharGPT as CharTransformer };

export type Activation = 'tanh' | 'relu' | 'sigmoid' | 'gelu' | 'silu' | 'leakyRelu';

function activation(a: Activation): wt.nn.Module {
  switch (a) {
    case 'relu': return new nn.ReLU();
    case 'sigmoid': return new nn.Sigmoid();
    case 'gelu': return new nn.GELU();
    case 'silu': return new nn.SiLU();
    case 'leakyRelu': return new nn.LeakyReLU(0.1);
    default: return new nn.Tanh();
  }
}

/**
 * A classifier of 2-D points: `hidden` = [] is a perceptron (one linear unit); otherwise an MLP
 * with those layer widths. Outputs one logit per point (B, 1).
 *
 * @example mlp2d([8, 8], 'tanh') // 2-8-8-1
 */
export function mlp2d(hidden: readonly number[], act: Activation): wt.nn.Sequential {
  const layers: wt.nn.Module[] = [];
  let inDim = 2;
  for (const h of hidden) {
    layers.push(new nn.Linear(inDim, h), activation(act));
    inDim = h;
  }
  layers.push(new nn.Linear(inDim, 1));
  return new nn.Sequential(...layers);
}
