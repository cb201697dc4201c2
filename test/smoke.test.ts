import { describe, it, expect } from 'vitest';
import * as wt from '../src/index.js';
describe('smoke', () => {
  it('works', async () => {
    await wt.init({ backend: 'cpu' });
    const a = wt.tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
    const b = a.mul(2).add(1).exp().sum(1);
    console.log(b.toString());
    const s = b.log().sum();
    s.backward();
    console.log(a.grad!.toString());
    console.log(wt.arange(5).toString(), wt.eye(3).toString(), wt.randn([2,3], {seed: 1}).toString());
    console.log(a.T.toString(), a.T.contiguous().toString(), a.slice(1, 0, 3, 2).toString());
    console.log(wt.cat([a, a], 0).toString(), a.max(1).toString(), a.argmax(1).toString(), a.var().toString(), a.logsumexp(1).toString());
    await expect(wt.gradcheck((x) => x.mul(x).sum(1).sqrt(), [wt.randn([3, 4])])).resolves.toBe(true);
    console.log(wt.memory());
  });
});
