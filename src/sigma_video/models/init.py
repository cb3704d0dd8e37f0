"""Weight initialisation of the reference ViTs."""

from __future__ import annotations

from torch import nn


def init_vit_weights(module: nn.Module) -> None:
    """Xavier-uniform Linear weights with zero bias and unit LayerNorms, as VideoMAE/SIGMA.

    The tube-embedding Conv3d keeps PyTorch's default initialisation, like the reference.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
