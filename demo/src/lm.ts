/**
 * The language-model page: loads a Hugging Face checkpoint (GPT-2 or Llama-style) from picked
 * files or a hub address with `webtensor/lm`, shows its size and the memory estimate before the
 * weights download, then streams a continuation of the prompt with tokens/s for the prefill and
 * the decode.
 *
 * URL parameters: ?model=ADDRESS (load it at once), ?prompt=…, ?max=64, ?temp=0.8, ?topk=40,
 * ?context=1024, ?backend=cpu.
 */
import { inspectModel, loadCausalLM, loadTokenizer, type CausalLM, type Tokenizer } from '../../src/lm/index.js';
import { $, escapeHtml, initControl, param, reportErrors, startBackend } from './common.js';
import { formatBytes } from '../../src/lm/memory.js';

interface State {
  backend: string;
  loaded: boolean;
  loading: boolean;
  modelType: string | null;
  parameters: number;
  running: boolean;
  promptTokens: number;
  generated: number;
  /** the generated token ids */
  ids: number[];
  text: string;
  prefillMs: number | null;
  decodeTokensPerSecond: number | null;
  tokenizer: boolean;
  error: string | null;
}

async function main(): Promise<void> {
  reportErrors();
  initControl('prompt', param('prompt', 'The meaning of life is'));
  initControl('max', param('max', 64));
  initControl('temp', param('temp', 0.8));
  initControl('topk', param('topk', 40));
  initControl('context', param('context', 1024));
  const backend = await startBackend();
  const state: State = {
    backend: backend.name, loaded: false, loading: false, modelType: null, parameters: 0, running: false, promptTokens: 0, generated: 0, ids: [],
    text: '', prefillMs: null, decodeTokensPerSecond: null, tokenizer: false, error: null,
  };
  let model: CausalLM | null = null;
  let tokenizer: Tokenizer | null = null;
  let stopRequested = false;
  const status = $('status');
  const setStatus = (html: string) => (status.innerHTML = html);
  const fail = (e: unknown) => {
    state.error = e instanceof Error ? e.message : String(e);
    setStatus(`<span class="error">${escapeHtml(state.error)}</span>`);
  };

  /** The model's files: the picked ones (by name), else the address. */
  const source = (): string | FileList | null => {
    const files = ($('files') as HTMLInputElement).files;
    if (files && files.length > 0) return files;
    const url = ($('url') as HTMLInputElement).value.trim();
    return url ? url : null;
  };

  const load = async () => {
    const src = source();
    if (!src) return setStatus('Pick the model files or paste an address first.');
    state.loading = true;
    state.loaded = false;
    state.error = null;
    ($('load') as HTMLButtonElement).disabled = true;
    ($('generate') as HTMLButtonElement).disabled = true;
    model?.dispose();
    model = null;
    try {
      const context = Number(($("context") as HTMLInputElement).value);
      // sizes first (config.json and the safetensors headers: a few KB), then the weights
      setStatus('reading the config and the checkpoint header…');
      const info = await inspectModel(src, { context });
      state.modelType = info.config.model_type;
      state.parameters = info.parameters;
      $('m-type').textContent = `${info.config.model_type} · ${info.layers} layers, width ${info.width}, vocabulary ${info.config.vocab_size.toLocaleString('en-US')}`;
      $('m-params').textContent = `${(info.parameters / 1e6).toFixed(1)} M`;
      $('m-size').textContent = `${formatBytes(info.fileBytes)} in ${info.dtypes.join(', ')}`;
      const e = info.estimate;
      $('m-memory').textContent = `${formatBytes(e.totalBytes)} (weights ${formatBytes(e.weightBytes)}, KV cache ${formatBytes(e.kvCacheBytes)} at ${e.context} tokens)`;
      const t0 = performance.now();
      const progress = $('progress') as HTMLProgressElement;
      const [m, tok] = await Promise.all([
        loadCausalLM(src, {
          context,
          onProgress: (p) => {
            progress.value = p.total ? p.loaded / p.total : 1;
            setStatus(`loading ${escapeHtml(p.file)}: ${formatBytes(p.loaded)} of ${formatBytes(p.total)}, ${p.tensors} of ${p.count} tensors`);
          },
        }),
        // no tokenizer.json is allowed (ids in, ids out); a broken one is an error to show
        loadTokenizer(src).catch((e: Error) => {
          if (/no tokenizer\.json/.test(e.message)) return null;
          throw e;
        }),
      ]);
      model = m;
      tokenizer = tok;
      state.tokenizer = tok !== null;
      $('m-load').textContent = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
      state.loaded = true;
      setStatus(tok ? 'Loaded. Type a prompt and press Generate.' : 'Loaded, but the files have no tokenizer.json: the prompt is read as token ids separated by spaces, and ids are shown.');
      ($('generate') as HTMLButtonElement).disabled = false;
    } catch (e) {
      fail(e);
    } finally {
      state.loading = false;
      ($('load') as HTMLButtonElement).disabled = false;
    }
  };

  const generate = async () => {
    if (!model || state.running) return;
    const text = ($('prompt') as HTMLTextAreaElement).value;
    let ids: number[];
    try {
      ids = tokenizer ? tokenizer.encode(text) : text.trim().split(/[\s,]+/).filter(Boolean).map(Number);
      if (ids.length === 0 || ids.some((i) => !Number.isInteger(i))) throw new Error(tokenizer ? 'the prompt is empty' : 'without a tokenizer the prompt must be token ids, e.g. "12 7 33"');
    } catch (e) {
      return fail(e);
    }
    const temperature = Number(($('temp') as HTMLInputElement).value);
    const topK = Number(($('topk') as HTMLInputElement).value);
    const maxNewTokens = Number(($('max') as HTMLInputElement).value);
    state.running = true;
    state.error = null;
    stopRequested = false;
    state.promptTokens = ids.length;
    state.generated = 0;
    state.ids = [];
    state.text = '';
    state.prefillMs = null;
    state.decodeTokensPerSecond = null;
    ($('generate') as HTMLButtonElement).disabled = true;
    ($('stop') as HTMLButtonElement).disabled = false;
    const out = $('output');
    out.textContent = text;
    const shown = document.createElement('b');
    out.append(shown);
    $('g-prompt').textContent = String(ids.length);
    const stream = tokenizer?.decodeStream({ skipSpecialTokens: true });
    const t0 = performance.now();
    let tFirst = 0;
    try {
      for await (const id of model.generate(ids, { maxNewTokens, temperature, ...(topK > 0 ? { topK } : {}) })) {
        const now = performance.now();
        if (state.generated === 0) {
          tFirst = now;
          state.prefillMs = now - t0;
          $('g-prefill').textContent = `${state.prefillMs.toFixed(0)} ms (${(ids.length / (state.prefillMs / 1000)).toFixed(1)} tokens/s)`;
        } else {
          state.decodeTokensPerSecond = state.generated / ((now - tFirst) / 1000);
          $('g-decode').textContent = `${state.decodeTokensPerSecond.toFixed(1)} tokens/s`;
        }
        state.generated++;
        state.ids.push(id);
        const piece = stream ? stream.push(id) : ` ${id}`;
        state.text += piece;
        shown.textContent = state.text;
        $('g-count').textContent = String(state.generated);
        if (stopRequested) break;
      }
      if (stream) {
        state.text += stream.flush();
        shown.textContent = state.text;
      }
    } catch (e) {
      fail(e);
    } finally {
      state.running = false;
      ($('generate') as HTMLButtonElement).disabled = false;
      ($('stop') as HTMLButtonElement).disabled = true;
    }
  };

  $('load').onclick = () => void load();
  $('generate').onclick = () => void generate();
  $('stop').onclick = () => (stopRequested = true);
  (window as unknown as { demo: { state(): State } }).demo = { state: () => ({ ...state, ids: [...state.ids] }) };
  const auto = param('model', '');
  if (auto) {
    ($('url') as HTMLInputElement).value = auto;
    await load();
  }
}

main().catch((e) => {
  console.error(e);
  document.getElementById('status')!.textContent = String(e);
});
