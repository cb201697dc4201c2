/**
 * webtensor as the compute backend of a page that renders with the same GPUDevice.
 *
 * The page owns the device, a canvas and a small uniform-like storage buffer of parameters.
 * Each frame:
 *   1. the host writes the time into its parameter buffer (queue.writeBuffer);
 *   2. webtensor reads that buffer as a tensor (wt.fromGPUBuffer, no copy) and evaluates a
 *      random-weight MLP on every pixel's (x, y, r, t): a CPPN whose output is an RGB image
 *      tensor of shape [H, W, 3];
 *   3. img.gpuBuffer() submits webtensor's queued work and hands out the GPUBuffer holding the
 *      image, which a render pass reads directly: the pixels never visit the CPU.
 *
 * Ownership: the image tensor of a frame is disposed once the render pass that reads it has been
 * submitted; WebGPU runs submitted commands in order, so reusing its buffer for the next frame's
 * tensors is safe.
 */
import * as wt from 'webtensor';

const W = 160, H = 120;

const SHADER = /* wgsl */ `
struct Dims { w: u32, h: u32, offset: u32, pad: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> img: array<f32>;   // webtensor's tensor, [H, W, 3]

@vertex fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4f {
  // one triangle covering the viewport
  let p = vec2f(f32((i << 1u) & 2u), f32(i & 2u));
  return vec4f(p * 2.0 - 1.0, 0.0, 1.0);
}

@fragment fn fs(@builtin(position) pos: vec4f) -> @location(0) vec4f {
  let x = min(u32(pos.x), dims.w - 1u);
  let y = min(u32(pos.y), dims.h - 1u);
  let k = dims.offset + (y * dims.w + x) * 3u;
  return vec4f(img[k], img[k + 1u], img[k + 2u], 1.0);
}`;

/**
 * Builds the compute side: the pixel grid and the MLP's weights are created once (kept across
 * frames); `frame()` returns a new [H, W, 3] image tensor the caller disposes.
 */
function makeCppn(params) {
  const { xs, ys, weights } = wt.tidy(() => {
    const x = wt.linspace(-1.5, 1.5, W).reshape(1, W, 1).expand(H, W, 1);
    const y = wt.linspace(-1.1, 1.1, H).reshape(H, 1, 1).expand(H, W, 1);
    const w = [[4, 24], [24, 24], [24, 3]].map(([i, o], k) => wt.randn([i, o], { seed: 11 + k }).mul(k === 0 ? 1.6 : 1.3));
    return { xs: x.contiguous(), ys: y.contiguous(), weights: w };
  });
  const frame = () => wt.tidy(() => {
    const t = params.slice(0, 0, 1).reshape(1, 1, 1).expand(H, W, 1); // the host's time value
    const r = xs.square().add(ys.square()).sqrt();
    let h = wt.cat([xs, ys, r, t.sin()], 2); // [H, W, 4]
    h = h.matmul(weights[0]).tanh();
    h = h.matmul(weights[1]).tanh();
    return h.matmul(weights[2]).sigmoid(); // [H, W, 3] in (0, 1)
  });
  const dispose = () => wt.dispose([xs, ys, weights]);
  return { frame, dispose };
}

/**
 * Runs the example on `canvas` for `frames` frames (forever when undefined). Resolves with a
 * summary; with `verify`, the last image tensor is also read back and returned (a test uses it
 * to check the canvas; the demo itself never reads back).
 */
export async function runEmbed(canvas, { frames, verify = false } = {}) {
  if (!navigator.gpu) throw new Error('WebGPU is not available in this browser');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice();

  // the host's device is shared: webtensor never destroys it
  await wt.init({ device });

  const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  const paramTensor = wt.fromGPUBuffer(params, [4]);
  const cppn = makeCppn(paramTensor);

  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('webgpu');
  const format = navigator.gpu.getPreferredCanvasFormat();
  ctx.configure({ device, format, alphaMode: 'opaque' });
  const module = device.createShaderModule({ code: SHADER });
  const pipeline = device.createRenderPipeline({
    layout: 'auto',
    vertex: { module, entryPoint: 'vs' },
    fragment: { module, entryPoint: 'fs', targets: [{ format }] },
  });
  const dims = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });

  let drawn = 0, last = null, verified = null;
  const draw = (time) => {
    device.queue.writeBuffer(params, 0, new Float32Array([time, 0, 0, 0]));
    const img = cppn.frame();
    const { buffer, offset } = img.gpuBuffer(); // submits webtensor's work first
    device.queue.writeBuffer(dims, 0, new Uint32Array([W, H, offset, 0]));
    const group = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: dims } }, { binding: 1, resource: { buffer } }],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginRenderPass({ colorAttachments: [{ view: ctx.getCurrentTexture().createView(), loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 0, 1] }] });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.draw(3);
    pass.end();
    device.queue.submit([enc.finish()]);
    last?.dispose(); // the previous frame's render pass is submitted: its buffer may be reused
    last = img;
    drawn++;
  };

  await new Promise((resolve) => {
    const tick = (ms) => {
      draw(ms / 1000);
      if (frames !== undefined && drawn >= frames) resolve();
      else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await device.queue.onSubmittedWorkDone();
  if (verify) verified = Array.from(await last.data());
  const memory = wt.memory();
  return { frames: drawn, width: W, height: H, backend: wt.backendInfo().name, hostDevice: wt.backendInfo().hostDevice, image: verified, memory, format };
}
