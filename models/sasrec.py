"""SASRec (Kang & McAuley 2018): a causal self-attention network over the user's recent positive items,
trained to predict the next item at every position of the sequence.

Items are embedded (input and output embeddings tied), positions learnt; `layers` pre-norm transformer blocks
attend causally. The loss is cross-entropy over the whole catalogue when it has at most `full_softmax_items`
items (a full softmax is what lifts SASRec to the top of the leave-one-out tables: Klenitskiy & Vasilev 2023),
else over the target and `negatives` items drawn uniformly per batch and shared by its positions (sampled
softmax; a drawn item equal to the target is masked).

Training reads every item of at most `max_train_users` users (a seeded sample: the network is shared, and CPU
training on every user of a million does not fit the budget): a user's sequence is cut from its end into windows
of `max_len + 1` items that overlap by one, so each item but the first is a target once an epoch (the last window
alone would drop half of MovieLens-1M's events, whose users average 160). A user's scores are the last
position's output dotted with every item embedding, computed when scored, from the user's last `max_len` items:
the fitted model keeps the weights and the item sequences, not a vector per user.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from conf.settings import SasRecConfig
from models.base import CandidateGenerator
from models.data import TrainingSet, last_items, positive_sequences

INFERENCE_USERS = 512       # users per forward pass when scoring: (users, max_len, dim) activations at a time


class _Network(nn.Module):
    def __init__(self, n_items: int, cfg: SasRecConfig):
        super().__init__()
        self.items = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)     # item i is row i + 1; 0 pads
        self.positions = nn.Embedding(cfg.max_len, cfg.dim)
        block = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, cfg.dim * 4, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.scale = math.sqrt(cfg.dim)
        nn.init.normal_(self.items.weight, std=cfg.dim ** -0.5)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(batch, length) item rows, left-padded with 0 -> (batch, length, dim) states."""
        length = seq.shape[1]
        real = (seq > 0).unsqueeze(-1).float()
        x = self.items(seq) * self.scale + self.positions.weight[-length:]
        x = self.dropout(x) * real
        # Causal mask only: a key-padding mask would leave the leading pads with nothing to attend to (NaN);
        # their states are zeroed instead, as in the original.
        causal = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)
        return self.norm(self.blocks(x, mask=causal, is_causal=True)) * real


def windows(items: np.ndarray, starts: np.ndarray, users: np.ndarray, length: int) -> np.ndarray:
    """(len(users), length) each user's last `length` items as embedding rows (item + 1), oldest first,
    left-padded with 0 (last_items' -1 padding, shifted)."""
    return np.ascontiguousarray(last_items(items, starts, users, length)[:, ::-1]).astype(np.int64) + 1


