"""Classification metrics from class scores: exact counts, top-k, per-class, confusion.

Everything is computed from integer counts (correct / evaluated), so results from several
ranks add up exactly (`Counts.merge`) instead of averaging per-batch percentages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Counts:
    """Integer tallies of a classification run.

    Attributes:
        num_evaluated: samples scored.
        top1, top5: samples whose label is in the top 1 / top min(5, C) classes.
        confusion: int64 [C, C], rows = true class, columns = predicted class.
    """

    num_evaluated: int
    top1: int
    top5: int
    confusion: torch.Tensor

    @classmethod
    def empty(cls, num_classes: int) -> Counts:
        return cls(0, 0, 0, torch.zeros(num_classes, num_classes, dtype=torch.int64))

    def merge(self, other: Counts) -> Counts:
        return Counts(self.num_evaluated + other.num_evaluated, self.top1 + other.top1,
                      self.top5 + other.top5, self.confusion + other.confusion)

    def summary(self) -> dict:
        n = max(self.num_evaluated, 1)
        per_class_n = self.confusion.sum(1)
        per_class = [float(c) / float(t) if t else None
                     for c, t in zip(self.confusion.diag().tolist(), per_class_n.tolist(),
                                     strict=True)]
        return {"num_evaluated": self.num_evaluated, "top1_correct": self.top1,
                "top5_correct": self.top5, "top1": 100.0 * self.top1 / n,
                "top5": 100.0 * self.top5 / n, "top5_k": min(5, self.confusion.shape[0]),
                "per_class_accuracy": per_class, "per_class_count": per_class_n.tolist()}


def count(scores: torch.Tensor, labels: torch.Tensor) -> Counts:
    """Counts of scores [B, C] (probabilities or logits) against labels [B]."""
    if scores.dim() != 2 or len(scores) != len(labels):
        raise ValueError(f"need scores [B, C] and labels [B], got {tuple(scores.shape)} and "
                         f"{tuple(labels.shape)}")
    c = scores.shape[1]
    labels = labels.long().to(scores.device)
    if len(labels) and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"labels must be in [0, {c}), got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    top = scores.topk(min(5, c), dim=1).indices
    pred = top[:, 0]
    confusion = torch.bincount(labels * c + pred, minlength=c * c).reshape(c, c)
    return Counts(len(labels), int((pred == labels).sum()),
                  int((top == labels[:, None]).any(1).sum()), confusion.cpu())


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent."""
    return count(scores, labels).summary()["top1"]
