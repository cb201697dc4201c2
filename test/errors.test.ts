import { describe, expect, it } from 'vitest';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';

/** Asserts fn throws an instance of cls whose message matches every pattern. */
function throwsWith(fn: () => unknown, cls: new (...a: never[]) => Error, ...patterns: RegExp[]): void {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(cls);
  for (const p of patterns) expect((err as Error).message).toMatch(p);
}

forEachBackend((kind) => {
  describe('errors name the op, the argument and the shapes', () => {
    it('broadcasting', () => {
      throwsWith(() => wt.ones([2, 3]).add(wt.ones([4])), wt.ShapeError, /^add:/, /\[2,3\]/, /\[4\]/);
    });
    it('reshape and view', () => {
      throwsWith(() => wt.ones([2, 3]).reshape(4, 2), wt.ShapeError, /reshape/, /\[2,3\]/, /\[4,2\]/);
      throwsWith(() => wt.ones([2, 3]).reshape(-1, -1), wt.ShapeError, /only one dim may be -1/);
    });
    it('axes out of range', () => {
      throwsWith(() => wt.ones([2, 3]).sum(2), wt.ShapeError, /sum: dim=2 is out of range for a tensor of 2 dims/);
      throwsWith(() => wt.ones([2, 3]).permute(0, 0), wt.ArgumentError, /permute: repeated dim/);
      throwsWith(() => wt.ones([2, 3]).transpose(0, 5), wt.ShapeError, /transpose/);
    });
    it('cat, stack, split, narrow, expand', () => {
      throwsWith(() => wt.cat([wt.ones([2, 3]), wt.ones([2, 4])], 0), wt.ShapeError, /cat/, /\[2,3\]/, /\[2,4\]/);
      throwsWith(() => wt.stack([wt.ones([2]), wt.ones([3])]), wt.ShapeError, /stack/, /\[2\]/, /\[3\]/);
      throwsWith(() => wt.ones([5]).split([2, 2]), wt.ShapeError, /split/, /\[2,2\]/);
      throwsWith(() => wt.ones([5]).narrow(0, 3, 4), wt.ShapeError, /narrow/, /\[5\]/);
      throwsWith(() => wt.ones([2, 3]).expand(4, 3), wt.ShapeError, /expand/, /\[2,3\]/, /\[4,3\]/);
    });
    it('dtypes', () => {
      throwsWith(() => wt.ones([2], { dtype: 'int32' }).requiresGrad_(), wt.DTypeError, /float32/, /int32/);
      throwsWith(() => wt.cat([wt.ones([2]), wt.ones([2], { dtype: 'int32' })]), wt.DTypeError, /cat/, /int32/);
    });
    it('bad arguments', () => {
      throwsWith(() => wt.zeros([2, -1]), wt.ArgumentError, /zeros|full/, /shape/);
      throwsWith(() => wt.arange(0, 5, 0), wt.ArgumentError, /arange: step/);
      throwsWith(() => wt.randint(5, 5, [2]), wt.ArgumentError, /randint/);
      throwsWith(() => wt.tidy(5 as never), wt.ArgumentError, /tidy/);
    });
    it('mixing backends', () => {
      const other = new wt.CpuBackend();
      const a = wt.ones([2]);
      const prev = wt.getBackend();
      wt.setBackend(other);
      const b = wt.ones([2]);
      wt.setBackend(prev);
      throwsWith(() => a.add(b), wt.BackendError, /add: tensors live on different backends/);
    });
    it('every error is a WebtensorError', () => {
      for (const C of [wt.ShapeError, wt.DTypeError, wt.DisposedError, wt.BackendError, wt.DeviceLostError, wt.OutOfMemoryError, wt.ArgumentError]) {
        expect(new C('x')).toBeInstanceOf(wt.WebtensorError);
        expect(new C('x').name).toBe(C.name);
      }
    });
  });
});
