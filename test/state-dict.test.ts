/**
 * State-dict keys are a file format (issue 21, section 1): a PyTorch model's state_dict(), saved
 * as safetensors, loads into the same webtensor model with strict loadStateDict, and webtensor's
 * stateDict() has exactly PyTorch's keys, so it loads into PyTorch with strict=True.
 *
 * test/fixtures/torch_state_dict.py builds each case in PyTorch 1.13 (random parameters, BatchNorm
 * statistics and num_batches_tracked moved by training-mode batches) and writes its state dict
 * (test/fixtures/state-dict/<case>.safetensors, num_batches_tracked as I64) and, in
 * torch-state-dict.json, torch's key list, the inputs and the eval-mode outputs. Here each case is
 * built again in webtensor, on every backend: same keys, shapes and dtypes (int64 stored as int32)
 * in the same order; strict load of torch's file; the same outputs.
 *
 * With WT_STATE_DICT_OUT=<folder>, the CPU run also writes webtensor's own checkpoints (webtensor's
 * initialisation, BatchNorm after training-mode batches) and their outputs on the fixture inputs
 * there, for `python3 test/fixtures/torch_state_dict.py --check <folder>` to load into PyTorch with
 * strict=True and compare.
 */
import { afterAll, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as wt from '../src/index.js';
import { forEachBackend } from './backends.js';
import { expectClose } from './helpers.js';

const { nn } = wt;

interface TensorJson { shape: number[]; dtype: string; data: number[] }
interface CaseJson { name: string; keys: [string, number[], string][]; inputs: TensorJson[]; outputs: TensorJson[] }
const fixture = JSON.parse(readFileSync(new URL('./fixtures/torch-state-dict.json', import.meta.url), 'utf8')) as { torch: string; cases: CaseJson[] };
const fixtureFile = (name: string) => fileURLToPath(new URL(`./fixtures/state-dict/${name}.safetensors`, import.meta.url));

/** A user's model, as the script's Net: the camelCase properties are its snake_case keys. */
class Net extends nn.Module {
  convBlock = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.BatchNorm2d(2), new nn.ReLU());
  outProj = new nn.Linear(8, 3);
  forward(x: wt.Tensor): wt.Tensor {
    return this.outProj.forward(this.convBlock.forward(x).flatten(1));
  }
}

type Outputs = (wt.Tensor | null)[];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyModule = any;
/** webtensor's spelling of each case of the script: the model and how it runs on the inputs. */
const CASES: Record<string, { make: () => wt.nn.Module; run: (m: AnyModule, ...xs: wt.Tensor[]) => Outputs }> = {
  sequential_mlp: { make: () => new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 3)), run: (m, x) => [m.forward(x)] },
  conv_batchnorm: { make: () => new nn.Sequential(new nn.Conv2d(2, 3, 3, { padding: 1 }), new nn.BatchNorm2d(3), new nn.ReLU()), run: (m, x) => [m.forward(x)] },
  batchnorm1d: { make: () => new nn.BatchNorm1d(5, { momentum: 0.3 }), run: (m, x) => [m.forward(x)] },
  custom_net: { make: () => new Net(), run: (m, x) => [m.forward(x)] },
  rnn: { make: () => new nn.RNN(3, 4, { numLayers: 2, bidirectional: true }), run: (m, x) => m.forward(x) },
  lstm: { make: () => new nn.LSTM(3, 4, { numLayers: 2, bidirectional: true }), run: (m, x) => { const [y, [h, c]] = m.forward(x); return [y, h, c]; } },
  gru: { make: () => new nn.GRU(3, 4, { numLayers: 2, bidirectional: true }), run: (m, x) => m.forward(x) },
  rnn_cell: { make: () => new nn.RNNCell(3, 4), run: (m, x, h) => [m.forward(x, h)] },
  lstm_cell: { make: () => new nn.LSTMCell(3, 4), run: (m, x, h, c) => m.forward(x, [h, c]) },
  gru_cell: { make: () => new nn.GRUCell(3, 4), run: (m, x, h) => [m.forward(x, h)] },
  multihead_attention: { make: () => new nn.MultiheadAttention(8, 2), run: (m, x) => m.forward(x, x, x) },
  multihead_attention_kdim_vdim: { make: () => new nn.MultiheadAttention(8, 2, { kdim: 3, vdim: 5 }), run: (m, q, k, v) => m.forward(q, k, v) },
  transformer_encoder_layer: { make: () => new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0 }), run: (m, x) => [m.forward(x)] },
  transformer_encoder: {
    make: () => new nn.TransformerEncoder(() => new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0, activation: 'gelu' }), 2, new nn.LayerNorm(8)),
    run: (m, x) => [m.forward(x)],
  },
  layer_norm: { make: () => new nn.LayerNorm(5), run: (m, x) => [m.forward(x)] },
  embedding: { make: () => new nn.Embedding(10, 4), run: (m, i) => [m.forward(i)] },
};

