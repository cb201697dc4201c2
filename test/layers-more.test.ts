/**
 * Layers from issue 21, checked against PyTorch 1.13 (test/fixtures/layers_more.py writes
 * layers-more.json: inputs, weights, outputs and the gradients of sum(out · gout)):
 * F.interpolate / nn.Upsample, F.conv1d / nn.Conv1d, F.groupNorm / nn.GroupNorm and
 * nn.TransformerDecoderLayer / TransformerDecoder; plus finite-difference gradchecks, and the
 * containers nn.ModuleList / nn.ModuleDict.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as wt from '../src/index.js';
import { forEachBackend, gradcheck } from './backends.js';
import { expectClose } from './helpers.js';

interface TJ { shape: number[]; data: (number | boolean | 'inf' | '-inf')[] }
const num = (v: TJ['data'][number]): number => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));
interface InterpCase { name: string; opts: wt.InterpolateOptions; x: TJ; gout: TJ; out: TJ; gx: TJ }
interface ConvCase { name: string; opts: wt.Conv1dOptions & { paddingMode?: 'reflect' | 'replicate' | 'circular' }; x: TJ; w: TJ; b: TJ | null; gout: TJ; out: TJ; gx: TJ; gw: TJ; gb: TJ | null }
interface GnCase { name: string; groups: number; eps: number; x: TJ; w: TJ | null; b: TJ | null; gout: TJ; out: TJ; gx: TJ; gw: TJ | null; gb: TJ | null }
interface DecCase {
  name: string;
  config: { batchFirst: boolean; normFirst: boolean; activation: 'relu' | 'gelu'; numLayers: number | null; finalNorm: boolean };
  params: Record<string, TJ>; masks: Record<string, TJ>; tgt: TJ; memory: TJ; gout: TJ; out: TJ; gtgt: TJ; gmemory: TJ; grads: Record<string, TJ>;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/layers-more.json', import.meta.url), 'utf8')) as {
  torch: string; interpolate: InterpCase[]; conv1d: ConvCase[]; groupNorm: GnCase[]; decoder: DecCase[];
  transformer: { params: Record<string, TJ>; masks: Record<string, TJ>; src: TJ; tgt: TJ; gout: TJ; out: TJ; gsrc: TJ; gtgt: TJ; grads: Record<string, TJ> };
};

const mk = (t: TJ, requiresGrad = false): wt.Tensor =>
  typeof t.data[0] === 'boolean'
    ? wt.tensor(t.data as boolean[], { shape: t.shape, dtype: 'bool' })
    : wt.tensor(Float32Array.from(t.data, num), { shape: t.shape, requiresGrad });

/** out's values, and sum(out · gout) backpropagated. */
async function expectOut(out: wt.Tensor, want: TJ, atol: number, rtol: number, what: string): Promise<void> {
  expect(out.shape, `${what}: shape`).toEqual(want.shape);
  expectClose(await out.data(), want.data.map(num), atol, rtol, what);
}

async function expectGrad(t: wt.Tensor | null | undefined, want: TJ | null, atol: number, rtol: number, what: string): Promise<void> {
  if (!want) {
    expect(t?.grad ?? null, what).toBeNull();
    return;
  }
  expect(t?.grad, what).toBeTruthy();
  expectClose(await t!.grad!.data(), want.data.map(num), atol, rtol, what);
}

/** The tensor at a dotted property path of a module (layers.0.selfAttn.inProjWeight). */
function at(m: wt.nn.Module, path: string): wt.Tensor {
  let o: unknown = m;
  for (const k of path.split('.')) o = (o as Record<string, unknown>)[k];
  if (!(o instanceof wt.Tensor)) throw new Error(`no tensor at ${path}`);
  return o;
}

/**
 * torch's parameters (by camelCased property path) are exactly the module's: every path names
 * a parameter, and no parameter is left out. (By property, not by state-dict key, which may be
 * spelt as PyTorch's.)
 */
