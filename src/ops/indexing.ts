// PLACEHOLDER: being implemented
import type { GradTable } from '../autograd/rules.js';
export const indexGrads: GradTable<'gather' | 'indexSelect' | 'scatterAdd'> = {
  gather: () => { throw new Error('not implemented'); },
  indexSelect: () => { throw new Error('not implemented'); },
  scatterAdd: () => { throw new Error('not implemented'); },
};
