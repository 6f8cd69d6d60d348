"""BERT-base as Hugging Face transformers builds it (``BertForSequenceClassification`` from a
``BertConfig``, random initialisation, no downloaded weights): sequence classification at 128
tokens; throughput counts tokens.

``default`` is BERT-base exactly (12 layers, 768 wide, 12 heads, the 30522-token vocabulary,
dropout 0.1, torch's SDPA attention, the transformers default) at batch 32 x 128 tokens: the
shape of BERT fine-tuning on GLUE (128 is the usual maximum sequence length there, 32 the
larger of the batch sizes the BERT paper fine-tunes with), one H100 with room to spare.
``small`` and ``tiny`` are Google's published BERT-Mini (4 layers, 256 wide) and BERT-Tiny
(2 layers, 128 wide) shapes, the same code; ``tiny`` also shrinks the vocabulary. The loss is
the model's own (``labels=``, cross-entropy over two classes). AdamW as BERT is trained from
scratch: lr 1e-4, betas (0.9, 0.999), weight decay 0.01 except on biases and LayerNorm.

Dropout is on, as people train it (see ``gpt2`` for why the paradigms stay bitwise equal).
Data: every sequence starts with ``[CLS]`` and walks one of two fixed random Markov chains;
its label is which one. A plain ``TensorDataset``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from harness.workload import LossWithLogits, Workload
from workloads.gpt import markov_sequences
from workloads.gpt2 import adamw

CLS = 101  # "[CLS]" in bert-base-uncased's vocabulary


class Bert(Workload):
    name = "bert-base"
    requires = {"transformers": "paradigm-bench[nlp]"}
    item_name = "tokens"
    sizes = {
        "tiny": dict(vocab=512, seq_len=32, d=128, layers=2, heads=2, samples=64),
        "small": dict(vocab=30522, seq_len=128, d=256, layers=4, heads=4, samples=256),
        # 109.5 M parameters; 6 x parameters x tokens = 2.7 TFLOP per step of 32 x 128 tokens
        "default": dict(vocab=30522, seq_len=128, d=768, layers=12, heads=12, samples=2048),
    }
    default_batch_size = 32

    def __init__(self, vocab: int = 30522, seq_len: int = 128, d: int = 768, layers: int = 12,
                 heads: int = 12, samples: int = 2048, dropout: float = 0.1,
                 classes: int = 2) -> None:
        self.vocab, self.seq_len, self.d = vocab, seq_len, d
        self.layers, self.heads, self.samples = layers, heads, samples
        self.dropout, self.classes = dropout, classes

    def config(self):  # a transformers.BertConfig
        from transformers import BertConfig

        return BertConfig(
            vocab_size=self.vocab, hidden_size=self.d, num_hidden_layers=self.layers,
            num_attention_heads=self.heads, intermediate_size=4 * self.d,
            max_position_embeddings=max(512, self.seq_len), hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.dropout, num_labels=self.classes,
            problem_type="single_label_classification",
        )

    def build_model(self) -> nn.Module:
        from transformers import BertForSequenceClassification

        return BertForSequenceClassification(self.config())

    def _data(self, samples: int, seed: int) -> TensorDataset:
        y = torch.randint(self.classes, (samples,),
                          generator=torch.Generator().manual_seed(seed + 1))
        walks = torch.stack([markov_sequences(self.vocab, self.seq_len, samples, seed=seed,
                                              chain_seed=1234 + c) for c in range(self.classes)])
        tokens = walks[y, torch.arange(samples)]
        tokens[:, 0] = CLS
        return TensorDataset(tokens, y)

    def build_dataset(self) -> TensorDataset:
        return self._data(self.samples, seed=1235)

    def build_val_dataset(self) -> TensorDataset:
        return self._data(max(self.samples // 8, 8), seed=4321)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.loss_with_logits(model, batch).loss

    def loss_with_logits(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
                         ) -> LossWithLogits:
        tokens, y = batch
        out = model(input_ids=tokens, labels=y)  # the model's own loss, and its logits
        return LossWithLogits(out.loss, out.logits, y)

    def classify(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, y = batch
        return model(input_ids=tokens).logits, y

    def build_optimizer(self, params) -> torch.optim.Optimizer:
        return adamw(params, lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01)

    def items_per_sample(self) -> int:
        return self.seq_len
