"""GPT-2 (124M) as Hugging Face transformers builds it (``GPT2LMHeadModel`` from a
``GPT2Config``, random initialisation, no downloaded weights): causal language modelling at
1024 tokens; throughput counts tokens.

``default`` is GPT-2 small exactly: 12 layers, 768 wide, 12 heads, the 50257-token vocabulary,
1024 positions, tied input and output embeddings, dropout 0.1, torch's SDPA attention (the
transformers default). Batch 32 x 1024 tokens per step on one H100 (80 GB): transformers
materialises the logits (32 x 1024 x 50257: 3.3 GB in bf16, 6.6 GB as the fp32 copy the loss
takes, and their gradients), so 32 leaves room (an estimate, not yet run on a GPU), between
nanoGPT's 12 (a 40 GB A100) and llm.c's 64, which relies on a fused classifier that never
holds them. The loss is the model's own (``labels=input_ids``: shifted
by one inside, in fp32). AdamW as nanoGPT trains GPT-2: lr 6e-4, betas (0.9, 0.95), weight
decay 0.1 on the matrices, none on biases, LayerNorm and the like (the 1-D tensors).

Dropout is on, as people train it. The frameworks draw no random numbers of their own between
the seeded model build and each step (``tests/workloads/test_real_models.py`` checks the three
bitwise with dropout on), so the dropout masks are the same in all three.

Tokens walk a fixed random Markov chain (as ``gpt``), held in a plain ``TensorDataset``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from harness.workload import Workload
from workloads.gpt import markov_sequences


def adamw(params, lr: float, betas: tuple[float, float], weight_decay: float
          ) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices (embeddings included) and none on 1-D tensors
    (biases, LayerNorm), the split nanoGPT and BERT's reference code make."""
    params = [p for p in params if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


class GPT2(Workload):
    name = "gpt2"
    requires = {"transformers": "paradigm-bench[nlp]"}
    item_name = "tokens"
    sizes = {
        "tiny": dict(vocab=256, seq_len=32, d=64, layers=2, heads=2, samples=64),
        "small": dict(vocab=8192, seq_len=256, d=256, layers=4, heads=4, samples=256),
        # 124.4 M parameters; 6 x parameters x tokens = 24.5 TFLOP per step of 32 x 1024
        # tokens, plus attention's score and value products (about 15% more at 1024 tokens)
        "default": dict(vocab=50257, seq_len=1024, d=768, layers=12, heads=12, samples=256),
    }
    default_batch_size = 32

    def __init__(self, vocab: int = 50257, seq_len: int = 1024, d: int = 768, layers: int = 12,
                 heads: int = 12, samples: int = 256, dropout: float = 0.1) -> None:
        self.vocab, self.seq_len, self.d = vocab, seq_len, d
        self.layers, self.heads, self.samples, self.dropout = layers, heads, samples, dropout

    def config(self):  # a transformers.GPT2Config
        from transformers import GPT2Config

        return GPT2Config(
            vocab_size=self.vocab, n_positions=self.seq_len, n_embd=self.d,
            n_layer=self.layers, n_head=self.heads, resid_pdrop=self.dropout,
            embd_pdrop=self.dropout, attn_pdrop=self.dropout,
            bos_token_id=self.vocab - 1, eos_token_id=self.vocab - 1,  # <|endoftext|>'s place
        )

    def build_model(self) -> nn.Module:
        from transformers import GPT2LMHeadModel

        model = GPT2LMHeadModel(self.config())
        model.loss_type = "ForCausalLM"  # what it falls back to anyway, without the warning
        return model

    def _data(self, samples: int, seed: int) -> TensorDataset:
        return TensorDataset(markov_sequences(self.vocab, self.seq_len, samples, seed=seed))

    def build_dataset(self) -> TensorDataset:
        return self._data(self.samples, seed=1235)

    def build_val_dataset(self) -> TensorDataset:
        return self._data(max(self.samples // 8, 8), seed=4321)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor]) -> torch.Tensor:
        (tokens,) = batch
        return model(input_ids=tokens, labels=tokens).loss

    def build_optimizer(self, params) -> torch.optim.Optimizer:
        return adamw(params, lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1)

    def items_per_sample(self) -> int:
        return self.seq_len
