/** Launches Debian's headless Chromium with WebGPU on SwiftShader (shared with the benchmark). */
export { CHROMIUM, launchChromium } from '../../bench/lib/chromium.js';
