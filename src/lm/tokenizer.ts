/**
 * Text <-> token ids for pretrained language models, from the `tokenizer.json` (and
 * `tokenizer_config.json`) that ships with a Hugging Face checkpoint.
 *
 * The tokenization itself is Hugging Face's `@huggingface/tokenizers` (tokenizers.js: pure JS,
 * no dependencies, the tokenizer code of transformers.js): byte-level BPE (GPT-2, Llama-3,
 * SmolLM, Qwen), BPE with byte fallback (Llama-2, TinyLlama, Mistral), Unigram and WordPiece,
 * with the normalizers, pre-tokenizers, post-processors, decoders and added/special tokens that
 * tokenizer.json describes. Chat templates (Jinja, in tokenizer_config.json's `chat_template`)
 * are rendered by `@huggingface/jinja`, the renderer transformers.js uses.
 *
 * This module adds what a generation loop needs on top: ids validated with errors that say what
 * was wrong, bos/eos ids, a streaming decoder that never emits half a UTF-8 character, and
 * loading from a folder (Node), a base URL or picked files.
 */
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { ArgumentError, FormatError } from '../errors.js';
import { openSource, type LoadSource } from '../io/source.js';
import { checkOptions, describeValue as describe } from '../validate.js';

/** One chat message; `content` is usually a string (templates for images take a list of parts). */
export interface ChatMessage {
  role: string;
  content: string | readonly unknown[];
  [key: string]: unknown;
}

export interface EncodeOptions {
  /**
   * Add the special tokens the tokenizer's post-processor adds around a text, e.g. Llama's `<s>`
   * in front (default true, as in transformers). GPT-2's adds none. Special tokens written in the
   * text itself (`<|im_start|>`) are always recognised.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (bos, eos, `<|im_end|>`, ...): default false. */
  skipSpecialTokens?: boolean;
  /**
   * transformers' clean-up of spaces before punctuation (" ." -> "."), which changes the text;
   * default: tokenizer_config.json's `clean_up_tokenization_spaces`, else false.
   */
  cleanUpTokenizationSpaces?: boolean;
}

export interface ChatTemplateOptions {
  /** End with the prompt for the assistant's turn (e.g. `<|im_start|>assistant\n`): default false. */
  addGenerationPrompt?: boolean;
  /**
   * The template: Jinja source, or the name of one of tokenizer_config.json's named templates
   * (`[{ name, template }]`, e.g. "tool_use"). Default: the config's (or its "default").
   */
  chatTemplate?: string;
  /** More variables for the template (tools, documents, date_string, ...). */
  variables?: Record<string, unknown>;
}

