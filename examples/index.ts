/** The example registry used by the CLI (`npx webtensor train <name>`) and the tests. */
import type { Example } from './common.js';
import { example as perceptron } from './perceptron.js';

export const EXAMPLES: Record<string, Example> = {
  perceptron,
  xor: { ...perceptron, name: 'xor' },
};
