"""The transformer block's feed-forward network."""

from __future__ import annotations

from torch import Tensor, nn


class Mlp(nn.Module):
    """``fc1 -> GELU -> fc2``, hidden width ``ratio × dim``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))