def training_windows(items: np.ndarray, starts: np.ndarray, users: np.ndarray, length: int) -> np.ndarray:
    """(windows, length) every user's sequence cut from its end into windows of `length` items overlapping by one
    (each window's targets start where the previous one's inputs ended), as embedding rows, left-padded with 0;
    a window needs two items (an input and a target)."""
    users = np.asarray(users, dtype=np.int64)
    lo, hi = starts[users], starts[users + 1]
    step = length - 1
    per_user = np.maximum((hi - lo - 2) // step + 1, 0)
    owner = np.repeat(np.arange(len(users)), per_user)
    nth = np.arange(len(owner)) - np.repeat(np.cumsum(per_user) - per_user, per_user)
    end = hi[owner] - nth * step
    position = end[:, None] - length + np.arange(length)[None, :]
    ok = position >= lo[owner][:, None]
    return np.where(ok, items[np.where(ok, position, 0)] + 1, 0).astype(np.int64)


class SasRec(CandidateGenerator):
    name = "sasrec"

    def __init__(self, cfg: SasRecConfig, seed: int):
        self.cfg = cfg
        self.seed = seed

    def _fit(self, train: TrainingSet) -> None:
        for _ in self.epochs(train):
            pass

    def epochs(self, train: TrainingSet):
        """Fit, yielding after each epoch with the model ready to score (bench/generators_loo.py reads the curve)."""
        cfg = self.cfg
        self._train = train
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        items, starts = positive_sequences(train)
        self._items, self._starts = items.astype(np.int32), starts
        n_items = train.n_items
        network = _Network(n_items, cfg)
        self._network = network
        lengths = np.diff(starts)
        trainable = np.flatnonzero(lengths >= 2)
        if len(trainable) > cfg.max_train_users:
            trainable = np.sort(rng.choice(trainable, cfg.max_train_users, replace=False))
        self.trained_on_users = int(len(trainable))
        sequences = torch.from_numpy(training_windows(items, starts, trainable, cfg.max_len + 1))
        optimiser = torch.optim.Adam(network.parameters(), lr=cfg.learning_rate)
        sampled = n_items > cfg.full_softmax_items
        for _ in range(cfg.epochs if len(sequences) else 0):
            network.train()
            for batch in torch.from_numpy(rng.permutation(len(sequences))).split(cfg.batch_size):
                seq = sequences[batch]
                inputs, targets = seq[:, :-1], seq[:, 1:]
                where = (inputs > 0) & (targets > 0)                     # a next item after at least one item
                states = network(inputs)[where]                          # (positions, dim)
                target = targets[where]
                if sampled:
                    negatives = torch.from_numpy(rng.integers(1, n_items + 1, cfg.negatives))
                    positive = (states * network.items(target)).sum(-1, keepdim=True)
                    other = (states @ network.items(negatives).T).masked_fill(negatives[None, :] == target[:, None],
                                                                            float("-inf"))
                    loss = nn.functional.cross_entropy(torch.cat([positive, other], dim=1),
                                                       torch.zeros(len(target), dtype=torch.long))
                else:
                    loss = nn.functional.cross_entropy(states @ network.items.weight[1:].T, target - 1)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            network.eval()
            yield

    def over(self, train: TrainingSet) -> SasRec | None:
        """This fitted network scoring from `train`'s sequences (its users, their latest items), without training
        again; None when `train`'s catalogue is not the one the network learnt (an item's row would move)."""
        if not np.array_equal(train.item_ids, self._train.item_ids):
            return None
        other = SasRec.__new__(SasRec)
        other.__dict__.update(self.__dict__)     # not copy.copy: pickling's __getstate__ would rebuild the network
        other._train = train
        items, other._starts = positive_sequences(train)
        other._items = items.astype(np.int32)
        return other

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_network"] = self._network.state_dict() if "_network" in state else None
        state["_n_items"] = self._train.n_items if "_train" in state else 0
        return state

    def __setstate__(self, state: dict) -> None:
        weights = state.pop("_network")
        n_items = state.pop("_n_items")
        self.__dict__.update(state)
        if weights is not None:
            self._network = _Network(n_items, self.cfg)
            self._network.load_state_dict(weights)
            self._network.eval()

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        user_idx = np.asarray(user_idx, dtype=np.int64)
        scores = np.full((len(user_idx), self._train.n_items), -np.inf, dtype=np.float32)
        safe = np.maximum(user_idx, 0)
        known = np.flatnonzero((user_idx >= 0) & (self._starts[safe + 1] > self._starts[safe]))   # with a positive item
        threads = torch.get_num_threads()
        torch.set_num_threads(1)        # one Spark task = one core, as the ranker's inference
        try:
            self._forward(user_idx, known, scores)
        finally:
            torch.set_num_threads(threads)
        return scores

    def _forward(self, user_idx: np.ndarray, known: np.ndarray, scores: np.ndarray) -> None:
        with torch.no_grad():
            for block in np.array_split(known, max(1, math.ceil(len(known) / INFERENCE_USERS))):
                if not len(block):
                    continue
                seq = torch.from_numpy(windows(self._items, self._starts, user_idx[block], self.cfg.max_len))
                last = self._network(seq)[:, -1]
                scores[block] = (last @ self._network.items.weight[1:].T).numpy()
