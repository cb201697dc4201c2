/** Each example runs a short version on the CPU backend and reports its metrics. */
import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../examples/index.js';

const quiet = { backend: 'cpu' as const, quick: true, log: () => {} };

describe('examples (short runs)', () => {
  it('perceptron: AND, OR and the XOR MLP reach 100%', async () => {
    const r = await EXAMPLES.perceptron.run(quiet);
    expect(r.metrics).toMatchObject({ andAccuracy: 1, orAccuracy: 1, xorAccuracy: 1 });
    expect(r.backend).toBe('cpu');
  });
});
