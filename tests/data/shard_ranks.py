"""Run under ``torchrun`` by ``test_shards``: each rank reads two epochs of a shard dataset
through the training loop's own loader (``Loop.loader``: the run's sampler, two workers)
and each worker writes the samples it decoded, one ``epoch index shard`` line each, to
``OUT/rank{R}_worker{W}.txt``.

    python -m torch.distributed.run --nproc_per_node=2 -m tests.data.shard_ranks SHARDS OUT
"""

import sys
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist
from torch.utils.data import get_worker_info

from sigma_video.data.annotations import read_records
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.shards import parse_address
from sigma_video.engine.config import OptimConfig
from sigma_video.engine.distributed import init_distributed
from sigma_video.engine.loop import Loop
from sigma_video.engine.plan import make_plan


class LoggedClips(VideoClips):
    """``VideoClips`` whose workers note each sample they decode."""

    def __init__(self, *args, out: Path, rank: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.out, self.rank = out, rank

    def __getitem__(self, key):
        sample = super().__getitem__(key)
        index, epoch = key
        shard = parse_address(self.records[index].path)[0]
        worker = get_worker_info().id
        with open(self.out / f"rank{self.rank}_worker{worker}.txt", "a") as f:
            f.write(f"{epoch} {index} {Path(shard).name}\n")
        return sample


def main(shards: str, out: str) -> None:
    info = init_distributed("cpu")
    records = read_records(shards)
    clips = LoggedClips(
        records, ClipConfig(num_frames=4, stride=2, size=32), seed=1, out=Path(out), rank=info.rank
    )
    optim = OptimConfig(batch_size=2, epochs=2, warmup_epochs=0)
    loop = SimpleNamespace(  # what ``Loop.loader`` reads of a training loop
        optim=optim,
        run_config=SimpleNamespace(seed=1),
        plan=make_plan(optim, len(clips), info.world_size),
        info=info,
        progress=SimpleNamespace(step=0),
        device=torch.device("cpu"),
    )
    for batch in Loop.loader(loop, clips, workers=2):
        assert not batch["bad"].any()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
