/**
 * Message-port plumbing shared by both sides (no library core: the page's side stays small).
 */
import { ArgumentError } from '../errors.js';
import type { Endpoint } from './protocol.js';

/** A short description of a value for error messages (validate.ts's describeValue without the Tensor case). */
export function describe(v: unknown): string {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `${v}n (a BigInt)`;
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'function') return 'a function';
  let name: unknown;
  try {
    name = (v as object).constructor?.name;
  } catch {
    name = undefined;
  }
  return typeof name === 'string' && name && name !== 'Object' ? `a ${name}` : 'an object';
}

/** Listens on an endpoint (addEventListener's event.data or Node's on('message', data)); returns the unsubscriber. */
export function listen(op: string, port: Endpoint, fn: (data: unknown) => void): () => void {
  if (port === null || typeof port !== 'object' && typeof port !== 'function' || typeof port.postMessage !== 'function') {
    throw new ArgumentError(`${op}: expected a Worker, a MessagePort or Node's worker_threads port (something with postMessage), got ${describe(port)}`);
  }
  if (typeof port.addEventListener === 'function') {
    const l = (ev: { data: unknown }) => fn(ev.data);
    port.addEventListener('message', l);
    port.start?.();
    return () => port.removeEventListener?.('message', l);
  }
  if (typeof port.on === 'function') {
    port.on('message', fn);
    return () => port.off?.('message', fn);
  }
  throw new ArgumentError(`${op}: the port has postMessage but neither addEventListener nor on('message')`);
}
