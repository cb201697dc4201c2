// PLACEHOLDER: being implemented
import type { GradTable } from '../autograd/rules.js';
export const linalgGrads: GradTable<'matmul'> = {
  matmul: () => { throw new Error('not implemented'); },
};