const isNode = (): boolean => {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A config's token field: "<s>", { content: "<s>", ... } (an AddedToken), or null. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

function parseJson(op: string, what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${op}: ${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/** When tokenizer_config.json does not name bos/eos: the usual names, in order. */
const BOS_NAMES = ['<s>', '<|begin_of_text|>', '<bos>', '<|startoftext|>', '<|endoftext|>'];
const EOS_NAMES = ['</s>', '<|end_of_text|>', '<eos>', '<|endoftext|>', '<|im_end|>'];

/**
 * A tokenizer read from a checkpoint's tokenizer.json (+ tokenizer_config.json).
 *
 * ```ts
 * const tok = await loadTokenizer('models/SmolLM-135M-Instruct');   // or a URL, or picked files
 * const prompt = tok.encodeChat([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
 * const stream = tok.decodeStream({ skipSpecialTokens: true });
 * for (const id of generatedIds) output += stream.push(id);   // stop at tok.eosTokenId
 * output += stream.flush();
 * ```
 */
export class Tokenizer {
  /** The number of token ids: the highest id in the vocabulary or the added tokens, plus one. */
  readonly vocabSize: number;
  /** Beginning-of-sequence token (tokenizer_config.json's bos_token), if the tokenizer has one. */
  readonly bosToken: string | undefined;
  readonly bosTokenId: number | undefined;
  /** End-of-sequence token (tokenizer_config.json's eos_token): generation stops there. */
  readonly eosToken: string | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly unkTokenId: number | undefined;
  /** The ids of the special tokens (skipped by `decode(ids, { skipSpecialTokens: true })`). */
  readonly specialTokenIds: ReadonlySet<number>;
  /** tokenizer_config.json's chat template (Jinja source), if any. */
  readonly chatTemplate: string | undefined;

  private readonly hf: HFTokenizer;
  private readonly config: Record<string, unknown>;
  private readonly namedTemplates = new Map<string, string>();
  private readonly compiled = new Map<string, Template>();

  private constructor(hf: HFTokenizer, config: Record<string, unknown>, json: Record<string, unknown>) {
    this.hf = hf;
    this.config = config;
    let max = -1;
    for (const id of hf.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    const special = new Set<number>();
    for (const [id, t] of hf.get_added_tokens_decoder()) if (t.special) special.add(id);
    for (const t of Array.isArray(config.additional_special_tokens) ? config.additional_special_tokens : []) {
      const id = hf.token_to_id(tokenContent(t) ?? '');
      if (id !== undefined) special.add(id);
    }
    const op = 'Tokenizer.fromJSON';
    /** The token a config field names (checked to be in the vocabulary), or a guess when absent. */
    const resolve = (field: string, guesses: string[], guess0?: string): [string | undefined, number | undefined] => {
      if (field in config) {
        const content = tokenContent(config[field]);
        if (content === undefined) return [undefined, undefined]; // null: the checkpoint has none
        const id = hf.token_to_id(content);
        if (id === undefined) throw new FormatError(`${op}: tokenizer_config.json's ${field} ${JSON.stringify(content)} is not in the tokenizer's vocabulary`);
        return [content, id];
      }
      for (const g of guess0 !== undefined ? [guess0, ...guesses] : guesses) {
        const id = hf.token_to_id(g);
        if (id !== undefined && special.has(id)) return [g, id];
      }
      return [undefined, undefined];
    };
    // without a config, bos is what the post-processor puts in front (Llama's <s>), else a usual name
    const pp = json.post_processor;
    let templateBos: string | undefined;
    if (isObject(pp) && pp.type === 'TemplateProcessing' && Array.isArray(pp.single) && isObject(pp.single[0]) && isObject(pp.single[0].SpecialToken)) {
      const id = pp.single[0].SpecialToken.id;
      if (typeof id === 'string') templateBos = id;
    }
    [this.bosToken, this.bosTokenId] = resolve('bos_token', BOS_NAMES, templateBos);
    [this.eosToken, this.eosTokenId] = resolve('eos_token', EOS_NAMES);
    this.padTokenId = resolve('pad_token', [])[1];
    this.unkTokenId = resolve('unk_token', ['<unk>'])[1];
    this.specialTokenIds = special;
    const tpl = config.chat_template;
    if (typeof tpl === 'string') this.chatTemplate = tpl;
    else if (Array.isArray(tpl)) {
      // [{ name: "default", template }, { name: "tool_use", template }]
      for (const t of tpl) if (isObject(t) && typeof t.name === 'string' && typeof t.template === 'string') this.namedTemplates.set(t.name, t.template);
      this.chatTemplate = this.namedTemplates.get('default');
    } else if (tpl !== undefined && tpl !== null) {
      throw new FormatError(`${op}: tokenizer_config.json's chat_template must be a string or a list of { name, template }, got ${describe(tpl)}`);
    }
  }

  /**
   * A tokenizer from the contents of tokenizer.json (parsed or as text) and, optionally,
   * tokenizer_config.json (bos/eos tokens, the chat template, clean-up of spaces). Throws
   * FormatError when the file is not a tokenizer.json or uses a component tokenizers.js lacks.
   */
  static fromJSON(tokenizerJson: object | string, tokenizerConfig?: object | string): Tokenizer {
    const op = 'Tokenizer.fromJSON';
    const json = typeof tokenizerJson === 'string' ? parseJson(op, 'tokenizerJson', tokenizerJson) : tokenizerJson;
    if (!isObject(json)) throw new ArgumentError(`${op}: tokenizerJson must be the contents of tokenizer.json (an object or its JSON text), got ${describe(json)}`);
    let config: unknown = tokenizerConfig ?? {};
    if (typeof config === 'string') config = parseJson(op, 'tokenizerConfig', config);
    if (!isObject(config)) throw new ArgumentError(`${op}: tokenizerConfig must be the contents of tokenizer_config.json (an object or its JSON text), got ${describe(config)}`);
    if (!isObject(json.model)) {
      const hint = 'chat_template' in json || 'tokenizer_class' in json || 'bos_token' in json ? ' (this looks like tokenizer_config.json: pass it as the second argument)' : '';
      throw new FormatError(`${op}: tokenizerJson has no "model" object, so it is not a tokenizer.json${hint}`);
    }
    if (json.added_tokens !== undefined && !Array.isArray(json.added_tokens)) {
      throw new FormatError(`${op}: tokenizer.json's added_tokens must be a list, got ${describe(json.added_tokens)}`);
    }
    // tokenizers.js wants every section present; a hand-written file may leave out the empty ones
    const full: Record<string, unknown> = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json, added_tokens: json.added_tokens ?? [] };
    let hf: HFTokenizer;
    try {
      hf = new HFTokenizer(full, config);
    } catch (e) {
      throw new FormatError(`${op}: tokenizers.js cannot read this tokenizer.json (model type ${describe((json.model as Record<string, unknown>).type)}): ${(e as Error).message}`);
    }
    return new Tokenizer(hf, config, json);
  }

  /** Token ids of `text`. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const op = 'Tokenizer.encode';
    if (typeof text !== 'string') throw new ArgumentError(`${op}: text must be a string, got ${describe(text)}`);
    checkOptions<EncodeOptions>(op, options, ['addSpecialTokens']);
    return this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /** The text of token ids (an array or typed array of integers in [0, vocabSize)). */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const op = 'Tokenizer.decode';
    checkOptions<DecodeOptions>(op, options, ['skipSpecialTokens', 'cleanUpTokenizationSpaces']);
    return this.decodeChecked(this.checkIds(op, ids), options);
  }

  /** The token's id (a vocabulary entry as tokenizer.json spells it, e.g. "Ġthe", "▁the"), or undefined. */
  tokenToId(token: string): number | undefined {
    if (typeof token !== 'string') throw new ArgumentError(`Tokenizer.tokenToId: token must be a string, got ${describe(token)}`);
    return this.hf.token_to_id(token);
  }

  /** The vocabulary entry of an id; an id no token has is an ArgumentError (as decode's). */
  idToToken(id: number): string {
    this.checkId('Tokenizer.idToToken', id, 'id');
    return this.hf.id_to_token(id)!;
  }

  /**
   * The chat rendered by the checkpoint's chat template (tokenizer_config.json's
   * `chat_template`), as text; encode it with `{ addSpecialTokens: false }` (the template writes
   * bos itself where the model expects it), or use `encodeChat`.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    return this.renderChat('Tokenizer.applyChatTemplate', messages, options);
  }

  /** @internal applyChatTemplate, with `op` naming the method the user called in errors. */
  renderChat(op: string, messages: readonly ChatMessage[], options: ChatTemplateOptions): string {
    checkOptions<ChatTemplateOptions>(op, options, ['addGenerationPrompt', 'chatTemplate', 'variables']);
    if (!Array.isArray(messages)) throw new ArgumentError(`${op}: messages must be an array of { role, content }, got ${describe(messages)}`);
    messages.forEach((m, i) => {
      if (!isObject(m) || typeof m.role !== 'string') throw new ArgumentError(`${op}: messages[${i}] must be an object with a string role, got ${describe(m)}`);
      if (typeof m.content !== 'string' && !Array.isArray(m.content)) throw new ArgumentError(`${op}: messages[${i}].content must be a string (or a list of parts), got ${describe(m.content)}`);
    });
    let source = this.chatTemplate;
    if (options.chatTemplate !== undefined) {
      if (typeof options.chatTemplate !== 'string') throw new ArgumentError(`${op}: chatTemplate must be a string, got ${describe(options.chatTemplate)}`);
      source = this.namedTemplates.get(options.chatTemplate) ?? options.chatTemplate;
    }
    if (source === undefined) {
      const names = [...this.namedTemplates.keys()];
      throw new ArgumentError(`${op}: this tokenizer has no chat template (tokenizer_config.json has no chat_template${names.length ? `; named ones: ${names.join(', ')}` : ''}); pass { chatTemplate: '...' }`);
    }
    let template = this.compiled.get(source);
    if (template === undefined) {
      try {
        template = new Template(source);
      } catch (e) {
        throw new FormatError(`${op}: the chat template does not parse: ${(e as Error).message}`);
      }
      this.compiled.set(source, template);
    }
    const vars: Record<string, unknown> = {};
    // the special tokens by name, as transformers passes them (bos_token, eos_token, ...)
    for (const [k, v] of Object.entries(this.config)) {
      if (k.endsWith('_token')) {
        const c = tokenContent(v);
        if (c !== undefined) vars[k] = c;
      }
    }
    if (Array.isArray(this.config.additional_special_tokens)) vars.additional_special_tokens = this.config.additional_special_tokens.map(tokenContent);
    Object.assign(vars, options.variables ?? {}, { messages, add_generation_prompt: options.addGenerationPrompt ?? false });
    try {
      return template.render(vars);
    } catch (e) {
      // raise_exception("...") in the template, e.g. roles that do not alternate
      throw new ArgumentError(`${op}: the chat template failed on these messages: ${(e as Error).message}`);
    }
  }

  /** `encode(applyChatTemplate(messages, options), { addSpecialTokens: false })`. */
  encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.renderChat('Tokenizer.encodeChat', messages, options), { addSpecialTokens: false });
  }

  /**
   * A decoder for ids that arrive one at a time (generation): `push(id)` returns the new text,
   * possibly '' while a character is incomplete (byte-level BPE and byte fallback split UTF-8
   * characters across tokens; the bytes wait until the character is whole); `flush()` returns
   * what is left at the end. The pieces joined equal `decode(allIds, options)`.
   */
  decodeStream(options: Omit<DecodeOptions, 'cleanUpTokenizationSpaces'> = {}): DecodeStream {
    checkOptions<DecodeOptions>('Tokenizer.decodeStream', options, ['skipSpecialTokens']);
    return new DecodeStream(this, { skipSpecialTokens: options.skipSpecialTokens ?? false, cleanUpTokenizationSpaces: false });
  }

  /** @internal Ids checked to be integers that name a token; `op` names the caller in errors. */
  checkIds(op: string, ids: ArrayLike<number>): number[] {
    if (typeof ids !== 'object' || ids === null || typeof (ids as ArrayLike<number>).length !== 'number') {
      throw new ArgumentError(`${op}: ids must be an array of token ids, got ${describe(ids)}`);
    }
    const out = Array.from(ids);
    for (let i = 0; i < out.length; i++) this.checkId(op, out[i], `ids[${i}]`);
    return out;
  }

  /** @internal */
  checkId(op: string, id: unknown, name: string): asserts id is number {
    if (typeof id !== 'number' || !Number.isInteger(id)) throw new ArgumentError(`${op}: ${name} must be an integer token id, got ${describe(id)}`);
    if (id < 0 || id >= this.vocabSize || this.hf.id_to_token(id) === undefined) {
      throw new ArgumentError(`${op}: ${name} = ${id} is not a token id of this tokenizer (ids are 0..${this.vocabSize - 1})`);
    }
  }

  /** @internal */
  decodeChecked(ids: number[], options: DecodeOptions): string {
    if (ids.length === 0) return '';
    const cleanUp = options.cleanUpTokenizationSpaces ?? (this.config.clean_up_tokenization_spaces === true);
    return this.hf.decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? false, clean_up_tokenization_spaces: cleanUp });
  }
}

