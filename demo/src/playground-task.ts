/**
 * The playground's training side (demo/src/playground.ts) as a `webtensor/worker` task: the
 * dataset, the MLP and its optimizer; one "step" of the host's loop is one frame of the page —
 * `stepsPerFrame` full-batch steps, then one read of the loss, the accuracy and the model's
 * probabilities on the G×G grid of the plane (the decision boundary the page paints).
 * Calls: set({ lr }), optimizer(name), reset(config), observe().
 */
import * as wt from '../../src/index.js';
import type { TaskFactory, TrainingTask } from '../../src/worker/index.js';
import { makeOptimizer, rng, setLr } from './training.js';
import { mlp2d, type Activation } from './models.js';

/** The plane shown: [-EXTENT, EXTENT]² */
export const EXTENT = 1.2;
/** boundary grid resolution (G×G points per redraw) */
export const G = 48;
export const N = 300;

export interface Points {
  xy: Float32Array; // (N, 2)
  label: Float32Array; // (N,) 0 or 1
}

export interface PlaygroundConfig { data: string; noise: number; arch: string; act: string; opt: string; lr: number; stepsPerFrame: number }

/** A frame: the loss and accuracy after `step` steps and the probabilities on the grid (G·G, row by row from the top). */
export interface PlaygroundFrame { step: number; loss: number; acc: number; probs: Float32Array }

/** A seeded dataset of N points in about [-1, 1]² with labels 0/1. */
export function makeData(kind: string, noise: number, seed = 3): Points {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const xy = new Float32Array(2 * N), label = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    let x: number, y: number, c: number;
    if (kind === 'linear') {
      c = i % 2;
      [x, y] = c ? [0.45, 0.35] : [-0.45, -0.35];
      x += 0.22 * gauss();
      y += 0.22 * gauss();
    } else if (kind === 'circles') {
      c = i % 2;
      const rad = c ? 0.45 * Math.sqrt(r()) : 0.7 + 0.25 * r(), a = 2 * Math.PI * r();
      [x, y] = [rad * Math.cos(a), rad * Math.sin(a)];
    } else if (kind === 'spirals') {
      c = i % 2;
      const t = (Math.floor(i / 2) / (N / 2)) * 3 * Math.PI + 0.6, rad = (t / (3 * Math.PI + 0.6)) * 0.95;
      [x, y] = [rad * Math.cos(t + c * Math.PI), rad * Math.sin(t + c * Math.PI)];
    } else {
      // XOR: one blob per quadrant; the label is 1 where the signs differ
      const q = i % 4, sx = q & 1 ? 1 : -1, sy = q & 2 ? 1 : -1;
      [x, y] = [sx * 0.5 + 0.17 * gauss(), sy * 0.5 + 0.17 * gauss()];
      c = sx !== sy ? 1 : 0;
    }
    xy[2 * i] = x + noise * gauss();
    xy[2 * i + 1] = y + noise * gauss();
    label[i] = c;
  }
  return { xy, label };
}

export const playgroundTask: TaskFactory = async (config): Promise<TrainingTask> => {
  let c = { ...(config as PlaygroundConfig) };
  // the grid of plane points the boundary is evaluated on, row by row from the top
  const grid = new Float32Array(2 * G * G);
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
    grid[2 * (i * G + j)] = -EXTENT + ((j + 0.5) / G) * 2 * EXTENT;
    grid[2 * (i * G + j) + 1] = EXTENT - ((i + 0.5) / G) * 2 * EXTENT;
  }
  const gridT = wt.keep(wt.tensor(grid, { shape: [G * G, 2] }));

  let x!: wt.Tensor, y!: wt.Tensor, model!: wt.nn.Sequential, opt!: wt.optim.Optimizer;
  let step = 0;
  const build = () => {
    const points = makeData(c.data, c.noise);
    x = wt.keep(wt.tensor(points.xy, { shape: [N, 2] }));
    y = wt.keep(wt.tensor(points.label, { shape: [N, 1] }));
    const hidden = c.arch ? c.arch.split(',').map(Number) : [];
    model = mlp2d(hidden, c.act as Activation);
    opt = makeOptimizer(c.opt, model.parameters(), c.lr);
  };
  build();

  /** One read: the loss, the accuracy and the probabilities on the grid. */
  const observe = async (): Promise<PlaygroundFrame> => {
    const out = wt.noGrad(() => wt.tidy(() => {
      const logits = model.forward(x);
      const loss = wt.F.bceWithLogits(logits, y);
      const acc = logits.gt(0).float().eq(y).float().mean();
      return wt.cat([loss.reshape(1), acc.reshape(1), model.forward(gridT).sigmoid().reshape(-1)]);
    }));
    const v = await out.data();
    out.dispose();
    return { step, loss: v[0], acc: v[1], probs: Float32Array.from(v.subarray(2)) };
  };

  return {
    get step() {
      return step;
    },
    info: () => ({ parameters: model.numParameters() }),
    async trainStep() {
      for (let k = 0; k < c.stepsPerFrame; k++) {
        wt.tidy(() => {
          opt.zeroGrad();
          wt.F.bceWithLogits(model.forward(x), y).backward();
          opt.step();
        });
        step++;
      }
      return observe();
    },
    calls: {
      set(s: { lr?: number }) {
        if (s.lr !== undefined) setLr(opt, s.lr);
        Object.assign(c, s);
      },
      optimizer(name: string) {
        c.opt = name;
        opt.dispose();
        opt = makeOptimizer(c.opt, model.parameters(), c.lr);
      },
      /** new data and a new model from `cfg` */
      reset(cfg: PlaygroundConfig) {
        c = { ...cfg };
        model.dispose();
        opt.dispose();
        wt.dispose([x, y]);
        build();
        step = 0;
        return { parameters: model.numParameters() };
      },
      observe,
    },
    dispose() {
      model.dispose();
      opt.dispose();
      wt.dispose([x, y, gridT]);
    },
  };
};
