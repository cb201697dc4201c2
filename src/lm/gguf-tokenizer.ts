/**
 * The tokenizer of a GGUF file, from its metadata (tokenizer.ggml.*), as a tokenizer.json object
 * and a tokenizer_config.json object for Tokenizer.fromJSON:
 *   - `tokenizer.ggml.model` 'llama' (SentencePiece BPE): byte-fallback BPE over `tokens`, `▁` for
 *     spaces (Metaspace, prepend_scheme 'first'), <s> added in front when add_bos_token (default
 *     true). Merges are `tokenizer.ggml.merges` when present, otherwise derived from the scores as
 *     transformers' SentencePiece converter does (every split of a token into two vocabulary
 *     pieces, ranked by the token's score);
 *   - 'gpt2' (byte-level BPE): `tokens` and `merges`, with the pre-tokenizer `tokenizer.ggml.pre`
 *     names (gpt-2/default, llama-bpe, qwen2, smollm; others are a FormatError).
 * Tokens of type control (3) and unknown (2) are special added tokens; user-defined (4) are added
 * tokens that are not special.
 */
import { FormatError } from '../errors.js';
import { readGguf, type GgufFile, type GgufValue } from '../io/gguf.js';
import { openSource, type LoadSource } from '../io/source.js';
import { Tokenizer } from './tokenizer.js';

const TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_USER = 4;

const LLAMA3_RE = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_RE = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (regex: string) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });

/** pre-tokenizers by `tokenizer.ggml.pre` */
const PRE: Record<string, () => object> = {
  'gpt-2': () => byteLevel(true),
  default: () => byteLevel(true),
  'llama-bpe': () => ({ type: 'Sequence', pretokenizers: [split(LLAMA3_RE), byteLevel(false)] }),
  llama3: () => ({ type: 'Sequence', pretokenizers: [split(LLAMA3_RE), byteLevel(false)] }),
  qwen2: () => ({ type: 'Sequence', pretokenizers: [split(QWEN2_RE), byteLevel(false)] }),
  smollm: () => ({ type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] }),
};

function list(op: string, m: Map<string, GgufValue>, key: string, kind: 'string' | 'number', required: boolean): unknown[] | undefined {
  const v = m.get(key);
  if (v === undefined) {
    if (required) throw new FormatError(`${op}: the GGUF metadata lacks ${key}`);
    return undefined;
  }
  if (!Array.isArray(v) || v.some((x) => typeof x !== kind)) throw new FormatError(`${op}: GGUF metadata ${key} must be an array of ${kind}s`);
  return v;
}

/** Merges ranked by the merged token's score (SentencePiece BPE's order). */
function mergesFromScores(tokens: string[], scores: number[], types: number[]): string[] {
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const found: { a: string; b: string; score: number; ia: number; ib: number }[] = [];
  tokens.forEach((t, id) => {
    if (types[id] !== TOKEN_NORMAL && types[id] !== TOKEN_USER) return;
    const chars = [...t];
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join(''), b = chars.slice(k).join('');
      const ia = ids.get(a), ib = ids.get(b);
      if (ia !== undefined && ib !== undefined) found.push({ a, b, score: scores[id], ia, ib });
    }
  });
  found.sort((x, y) => y.score - x.score || x.ia - y.ia || x.ib - y.ib);
  return found.map((m) => `${m.a} ${m.b}`);
}