/**
 * Turns token ids arriving one at a time into text pieces (see `Tokenizer.decodeStream`). It
 * decodes a short window of recent ids (the ids of the last emitted piece as context, then the
 * new ones) and emits what the new ids added, unless that ends in U+FFFD (an incomplete UTF-8
 * character); decoders that depend on context (SentencePiece's leading-space strip) see the same
 * context as a whole decode does.
 */
export class DecodeStream {
  private ids: number[] = [];
  /** ids[prefix, read) were emitted (the context); ids[read, ...) not yet */
  private prefix = 0;
  private read = 0;
  private prefixText = '';

  /** @internal */
  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly options: DecodeOptions,
  ) {}

  /** Adds one id; returns the text it completes ('' while waiting for the rest of a character). */
  push(id: number): string {
    this.tokenizer.checkId('DecodeStream.push', id, 'id');
    this.ids.push(id);
    const text = this.tokenizer.decodeChecked(this.ids.slice(this.prefix), this.options);
    if (text.length <= this.prefixText.length || text.endsWith('\uFFFD')) return '';
    const piece = text.slice(this.prefixText.length);
    // the ids just emitted become the context of the next window
    this.ids = this.ids.slice(this.read);
    this.prefix = 0;
    this.read = this.ids.length;
    this.prefixText = this.tokenizer.decodeChecked(this.ids, this.options);
    return piece;
  }

  /** The text of the ids still waiting (an incomplete character comes out as U+FFFD), and a reset. */
  flush(): string {
    const text = this.tokenizer.decodeChecked(this.ids.slice(this.prefix), this.options);
    const piece = text.length > this.prefixText.length ? text.slice(this.prefixText.length) : '';
    this.ids = [];
    this.prefix = this.read = 0;
    this.prefixText = '';
    return piece;
  }
}

