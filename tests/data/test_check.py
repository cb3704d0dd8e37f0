"""Pre-flight: missing, undecodable, too-short and too-small files found before training."""

import json

import pytest

from sigma_video.cli import main
from sigma_video.data.annotations import VideoRecord
from sigma_video.data.check import check_records, clip_span, missing_files


def test_clip_span():
    assert clip_span(16, 4) == 61 and clip_span(1, 4) == 1


def test_check_records_sorts_each_problem(synth_root, tmp_path):
    good = str(synth_root / "videos" / "train" / "00000.mp4")  # 32 frames of 96²
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))  # no moov atom
    records = [VideoRecord(good, 1), VideoRecord(str(tmp_path / "gone.mp4"), 2)]
    records.append(VideoRecord(str(corrupt), 3))
    report = check_records(records, min_frames=8, min_size=64, workers=2)
    assert report.counts() == {
        "total": 3,
        "ok": 1,
        "malformed": 0,
        "missing": 1,
        "undecodable": 1,
        "too_short": 0,
        "too_small": 0,
    }
    assert report.unusable == 2 and report.problems["missing"][0][0].endswith("gone.mp4")
    assert missing_files(records) == [str(tmp_path / "gone.mp4")]
    short = check_records(records[:1], min_frames=clip_span(16, 4), min_size=64)
    assert short.problems["too_short"] == [(good, "32 frames < 61")]
    small = check_records(records[:1], min_frames=8, min_size=224)
    assert small.problems["too_small"] == [(good, "96x96 < 224")]


def test_data_check_command(synth_root, tmp_path, capsys):
    listing = tmp_path / "list.csv"
    listing.write_text(f"{synth_root}/videos/train/00000.mp4 0\nmissing.mp4 1\n")
    with pytest.raises(SystemExit) as exc:
        main(["data", "check", str(listing), "--size", "64", "--num-frames", "8"])
    out = capsys.readouterr().out.splitlines()
    assert exc.value.code == 1
    assert out[0].startswith("1 missing: ") and str(tmp_path / "missing.mp4") in out[0]
    assert json.loads(out[-1])["ok"] == 1
    listing.write_text(f"{synth_root}/videos/train/00000.mp4 0\n")
    assert main(["data", "check", str(listing), "--size", "64", "--num-frames", "8"]) == 0


def test_data_check_reads_the_clip_settings_of_the_config(synth_root, tmp_path, capsys):
    listing = tmp_path / "list.csv"
    listing.write_text(f"{synth_root}/videos/train/00000.mp4 0\n")  # 32 frames of 96²
    assert main(["data", "check", str(listing)]) == 0  # demo: 8 frames, stride 4, 64 px
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["ok"] == 1
    assert main(["data", "check", str(listing), "--config", "vit_b_k400_mlp"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1 smaller than 224 px") and json.loads(out[-1])["too_small"] == 1
    main(["data", "check", str(listing), "data.size=128", "data.num_frames=16"])
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["too_small"] == 1  # 96 < 128: too small is reported before too short
    main(["data", "check", str(listing), "data.size=128", "--size", "96", "--num-frames", "16"])
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["too_small"] == 0 and report["too_short"] == 1  # the flags win: 61 > 32
    with pytest.raises(SystemExit) as exc:
        main(["data", "check", str(listing), "--stride", "0"])
    assert exc.value.code == 2 and "data.stride must be >= 1" in capsys.readouterr().err


def test_data_check_counts_malformed_lines(synth_root, tmp_path, capsys):
    good = f"{synth_root}/videos/train/00000.mp4 0"
    listing = tmp_path / "list.txt"
    listing.write_text(f"{good}\n{good}\nvideo.mp4 cat\nclip.mp4 1 2 3\n")
    with pytest.raises(SystemExit) as exc:
        main(["data", "check", str(listing)])
    out = capsys.readouterr().out.splitlines()
    report = json.loads(out[-1])
    assert exc.value.code == 1  # a run would leave these lines out
    assert (report["total"], report["ok"], report["malformed"]) == (4, 2, 2)
    assert out[0].startswith("2 malformed lines (left out): line 3 (last field 'cat'")


def test_a_run_refuses_a_list_of_missing_files_before_training(synth_root, tmp_path):
    from sigma_video.pretraining.config import load_pretrain_config
    from sigma_video.pretraining.trainer import pretrain

    listing = tmp_path / "train.csv"
    good = [f"{synth_root}/videos/train/{i:05d}.mp4 0" for i in range(4)]
    listing.write_text("\n".join(good + [f"gone_{i}.mp4 0" for i in range(11)]) + "\n")
    config = load_pretrain_config(
        "demo", [f"data.train={listing}", f"run.output={tmp_path / 'run'}"]
    )
    with pytest.raises(ValueError, match=r"11 of 15 files of .* do not exist"):
        pretrain(config)
    assert not (tmp_path / "run").exists()  # nothing written
    lines = []
    listing.write_text("\n".join(good * 60 + ["gone.mp4 0"]) + "\n")  # 1 of 241: warned
    from sigma_video.data.annotations import read_records
    from sigma_video.data.check import refuse_missing

    refuse_missing(read_records(listing), str(listing), 0.05, log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("warning: 1 of 241 files")
