"""A small GPT-style decoder language model (nanoGPT-shaped); throughput counts tokens.

The data are sequences drawn from a fixed random Markov chain in which every token has only a
few likely successors: a model that learns the transitions drives the loss from log(vocab)
towards the chain's entropy. No dropout, so every paradigm consumes the same random numbers.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from harness.workload import Workload, classification_metrics


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab: int, seq_len: int, d: int, layers: int, heads: int) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq_len, d)
        self.blocks = nn.Sequential(*(Block(d, heads) for _ in range(layers)))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tok.weight  # weight tying, as GPT-2 does

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        return self.head(self.ln(self.blocks(self.tok(idx) + self.pos(pos))))


def markov_sequences(vocab: int, length: int, samples: int, successors: int = 4,
                     seed: int = 1235, chain_seed: int = 1234) -> torch.Tensor:
    """(samples, length) tokens walked along a fixed random Markov chain (``chain_seed`` picks
    the chain, ``seed`` the walks), in which every token has ``successors`` likely successors."""
    nxt = torch.randint(vocab, (vocab, successors),
                        generator=torch.Generator().manual_seed(chain_seed))
    g = torch.Generator().manual_seed(seed)
    seqs = torch.empty(samples, length, dtype=torch.long)
    seqs[:, 0] = torch.randint(vocab, (samples,), generator=g)
    choice = torch.randint(successors, (samples, length - 1), generator=g)
    for t in range(length - 1):
        seqs[:, t + 1] = nxt[seqs[:, t], choice[:, t]]
    return seqs


class MarkovTokens(Dataset):
    """``samples`` sequences of ``seq_len + 1`` tokens; item i is (tokens[:-1], tokens[1:])."""

    def __init__(self, vocab: int, seq_len: int, samples: int, successors: int = 4,
                 seed: int = 1235) -> None:
        # the chain is fixed; the seed only picks which sequences are drawn from it
        self.seqs = markov_sequences(vocab, seq_len + 1, samples, successors, seed)

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.seqs[i, :-1], self.seqs[i, 1:]


class GPT(Workload):
    name = "gpt"
    item_name = "tokens"
    sizes = {
        "tiny": dict(vocab=64, seq_len=16, d=32, layers=2, heads=2, samples=256),
        "small": dict(vocab=256, seq_len=64, d=128, layers=4, heads=4, samples=2048),
        # ~25 M parameters, 8192 tokens per step at batch 32: ~1.2 TFLOP per step
        "default": dict(vocab=4096, seq_len=256, d=512, layers=8, heads=8, samples=8192),
    }
    default_batch_size = 16

    def __init__(self, vocab: int = 256, seq_len: int = 64, d: int = 128, layers: int = 4,
                 heads: int = 4, samples: int = 2048) -> None:
        self.vocab, self.seq_len, self.d = vocab, seq_len, d
        self.layers, self.heads, self.samples = layers, heads, samples

    def build_model(self) -> nn.Module:
        model = TinyGPT(self.vocab, self.seq_len, self.d, self.layers, self.heads)
        for name, p in model.named_parameters():  # GPT-2 style scaled init of residual outputs
            if name.endswith(("proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * self.layers))
        return model

    def build_dataset(self) -> MarkovTokens:
        return MarkovTokens(self.vocab, self.seq_len, self.samples)

    def build_val_dataset(self) -> MarkovTokens:
        return MarkovTokens(self.vocab, self.seq_len, self.samples // 8, seed=4321)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        logits = model(x)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))

    def evaluate(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        logits = model(x)
        return classification_metrics(logits.view(-1, logits.size(-1)), y.reshape(-1))

    def build_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=3e-3, weight_decay=0.1)

    def items_per_sample(self) -> int:
        return self.seq_len