/** Picked files: a FileList or File[] (by file name), or an object / Map from file name to contents. */
export type TokenizerFiles =
  | Iterable<File>
  | Record<string, Blob | Uint8Array | ArrayBuffer | string>
  | Map<string, Blob | Uint8Array | ArrayBuffer | string>;

/** Where `loadTokenizer` reads tokenizer.json (and tokenizer_config.json, chat_template.jinja) from. */
export type TokenizerSource = string | URL | TokenizerFiles;

const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Reads a checkpoint's tokenizer: tokenizer.json (required), tokenizer_config.json and
 * chat_template.jinja (the template some checkpoints ship beside the config; optional) from
 * - a folder path (Node), or the path of tokenizer.json itself,
 * - a base URL (`https://.../resolve/main/` or a folder on your server; in a browser any string),
 * - files picked by the user: a FileList / File[] or an object mapping file names to
 *   Blob / bytes / text (names are matched by their last path component).
 */
export async function loadTokenizer(source: TokenizerSource): Promise<Tokenizer> {
  const op = 'loadTokenizer';
  const read = fileReader(op, source);
  const tokenizerText = await read('tokenizer.json');
  if (tokenizerText === undefined) throw new ArgumentError(`${op}: no tokenizer.json in ${where(source)}`);
  const configText = await read('tokenizer_config.json');
  const json = parseJson(op, 'tokenizer.json', tokenizerText);
  const parsed = configText === undefined ? {} : parseJson(op, 'tokenizer_config.json', configText);
  if (!isObject(parsed)) throw new FormatError(`${op}: tokenizer_config.json must hold an object, got ${describe(parsed)}`);
  let config = parsed;
  if (config.chat_template === undefined) {
    const jinja = await read('chat_template.jinja');
    if (jinja !== undefined) config = { ...config, chat_template: jinja };
  }
  if (!isObject(json)) throw new FormatError(`${op}: tokenizer.json must hold an object, got ${describe(json)}`);
  try {
    return Tokenizer.fromJSON(json, config);
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(e.message.replace(/^Tokenizer\.fromJSON:/, `${op}: ${where(source)}:`));
    throw e;
  }
}

