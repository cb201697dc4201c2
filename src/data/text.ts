/**
 * Character-level text: a tokenizer whose vocabulary is the set of characters of a text, and a
 * dataset of (x, y) windows for next-character prediction (char-RNN / nanoGPT style).
 *
 * @example
 * const text = readFileSync('examples/data/tinyshakespeare.txt', 'utf8');
 * const tok = new wt.data.CharTokenizer(text);              // 65 characters
 * const ds = new wt.data.CharDataset(text, 64, tok);         // x, y: int32 [64], y = x shifted by one
 * const loader = new wt.data.DataLoader(ds, { batchSize: 32, shuffle: true, seed: 0 });
 */
import { ArgumentError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import { checkBatch, checkIndex, Dataset } from './dataset.js';
import { describeValue } from '../validate.js';

/**
 * Maps each distinct character (Unicode code point) of a text to an id, in code-point order.
 * @example const tok = new CharTokenizer('hello'); tok.encode('hole'); tok.decode([3, 1]) // 'oh'
 * const same = new CharTokenizer(JSON.parse(JSON.stringify(tok)));
 */
export class CharTokenizer {
  /** id → character */
  readonly chars: readonly string[];
  private readonly ids: Map<string, number>;

  /**
   * Builds the vocabulary from the characters of `text`, or takes a saved one
   * (`{ chars }`, as `toJSON()` returns).
   */
  constructor(source: string | { chars: readonly string[] }) {
    if (typeof source === 'string') {
      // sorted by code point (not localeCompare), so a vocabulary is the same on every machine
      this.chars = [...new Set(Array.from(source))].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    } else if (source && Array.isArray(source.chars)) {
      const cs = source.chars;
      if (new Set(cs).size !== cs.length || cs.some((c) => typeof c !== 'string' || Array.from(c).length !== 1)) {
        throw new ArgumentError('CharTokenizer: `chars` must be distinct single characters');
      }
      this.chars = [...cs];
    } else {
      throw new ArgumentError(`CharTokenizer: expected a text or { chars }, got ${describeValue(source)}`);
    }
    this.ids = new Map(this.chars.map((c, i) => [c, i]));
  }

  get vocabSize(): number {
    return this.chars.length;
  }

  /** Ids of the characters of `text`; a character outside the vocabulary throws. */
  encode(text: string): Int32Array {
    if (typeof text !== 'string') throw new ArgumentError(`CharTokenizer.encode: text must be a string, got ${describeValue(text)}`);
    const cs = Array.from(text);
    const out = new Int32Array(cs.length);
    for (let i = 0; i < cs.length; i++) {
      const id = this.ids.get(cs[i]);
      if (id === undefined) throw new ArgumentError(`CharTokenizer.encode: character ${describeValue(cs[i])} at position ${i} is not in the vocabulary of ${this.vocabSize}`);
      out[i] = id;
    }
    return out;
  }

  /** The text of a list of ids (read a tensor with `await t.data()` first). */
  decode(ids: ArrayLike<number>): string {
    if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) throw new ArgumentError(`CharTokenizer.decode: ids must be a list of ids, got ${describeValue(ids)}`);
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const c = this.chars[ids[i]];
      if (c === undefined || !Number.isInteger(ids[i])) throw new ArgumentError(`CharTokenizer.decode: id ${describeValue(ids[i])} at position ${i} is out of range [0, ${this.vocabSize})`);
      s += c;
    }
    return s;
  }

  toJSON(): { chars: string[] } {
    return { chars: [...this.chars] };
  }
}

/**
 * Every window of `blockSize` characters: sample i is x = ids[i .. i+blockSize) and
 * y = ids[i+1 .. i+blockSize], both int32 [blockSize]. Batches are cut on the host from the
 * encoded text and uploaded once (the window data is no bigger than an index would be).
 *
 * @example const [x, y] = new CharDataset('hello world', 4).get(0); // 'hell' → 'ello'
 */
export class CharDataset extends Dataset<[Tensor, Tensor]> {
  readonly tokenizer: CharTokenizer;
  /** the encoded text */
  readonly ids: Int32Array;

  constructor(text: string, readonly blockSize: number, tokenizer?: CharTokenizer) {
    super();
    if (typeof text !== 'string') throw new ArgumentError(`CharDataset: text must be a string, got ${describeValue(text)}`);
    if (!Number.isInteger(blockSize) || blockSize <= 0) throw new ArgumentError(`CharDataset: blockSize must be a positive integer, got ${describeValue(blockSize)}`);
    if (tokenizer !== undefined && !(tokenizer instanceof CharTokenizer)) throw new ArgumentError(`CharDataset: tokenizer must be a CharTokenizer, got ${describeValue(tokenizer)}`);
    if (tokenizer) {
      const vocab = new Set(tokenizer.chars), cs = Array.from(text);
      const i = cs.findIndex((c) => !vocab.has(c));
      if (i >= 0) throw new ArgumentError(`CharDataset: character ${describeValue(cs[i])} at position ${i} is not in the tokenizer's vocabulary of ${tokenizer.vocabSize}`);
    }
    this.tokenizer = tokenizer ?? new CharTokenizer(text);
    this.ids = this.tokenizer.encode(text);
    if (this.ids.length <= blockSize) throw new ArgumentError(`CharDataset: the text has ${this.ids.length} characters, it needs more than blockSize ${blockSize}`);
  }

  get length(): number {
    return this.ids.length - this.blockSize;
  }

  get(i: number): [Tensor, Tensor] {
    const j = checkIndex('CharDataset', i, this.length), T = this.blockSize;
    return [tensor(this.ids.slice(j, j + T)), tensor(this.ids.slice(j + 1, j + 1 + T))];
  }

  /** x and y of shape [B, blockSize]. */
  getBatch(indices: readonly number[]): [Tensor, Tensor] {
    checkBatch('CharDataset', indices, this.length);
    const T = this.blockSize, B = indices.length;
    const x = new Int32Array(B * T), y = new Int32Array(B * T);
    indices.forEach((s, b) => {
      x.set(this.ids.subarray(s, s + T), b * T);
      y.set(this.ids.subarray(s + 1, s + 1 + T), b * T);
    });
    return [tensor(x, { shape: [B, T] }), tensor(y, { shape: [B, T] })];
  }
}
