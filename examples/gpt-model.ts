/**
 * The GPT-style character model shared by the char-gpt example, the demo page and the benchmark:
 * token + learned position embeddings, pre-norm causal transformer blocks (GELU feed-forward of
 * 4C), a final LayerNorm and a linear head. Browser-safe (no Node imports).
 * Shapes: B batch, T block size, C model width, V vocabulary.
 */
import * as wt from '../src/index.js';

const { nn } = wt;

export interface GptConfig {
  vocabSize: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  /** dropout in the blocks (default 0) */
  dropout?: number;
}

export class CharGPT extends nn.Module {
  tokEmb: wt.nn.Embedding;
  posEmb: wt.nn.LearnedPositionalEmbedding;
  blocks: wt.nn.TransformerEncoderLayer[];
  lnF: wt.nn.LayerNorm;
  head: wt.nn.Linear;
  constructor(readonly cfg: GptConfig) {
    super();
    this.tokEmb = new nn.Embedding(cfg.vocabSize, cfg.nEmbd);
    this.posEmb = new nn.LearnedPositionalEmbedding(cfg.blockSize, cfg.nEmbd);
    this.blocks = Array.from({ length: cfg.nLayer }, () => new nn.TransformerEncoderLayer(cfg.nEmbd, cfg.nHead, {
      dimFeedforward: 4 * cfg.nEmbd, dropout: cfg.dropout ?? 0, activation: 'gelu', normFirst: true, batchFirst: true,
    }));
    this.lnF = new nn.LayerNorm(cfg.nEmbd);
    this.head = new nn.Linear(cfg.nEmbd, cfg.vocabSize);
  }
  /** idx int32 (B, T) → logits (B, T, V) */
  forward(idx: wt.Tensor): wt.Tensor {
    let x = this.posEmb.forward(this.tokEmb.forward(idx)); // (B, T, C)
    for (const b of this.blocks) x = b.forward(x, { isCausal: true });
    return this.head.forward(this.lnF.forward(x));
  }
  /** Mean cross-entropy of next-character prediction; x, y int32 (B, T). */
  loss(x: wt.Tensor, y: wt.Tensor): wt.Tensor {
    return wt.F.crossEntropy(this.forward(x).reshape(-1, this.cfg.vocabSize), y.reshape(-1));
  }
}
