/**
 * webtensor/lm's Tokenizer (src/lm/tokenizer.ts, on @huggingface/tokenizers), checked against
 * independent references:
 * - GPT-2 (byte-level BPE): its tokenizer.json is rebuilt from OpenAI's encoder.json + vocab.bpe
 *   (test/fixtures/gpt2_tokenizer.mjs) and must encode ~1.5 MB of text (tinyshakespeare and a
 *   generated text of many scripts, emoji, whitespace runs, numbers and contractions) exactly as
 *   js-tiktoken's r50k_base does, and decode it back;
 * - Llama-3's form (byte-level BPE after a `Split` on an Oniguruma regex, ignore_merges): a
 *   tokenizer.json of that form with cl100k_base's vocabulary (Llama-3's first 100k tokens),
 *   merges derived from the ranks (test/fixtures/cl100k_tokenizer.mjs), must encode as
 *   js-tiktoken's cl100k_base;
 * - Llama-2 (BPE with byte fallback): its tokenizer.json is rebuilt from the vocabulary and merges
 *   llama-tokenizer-js embeds (test/fixtures/llama2_tokenizer.mjs) and must give the ids that
 *   package's tests took from the real Llama tokenizer, and agree with its encoder on text;
 * - two tiny tokenizers in the formats checkpoints ship (test/fixtures/lm/: a Llama-style one
 *   with a Metaspace pre-tokenizer and a SmolLM-style byte-level one with ChatML tokens) for
 *   special tokens, byte fallback, chat templates and loading from folders, URLs and files.
 * The tokenizer is no tensor op, so there is no backend loop.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Tiktoken } from 'js-tiktoken/lite';
import r50k from 'js-tiktoken/ranks/r50k_base';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import llamaReference from 'llama-tokenizer-js';
import { ArgumentError, FormatError } from '../src/errors.js';
import { DecodeStream, Tokenizer, loadTokenizer } from '../src/lm/tokenizer.js';
// @ts-expect-error: a plain .mjs script without declarations
import { buildGpt2Tokenizer, writeGpt2Tokenizer } from './fixtures/gpt2_tokenizer.mjs';
// @ts-expect-error: a plain .mjs script without declarations
import { buildLlama2Tokenizer } from './fixtures/llama2_tokenizer.mjs';
// @ts-expect-error: a plain .mjs script without declarations
import { buildCl100kTokenizer } from './fixtures/cl100k_tokenizer.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => join(root, 'test/fixtures/lm', name);
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
/** No lone surrogate (half of a character outside the BMP). */
const wellFormed = (s: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

/** tinyshakespeare: tracked in examples/data; else a shared/data folder beside some parent. */
function shakespeare(): string | undefined {
  const candidates = [join(root, 'examples/data/tinyshakespeare.txt')];
  for (let dir = root; dirname(dir) !== dir; dir = dirname(dir)) candidates.push(join(dirname(dir), 'shared/data/tinyshakespeare.txt'));
  const found = candidates.find((p) => existsSync(p));
  return found ? readFileSync(found, 'utf8') : undefined;
}

/** Deterministic text of `n` characters or so: words of many scripts, emoji, numbers, whitespace runs, contractions. */
function variedText(n: number, seed = 1): string {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];
  const words = ['the', 'model', 'token', 'llama', 'Hello', 'WORLD', 'naïve', 'café', 'Straße', 'über', 'déjà', 'vu', 'résumé', 'Ελληνικά', 'λόγος', 'Привет', 'мир', 'مرحبا', 'שלום', 'नमस्ते', 'हिन्दी', '你好', '世界', '汉字', 'こんにちは', 'カタカナ', '안녕하세요', 'ภาษาไทย', 'Tiếng', 'Việt', 'ǅemal', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'e\u0301tude', 'ﬁne', 'x²', 'İstanbul', 'ÆØÅ', 'a\u200bb', 'ʕ•ᴥ•ʔ'];
  const emoji = ['🦙', '😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '1️⃣', '❤️', '🏳️‍🌈', '🤖', '✨', '©', '™', '→', '∑', '∞', '€', '£', '¥', '°C', '½'];
  const contractions = ["don't", "I'm", "they'll", "we've", "it's", "she'd", "you're", "O'Brien's", "'s", "'S", "'tis", "ma'am", "rock'n'roll"];
  const spaces = [' ', ' ', ' ', ' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n', '  \n\n  ', '\u00a0', '\u3000', '\u2009', '\n\t\t', '        '];
  const numbers = () => pick([String(Math.floor(rand() * 10 ** Math.floor(rand() * 12))), (rand() * 1000).toFixed(3), '1,000,000', '3.14159', '2024-06-01', '0x1F', '-42', '+7', '1e-9', '12:30', '50%', '$19.99']);
  const punct = ['.', ',', '!', '?', '...', ';', ':', '—', '–', '-', '"', '“', '”', '«', '»', '(', ')', '[', ']', '{', '}', '<', '>', '/', '\\', '@', '#', '&', '*', '_', '~', '`', '|', '!!!', '?!', '**', '==', '->', '=>'];
  const code = ['function f(x) { return x * 2; }', 'if (a && b) {\n    c();\n}', 'x = [1, 2, 3]', 'print("hi")', '<div class="a">', 'SELECT * FROM t;', 'https://example.com/a?b=c&d=e', 'user@example.org'];
  let out = '';
  while (out.length < n) {
    const r = rand();
    if (r < 0.42) out += pick(words);
    else if (r < 0.5) out += pick(contractions);
    else if (r < 0.58) out += numbers();
    else if (r < 0.66) out += pick(emoji);
    else if (r < 0.78) out += pick(punct);
    else if (r < 0.8) out += pick(code);
    else if (r < 0.82) out += pick(words) + pick(['123', '_x', '-y', '.z']) + pick(words);
    out += rand() < 0.1 ? '' : pick(spaces);
  }
  return out;
}

describe('GPT-2 (byte-level BPE) against js-tiktoken r50k_base', () => {
  let gpt2: Tokenizer;
  let tiktoken: Tiktoken;
  beforeAll(() => {
    const { tokenizer, config } = buildGpt2Tokenizer();
    gpt2 = Tokenizer.fromJSON(tokenizer, config);
    tiktoken = new Tiktoken(r50k);
  });

  it('encodes tinyshakespeare and a generated text of many scripts exactly as r50k_base, and decodes them back', () => {
    const texts: [string, string][] = [['generated', variedText(400_000)], ['generated (seed 2)', variedText(50_000, 2)]];
    const shakes = shakespeare();
    if (shakes) texts.push(['tinyshakespeare', shakes]);
    else console.warn('tokenizer.test: tinyshakespeare.txt not found; checking the generated text only');
    let bytes = 0;
    for (const [name, text] of texts) {
      const ids = gpt2.encode(text);
      const ref = tiktoken.encode(text);
      const first = ids.findIndex((id, i) => id !== ref[i]);
      expect(first, `${name}: first differing token at ${first}`).toBe(ids.length === ref.length ? -1 : Math.min(ids.length, ref.length));
      expect(ids.length, name).toBe(ref.length);
      expect(gpt2.decode(ids) === text, `${name}: decode(encode(text)) === text`).toBe(true);
      bytes += new TextEncoder().encode(text).length;
    }
    expect(bytes).toBeGreaterThan(400_000);
  });

  it('knows its vocabulary and <|endoftext|>', () => {
    expect(gpt2.vocabSize).toBe(50257);
    expect([gpt2.bosTokenId, gpt2.eosTokenId, gpt2.unkTokenId, gpt2.eosToken]).toEqual([50256, 50256, 50256, '<|endoftext|>']);
    expect(gpt2.tokenToId('Ġthe')).toBe(262);
    expect(gpt2.idToToken(262)).toBe('Ġthe');
    expect(gpt2.tokenToId('not a token')).toBeUndefined();
    expect(() => gpt2.idToToken(50257)).toThrow(/^Tokenizer\.idToToken: id = 50257 is not a token id of this tokenizer \(ids are 0\.\.50256\)/);
    expect([...gpt2.specialTokenIds]).toEqual([50256]);
    // special tokens in the text are recognised (tiktoken needs them allowed)
    const text = 'Hello world<|endoftext|> The end.';
    expect(gpt2.encode(text)).toEqual(tiktoken.encode(text, 'all'));
    expect(gpt2.encode(text)).toEqual([15496, 995, 50256, 383, 886, 13]);
    // GPT-2 adds no special tokens around a text
    expect(gpt2.encode('Hello', { addSpecialTokens: true })).toEqual(gpt2.encode('Hello', { addSpecialTokens: false }));
    expect(gpt2.decode([15496, 995, 50256, 383, 886, 13], { skipSpecialTokens: true })).toBe('Hello world The end.');
    expect(gpt2.decode(new Int32Array([15496, 995]))).toBe('Hello world');
    expect(gpt2.encode('')).toEqual([]);
    expect(gpt2.decode([])).toBe('');
    // transformers' clean-up of spaces, on request
    expect(gpt2.decode(gpt2.encode('Hi , there .'), { cleanUpTokenizationSpaces: true })).toBe('Hi, there.');
    expect(gpt2.decode(gpt2.encode('Hi , there .'))).toBe('Hi , there .');
  });

  it('streams token by token without ever emitting a broken character', () => {
    const text = variedText(20_000, 3);
    const ids = gpt2.encode(text);
    const stream = gpt2.decodeStream();
    const pieces: string[] = [];
    let waited = 0;
    for (const id of ids) {
      const piece = stream.push(id);
      if (piece === '') waited++;
      else pieces.push(piece);
    }
    pieces.push(stream.flush());
    expect(pieces.join('')).toBe(text);
    expect(waited).toBeGreaterThan(50); // emoji and CJK characters span tokens
    for (const p of pieces) {
      expect(p).not.toContain('\uFFFD');
      expect(wellFormed(p)).toBe(true); // no half of a surrogate pair
    }
    // 🦙 is three tokens: nothing comes out until the last
    const llama = gpt2.encode('🦙');
    expect(llama.length).toBe(3);
    const s = gpt2.decodeStream();
    expect(llama.map((id) => s.push(id))).toEqual(['', '', '🦙']);
    expect(s.flush()).toBe('');
    // an incomplete character at the end comes out of flush as U+FFFD
    const s2 = gpt2.decodeStream();
    expect(s2.push(llama[0])).toBe('');
    expect(s2.flush()).toBe('\uFFFD');
    // skipping special tokens
    const s3 = gpt2.decodeStream({ skipSpecialTokens: true });
    expect([15496, 50256, 995].map((id) => s3.push(id)).join('') + s3.flush()).toBe('Hello world');
  });

  it('loads from a folder written by the fixture script', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webtensor-gpt2-'));
    try {
      writeGpt2Tokenizer(dir);
      const tok = await loadTokenizer(dir);
      expect(tok.encode(' tokenizer')).toEqual(tiktoken.encode(' tokenizer'));
      expect(tok.eosTokenId).toBe(50256);
      // the path of tokenizer.json itself; without tokenizer_config.json the usual names are found
      rmSync(join(dir, 'tokenizer_config.json'));
      const bare = await loadTokenizer(join(dir, 'tokenizer.json'));
      expect([bare.bosTokenId, bare.eosTokenId, bare.chatTemplate]).toEqual([50256, 50256, undefined]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Llama-3's tokenizer.json form against js-tiktoken cl100k_base", () => {
  it('encodes a generated text and tinyshakespeare exactly as cl100k_base, and decodes them back', async () => {
    const { tokenizer } = await buildCl100kTokenizer();
    const tok = Tokenizer.fromJSON(tokenizer);
    const tiktoken = new Tiktoken(cl100k);
    const text = variedText(200_000, 5) + (shakespeare() ?? '').slice(0, 100_000) + "I'M DON'T You'RE WE'LL 1234567 \r\n\r\n  x  \n\n\n";
    const ids = tok.encode(text);
    const ref = tiktoken.encode(text);
    const first = ids.findIndex((id, i) => id !== ref[i]);
    expect(first, `first differing token at ${first}`).toBe(ids.length === ref.length ? -1 : Math.min(ids.length, ref.length));
    expect(ids.length).toBe(ref.length);
    expect(tok.decode(ids) === text).toBe(true);
    expect(tok.encode('<|endoftext|>x')).toEqual(tiktoken.encode('<|endoftext|>x', 'all'));
    expect(tok.vocabSize).toBe(100277);
  });
});

describe('Llama-2 (BPE with byte fallback) against llama-tokenizer-js', () => {
  let llama: Tokenizer;
  beforeAll(async () => {
    const { tokenizer, config } = await buildLlama2Tokenizer();
    llama = Tokenizer.fromJSON(tokenizer, config);
  });

  it("gives the ids llama-tokenizer-js's tests took from the real Llama tokenizer", () => {
    const cases: [string, number[]][] = [
      ['grabbed', [1, 2646, 1327, 287]],
      [' grabbed', [1, 29871, 2646, 1327, 287]],
      ['           grabbed', [1, 9651, 2646, 1327, 287]],
      ['\n', [1, 29871, 13]],
      [' \n', [1, 259, 13]],
      ['\ttabs\t\t\t\tout here', [1, 29871, 12, 21175, 12, 12, 12, 12, 449, 1244]],
      ['ax\n####\nboo', [1, 4853, 13, 4136, 13, 833, 29877]],
      ['镇', [1, 29871, 30411]],
      ['🦙', [1, 29871, 243, 162, 169, 156]],
      ['🦙Ꙋ', [1, 29871, 243, 162, 169, 156, 237, 156, 141]],
      ['Ꙋ🦙', [1, 29871, 237, 156, 141, 243, 162, 169, 156]],
      ['Hello world!', [1, 15043, 3186, 29991]],
    ];
    for (const [text, ids] of cases) {
      expect(llama.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(llama.decode(ids, { skipSpecialTokens: true })).toBe(text);
    }
    expect([llama.vocabSize, llama.bosTokenId, llama.eosTokenId, llama.unkTokenId]).toEqual([32000, 1, 2, 0]);
    expect(llama.encode('Hello world!', { addSpecialTokens: false })).toEqual([15043, 3186, 29991]);
    expect(llama.idToToken(243)).toBe('<0xF0>');
    // special tokens kept: <s> in front, as transformers decodes
    expect(llama.decode([1, 15043, 3186, 2])).toBe('<s> Hello world</s>');
  });

  it('agrees with llama-tokenizer-js on lines of text in many scripts', () => {
    const lines = [...variedText(60_000, 4).split('\n'), ...(shakespeare() ?? '').slice(0, 60_000).split('\n')]
      .filter((l) => l.trim().length > 0);
    let compared = 0;
    for (const line of lines) {
      const ids = llama.encode(line);
      expect(ids, JSON.stringify(line)).toEqual(llamaReference.encode(line));
      // the tokenizer adds "▁" in front; decode takes it off again
      expect(llama.decode(ids, { skipSpecialTokens: true })).toBe(line);
      compared++;
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('streams byte-fallback characters whole and keeps the spaces between words', () => {
    const text = 'The llama 🦙 said: 你好, Ꙋ and ß! Done.';
    const ids = llama.encode(text);
    const stream = llama.decodeStream({ skipSpecialTokens: true });
    const pieces = ids.map((id) => stream.push(id));
    pieces.push(stream.flush());
    expect(pieces.join('')).toBe(text);
    expect(pieces.every((p) => !p.includes('\uFFFD') && wellFormed(p))).toBe(true);
    const emoji = llama.encode('🦙', { addSpecialTokens: false }); // ▁ and four byte tokens
    expect(emoji).toEqual([29871, 243, 162, 169, 156]);
    const s = llama.decodeStream();
    expect(emoji.map((id) => s.push(id))).toEqual(['', '', '', '', '🦙']);
    // a word after the first keeps its space
    const s2 = llama.decodeStream({ skipSpecialTokens: true });
    expect([1, 15043, 3186, 29991, 2].map((id) => s2.push(id))).toEqual(['', 'Hello', ' world', '!', '']);
  });
});

describe('Llama-style tokenizer with byte fallback (test/fixtures/lm/tiny-llama)', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(fixture('tiny-llama'));
  });

  it('falls back to <0xNN> byte tokens for characters outside the vocabulary and decodes them back', () => {
    const text = 'Hello world! The llama 🦙 said ß and 你好.';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(tok.bosTokenId);
    const tokens = ids.map((id) => tok.idToToken(id));
    const bytes = (s: string) => Array.from(new TextEncoder().encode(s), (b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    const joined = tokens.join(' ');
    for (const ch of ['🦙', 'ß', '你', '好']) expect(joined).toContain(bytes(ch).join(' '));
    expect(tokens).toContain('▁Hello');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(text);
    expect(tok.decode(ids)).toBe(`<s> ${text}`);
    // the characters in the vocabulary are no byte tokens
    expect(tok.encode('é', { addSpecialTokens: false }).map((id) => tok.idToToken(id))).toEqual(['▁', 'é']);
  });

  it('reads bos/eos/unk from tokenizer_config.json and skips special tokens', () => {
    expect([tok.bosToken, tok.bosTokenId, tok.eosToken, tok.eosTokenId, tok.unkTokenId, tok.padTokenId]).toEqual(['<s>', 1, '</s>', 2, 0, 2]);
    expect([...tok.specialTokenIds].sort()).toEqual([0, 1, 2]);
    // special tokens in the text are single tokens
    expect(tok.encode('Hi</s>', { addSpecialTokens: false }).at(-1)).toBe(2);
    expect(tok.encode('Hi', { addSpecialTokens: false })[0]).not.toBe(1);
    expect(tok.decode(tok.encode('Hi</s>'), { skipSpecialTokens: true })).toBe('Hi');
  });

  it("renders TinyLlama's chat template", () => {
    const messages = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'What is the capital of France?' },
    ];
    const text = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
    expect(text).toBe('<|system|>\nYou are a helpful assistant.</s>\n<|user|>\nWhat is the capital of France?</s>\n<|assistant|>\n');
    expect(tok.applyChatTemplate(messages)).toBe('<|system|>\nYou are a helpful assistant.</s>\n<|user|>\nWhat is the capital of France?</s>\n');
    const ids = tok.encodeChat(messages, { addGenerationPrompt: true });
    expect(ids).toEqual(tok.encode(text, { addSpecialTokens: false }));
    expect(ids.filter((id) => id === tok.eosTokenId).length).toBe(2);
    // another template, and variables
    expect(tok.applyChatTemplate(messages, { chatTemplate: '{{ bos_token }}{% for m in messages %}[{{ m.role }}|{{ who }}]{% endfor %}', variables: { who: 'x' } })).toBe(
      '<s>[system|x][user|x]',
    );
  });

  it('streams with the same spaces as decode', () => {
    const text = 'Once upon a time, the llama 🦙 lived on a hill.';
    const ids = tok.encode(text);
    const s = tok.decodeStream({ skipSpecialTokens: true });
    const out = ids.map((id) => s.push(id)).join('') + s.flush();
    expect(out).toBe(tok.decode(ids, { skipSpecialTokens: true }));
    expect(out).toBe(text);
    expect(s).toBeInstanceOf(DecodeStream);
  });
});

describe('SmolLM-style byte-level tokenizer with ChatML tokens (test/fixtures/lm/tiny-chatml)', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(fixture('tiny-chatml'));
  });

  it('encodes <|im_start|>/<|im_end|> as single special tokens and splits digits', () => {
    expect([tok.bosTokenId, tok.eosTokenId, tok.padTokenId, tok.unkTokenId]).toEqual([1, 2, 2, 0]);
    expect([tok.tokenToId('<|im_start|>'), tok.tokenToId('<|im_end|>'), tok.tokenToId('<|endoftext|>')]).toEqual([1, 2, 0]);
    const ids = tok.encode('<|im_start|>user\nHello 2024<|im_end|>\n');
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 2).length).toBe(1);
    expect(ids.map((id) => tok.idToToken(id)).filter((t) => /^\d$/.test(t!))).toEqual(['2', '0', '2', '4']);
    expect(tok.decode(ids)).toBe('<|im_start|>user\nHello 2024<|im_end|>\n');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('user\nHello 2024\n');
    // a text that only looks like a special token is split into bytes
    expect(tok.encode('<|im_sta').includes(1)).toBe(false);
    const text = 'Ünïcödé 🦙 text\twith  spaces';
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it("renders SmolLM-Instruct's ChatML template", () => {
    const text = tok.applyChatTemplate([{ role: 'user', content: 'Hi!' }], { addGenerationPrompt: true });
    expect(text).toBe(
      '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n',
    );
    const ids = tok.encodeChat([{ role: 'user', content: 'Hi!' }], { addGenerationPrompt: true });
    expect(ids.filter((id) => id === 1).length).toBe(3);
    expect(ids.filter((id) => id === 2).length).toBe(2);
    expect(tok.decode(ids)).toBe(text);
  });

  it('loads from picked files, bytes and a URL', async () => {
    const dir = fixture('tiny-chatml');
    const names = ['tokenizer.json', 'tokenizer_config.json'];
    const files = names.map((n) => new File([readFileSync(join(dir, n))], n));
    const ids = tok.encode('Hello there!');
    expect((await loadTokenizer(files)).encode('Hello there!')).toEqual(ids);
    expect((await loadTokenizer({ 'tokenizer.json': files[0], 'folder/tokenizer_config.json': new Uint8Array(readFileSync(join(dir, names[1]))) })).eosTokenId).toBe(2);
    // tokenizer.json alone (as text): no config, so no chat template, and bos/eos by their usual names (<|endoftext|>)
    const alone = await loadTokenizer(new Map([['tokenizer.json', readFileSync(join(dir, names[0]), 'utf8')]]));
    expect([alone.chatTemplate, alone.bosTokenId, alone.eosTokenId]).toEqual([undefined, 0, 0]);
    // chat_template.jinja beside a config without chat_template
    const config = readJson(join(dir, names[1]));
    delete config.chat_template;
    const withJinja = await loadTokenizer({ 'tokenizer.json': files[0], 'tokenizer_config.json': JSON.stringify(config), 'chat_template.jinja': '{{ messages[0].content }}!' });
    expect(withJinja.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('x!');

    const server: Server = createServer((req, res) => {
      const name = req.url!.replace(/^\/model\//, '');
      if (names.includes(name)) res.end(readFileSync(join(dir, name)));
      else if (name === 'broken/tokenizer.json') res.writeHead(500).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/model`;
      expect((await loadTokenizer(base)).encode('Hello there!')).toEqual(ids);
      expect((await loadTokenizer(new URL(base + '/tokenizer.json'))).eosTokenId).toBe(2);
      await expect(loadTokenizer(`${base}/missing/`)).rejects.toThrow(/loadTokenizer: no tokenizer\.json in http/);
      await expect(loadTokenizer(`${base}/broken/`)).rejects.toThrow(/loadTokenizer: fetching .*broken\/tokenizer\.json failed: HTTP 500/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('errors', () => {
  const tinyJson = () => readJson(join(fixture('tiny-chatml'), 'tokenizer.json'));
  const tinyConfig = () => readJson(join(fixture('tiny-chatml'), 'tokenizer_config.json'));
  let tok: Tokenizer;
  beforeAll(() => {
    tok = Tokenizer.fromJSON(JSON.stringify(tinyJson()), JSON.stringify(tinyConfig()));
  });

  it('fromJSON says what is wrong with the files', () => {
    expect(() => Tokenizer.fromJSON('{not json')).toThrow(FormatError);
    expect(() => Tokenizer.fromJSON('{not json')).toThrow(/Tokenizer\.fromJSON: tokenizerJson is not valid JSON/);
    expect(() => Tokenizer.fromJSON(42 as unknown as object)).toThrow(ArgumentError);
    expect(() => Tokenizer.fromJSON([] as unknown as object)).toThrow(/tokenizerJson must be the contents of tokenizer\.json.*got \[\]/);
    expect(() => Tokenizer.fromJSON(tinyConfig())).toThrow(/no "model" object.*looks like tokenizer_config\.json/);
    expect(() => Tokenizer.fromJSON(tinyJson(), [] as unknown as object)).toThrow(/tokenizerConfig must be the contents of tokenizer_config\.json/);
    expect(() => Tokenizer.fromJSON({ ...tinyJson(), model: { type: 'Nonsense' } })).toThrow(/Tokenizer\.fromJSON: tokenizers\.js cannot read this tokenizer\.json \(model type "Nonsense"\)/);
    expect(() => Tokenizer.fromJSON(tinyJson(), { eos_token: '</s>' })).toThrow(/tokenizer_config\.json's eos_token "<\/s>" is not in the tokenizer's vocabulary/);
    expect(() => Tokenizer.fromJSON(tinyJson(), { chat_template: 5 })).toThrow(/chat_template must be a string or a list/);
    // a section left out is taken as empty; a null bos means none
    const { decoder: _d, ...noDecoder } = tinyJson();
    expect(Tokenizer.fromJSON(noDecoder, { bos_token: null }).bosTokenId).toBeUndefined();
  });

  it('encode, decode and the stream name the argument that is wrong', () => {
    expect(() => tok.encode(5 as unknown as string)).toThrow(/Tokenizer\.encode: text must be a string, got 5/);
    expect(() => tok.encode('x', { addSpecialToken: true } as object)).toThrow(/Tokenizer\.encode: unknown option 'addSpecialToken' \(did you mean 'addSpecialTokens'\?/);
    expect(() => tok.decode([1, 2, tok.vocabSize])).toThrow(ArgumentError);
    expect(() => tok.decode([1, 2, tok.vocabSize])).toThrow(new RegExp(`Tokenizer\\.decode: ids\\[2\\] = ${tok.vocabSize} is not a token id of this tokenizer \\(ids are 0\\.\\.${tok.vocabSize - 1}\\)`));
    expect(() => tok.decode([-1])).toThrow(/ids\[0\] = -1 is not a token id/);
    expect(() => tok.decode([1.5])).toThrow(/ids\[0\] must be an integer token id, got 1\.5/);
    expect(() => tok.decode('abc' as unknown as number[])).toThrow(/Tokenizer\.decode: ids must be an array of token ids, got "abc"/);
    expect(() => tok.decodeStream().push(1e9)).toThrow(/DecodeStream\.push: id = 1000000000 is not a token id/);
    expect(() => tok.idToToken(0.5)).toThrow(/Tokenizer\.idToToken: id must be an integer token id/);
    expect(() => tok.tokenToId(3 as unknown as string)).toThrow(/Tokenizer\.tokenToId: token must be a string/);
  });

  it('applyChatTemplate checks the messages and reports template failures', () => {
    expect(() => tok.applyChatTemplate('hi' as unknown as [])).toThrow(/Tokenizer\.applyChatTemplate: messages must be an array/);
    expect(() => tok.applyChatTemplate([{ content: 'x' } as unknown as { role: string; content: string }])).toThrow(/messages\[0\] must be an object with a string role/);
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 7 as unknown as string }])).toThrow(/messages\[0\]\.content must be a string/);
    const bare = Tokenizer.fromJSON(tinyJson());
    expect(() => bare.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(/this tokenizer has no chat template.*pass \{ chatTemplate/);
    expect(() => tok.applyChatTemplate([], { chatTemplate: '{{ raise_exception("roles must alternate") }}' })).toThrow(/the chat template failed on these messages: .*roles must alternate/);
    expect(() => tok.applyChatTemplate([], { chatTemplate: '{% for %}' })).toThrow(FormatError);
  });

  it('loadTokenizer says what is missing', async () => {
    await expect(loadTokenizer('/nonexistent/model')).rejects.toThrow(/loadTokenizer: no tokenizer\.json in \/nonexistent\/model/);
    await expect(loadTokenizer('')).rejects.toThrow(ArgumentError);
    await expect(loadTokenizer({ 'tokenizer_config.json': '{}' })).rejects.toThrow(/loadTokenizer: no tokenizer\.json in the given files/);
    await expect(loadTokenizer({ 'tokenizer.json': 5 } as unknown as Record<string, string>)).rejects.toThrow(/files\["tokenizer\.json"\] must be a Blob\/File, bytes or text, got 5/);
    await expect(loadTokenizer([new Uint8Array(2)] as unknown as File[])).rejects.toThrow(/a list of files must hold File objects/);
    await expect(loadTokenizer({ 'tokenizer.json': '{"model": 1}' })).rejects.toThrow(/loadTokenizer: the given files: tokenizerJson has no "model" object/);
    await expect(loadTokenizer({ 'tokenizer.json': 'nope' })).rejects.toThrow(/loadTokenizer: tokenizer\.json is not valid JSON/);
  });
});

describe('bundling', () => {
  it('the tokenizer bundles for the browser without Node modules, and the core entry does not include it', async () => {
    const bundle = async (contents: string) => {
      const r = await build({
        stdin: { contents, resolveDir: root, loader: 'ts' }, bundle: true, minify: true, format: 'esm', platform: 'browser',
        write: false, logLevel: 'silent', metafile: true, external: ['webgpu'], loader: { '.wgsl': 'text' },
      });
      return { text: r.outputFiles[0].text, inputs: Object.keys(r.metafile.inputs) };
    };
    const lm = await bundle(`import { Tokenizer, loadTokenizer } from './src/lm/tokenizer.ts'; console.log(Tokenizer, loadTokenizer);`);
    expect(lm.text).not.toMatch(/from\s*"node:/);
    expect(lm.inputs.some((p) => p.includes('@huggingface/tokenizers'))).toBe(true);
    const core = await bundle(`import * as wt from './src/index.ts'; console.log(wt);`);
    expect(core.inputs.filter((p) => p.startsWith('src/lm/') || p.includes('@huggingface'))).toEqual([]);
  });
});
