/**
 * Debian's headless Chromium with WebGPU, through puppeteer-core (the browser tests use it too).
 * Vulkan goes to SwiftShader unless VK_ICD_FILENAMES says otherwise, so it runs on machines
 * without a GPU; `extraArgs` add flags (the benchmark adds --enable-webgpu-developer-features,
 * which lifts Chrome's 100 µs rounding of timestamp queries for wt.profile).
 */
import puppeteer, { type Browser } from 'puppeteer-core';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface LaunchOptions {
  /** more command-line flags */
  extraArgs?: string[];
  /** the system's Vulkan driver instead of SwiftShader */
  native?: boolean;
}

/** Launches Chromium; `opts` may also be a plain list of extra flags. */
export async function launchChromium(opts: LaunchOptions | string[] = {}): Promise<Browser> {
  if (Array.isArray(opts)) opts = { extraArgs: opts };
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run test/setup.sh (installs Debian's chromium)`);
  const env = { ...process.env };
  if (!opts.native) env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: mkdtempSync(join(tmpdir(), 'wt-chromium-')),
    env,
    // a whole benchmark section runs inside one page.evaluate
    protocolTimeout: 60 * 60 * 1000,
    args: [
      '--enable-unsafe-webgpu', ...(opts.native ? [] : ['--use-webgpu-adapter=swiftshader']), '--enable-features=Vulkan',
      '--disable-background-networking', '--disable-component-update', '--no-sandbox',
      '--no-first-run', '--disable-sync', '--disable-dev-shm-usage', ...(opts.extraArgs ?? []),
    ],
  });
}
