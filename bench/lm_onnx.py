#!/usr/bin/env python3
"""The ONNX Runtime peer of `npm run bench:lm`: the same random-weight language model, once in
the Hugging Face hub's layout (config.json + model.safetensors, what webtensor loads) and once
exported by `torch.onnx.export` with a KV cache (what transformers.js runs on ONNX Runtime).

Shapes: `gpt2` is GPT-2 small (124M parameters), `smollm2` SmolLM2-135M (Llama-style: 30 layers,
grouped-query attention 9/3 heads, tied embeddings). Weights are random (speed does not depend on
them) from the same functions as the test fixtures (test/fixtures/hf_lm.py), so both libraries
read one set of values; expected.json holds PyTorch's logits of a short input so the bench can
check that webtensor and ONNX Runtime agree before it times them.

ONNX model: inputs `input_ids` int64 [B, T] and, per layer i, `past.i.key` / `past.i.value`
float32 [B, kv_heads, P, head_dim] (P = 0 for the prefill); outputs `logits` [B, T, vocab] and
`present.i.key` / `present.i.value` [B, kv_heads, P + T, head_dim]. Positions continue from P.

    /usr/bin/python3 bench/lm_onnx.py OUT_DIR [--layers N] [gpt2|smollm2 ...]

--layers N keeps each model's width and vocabulary but only N layers (written to OUT_DIR/<name>-L<N>).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
import hf_lm  # noqa: E402  (the fixtures' weight makers, reference forwards and safetensors writer)

CONFIGS = {
    'gpt2': {
        'architectures': ['GPT2LMHeadModel'], 'model_type': 'gpt2', 'activation_function': 'gelu_new',
        'vocab_size': 50257, 'n_positions': 1024, 'n_ctx': 1024, 'n_embd': 768, 'n_layer': 12, 'n_head': 12,
        'n_inner': None, 'layer_norm_epsilon': 1e-5, 'bos_token_id': 50256, 'eos_token_id': 50256, 'torch_dtype': 'float32',
    },
    'smollm2': {
        'architectures': ['LlamaForCausalLM'], 'model_type': 'llama', 'hidden_act': 'silu',
        'vocab_size': 49152, 'hidden_size': 576, 'intermediate_size': 1536, 'num_hidden_layers': 30,
        'num_attention_heads': 9, 'num_key_value_heads': 3, 'head_dim': 64, 'max_position_embeddings': 8192,
        'rms_norm_eps': 1e-5, 'rope_theta': 100000.0, 'rope_scaling': None, 'attention_bias': False,
        'tie_word_embeddings': True, 'bos_token_id': 0, 'eos_token_id': 0, 'torch_dtype': 'float32',
    },
}


class CachedGPT2(torch.nn.Module):
    """GPT-2 with a KV cache (hf_lm.gpt2_forward plus past keys/values)."""

    def __init__(self, sd, cfg):
        super().__init__()
        self.cfg = cfg
        for k, v in sd.items():
            self.register_buffer(k.replace('.', '_'), v)

    def w(self, k):
        return getattr(self, k.replace('.', '_'))

    def forward(self, ids, *past):
        cfg = self.cfg
        B, T = ids.shape
        E, H = cfg['n_embd'], cfg['n_head']
        hd = E // H
        eps = cfg['layer_norm_epsilon']
        P = past[0].shape[2]
        pos = torch.arange(T) + P
        x = self.w('wte.weight')[ids] + self.w('wpe.weight')[pos][None]
        allowed = torch.arange(T + P)[None, :] <= pos[:, None]
        present = []
        for i in range(cfg['n_layer']):
            p = f'h.{i}.'
            h = torch.nn.functional.layer_norm(x, (E,), self.w(p + 'ln_1.weight'), self.w(p + 'ln_1.bias'), eps)
            qkv = hf_lm.conv1d(h, self.w(p + 'attn.c_attn.weight'), self.w(p + 'attn.c_attn.bias'))
            q, k, v = qkv.split(E, dim=2)
            q, k, v = [t.reshape(B, T, H, hd).transpose(1, 2) for t in (q, k, v)]
            k = torch.cat([past[2 * i], k], dim=2)
            v = torch.cat([past[2 * i + 1], v], dim=2)
            present += [k, v]
            w = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
            w = w.masked_fill(~allowed, torch.finfo(torch.float32).min)
            a = (torch.softmax(w, dim=-1) @ v).transpose(1, 2).reshape(B, T, E)
            x = x + hf_lm.conv1d(a, self.w(p + 'attn.c_proj.weight'), self.w(p + 'attn.c_proj.bias'))
            h = torch.nn.functional.layer_norm(x, (E,), self.w(p + 'ln_2.weight'), self.w(p + 'ln_2.bias'), eps)
            h = hf_lm.conv1d(hf_lm.gelu_new(hf_lm.conv1d(h, self.w(p + 'mlp.c_fc.weight'), self.w(p + 'mlp.c_fc.bias'))), self.w(p + 'mlp.c_proj.weight'), self.w(p + 'mlp.c_proj.bias'))
            x = x + h
        x = torch.nn.functional.layer_norm(x, (E,), self.w('ln_f.weight'), self.w('ln_f.bias'), eps)
        return (x @ self.w('wte.weight').T, *present)


class CachedLlama(CachedGPT2):
    """Llama with a KV cache (hf_lm.llama_forward plus past keys/values)."""

    def forward(self, ids, *past):
        cfg = self.cfg
        B, T = ids.shape
        E, H, Hkv = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads']
        hd = cfg.get('head_dim') or E // H
        eps = cfg['rms_norm_eps']
        P = past[0].shape[2]
        pos = torch.arange(T) + P
        freqs = pos.float()[:, None] * hf_lm.rope_inv_freq(cfg)[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        allowed = torch.arange(T + P)[None, :] <= pos[:, None]
        lin = lambda x, n: torch.nn.functional.linear(x, self.w(n + '.weight'))
        x = self.w('model.embed_tokens.weight')[ids]
        present = []
        for i in range(cfg['num_hidden_layers']):
            p = f'model.layers.{i}.'
            h = hf_lm.rms_norm(x, self.w(p + 'input_layernorm.weight'), eps)
            q = lin(h, p + 'self_attn.q_proj').reshape(B, T, H, hd).transpose(1, 2)
            k = lin(h, p + 'self_attn.k_proj').reshape(B, T, Hkv, hd).transpose(1, 2)
            v = lin(h, p + 'self_attn.v_proj').reshape(B, T, Hkv, hd).transpose(1, 2)
            q = q * cos + hf_lm.rotate_half(q) * sin
            k = k * cos + hf_lm.rotate_half(k) * sin
            k = torch.cat([past[2 * i], k], dim=2)
            v = torch.cat([past[2 * i + 1], v], dim=2)
            present += [k, v]
            # repeat_kv as an expand (repeat_interleave exports with the traced length fixed)
            k = k.unsqueeze(2).expand(-1, -1, H // Hkv, -1, -1).reshape(B, H, -1, hd)
            v = v.unsqueeze(2).expand(-1, -1, H // Hkv, -1, -1).reshape(B, H, -1, hd)
            w = (q @ k.transpose(2, 3)) * hd ** -0.5
            w = w.masked_fill(~allowed, torch.finfo(torch.float32).min)
            a = (torch.softmax(w, dim=-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
            x = x + lin(a, p + 'self_attn.o_proj')
            h = hf_lm.rms_norm(x, self.w(p + 'post_attention_layernorm.weight'), eps)
            x = x + lin(torch.nn.functional.silu(lin(h, p + 'mlp.gate_proj')) * lin(h, p + 'mlp.up_proj'), p + 'mlp.down_proj')
        x = hf_lm.rms_norm(x, self.w('model.norm.weight'), eps)
        return (x @ self.w('model.embed_tokens.weight').T, *present)


def small_init(sd, scale):
    """Random weights scaled so that activations stay finite through every layer."""
    return {k: (v if k.endswith(('ln_1.weight', 'ln_2.weight', 'ln_f.weight', 'layernorm.weight', 'norm.weight')) else v * scale) for k, v in sd.items()}


def make(name, out, layers=None):
    cfg = dict(CONFIGS[name])
    d = os.path.join(out, name if layers is None else f'{name}-L{layers}')
    if layers is not None:
        cfg['n_layer' if cfg['model_type'] == 'gpt2' else 'num_hidden_layers'] = layers
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    if cfg['model_type'] == 'gpt2':
        sd = small_init(hf_lm.gpt2_weights(cfg, g), 0.2)
        model, layers, kv, hd = CachedGPT2(sd, cfg), cfg['n_layer'], cfg['n_head'], cfg['n_embd'] // cfg['n_head']
        reference = hf_lm.gpt2_forward
    else:
        sd = small_init(hf_lm.llama_weights(cfg, g, qkv_bias=False), 0.3)
        model, layers, kv, hd = CachedLlama(sd, cfg), cfg['num_hidden_layers'], cfg['num_key_value_heads'], cfg['head_dim']
        reference = hf_lm.llama_forward
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
    hf_lm.write_safetensors(os.path.join(d, 'model.safetensors'), list(sd.items()), torch.float32)
    ids = torch.randint(0, cfg['vocab_size'], (1, 8), generator=g)
    empty = [torch.zeros(1, kv, 0, hd) for _ in range(2 * layers)]
    with torch.no_grad():
        logits = reference(sd, cfg, ids)
        cached = model(ids, *empty)[0]
        assert torch.allclose(logits, cached, atol=1e-4), f'{name}: the cached forward differs from the reference by {float((logits - cached).abs().max())}'
        # the cache continues a sequence exactly as a forward over the whole of it
        first = model(ids[:, :5], *empty)
        rest = model(ids[:, 5:], *first[1:])[0]
        assert torch.allclose(rest, logits[:, 5:], atol=1e-4), f'{name}: cached continuation differs by {float((rest - logits[:, 5:]).abs().max())}'
    with open(os.path.join(d, 'expected.json'), 'w') as f:
        json.dump({'inputs': ids.tolist(), 'lastLogits': [round(float(v), 5) for v in logits[0, -1, :64]]}, f)
    names = [n for i in range(layers) for n in (f'past.{i}.key', f'past.{i}.value')]
    outs = [n.replace('past', 'present') for n in names]
    dyn = {'input_ids': {0: 'batch', 1: 'tokens'}, 'logits': {0: 'batch', 1: 'tokens'}}
    dyn.update({n: {0: 'batch', 2: 'past'} for n in names})
    dyn.update({n: {0: 'batch', 2: 'total'} for n in outs})
    torch.onnx.export(model, (ids, *empty), os.path.join(d, 'model.onnx'), input_names=['input_ids', *names],
                      output_names=['logits', *outs], dynamic_axes=dyn, opset_version=14, do_constant_folding=False)
    print(name, 'written to', d)


if __name__ == '__main__':
    argv = sys.argv[1:]
    if not argv:
        sys.exit(__doc__)
    layers = None
    if '--layers' in argv:
        i = argv.index('--layers')
        layers = int(argv[i + 1])
        del argv[i:i + 2]
    for n in argv[1:] or list(CONFIGS):
        make(n, argv[0], layers)
