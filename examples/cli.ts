/**
 * The webtensor CLI.
 *   npx webtensor train <example> [--epochs N] [--backend auto|webgpu|cpu] [--quick] [--small] [--mixed-precision] [--steps N] [--data-dir DIR] [--out-dir DIR]
 *   npx webtensor info
 *   npx webtensor list
 */
import * as wt from '../src/index.js';
import { parseArgs } from './common.js';
import { EXAMPLES } from './index.js';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'info') {
    const o = parseArgs(rest);
    await wt.init({ backend: o.backend ?? 'auto' });
    console.log(JSON.stringify(wt.backendInfo(), null, 2));
    return 0;
  }
  if (cmd === 'list') {
    for (const e of Object.values(EXAMPLES)) console.log(`${e.name.padEnd(14)} ${e.description}`);
    return 0;
  }
  if (cmd === 'train') {
    const name = rest[0];
    const ex = EXAMPLES[name];
    if (!ex) {
      console.error(`webtensor: unknown example ${JSON.stringify(name)}; one of: ${Object.keys(EXAMPLES).join(', ')}`);
      return 2;
    }
    const r = await ex.run(parseArgs(rest.slice(1)));
    console.log(`\n${r.name} on ${r.backend} (${r.device}) in ${r.seconds.toFixed(1)} s`);
    for (const [k, v] of Object.entries(r.metrics)) console.log(`  ${k}: ${Number.isInteger(v) ? v : v.toFixed(4)}`);
    if (r.sample) console.log(`\nsample:\n${r.sample}`);
    if (r.files?.length) console.log(`\nwrote:\n${r.files.map((f) => `  ${f}`).join('\n')}`);
    return 0;
  }
  console.log('usage: webtensor train <example> [--epochs N] [--backend auto|webgpu|cpu] [--quick] [--small] [--mixed-precision] [--steps N] [--data-dir DIR] [--out-dir DIR]\n       webtensor info [--backend B]\n       webtensor list');
  return cmd ? 2 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
