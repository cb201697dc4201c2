import { defineConfig } from 'vitest/config';
import { readFileSync } from 'node:fs';
import { relaxedSimdSupported } from './src/backend/cpu/wasm/gemm.js';

/**
 * Node 22+ has WebAssembly relaxed SIMD; Node 20 needs --experimental-wasm-relaxed-simd. With it
 * the CPU GEMM runs its multiply-add kernel, what Chrome 114+ runs; the mul + add kernel is
 * tested too, through setWasmGemm(true, { fma: false }) (test/cpu-wasm-gemm.test.ts).
 */
const relaxedSimd = relaxedSimdSupported();

export default defineConfig({
  plugins: [
    {
      // shaders/*.wgsl are imported as text, as esbuild's `text` loader does in the build
      name: 'wgsl-text',
      enforce: 'pre',
      load(id) {
        if (id.endsWith('.wgsl')) return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
        return null;
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    execArgv: relaxedSimd ? [] : ['--experimental-wasm-relaxed-simd'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: {
      VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json',
      // Dawn's Vulkan loader complains on every start without one
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
    },
  },
});
