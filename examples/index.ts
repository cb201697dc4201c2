/** The example registry used by the CLI (`npx webtensor train <name>`) and the tests. */
import type { Example } from './common.js';
import { example as perceptron } from './perceptron.js';
import { mnistMlp, mnistCnn } from './mnist.js';
import { charGpt } from './char-gpt.js';
import { lstmSine } from './lstm-sine.js';
import { autoencoder } from './autoencoder.js';
import { gan } from './gan.js';
// issue 26 (ex26b): generative and compression examples
import { vae } from './vae.js';
import { distill } from './distill.js';
import { prune } from './prune.js';
// issue 26, vision examples (ex26a)
import { resnet } from './resnet.js';
import { unet } from './unet.js';
import { vit } from './vit.js';
import { quantize } from './quantize.js';

export const EXAMPLES: Record<string, Example> = {
  perceptron,
  xor: { ...perceptron, name: 'xor' },
  'mnist-mlp': mnistMlp,
  'mnist-cnn': mnistCnn,
  'char-gpt': charGpt,
  'lstm-sine': lstmSine,
  autoencoder,
  gan,
  // issue 26 (ex26b)
  vae,
  distill,
  prune,
  // issue 26, vision examples (ex26a)
  resnet,
  unet,
  vit,
  quantize,
};
