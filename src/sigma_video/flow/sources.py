"""Where the optical flow of a clip comes from, behind one call:
``source(frames uint8 (T, H, W, 3)) -> (forward (T-1, 2, H, W), backward (T-1, 2, H, W))``,
``forward[t]`` the flow from frame t to t+1 and ``backward[t]`` from t+1 to t, in pixels
(``[0]`` x, ``[1]`` y).

- ``DISFlow``: OpenCV's DIS optical flow (Kroeger et al., ECCV 2016) on grey frames, on the
  CPU in the loader workers, so no accelerator time is spent (optional dependency
  ``opencv-python-headless``: ``pip install 'sigma-video[flow]'``).
- ``RAFTFlow``: torchvision's RAFT (Teed & Deng, ECCV 2020), as MGMAE, on the training
  device, from a weights file the user gives (nothing is downloaded; optional dependency
  ``torchvision``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

FLOW_SOURCES = ("dis", "raft")
DIS_PRESETS = ("ultrafast", "fast", "medium")
# frames uint8 (T, H, W, 3) -> (forward, backward) flows (T-1, 2, H, W)
FlowSource = Callable[[Tensor], tuple[Tensor, Tensor]]


class FlowSettings(Protocol):
    """Which source (``FLOW_SOURCES``) and, for RAFT, which weights file: e.g. MGMAE's
    ``masks.mgmae.FlowMaskOptions``."""

    @property
    def source(self) -> str: ...

    @property
    def weights(self) -> str | None: ...


class DISFlow:
    """OpenCV DIS flow; ``preset`` trades speed for accuracy."""

    name = "dis"

    def __init__(self, preset: str = "ultrafast") -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"DIS preset must be one of {DIS_PRESETS}, got {preset!r}")
        cv2 = import_cv2()
        cv2.setNumThreads(1)  # one loader worker, one core; its pool does not survive fork
        code = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }[preset]
        self._cv2, self._dis = cv2, cv2.DISOpticalFlow_create(code)

    def __call__(self, frames: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
        if isinstance(frames, Tensor):
            frames = frames.cpu().numpy()
        video = np.ascontiguousarray(np.asarray(frames, dtype=np.uint8))
        grey = [self._cv2.cvtColor(frame, self._cv2.COLOR_RGB2GRAY) for frame in video]
        forward = [self._dis.calc(a, b, None) for a, b in itertools.pairwise(grey)]
        backward = [self._dis.calc(b, a, None) for a, b in itertools.pairwise(grey)]
        return _stack(forward), _stack(backward)


def _stack(flows: list[np.ndarray]) -> Tensor:
    """``[(H, W, 2)]`` -> ``(T-1, 2, H, W)`` float32."""
    return torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).contiguous().float()


def import_cv2():
    try:
        import cv2
    except ImportError:
        raise ValueError(
            "mask.flow.source=dis needs OpenCV: "
            "pip install 'sigma-video[flow]' (opencv-python-headless)"
        ) from None
    return cv2


class RAFTFlow:
    """torchvision's RAFT (``raft_large`` or ``raft_small`` weights from ``weights``: a
    ``state_dict`` file, e.g. torchvision's ``raft_large_C_T_SKHT_V2``), run on ``device``
    with ``iterations`` refinement steps (6 in MGMAE's scripts); frames are padded to a
    multiple of 8."""

    name = "raft"

    def __init__(
        self, weights: str | Path, device: str | torch.device = "cpu", iterations: int = 6
    ) -> None:
        try:
            from torchvision.models.optical_flow import raft_large, raft_small
        except ImportError as err:
            raise ValueError(
                f"mask.flow.source=raft needs torchvision built for this torch ({err}); "
                "or use mask.flow.source=dis (CPU, in the loader)"
            ) from None
        from sigma_video.files import safe_torch_load

        state = safe_torch_load(weights, "RAFT weights")  # one line if missing or unsafe
        small = not any(k.startswith("update_block.encoder.convc2") for k in state)
        net = (raft_small if small else raft_large)(weights=None)
        net.load_state_dict(state)
        self.net = net.eval().to(device)
        self.device, self.iterations = torch.device(device), iterations

    @torch.no_grad()
    def __call__(self, frames: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
        video = frames if isinstance(frames, Tensor) else torch.from_numpy(np.asarray(frames))
        video = video.to(self.device)
        x = video.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (T, 3, H, W) in [-1, 1]
        height, width = x.shape[-2:]
        pad = (0, (-width) % 8, 0, (-height) % 8)
        x = torch.nn.functional.pad(x, pad, mode="replicate")
        a, b = x[:-1], x[1:]
        forward = self.net(a, b, num_flow_updates=self.iterations)[-1]
        backward = self.net(b, a, num_flow_updates=self.iterations)[-1]
        crop = (..., slice(0, height), slice(0, width))
        return forward[crop].float(), backward[crop].float()


def check_flow_source(options: FlowSettings) -> None:
    """Refuse, before anything trains, a flow source that cannot run: RAFT without its
    weights file, DIS without OpenCV (one-line errors)."""
    if options.source == "raft":
        if options.weights is None:
            raise ValueError(
                "mask.flow.source=raft needs mask.flow.weights=FILE (nothing downloads)"
            )
        if not Path(options.weights).is_file():
            raise ValueError(f"mask.flow.weights {options.weights}: no such file (RAFT weights)")
    else:
        import_cv2()


def make_flow_source(
    options: FlowSettings, device: str | torch.device = "cpu"
) -> DISFlow | RAFTFlow:
    """The source ``options`` name (checked by ``check_flow_source``)."""
    check_flow_source(options)
    if options.source == "raft":
        return RAFTFlow(options.weights, device)  # type: ignore[arg-type]
    return DISFlow()
