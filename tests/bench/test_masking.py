"""``sigma-video bench masking`` and ``sigma-video masks`` on generated videos."""

import json

import numpy as np
import torch
from PIL import Image

from sigma_video.cli import main
from sigma_video.mask_picture import mask_strip
from sigma_video.masks.token_mask import TokenMask


def test_bench_masking_prints_every_part_and_kind(synth_root, capsys):
    threads = torch.get_num_threads()
    main(
        [
            "bench",
            "masking",
            "--list",
            str(synth_root / "val.csv"),
            "--num-frames",
            "4",
            "--size",
            "32",
            "--patch",
            "8",
            "--clips",
            "3",
            "--repeats",
            "1",
            "--workers",
            "0",
        ]
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    parts = [r["part"] for r in rows if r["bench"] == "masking"]
    assert parts == [
        "decode",
        "decode with motion vectors",
        "tube mask",
        "mgm mask (from the vectors)",
        "dis flow (forward + backward)",
        "mgmae mask (from the flow)",
    ]
    loader = {r["mask"]: r["clips_per_s"] for r in rows if r["bench"] == "masking-loader"}
    assert set(loader) == {"tube", "mgm", "mgmae"} and min(loader.values()) > 0
    assert torch.get_num_threads() == threads  # timed on one thread, the setting restored


def test_mask_strip_fades_the_masked_tubes():
    view = torch.full((3, 4, 8, 8), 200, dtype=torch.uint8)
    view[:, 2] = 100  # the second slot's first frame
    # grid (2 slots, 2×2 tubes of 4 pixels): tube 0 of slot 0 and tube 7 (slot 1, last) visible
    mask = TokenMask(visible=torch.tensor([[0, 7]]), masked=torch.tensor([[1, 2, 3, 4, 5, 6]]))
    strip = mask_strip(view, mask, (2, 2, 2), fade=0.75)
    assert strip.shape == (8, 16, 3)
    # visible: unchanged; masked: 1/4 of the pixel + 3/4 of grey 128
    assert (strip[:4, :4] == 200).all() and (strip[4:, :4] == 146).all()
    assert (strip[4:, 12:] == 100).all() and (strip[:4, 8:12] == 121).all()


def test_masks_command_writes_pictures(synth_root, tmp_path, capsys):
    out = tmp_path / "pictures"
    main(
        [
            "masks",
            "--data",
            str(synth_root / "val.csv"),
            "--output",
            str(out),
            "--count",
            "2",
            "--num-frames",
            "8",
            "--size",
            "32",
            "--patch",
            "8",
        ]
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["files"] == 8  # 2 videos × (3 kinds + the stacked picture)
    stacked = np.asarray(Image.open(out / "000_all.png"))
    assert stacked.shape == (3 * 32, 4 * 32, 3)
