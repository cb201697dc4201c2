/**
 * `npm start`: builds the demo pages and serves them on 127.0.0.1, printing the address.
 *
 * Options: --port N (default 8080; another free port when it is taken), --watch (rebuild on
 * changes), --open-check (build, fetch every page once and exit: a smoke test without a browser).
 */
import { parseArgs } from 'node:util';
import { PAGES, buildDemo, repoRoot, serveDemo } from './server.js';

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { port: { type: 'string', default: '8080' }, watch: { type: 'boolean', default: false }, 'open-check': { type: 'boolean', default: false } } });
  const root = repoRoot();
  const t0 = performance.now();
  await buildDemo({ root, watch: args.watch });
  console.log(`built demo/dist in ${((performance.now() - t0) / 1000).toFixed(1)} s${args.watch ? ' (watching for changes)' : ''}`);
  let served;
  try {
    served = await serveDemo(Number(args.port), root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    served = await serveDemo(0, root);
    console.log(`port ${args.port} is taken; using another`);
  }
  const { url, server } = served;
  if (args['open-check']) {
    for (const p of ['', ...PAGES.map((x) => `${x}.html`), 'data/mnist/t10k-labels-idx1-ubyte', 'data/tinyshakespeare.txt']) {
      const res = await fetch(`${url}/${p}`);
      console.log(`${res.status} /${p}`);
      if (!res.ok) process.exitCode = 1;
    }
    server.close();
    return;
  }
  console.log(`\n  webtensor demo: ${url}/\n`);
  for (const p of PAGES) console.log(`    ${url}/${p}.html`);
  console.log('\n  Open it in a browser with WebGPU (Chrome, Edge, Safari); Ctrl+C stops the server.');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
