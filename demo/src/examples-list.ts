/**
 * The examples the demo's examples page runs live (demo/examples.html): each entry names an
 * example of examples/ (the same code as `npx webtensor train <name>`), says what it shows, and
 * loads it, so that the example's code is bundled into the training worker only (a chunk of its
 * own, fetched when the example is opened). Adding an example to the page is one entry here.
 */
import type { Example } from '../../examples/common.js';

export interface DemoExample {
  /** the example's name (examples/index.ts) */
  name: string;
  /** the tab's label */
  title: string;
  /** a sentence or two under the tab */
  about: string;
  /** the example itself, loaded on demand */
  load: () => Promise<Example>;
}

export const DEMO_EXAMPLES: readonly DemoExample[] = [
  {
    name: 'vae',
    title: 'VAE',
    about: 'A variational autoencoder learns a 20-number code for MNIST digits. The loss is the negative ELBO (reconstruction + KL, nats per image); the samples are decoded from fixed random codes and sharpen as it learns.',
    load: async () => (await import('../../examples/vae.js')).vae,
  },
  {
    name: 'distill',
    title: 'Distillation',
    about: 'A teacher MLP learns MNIST; then a 25k-parameter student learns from the teacher\'s softened outputs (temperature 8, KL·T²), and the same student from the labels alone, with the same steps. The chart compares their test accuracy.',
    load: async () => (await import('../../examples/distill.js')).distill,
  },
  {
    name: 'prune',
    title: 'Pruning',
    about: 'LeNet-300-100 learns MNIST, then loses 50%, 80% and 90% of its weights (the smallest in magnitude) and is fine-tuned with the masks held in place. The pruning curve shows the accuracy right after each cut and after fine-tuning.',
    load: async () => (await import('../../examples/prune.js')).prune,
  },
  {
    name: 'resnet',
    title: 'ResNet',
    about: 'A small ResNet (basic blocks with batch norm, identity and strided projection shortcuts) and a plain CNN of the same depth learn MNIST with the same optimizer, batches and steps; the log compares their test accuracy.',
    load: async () => (await import('../../examples/resnet.js')).resnet,
  },
  {
    name: 'unet',
    title: 'U-Net',
    about: 'A U-Net learns to segment circles, rectangles and triangles drawn on noisy generated canvases (skip connections by concatenation, transposed-convolution up-sampling). The pictures show held-out canvases, their true masks and the predicted ones; the log gives the IoU per shape.',
    load: async () => (await import('../../examples/unet.js')).unet,
  },
  {
    name: 'vit',
    title: 'ViT',
    about: 'A vision transformer reads MNIST digits as 16 patches of 7×7 pixels, with a class token and learned positions, through a pre-norm transformer encoder.',
    load: async () => (await import('../../examples/vit.js')).vit,
  },
  {
    name: 'quantize',
    title: 'Quantization',
    about: 'An MLP learns MNIST in float32; then its Linear layers are quantized to int8 and 4-bit (groups of 64 and 32) after training. The log gives the test accuracy and weight bytes at each.',
    load: async () => (await import('../../examples/quantize.js')).quantize,
  },
];
