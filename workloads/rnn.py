"""A recurrent classifier over token sequences, fed dict batches.

An embedding, then a GRU cell stepped over time in Python (the way custom recurrent models are
written), then a linear head. Every time step reuses the same weights, which is what makes this
model sensitive to autocast's weight-cast cache: with the cache each weight is cast once per
forward and its gradients are summed in the low-precision dtype; without it every step casts
again and the gradients are summed in fp32. The harness runs one policy in all three paradigms
(see ``harness.precision``); the parity tests use this workload to prove it.

Batches are dicts, ``{"tokens": (B, T) long, "label": (B,) long}``: the label says whether the
sequence's mean token id lies above the middle of the vocabulary.
"""

import torch
from torch import nn
from torch.utils.data import Dataset

from harness.workload import Workload, classification_metrics


class TokenSequences(Dataset):
    def __init__(self, vocab: int, seq_len: int, samples: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.tokens = torch.randint(vocab, (samples, seq_len), generator=g)
        self.labels = (self.tokens.float().mean(dim=1) > (vocab - 1) / 2).long()

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"tokens": self.tokens[i], "label": self.labels[i]}


class GRUClassifier(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.cell = nn.GRUCell(embed, hidden)
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        h = x.new_zeros(tokens.shape[0], self.cell.hidden_size)
        for t in range(tokens.shape[1]):
            h = self.cell(x[:, t], h)
        return self.head(h)


class RNN(Workload):
    name = "rnn"
    sizes = {
        "tiny": dict(vocab=32, seq_len=8, embed=16, hidden=32, samples=256),
        "small": dict(vocab=512, seq_len=32, embed=64, hidden=128, samples=4096),
        "default": dict(vocab=8192, seq_len=64, embed=256, hidden=1024, samples=32768),
    }
    default_batch_size = 32

    def __init__(self, vocab: int = 512, seq_len: int = 32, embed: int = 64, hidden: int = 128,
                 samples: int = 4096) -> None:
        self.vocab, self.seq_len, self.embed = vocab, seq_len, embed
        self.hidden, self.samples = hidden, samples

    def build_model(self) -> nn.Module:
        return GRUClassifier(self.vocab, self.embed, self.hidden)

    def build_dataset(self) -> TokenSequences:
        return TokenSequences(self.vocab, self.seq_len, self.samples, seed=1235)

    def build_val_dataset(self) -> TokenSequences:
        return TokenSequences(self.vocab, self.seq_len, self.samples // 8, seed=4321)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(model(batch["tokens"]), batch["label"])

    def evaluate(self, model: nn.Module, batch: dict[str, torch.Tensor]):
        return classification_metrics(model(batch["tokens"]), batch["label"])

    def model_input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["tokens"]

    def build_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=1e-2)

    def items_per_sample(self) -> int:
        return self.seq_len

    item_name = "tokens"