function expectSameParameters(m: wt.nn.Module, params: Record<string, TJ>): void {
  const found = new Set(Object.keys(params).map((k) => at(m, k)));
  expect(found.size).toBe(Object.keys(params).length);
  const own = m.parameters();
  expect(own.length).toBe(found.size);
  expect(own.every((p) => found.has(p))).toBe(true);
}

function setWeights(m: wt.nn.Module, params: Record<string, TJ>): void {
  wt.noGrad(() => {
    for (const [k, v] of Object.entries(params)) {
      const src = mk(v);
      at(m, k).copy_(src);
      src.dispose();
    }
  });
}

it('the fixture comes from PyTorch 1.13', () => {
  expect(fixture.torch).toMatch(/^1\.13/);
});

forEachBackend((kind) => {
  describe('interpolate', () => {
    for (const c of fixture.interpolate) {
      it(`agrees with torch: ${c.name}`, async () => {
        const x = mk(c.x, true);
        const y = wt.F.interpolate(x, c.opts);
        // bicubic sums four signed taps: PyTorch's vectorised sums round differently by a few ulps
        await expectOut(y, c.out, c.opts.mode === 'bicubic' ? 1e-5 : 1e-6, 1e-5, 'output');
        y.mul(mk(c.gout)).sum().backward();
        await expectGrad(x, c.gx, 1e-5, 1e-5, 'input gradient');
      });
    }

    it('nn.Upsample is F.interpolate', async () => {
      for (const name of ['bilinear scale 1.7', 'nearest size up', 'linear alignCorners size']) {
        const c = fixture.interpolate.find((k) => k.name === name)!;
        const up = new wt.nn.Upsample(c.opts);
        await expectOut(up.forward(mk(c.x)), c.out, 1e-6, 1e-5, name);
      }
      expect(String(new wt.nn.Upsample({ scaleFactor: 2, mode: 'bilinear' }))).toBe("Upsample(scaleFactor=2, mode='bilinear')");
      const ac = fixture.interpolate.find((k) => k.name === 'bilinear alignCorners size up')!;
      await expectOut(new wt.nn.UpsamplingBilinear2d({ size: ac.opts.size }).forward(mk(ac.x)), ac.out, 1e-6, 1e-5, 'UpsamplingBilinear2d');
      const nn2 = fixture.interpolate.find((k) => k.name === 'nearest scale 1.7')!;
      await expectOut(new wt.nn.UpsamplingNearest2d({ scaleFactor: 1.7 }).forward(mk(nn2.x)), nn2.out, 1e-6, 1e-6, 'UpsamplingNearest2d');
      expect(() => new wt.nn.UpsamplingNearest2d({ mode: 'bilinear' } as never)).toThrow(/^UpsamplingNearest2d: unknown option 'mode'/);
      expect(() => new wt.nn.UpsamplingBilinear2d({ size: 0 })).toThrow(/^UpsamplingBilinear2d: size must be/);
    });

    it('gradcheck: bilinear, nearest, trilinear and bicubic, against finite differences and the CPU', async () => {
      const x = wt.randn([1, 2, 3, 4], { seed: 3 });
      await gradcheck((t) => wt.F.interpolate(t, { size: [5, 7], mode: 'bilinear' }), [x]);
      await gradcheck((t) => wt.F.interpolate(t, { scaleFactor: 1.5, mode: 'bilinear', alignCorners: true }), [x]);
      await gradcheck((t) => wt.F.interpolate(t, { size: [2, 9] }), [x]);
      await gradcheck((t) => wt.F.interpolate(t, { size: [2, 3, 5], mode: 'trilinear' }), [wt.randn([1, 1, 3, 2, 3], { seed: 4 })]);
      await gradcheck((t) => wt.F.interpolate(t, { size: [5, 3], mode: 'bicubic' }), [x]);
    });

    it('the same size is a copy that passes the gradient through', async () => {
      const x = wt.randn([1, 2, 3, 4], { seed: 2, requiresGrad: true });
      for (const o of [{ size: [3, 4] }, { scaleFactor: 1, mode: 'bilinear' }, { size: [3, 4], mode: 'bilinear', alignCorners: true }] as wt.InterpolateOptions[]) {
        const y = wt.F.interpolate(x, o);
        expect(y).not.toBe(x);
        expect(Array.from(await y.data())).toEqual(Array.from(await x.data()));
        y.sum().backward();
      }
      expect(Array.from(await x.grad!.data())).toEqual(new Array(24).fill(3));
    });

    it('refuses bad arguments, naming them', () => {
      const x = wt.randn([1, 2, 3, 4]);
      expect(() => wt.F.interpolate(x, {})).toThrow(/interpolate: give exactly one of size and scaleFactor, got neither/);
      expect(() => wt.F.interpolate(x, { size: 4, scaleFactor: 2 })).toThrow(/got both/);
      expect(() => wt.F.interpolate(x, { size: 4, mode: 'nearest', alignCorners: true })).toThrow(wt.ArgumentError);
      expect(() => wt.F.interpolate(x, { size: 4, mode: 'linear' })).toThrow(/mode 'linear' needs 3-D input/);
      expect(() => wt.F.interpolate(x, { size: [4, 4, 4] })).toThrow(/size must be a positive integer or a list of 2/);
      expect(() => wt.F.interpolate(x, { scaleFactor: 0.1 })).toThrow(/makes spatial dim 0 of input \[1,2,3,4\] empty/);
      expect(() => wt.F.interpolate(wt.randn([3, 4]), { size: 2 })).toThrow(wt.ShapeError);
      expect(() => wt.F.interpolate(x, { size: 4, mode: 'lanczos' as never })).toThrow(/mode must be/);
      expect(() => new wt.nn.Upsample({})).toThrow(/Upsample: give size or scaleFactor/);
      expect(() => new wt.nn.Upsample({ size: 2 }).forward(wt.randn([2]))).toThrow(/^Upsample\.forward: input must be/);
    });
  });

  describe('conv1d', () => {
    for (const c of fixture.conv1d) {
      it(`agrees with torch: ${c.name}`, async () => {
        const x = mk(c.x, true);
        let w = mk(c.w, true), b = c.b ? mk(c.b, true) : null;
        let y: wt.Tensor;
        if (c.opts.paddingMode) {
          const [O, Cg, k] = c.w.shape;
          const conv = new wt.nn.Conv1d(Cg * (c.opts.groups ?? 1), O, k, { ...c.opts, bias: !!c.b });
          setWeights(conv, { weight: c.w, ...(c.b ? { bias: c.b } : {}) });
          [w, b] = [conv.weight, conv.bias];
          y = conv.forward(x);
        } else {
          y = wt.F.conv1d(x, w, b, c.opts);
        }
        await expectOut(y, c.out, 2e-5, 1e-4, 'output');
        y.mul(mk(c.gout)).sum().backward();
        await expectGrad(x, c.gx, 2e-5, 1e-4, 'input gradient');
        await expectGrad(w, c.gw, 2e-5, 1e-4, 'weight gradient');
        await expectGrad(b, c.gb, 2e-5, 1e-4, 'bias gradient');
      });
    }

    it('nn.Conv1d: PyTorch shapes and init bound; F.conv1d is wt.conv1d', async () => {
      const conv = new wt.nn.Conv1d(6, 4, 3, { groups: 2, stride: 2 });
      expect(conv.weight.shape).toEqual([4, 3, 3]);
      expect(conv.bias!.shape).toEqual([4]);
      const bound = 1 / Math.sqrt(9);
      expect(Math.max(...Array.from(await conv.weight.abs().data()))).toBeLessThanOrEqual(bound);
      expect(conv.forward(wt.randn([2, 6, 11])).shape).toEqual([2, 4, 5]);
      expect(conv.forward(wt.randn([6, 11])).shape).toEqual([4, 5]);
      expect(Object.keys(conv.stateDict())).toEqual(['weight', 'bias']);
      expect(wt.F.conv1d).toBe(wt.conv1d);
    });

    it('gradcheck against finite differences and the CPU', async () => {
      const x = wt.randn([2, 4, 7], { seed: 5 }), w = wt.randn([2, 2, 3], { seed: 6 }), b = wt.randn([2], { seed: 7 });
      await gradcheck((a, c, d) => wt.F.conv1d(a, c, d, { padding: 'same', dilation: 2, groups: 2 }), [x, w, b]);
    });

    it('refuses bad arguments, naming them', () => {
      const x = wt.randn([2, 4, 7]);
      expect(() => wt.F.conv1d(x, wt.randn([2, 3, 3]))).toThrow(/conv1d: input \[2,4,7\] has 4 channels but weight \[2,3,3\] expects 3/);
      expect(() => wt.F.conv1d(x, wt.randn([2, 4, 3, 3]))).toThrow(/conv1d: weight must be 3-D/);
      expect(() => wt.F.conv1d(x, wt.randn([2, 4, 9]))).toThrow(/too small/);
      expect(() => wt.F.conv1d(x, wt.randn([2, 4, 3]), null, { padding: 'same', stride: 2 })).toThrow(/padding='same' needs stride 1/);
      expect(() => new wt.nn.Conv1d(4, 3, 3, { groups: 2 })).toThrow(/divisible by groups 2/);
      expect(() => new wt.nn.Conv1d(4, 2, 3).forward(wt.randn([2, 3, 7]))).toThrow(/^Conv1d\.forward: input must be \[N, 4, L\]/);
      expect(() => new wt.nn.Conv1d(4, 2, 3, { paddingMode: 'mirror' as never })).toThrow(/paddingMode must be/);
    });
  });

  describe('groupNorm', () => {
    for (const c of fixture.groupNorm) {
      it(`agrees with torch: ${c.name}`, async () => {
        const x = mk(c.x, true), w = c.w ? mk(c.w, true) : null, b = c.b ? mk(c.b, true) : null;
        const y = wt.F.groupNorm(x, c.groups, w, b, c.eps);
        await expectOut(y, c.out, 2e-5, 1e-4, 'output');
        y.mul(mk(c.gout)).sum().backward();
        await expectGrad(x, c.gx, 5e-5, 1e-4, 'input gradient');
        await expectGrad(w, c.gw, 5e-5, 1e-4, 'weight gradient');
        await expectGrad(b, c.gb, 5e-5, 1e-4, 'bias gradient');
      });
    }

    it('nn.GroupNorm: ones and zeros, and the same result as F.groupNorm', async () => {
      const c = fixture.groupNorm[1];
      const gn = new wt.nn.GroupNorm(c.groups, c.x.shape[1], { eps: c.eps });
      expect(Array.from(await gn.weight!.data())).toEqual(new Array(c.x.shape[1]).fill(1));
      setWeights(gn, { weight: c.w!, bias: c.b! });
      await expectOut(gn.forward(mk(c.x)), c.out, 2e-5, 1e-4, 'module output');
      expect(new wt.nn.GroupNorm(2, 4, { affine: false }).parameters()).toEqual([]);
    });

    it('gradcheck against finite differences and the CPU', async () => {
      const x = wt.randn([2, 4, 3], { seed: 8 }), w = wt.randn([4], { seed: 9 }), b = wt.randn([4], { seed: 10 });
      await gradcheck((a, c, d) => wt.F.groupNorm(a, 2, c, d), [x, w, b]);
    });

    it('refuses bad arguments, naming them', () => {
      expect(() => wt.F.groupNorm(wt.randn([2, 6, 3]), 4)).toThrow(/groupNorm: input \[2,6,3\] has 6 channels, not divisible by numGroups 4/);
      expect(() => wt.F.groupNorm(wt.randn([2, 6, 3]), 3, wt.ones([3]))).toThrow(/weight must have shape \[6\]/);
      expect(() => new wt.nn.GroupNorm(4, 6)).toThrow(/GroupNorm: numChannels 6 must be divisible by numGroups 4/);
      expect(() => new wt.nn.GroupNorm(2, 6).forward(wt.randn([2, 4, 3]))).toThrow(/^GroupNorm\.forward: input must be \[N, 6, \*\]/);
    });
  });

  describe('TransformerDecoder', () => {
    for (const c of fixture.decoder) {
      it(`agrees with torch: ${c.name}`, async () => {
        const { batchFirst, normFirst, activation, numLayers, finalNorm } = c.config;
        const layer = () => new wt.nn.TransformerDecoderLayer(8, 2, { dimFeedforward: 12, dropout: 0, batchFirst, normFirst, activation });
        const model = numLayers === null ? layer() : new wt.nn.TransformerDecoder(layer, numLayers, finalNorm ? new wt.nn.LayerNorm(8) : null);
        expectSameParameters(model, c.params);
        setWeights(model, c.params);
        const tgt = mk(c.tgt, true), memory = mk(c.memory, true);
        const masks: wt.nn.TransformerDecoderForwardOptions = Object.fromEntries(Object.entries(c.masks).map(([k, v]) => [k, mk(v)]));
        if (c.name.startsWith('post-norm relu, batchFirst, causal tgt')) {
          // the causal flag in place of torch's explicit mask
          delete masks.tgtMask;
          masks.tgtIsCausal = true;
        }
        const y = model.forward(tgt, memory, masks);
        await expectOut(y, c.out, 1e-4, 1e-4, 'output');
        y.mul(mk(c.gout)).sum().backward();
        await expectGrad(tgt, c.gtgt, 1e-4, 1e-3, 'tgt gradient');
        await expectGrad(memory, c.gmemory, 1e-4, 1e-3, 'memory gradient');
        for (const [k, g] of Object.entries(c.grads)) await expectGrad(at(model, k), g, 2e-4, 1e-3, `${k} gradient`);
        model.dispose();
      });
    }

    it('nn.Transformer agrees with torch (encoder of 2, decoder of 1, final norms, padding and causal masks)', async () => {
      const c = fixture.transformer;
      const model = new wt.nn.Transformer({ dModel: 8, nhead: 2, numEncoderLayers: 2, numDecoderLayers: 1, dimFeedforward: 12, dropout: 0, batchFirst: true });
      expectSameParameters(model, c.params);
      setWeights(model, c.params);
      const src = mk(c.src, true), tgt = mk(c.tgt, true);
      const y = model.forward(src, tgt, { tgtIsCausal: true, srcKeyPaddingMask: mk(c.masks.srcKeyPaddingMask), memoryKeyPaddingMask: mk(c.masks.memoryKeyPaddingMask) });
      await expectOut(y, c.out, 1e-4, 1e-4, 'output');
      y.mul(mk(c.gout)).sum().backward();
      await expectGrad(src, c.gsrc, 1e-4, 1e-3, 'src gradient');
      await expectGrad(tgt, c.gtgt, 1e-4, 1e-3, 'tgt gradient');
      for (const [k, g] of Object.entries(c.grads)) await expectGrad(at(model, k), g, 2e-4, 1e-3, `${k} gradient`);
      model.dispose();
    });

    it('nn.Transformer: xavier-initialised weight matrices, custom stacks, shape errors', async () => {
      const model = new wt.nn.Transformer({ dModel: 8, nhead: 2, numEncoderLayers: 1, numDecoderLayers: 1, dimFeedforward: 16 });
      const w = model.stateDict()['decoder.layers.0.linear1.weight'];
      const bound = Math.sqrt(6 / (8 + 16));
      const vals = Array.from(await w.data());
      expect(Math.max(...vals.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...vals.map(Math.abs))).toBeGreaterThan(bound / 2);
      expect(() => model.forward(wt.randn([5, 2, 8]), wt.randn([4, 3, 8]))).toThrow(/^Transformer\.forward: src \[5,2,8\] and tgt \[4,3,8\] must have the same batch size/);
      expect(() => model.forward(wt.randn([5, 2, 8]), wt.randn([4, 2, 6]))).toThrow(/must have dModel 8 features last/);
      model.dispose();
      const enc = new wt.nn.TransformerEncoder(() => new wt.nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 8 }), 1);
      const custom = new wt.nn.Transformer({ dModel: 8, nhead: 2, numDecoderLayers: 1, dimFeedforward: 8, customEncoder: enc });
      expect(custom.encoder).toBe(enc);
      expect(custom.forward(wt.randn([5, 2, 8]), wt.randn([3, 2, 8])).shape).toEqual([3, 2, 8]);
      custom.dispose();
    });

    it('generateSquareSubsequentMask is torch\'s', async () => {
      const want = fixture.decoder[1].masks.tgtMask;
      const m = wt.nn.generateSquareSubsequentMask(5);
      expect(m.shape).toEqual(want.shape);
      expect(Array.from(await m.data())).toEqual(want.data.map(num));
    });

    it('a layer in training mode with dropout runs, and its sub-modules are named as PyTorch', () => {
      const l = new wt.nn.TransformerDecoderLayer(8, 2, { dimFeedforward: 16, batchFirst: true });
      const y = l.forward(wt.randn([2, 3, 8]), wt.randn([2, 4, 8]), { tgtIsCausal: true, memoryIsCausal: true });
      expect(y.shape).toEqual([2, 3, 8]);
      expect(l.namedChildren().map(([k]) => k)).toEqual(['self_attn', 'multihead_attn', 'linear1', 'dropout', 'linear2', 'norm1', 'norm2', 'norm3', 'dropout1', 'dropout2', 'dropout3']);
      l.dispose();
    });

    it('refuses bad arguments, naming them', () => {
      const l = new wt.nn.TransformerDecoderLayer(8, 2, { dimFeedforward: 16, batchFirst: true });
      const tgt = wt.randn([2, 3, 8]), mem = wt.randn([2, 4, 8]);
      expect(() => l.forward(tgt, wt.randn([3, 4, 8]))).toThrow(/TransformerDecoderLayer\.forward: tgt \[2,3,8\] and memory \[3,4,8\] must both be batched/);
      expect(() => l.forward(tgt, wt.randn([2, 4, 6]))).toThrow(/memory must be \[B, T, 8\]/);
      expect(() => l.forward(tgt, mem, { memoryKeyPaddingMask: wt.zeros([2, 3]).bool() })).toThrow(/memoryKeyPaddingMask must be \[2,4\]/);
      expect(() => l.forward(tgt, mem, { memoryMask: wt.zeros([3, 3]) })).toThrow(/memoryMask must be \[3,4\] or \[4,3,4\]/);
      expect(() => l.forward(tgt, mem, { tgtMask: wt.zeros([3, 4]) })).toThrow(/tgtMask must be \[3,3\]/);
      expect(() => l.forward(tgt, mem, { tgtMsk: null } as never)).toThrow(/unknown option 'tgtMsk' \(did you mean 'tgtMask'\?/);
      expect(() => new wt.nn.TransformerDecoderLayer(8, 3)).toThrow(/dModel 8 must be divisible by nhead 3/);
      expect(() => new wt.nn.TransformerDecoder([] as wt.nn.TransformerDecoderLayer[])).toThrow(/got no layers/);
      expect(() => new wt.nn.TransformerDecoder(() => new wt.nn.Linear(2, 2) as never, 2)).toThrow(/layer 0 must be a TransformerDecoderLayer/);
      l.dispose();
    });
  });

  describe('ModuleList and ModuleDict', () => {
    class Net extends wt.nn.Module {
      blocks = new wt.nn.ModuleList([new wt.nn.Linear(3, 4), new wt.nn.Linear(4, 4)]);
      heads = new wt.nn.ModuleDict({ cls: new wt.nn.Linear(4, 2), box: new wt.nn.Linear(4, 1, { bias: false }) });
      forward(x: wt.Tensor) {
        for (const b of this.blocks) x = b.forward(x).relu();
        return this.heads.values().map((h) => h.forward(x));
      }
    }

    it('register their modules as children: parameters, state dict keys, train/eval', async () => {
      const net = new Net();
      expect(Object.keys(net.stateDict())).toEqual(['blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'blocks.1.bias', 'heads.cls.weight', 'heads.cls.bias', 'heads.box.weight']);
      expect(net.parameters().length).toBe(7);
      net.eval();
      expect(net.blocks[1].training).toBe(false);
      expect(net.heads.get('box')!.training).toBe(false);
      const [cls, box] = net.forward(wt.randn([5, 3])) as wt.Tensor[];
      expect([cls.shape, box.shape]).toEqual([[5, 2], [5, 1]]);
      // a save / load round trip through the state dict
      const other = new Net();
      other.loadStateDict(net.stateDict());
      expect(Array.from(await other.heads.get('cls')!.weight.data())).toEqual(Array.from(await net.heads.get('cls')!.weight.data()));
      expect(String(net.blocks)).toContain('(1): Linear(inFeatures=4');
      net.dispose();
      other.dispose();
    });

    it('nest: lists of dicts and lists, named by index and key', () => {
      const m = new wt.nn.ModuleList<wt.nn.Module>([
        new wt.nn.ModuleDict({ q: new wt.nn.Linear(2, 2, { bias: false }) }),
        new wt.nn.ModuleList([new wt.nn.ModuleList([new wt.nn.Linear(2, 1)])]),
      ]);
      expect(Object.keys(m.stateDict())).toEqual(['0.q.weight', '1.0.0.weight', '1.0.0.bias']);
      expect(m.namedModules().map(([k]) => k)).toEqual(['', '0', '0.q', '1', '1.0', '1.0.0']);
      m.dispose();
    });

    it('ModuleList: index, iterate, append, extend, insert, pop, slice', () => {
      const [a, b, c, d] = [1, 2, 3, 4].map((n) => new wt.nn.Linear(n, 1));
      const list = new wt.nn.ModuleList([a, b]);
      expect(list.length).toBe(2);
      expect(list[0]).toBe(a);
      expect(list.at(-1)).toBe(b);
      expect(list.at(2)).toBeUndefined();
      list.append(c).extend([d]);
      expect([...list]).toEqual([a, b, c, d]);
      list.insert(1, d);
      expect([...list]).toEqual([a, d, b, c, d]);
      expect(list.pop(1)).toBe(d);
      expect(list.pop()).toBe(d);
      expect([...list]).toEqual([a, b, c]);
      expect(list.length).toBe(3);
      expect(list[3]).toBeUndefined();
      list.set(-1, d);
      expect(list.namedChildren()).toEqual([['0', a], ['1', b], ['2', d]]);
      expect([...list.slice(1)]).toEqual([b, d]);
      expect(list.parameters().length).toBe(6);
      expect(() => list.append(new wt.nn.ModuleList() as never).append({} as never)).toThrow(/ModuleList\.append: module must be a Module/);
      expect(() => list.pop(7)).toThrow(/ModuleList\.pop: index 7 is out of range for a ModuleList of length 4/);
      expect(() => new wt.nn.ModuleList([a, 3 as never])).toThrow(/ModuleList: module 1 must be a Module, got 3/);
      expect(() => list.forward()).toThrow(/ModuleList\.forward: a ModuleList is a container/);
    });

    it('ModuleDict: get, set, has, delete, keys in insertion order, iteration over keys', () => {
      const [a, b, c] = [1, 2, 3].map((n) => new wt.nn.Linear(n, 1));
      const dict = new wt.nn.ModuleDict<wt.nn.Linear>([['z', a], ['10', b]]);
      dict.set('a', c);
      expect(dict.keys()).toEqual(['z', '10', 'a']);
      expect([...dict]).toEqual(['z', '10', 'a']);
      expect(dict.namedChildren().map(([k]) => k)).toEqual(['z', '10', 'a']);
      expect(Object.keys(dict.stateDict())).toEqual(['z.weight', 'z.bias', '10.weight', '10.bias', 'a.weight', 'a.bias']);
      expect(dict.get('10')).toBe(b);
      expect((dict as unknown as Record<string, unknown>).z).toBe(a);
      expect(dict.has('q')).toBe(false);
      expect(dict.size).toBe(3);
      dict.set('z', c);
      expect(dict.entries()).toEqual([['z', c], ['10', b], ['a', c]]);
      expect(dict.parameters().length).toBe(4); // c once, b
      expect(dict.pop('10')).toBe(b);
      expect(dict.delete('10')).toBe(false);
      expect(dict.values()).toEqual([c, c]);
      dict.update({ q: a });
      expect(dict.keys()).toEqual(['z', 'a', 'q']);
      dict.clear();
      expect(dict.size).toBe(0);
      expect(() => dict.set('train', a)).toThrow(/ModuleDict\.set: key 'train' names a member of ModuleDict/);
      expect(() => dict.set('a.b', a)).toThrow(/key must be a non-empty string without '\.'/);
      expect(() => dict.update({ x: a, y: 'no' as never })).toThrow(/ModuleDict\.update: module 'y' must be a Module/);
      expect(dict.size).toBe(0); // checked before any was added
      expect(() => dict.pop('x')).toThrow(/ModuleDict\.pop: no module under key "x" \(keys: none\)/);
    });
  });

  /** A model through every new layer: Conv1d (reflect), GroupNorm, Upsample, TransformerDecoder, ModuleList. */
  const model = () => new (class extends wt.nn.Module {
    conv = new wt.nn.Conv1d(4, 4, 3, { padding: 1, paddingMode: 'reflect' });
    gn = new wt.nn.GroupNorm(2, 4);
    up = new wt.nn.Upsample({ scaleFactor: 1.5, mode: 'linear' });
    dec = new wt.nn.TransformerDecoder(() => new wt.nn.TransformerDecoderLayer(4, 2, { dimFeedforward: 6, batchFirst: true, dropout: 0 }), 2);
    blocks = new wt.nn.ModuleList([new wt.nn.Linear(4, 4)]);
    forward(x: wt.Tensor, mem: wt.Tensor) {
      const h = this.up.forward(this.gn.forward(this.conv.forward(x))).transpose(1, 2); // [B, L', 4]
      return this.blocks[0].forward(this.dec.forward(h, mem, { tgtIsCausal: true }));
    }
  })();

  it('a training step through every new layer leaves no tensor behind', async () => {
    const net = model();
    const opt = new wt.optim.Adam(net.parameters(), { lr: 1e-3 });
    const x = wt.randn([2, 4, 6], { seed: 1 }), mem = wt.randn([2, 3, 4], { seed: 2 });
    const step = async () => {
      const loss = wt.tidy(() => {
        const l = (net.forward(x, mem) as wt.Tensor).square().mean();
        l.backward();
        return l;
      });
      opt.step();
      net.zeroGrad();
      await loss.item();
      loss.dispose();
    };
    await step(); // optimizer state made
    const before = wt.memory().tensors;
    await step();
    await step();
    expect(wt.memory().tensors).toBe(before);
    opt.dispose();
    net.dispose();
    wt.dispose([x, mem]);
  });

  it('a compiled training step through them matches the eager one', async () => {
    const nets = [0, 1].map(() => {
      wt.manualSeed(7);
      const net = model();
      return { net, opt: new wt.optim.SGD(net.parameters(), { lr: 0.1 }) };
    });
    const x = wt.randn([2, 4, 6], { seed: 1 }), mem = wt.randn([2, 3, 4], { seed: 2 });
    const stepOf = ({ net, opt }: (typeof nets)[number]) => (a: wt.Tensor, b: wt.Tensor) => {
      opt.zeroGrad();
      const l = (net.forward(a, b) as wt.Tensor).square().mean();
      l.backward();
      opt.step();
      return l;
    };
    const eager = stepOf(nets[0]), compiled = wt.compile(stepOf(nets[1]));
    for (let i = 0; i < 4; i++) {
      const [a, b] = [wt.tidy(() => eager(x, mem)), wt.tidy(() => compiled(x, mem))];
      expect(await b.item()).toBeCloseTo(await a.item(), 5);
      wt.dispose([a, b]);
    }
    expect(compiled.reason).toBeNull();
    expect(compiled.stats.replayed).toBeGreaterThan(0);
    compiled.dispose();
    for (const { net, opt } of nets) { opt.dispose(); net.dispose(); }
    wt.dispose([x, mem]);
  });

  it(`runs on ${kind}`, () => {
    expect(wt.getBackend().name).toBe(kind);
  });
});
