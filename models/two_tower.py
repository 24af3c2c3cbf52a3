"""Two-tower retrieval in PyTorch: a user tower over recent history, an item tower over id + content.

item(i) = normalise(content_mlp(x_i) + id_embedding(i)): x_i is the SVD of the movie's TF-IDF
text plus its genres, so a movie nobody has watched yet still gets a vector (its id part is
zeroed, as it is for `id_dropout` of the training targets, which teaches the content path).
user(u) = normalise(mlp(mean of item(j) over u's last `history` positives)).
Trained with in-batch softmax (temperature, logQ correction for popularity) on the sequences of at most
`max_train_users` users (a seeded sample: the towers are shared, so a sample teaches them, and CPU
training on every user of a million does not fit the budget), at most `max_samples_per_epoch` targets
per epoch so the cost of a fit stops growing with users; every user then gets a vector. After fitting only
numpy vectors are kept, so the fitted model pickles small and scores without torch.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from torch import nn

from conf.settings import TwoTowerConfig
from models.base import CandidateGenerator, dot_scores
from models.content import tfidf_matrix
from models.data import TrainingSet, positive_sequences

TEXT_FEATURES = 20000
INFERENCE_USERS = 65536     # user vectors are computed in blocks: (users, history, dim) activations at a time


def content_features(train: TrainingSet, dim: int, seed: int) -> np.ndarray:
    """(n_items, <= dim + n_genres) standardised: SVD of the TF-IDF text, then genre indicators."""
    text = tfidf_matrix(train.catalog.text, TEXT_FEATURES)
    genres, _ = train.catalog.genre_matrix()
    n_comp = max(1, min(dim, text.shape[1] - 1, text.shape[0] - 1))
    dense = TruncatedSVD(n_comp, random_state=seed).fit_transform(text) if text.shape[1] > 1 else np.zeros((text.shape[0], 1))
    features = np.hstack([dense, sparse.csr_matrix(genres).toarray()]).astype(np.float32)
    std = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(std > 0, std, 1.0)


class _Towers(nn.Module):
    def __init__(self, content: torch.Tensor, dim: int):
        super().__init__()
        n_items = content.shape[0]
        self.register_buffer("content", content)
        self.item_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        nn.init.normal_(self.item_id.weight, std=0.01)
        self.item_mlp = nn.Sequential(nn.Linear(content.shape[1], dim * 2), nn.ReLU(), nn.Linear(dim * 2, dim))
        self.user_mlp = nn.Sequential(nn.Linear(dim, dim * 2), nn.ReLU(), nn.Linear(dim * 2, dim))
        self.pad = n_items

    def items(self, idx: torch.Tensor, keep_id: torch.Tensor) -> torch.Tensor:
        safe = idx.clamp(max=self.pad - 1)
        vec = self.item_mlp(self.content[safe]) + self.item_id(idx) * keep_id.unsqueeze(-1)
        return nn.functional.normalize(vec, dim=-1)

    def users(self, history: torch.Tensor, has_id: torch.Tensor) -> torch.Tensor:
        mask = (history != self.pad).float()
        vecs = self.items(history, has_id[history.clamp(max=self.pad - 1)] * mask)
        mean = (vecs * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return nn.functional.normalize(self.user_mlp(mean), dim=-1)


class TwoTower(CandidateGenerator):
    name = "two_tower"

    def __init__(self, cfg: TwoTowerConfig, seed: int):
        self.cfg = cfg
        self.seed = seed

    def _fit(self, train: TrainingSet) -> None:
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        items, starts = positive_sequences(train)
        n_items, pad, h = train.n_items, train.n_items, self.cfg.history
        content = torch.from_numpy(content_features(train, self.cfg.content_dim, self.seed))
        counts = np.bincount(items, minlength=n_items)
        has_id = torch.from_numpy((counts > 0).astype(np.float32))
        log_q = torch.from_numpy(np.log(np.maximum(counts, 1) / max(counts.sum(), 1)).astype(np.float32))
        model = _Towers(content, self.cfg.dim)
        optimiser = torch.optim.Adam(model.parameters(), lr=self.cfg.learning_rate)
        lengths = np.diff(starts)
        trainable = np.flatnonzero(lengths >= 2)
        if len(trainable) > self.cfg.max_train_users:
            trainable = np.sort(rng.choice(trainable, self.cfg.max_train_users, replace=False))
        self.trained_on_users = int(len(trainable))
        for _ in range(self.cfg.epochs if len(trainable) else 0):
            users = np.repeat(trainable, np.minimum(lengths[trainable] - 1, self.cfg.samples_per_user))
            if len(users) > self.cfg.max_samples_per_epoch:
                users = np.sort(rng.choice(users, self.cfg.max_samples_per_epoch, replace=False))
            positions = starts[users] + 1 + (rng.random(len(users)) * (lengths[users] - 1)).astype(np.int64)
            order = rng.permutation(len(users))
            for batch in np.array_split(order, max(1, len(order) // self.cfg.batch_size)):
                pos, first = positions[batch], starts[users[batch]]
                offsets = pos[:, None] - h + np.arange(h)[None, :]
                history = np.where(offsets >= first[:, None], items[np.maximum(offsets, 0)], pad)
                target = torch.from_numpy(items[pos])
                keep = (torch.rand(len(batch)) >= self.cfg.id_dropout).float() * has_id[target]
                u = model.users(torch.from_numpy(history), has_id)
                v = model.items(target, keep)
                logits = u @ v.T / self.cfg.temperature - log_q[target][None, :]
                same = target[:, None] == target[None, :]
                logits = logits.masked_fill(same & ~torch.eye(len(batch), dtype=torch.bool), float("-inf"))
                loss = nn.functional.cross_entropy(logits, torch.arange(len(batch)))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        with torch.no_grad():
            self.item_vectors = model.items(torch.arange(n_items), has_id).numpy()
            self.user_vectors = np.zeros((train.n_users, self.cfg.dim), dtype=np.float32)
            for lo in range(0, train.n_users, INFERENCE_USERS):
                hi = min(lo + INFERENCE_USERS, train.n_users)
                last = starts[lo + 1:hi + 1, None] - h + np.arange(h)[None, :]
                history = np.where(last >= starts[lo:hi, None], items[np.clip(last, 0, max(len(items) - 1, 0))] if len(items) else pad, pad)
                self.user_vectors[lo:hi] = model.users(torch.from_numpy(np.asarray(history, dtype=np.int64)), has_id).numpy()

    def score_users(self, user_idx: np.ndarray) -> np.ndarray:
        return dot_scores(self.user_vectors, self.item_vectors, user_idx)
