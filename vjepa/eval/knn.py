"""k-NN classifier on frozen features: cosine similarity, k neighbours, weighted votes.

Each of the k most similar training features votes for its class with weight
exp(similarity / temperature) (k = 20, temperature = 0.07 by default, the common
self-supervised sanity check). Scores are normalised to sum to 1 per query, so they can be
read like probabilities by the metrics. Computed in chunks of queries, never an [M, N] matrix
for the whole test set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def knn_scores(train: torch.Tensor, train_labels: torch.Tensor, queries: torch.Tensor,
               num_classes: int, k: int = 20, temperature: float = 0.07,
               chunk: int = 1024) -> torch.Tensor:
    """[M, C] vote shares of queries [M, D] among train features [N, D] with labels [N].

    k larger than N uses all N training features.
    """
    if train.dim() != 2 or queries.dim() != 2 or train.shape[1] != queries.shape[1]:
        raise ValueError(f"k-NN needs [N, D] train and [M, D] query features, got "
                         f"{tuple(train.shape)} and {tuple(queries.shape)}")
    if len(train_labels) != len(train) or k < 1 or temperature <= 0:
        raise ValueError(f"need one label per train feature, k >= 1, temperature > 0; got "
                         f"{len(train_labels)} labels for {len(train)}, k={k}, T={temperature}")
    bank = F.normalize(train.float(), dim=1)
    k = min(k, len(bank))
    out = []
    for q in queries.float().split(chunk):
        sim, idx = (F.normalize(q, dim=1) @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(q), num_classes, device=q.device)
        votes.scatter_add_(1, train_labels[idx].long(), (sim / temperature).exp())
        out.append(votes / votes.sum(1, keepdim=True))
    return torch.cat(out)