/** int64 is stored as int32 here (the values fit; loading refuses those that do not). */
const ourDType = (torchDType: string) => (torchDType === 'int64' ? 'int32' : torchDType);
const inputsOf = (c: CaseJson) => c.inputs.map((x) => wt.tensor(x.data, { shape: x.shape, dtype: ourDType(x.dtype) as wt.DType }));
const usesBatchNorm = (m: wt.nn.Module) => m.namedModules().some(([, s]) => s instanceof nn.BatchNorm1d || s instanceof nn.BatchNorm2d);

const outDir = typeof process !== 'undefined' ? process.env.WT_STATE_DICT_OUT : undefined;
const written: Record<string, { shape: number[]; data: number[] }[]> = {};

it('the fixture covers every case here, and only those', () => {
  expect(fixture.cases.map((c) => c.name).sort()).toEqual(Object.keys(CASES).sort());
});

forEachBackend((kind) => {
  for (const c of fixture.cases) {
    it(`${c.name}: torch's keys exactly; torch's checkpoint loads strictly and gives torch's outputs`, async () => {
      const spec = CASES[c.name];
      const model = spec.make();
      // the key list PyTorch's strict load_state_dict wants: names, order, shapes, dtypes
      expect(Object.entries(model.stateDict()).map(([k, t]) => [k, [...t.shape], t.dtype])).toEqual(c.keys.map(([k, s, d]) => [k, s, ourDType(d)]));
      const sd = await wt.load(fixtureFile(c.name));
      for (const [k, , d] of c.keys) if (k.endsWith('num_batches_tracked')) {
        expect(d).toBe('int64');
        expect(sd[k].dtype).toBe('int32');
        expect(await sd[k].item()).toBe(3); // the script's three training-mode batches
      }
      expect(model.loadStateDict(sd)).toEqual({ missing: [], unexpected: [] });
      wt.dispose(sd);
      model.eval();
      const xs = inputsOf(c);
      const ys = wt.noGrad(() => spec.run(model, ...xs));
      expect(ys.length).toBe(c.outputs.length);
      for (const [i, y] of ys.entries()) {
        expect(y!.shape, `output ${i}`).toEqual(c.outputs[i].shape);
        expectClose(await y!.data(), c.outputs[i].data, 1e-4, 1e-4, `${c.name} output ${i}`);
      }
      for (const [k, t] of Object.entries(model.stateDict())) {
        if (k.endsWith('num_batches_tracked')) expect(await t.item()).toBe(3);
      }
      model.dispose();
      wt.dispose([...xs, ...ys]);
    });
  }

  // webtensor's own checkpoints for the script's --check (PyTorch's strict load), from one backend
  if (outDir && kind === 'cpu') {
    it('writes webtensor checkpoints and outputs for torch_state_dict.py --check', async () => {
      mkdirSync(outDir, { recursive: true });
      for (const c of fixture.cases) {
        const spec = CASES[c.name];
        const model = spec.make();
        const xs = inputsOf(c);
        if (usesBatchNorm(model)) {
          // non-trivial running statistics and num_batches_tracked 2
          for (let s = 0; s < 2; s++) wt.noGrad(() => model.forward(wt.randn(xs[0].shape, { seed: 7 + s }).mul(2).add(0.5)));
        }
        model.eval();
        const ys = wt.noGrad(() => spec.run(model, ...xs));
        written[c.name] = await Promise.all(ys.map(async (y) => ({ shape: [...y!.shape], data: Array.from(await y!.data()) })));
        await wt.save(model.stateDict(), join(outDir, `${c.name}.safetensors`));
        model.dispose();
      }
    });
    afterAll(() => {
      if (Object.keys(written).length) writeFileSync(join(outDir, 'outputs.json'), JSON.stringify(written));
    });
  }
});
