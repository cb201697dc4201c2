// PLACEHOLDER: being implemented
import type { GradTable } from '../autograd/rules.js';
export const convGrads: GradTable<'conv2d' | 'convTranspose2d' | 'maxPool2d' | 'avgPool2d'> = {
  conv2d: () => { throw new Error('not implemented'); },
  convTranspose2d: () => { throw new Error('not implemented'); },
  maxPool2d: () => { throw new Error('not implemented'); },
  avgPool2d: () => { throw new Error('not implemented'); },
};