/** tokenizer.json and tokenizer_config.json objects for Tokenizer.fromJSON, from a GGUF's metadata. */
export function ggufTokenizerJSON(g: GgufFile, op = 'ggufTokenizerJSON'): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const m = g.metadata;
  const model = m.get('tokenizer.ggml.model');
  if (model !== 'llama' && model !== 'gpt2') throw new FormatError(`${op}: GGUF tokenizer.ggml.model is ${JSON.stringify(model ?? null)}; supported: "llama" (SentencePiece BPE) and "gpt2" (byte-level BPE)`);
  const tokens = list(op, m, 'tokenizer.ggml.tokens', 'string', true) as string[];
  const types = (list(op, m, 'tokenizer.ggml.token_type', 'number', false) as number[] | undefined) ?? tokens.map(() => TOKEN_NORMAL);
  if (types.length !== tokens.length) throw new FormatError(`${op}: GGUF tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`);
  let merges = list(op, m, 'tokenizer.ggml.merges', 'string', false) as string[] | undefined;
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i;
  });
  const idOf = (key: string): number | undefined => {
    const v = m.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= tokens.length) throw new FormatError(`${op}: GGUF ${key} is ${String(v)}, not a token id in [0, ${tokens.length})`);
    return v;
  };
  const bos = idOf('tokenizer.ggml.bos_token_id'), eos = idOf('tokenizer.ggml.eos_token_id');
  const unk = idOf('tokenizer.ggml.unknown_token_id'), pad = idOf('tokenizer.ggml.padding_token_id');
  const flag = (key: string, fallback: boolean): boolean => {
    const v = m.get(key);
    return typeof v === 'boolean' ? v : fallback;
  };
  const addBos = flag('tokenizer.ggml.add_bos_token', model === 'llama'), addEos = flag('tokenizer.ggml.add_eos_token', false);
  const added = tokens.flatMap((t, id) => (types[id] === TOKEN_CONTROL || types[id] === TOKEN_UNKNOWN || types[id] === TOKEN_USER
    ? [{ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: types[id] !== TOKEN_USER }]
    : []));
  const template = (): Record<string, unknown> | null => {
    if (!(addBos && bos !== undefined) && !(addEos && eos !== undefined)) return null;
    const sp = (id: number) => ({ SpecialToken: { id: tokens[id], type_id: 0 } });
    const single = [...(addBos && bos !== undefined ? [sp(bos)] : []), { Sequence: { id: 'A', type_id: 0 } }, ...(addEos && eos !== undefined ? [sp(eos)] : [])];
    const specials: Record<string, unknown> = {};
    for (const id of [addBos ? bos : undefined, addEos ? eos : undefined]) if (id !== undefined) specials[tokens[id]] = { id: tokens[id], ids: [id], tokens: [tokens[id]] };
    return { type: 'TemplateProcessing', single, pair: [...single, { Sequence: { id: 'B', type_id: 1 } }], special_tokens: specials };
  };
  let tokenizer: Record<string, unknown>;
  if (model === 'llama') {
    if (!merges) {
      const scores = list(op, m, 'tokenizer.ggml.scores', 'number', false) as number[] | undefined;
      if (!scores || scores.length !== tokens.length) throw new FormatError(`${op}: a "llama" GGUF tokenizer needs tokenizer.ggml.merges or one tokenizer.ggml.scores entry per token`);
      merges = mergesFromScores(tokens, scores, types);
    }
    tokenizer = {
      version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
      post_processor: template(),
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
      model: { type: 'BPE', dropout: null, unk_token: unk !== undefined ? tokens[unk] : null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges },
    };
  } else {
    if (!merges) throw new FormatError(`${op}: a "gpt2" GGUF tokenizer needs tokenizer.ggml.merges`);
    const preName = m.get('tokenizer.ggml.pre') ?? 'default';
    const pre = typeof preName === 'string' ? PRE[preName] : undefined;
    if (!pre) throw new FormatError(`${op}: GGUF tokenizer.ggml.pre ${JSON.stringify(preName)} is not supported (supported: ${Object.keys(PRE).join(', ')})`);
    const tpl = template();
    tokenizer = {
      version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
      pre_tokenizer: pre(),
      post_processor: tpl ?? { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
    };
  }
  const config: Record<string, unknown> = { add_bos_token: addBos, add_eos_token: addEos, clean_up_tokenization_spaces: false };
  // null: the checkpoint has none (Tokenizer.fromJSON then does not guess one)
  config.bos_token = bos !== undefined ? tokens[bos] : null;
  config.eos_token = eos !== undefined ? tokens[eos] : null;
  if (unk !== undefined) config.unk_token = tokens[unk];
  if (pad !== undefined) config.pad_token = tokens[pad];
  const chat = m.get('tokenizer.chat_template');
  if (typeof chat === 'string') config.chat_template = chat;
  return { tokenizer, config };
}

/**
 * The tokenizer stored in a GGUF file (a path in Node, a URL, a Blob/File, or the bytes): only the
 * header is read.
 *
 * @example
 * const tok = await loadGgufTokenizer('SmolLM2-135M-Instruct-Q4_K_M.gguf');
 * tok.encode('Hello');
 */
export async function loadGgufTokenizer(src: LoadSource | URL): Promise<Tokenizer> {
  const op = 'loadGgufTokenizer';
  const source = await openSource(op, src instanceof URL ? src.href : src);
  try {
    const { tokenizer, config } = ggufTokenizerJSON(await readGguf(source, op), op);
    return Tokenizer.fromJSON(tokenizer, config);
  } finally {
    await source.close();
  }
}