function where(source: TokenizerSource): string {
  if (typeof source === 'string') return source;
  if (source instanceof URL) return source.href;
  return 'the given files';
}

const isUrl = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) && !/^file:/i.test(s);

/** A function from a file name to its text, or undefined when the source has no such file. */
function fileReader(op: string, source: TokenizerSource): (name: string) => Promise<string | undefined> {
  if (source instanceof URL) source = source.href;
  if (typeof source === 'string') {
    if (source === '') throw new ArgumentError(`${op}: source is an empty string; expected a folder path or a URL`);
    // the path or URL of tokenizer.json itself: its folder
    const base = source.replace(/tokenizer\.json$/, '');
    if (isUrl(base) || !isNode()) {
      return async (name) => {
        let url: string;
        try {
          url = new URL(name, base.endsWith('/') ? base : base + '/').href;
        } catch {
          url = `${base.replace(/\/$/, '')}/${name}`;
        }
        let res: Response;
        try {
          res = await fetch(url);
        } catch (e) {
          throw new ArgumentError(`${op}: fetching ${url} failed: ${(e as Error).message}`);
        }
        if (res.status === 404) return undefined;
        if (!res.ok) throw new ArgumentError(`${op}: fetching ${url} failed: HTTP ${res.status}`);
        return res.text();
      };
    }
    const dir = base.replace(/^file:\/\//i, '').replace(/[\\/]$/, '') || '/';
    return async (name) => {
      let src;
      try {
        src = await openSource(op, `${dir === '/' ? '' : dir}/${name}`);
      } catch (e) {
        if (e instanceof ArgumentError && /ENOENT/.test(e.message)) {
          if (name === 'tokenizer.json') throw new ArgumentError(`${op}: no tokenizer.json in ${dir} (${e.message.replace(`${op}: `, '')})`);
          return undefined;
        }
        throw e;
      }
      try {
        return decoder.decode(await src.read(0, src.size));
      } finally {
        await src.close();
      }
    };
  }
  // picked files
  const files = new Map<string, LoadSource>();
  const basename = (n: string): string => n.slice(Math.max(n.lastIndexOf('/'), n.lastIndexOf('\\')) + 1);
  const isContents = (v: unknown): v is LoadSource | string =>
    typeof v === 'string' || v instanceof Uint8Array || v instanceof ArrayBuffer || (typeof Blob !== 'undefined' && v instanceof Blob);
  if (source instanceof Map || (typeof source === 'object' && source !== null && !(Symbol.iterator in source))) {
    const entries = source instanceof Map ? [...source.entries()] : Object.entries(source);
    for (const [name, v] of entries) {
      if (!isContents(v)) throw new ArgumentError(`${op}: files[${JSON.stringify(name)}] must be a Blob/File, bytes or text, got ${describe(v)}`);
      files.set(basename(name), v);
    }
  } else if (typeof source === 'object' && source !== null && Symbol.iterator in source) {
    for (const f of source as Iterable<unknown>) {
      if (typeof Blob === 'undefined' || !(f instanceof Blob) || typeof (f as File).name !== 'string') {
        throw new ArgumentError(`${op}: a list of files must hold File objects (from a file picker), got ${describe(f)}`);
      }
      files.set(basename((f as File).name), f);
    }
  } else {
    throw new ArgumentError(`${op}: source must be a folder path, a URL, or picked files (FileList, File[] or { name: Blob }), got ${describe(source)}`);
  }
  return async (name) => {
    const v = files.get(name);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return v;
    const src = await openSource(op, v);
    try {
      return decoder.decode(await src.read(0, src.size));
    } finally {
      await src.close();
    }
  };
}
