"""The command lines of the docs, read from README.md and every guide in docs/: every one
parses and resolves its config with the real command line, and a representative set runs
for real, scaled down, so neither the README nor a guide can drift from the code."""

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from sigma_video.cli import build_parser, parse
from tests.io.test_interop import reference_encoder_state, save_reference
from tests.workflows.conftest import TINY, start

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

# lines of the docs' bash blocks that are not sigma-video commands (any other line fails
# the test, so a new command cannot be skipped silently)
NOT_COMMANDS = {
    "make demo",
    "make test",
    "pip install -e .",
    "pip install -e '.[hf,flow,plots]'",
    'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
    "python benchmarks/reproduce_small.py --seeds 3 --jobs 2",
    "python benchmarks/reproduce_small.py --seeds 3 --jobs 2 --supervised --finetune",
    "python benchmarks/reproduce_small.py --seeds 3 --jobs 2 --masks",
    "python benchmarks/reproduce_small.py --preset small --only SIGMA-MLP --seeds 3 --jobs 2",
}
# `sigma-video probe ... augment=true`: the `...` stands for the previous line's arguments
ELLIPSIS = {"probe": ["--checkpoint", "runs/demo", "--train", "train.csv", "--val", "val.csv"]}


def bash_lines(text: str) -> list[str]:
    """The commands of a document's ```bash blocks: continuation lines joined, comments
    dropped, ``a; b`` split."""
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"(^|\s)#.*", "", line)
            lines += [part.strip() for part in line.split(";") if part.strip()]
    return lines


def doc_commands(text: str, name: str) -> tuple[list[list[str]], list[list[str]]]:
    """A document's ``sigma-video`` argument lists, and its shorthand lines
    (``sigma-video probe | knn | ...``: one name per command); ``name`` is for errors."""
    commands, shorthands = [], []
    for line in bash_lines(text):
        if line in NOT_COMMANDS:
            continue
        words = shlex.split(line)
        if "-m" in words and words[words.index("-m") + 1] == "sigma_video":  # torchrun
            words = words[words.index("-m") + 2 :]
        elif words[0] == "sigma-video":
            words = words[1:]
        else:
            raise ValueError(f"{name}: not a sigma-video command (add to NOT_COMMANDS?): {line}")
        if "|" in words:
            shorthands.append([w for w in words if w != "|"])
        elif "..." in words:
            if words[0] not in ELLIPSIS:
                raise ValueError(f"{name}: what does `...` stand for (ELLIPSIS)? {line}")
            at = words.index("...")
            commands.append([*words[:at], *ELLIPSIS[words[0]], *words[at + 1 :]])
        else:
            commands.append(words)
    return commands, shorthands


def docs_commands(paths: list[Path]) -> tuple[list[list[str]], list[list[str]]]:
    """The command lines of all the documents, in order (README first)."""
    commands, shorthands = [], []
    for path in paths:
        more, short = doc_commands(path.read_text(encoding="utf-8"), path.relative_to(ROOT))
        commands += more
        shorthands += short
    return commands, shorthands


ALL, SHORTHANDS = docs_commands(DOCS)
COMMANDS = [list(w) for w in dict.fromkeys(tuple(w) for w in ALL)]  # once each


def test_the_docs_have_their_commands():
    names = {words[0] for words in COMMANDS}
    assert {"pretrain", "finetune", "probe", "knn", "severe", "config", "data"} <= names
    assert len(COMMANDS) > 40 and SHORTHANDS


def test_the_readme_starts_with_the_two_commands():
    first = re.search(r"^```bash\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    assert bash_lines(first.group(0)) == ["make demo", "make test"]


def test_every_guide_is_read_and_linked_from_the_readme():
    readme = README.read_text(encoding="utf-8")
    guides = [path for path in DOCS if path.parent.name == "docs"]
    assert len(guides) >= 8
    assert [path.name for path in guides if f"](docs/{path.name}" not in readme] == []


def test_the_docs_links_lead_to_files():
    broken = []
    for path in [*DOCS, ROOT / "BENCHMARKS.md", ROOT / "DEVELOPERS.md", ROOT / "CHANGELOG.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            if "://" not in target and not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == []


def test_shorthand_lines_name_real_commands():
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    for names in SHORTHANDS:
        assert set(names) <= set(choices), names


class Resolved(Exception):
    """Raised where a command would start its work: its config is resolved."""


def stop_at(*_args, **_kwargs):
    raise Resolved


def check(words: list[str], folder: Path, monkeypatch) -> None:
    """``sigma-video WORDS`` through the real parser; then, for the commands that build a
    config, the real resolution (preset, flags, overrides) up to where the work would start.
    A usage error fails the test with the parser's message."""
    import sigma_video.data.annotations as annotations
    import sigma_video.finetuning.trainer as finetuning
    import sigma_video.pretraining.trainer as pretraining

    monkeypatch.chdir(folder)  # none of the docs' run folders exists here
    try:
        args = parse(build_parser(), words)
    except SystemExit:
        pytest.fail(f"sigma-video {' '.join(words)}: usage error (above)")
    command = words[0]
    if command in ("pretrain", "finetune") or words[:2] == ["data", "check"]:
        monkeypatch.setattr(pretraining, "pretrain", stop_at)
        monkeypatch.setattr(finetuning, "finetune", stop_at)
        monkeypatch.setattr(annotations, "read_source", stop_at)
        with pytest.raises(Resolved):
            args.func(args)
    elif command in ("config", "models", "presets", "plan"):
        args.func(args)
    elif command == "probe":
        from sigma_video.config import load_config
        from sigma_video.evaluation.settings import ProbeSettings

        load_config(None, args.settings, cls=ProbeSettings)
    elif command == "severe" and not args.compare:
        from sigma_video.severe import load_suite
        from sigma_video.severe.runner import task_config

        for task in load_suite(args.suite).tasks:
            task_config(task, args.checkpoint, args.data_root, folder, args.overrides)
    elif words[:2] == ["bench", "step"]:
        from sigma_video.bench.core import step_variant

        step_variant(args.overrides)


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(w) for w in COMMANDS])
def test_every_documented_command_parses_and_resolves(words, tmp_path, monkeypatch):
    check(words, tmp_path, monkeypatch)


def test_probe_settings_may_follow_flags():  # as a script appends them
    words = ["probe", *ELLIPSIS["probe"], "augment=true", "--workers", "0", "epochs=1"]
    args = parse(build_parser(), words)
    assert args.settings == ["augment=true", "epochs=1"] and args.workers == 0


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["pretrain", "--confg", "demo"], pytest.fail.Exception),  # a flag
        (["pretrain", "optim.epoch=3"], ValueError),  # a key
        (["finetune", "--config", "vit_b_k401"], ValueError),  # a preset
        (["config", "data.sise=3"], ValueError),
        (["probe", *ELLIPSIS["probe"], "epoch=3"], ValueError),
        (["severe", "--checkpoint", "runs/demo", "optim.epoch=3"], ValueError),
        (["data", "check", "LIST", "data.nun_frames=3"], ValueError),
    ],
)
def test_the_check_fails_a_wrong_command(words, error, tmp_path, monkeypatch):
    with pytest.raises(error):
        check(words, tmp_path, monkeypatch)


# The docs' placeholders -> the small real files the commands run on here ({synth}: the
# generated dataset of the `synth_root` fixture; other paths are in the working folder)
PLACEHOLDERS = {
    "train.csv": "{synth}/train.csv",
    "val.csv": "{synth}/val.csv",
    "k400_train.csv": "{synth}/train.csv",
    "k400_val.csv": "{synth}/val.csv",
    "/data/k400": "{synth}",
    "LIST": "{synth}/train.csv",
    "DAVIS/": "{synth}/davis",
    "videomae_vitb_k400.pth": "reference.pth",  # a tiny encoder in the reference layout
    "sigma_vitb_k400_ft.pth": "runs/finetune_demo",  # "a fine-tuning run, or ..."
}
CLIPS = ["data.num_frames=4", "data.stride=2", "data.size=32", "data.workers=0"]
# documented command -> what is appended to scale it down. Each runs as `python -m sigma_video`;
# the commands of a stage at once, after those of the stage before (the docs' order:
# `sigma-video pretrain` writes runs/demo, which the evaluations read)
RUNS = [
    {
        "pretrain": ["--data", "train.csv", *TINY, "data.workers=0", "optim.max_steps=2"],
        "pretrain --config vit_b_k400_mlp --data k400_train.csv --data-root /data/k400 "
        "--output runs/b_k400 optim.accum_steps=8": [
            *CLIPS,
            "model.arch=vit_tiny",
            "model.objective.num_prototypes=32",
            "optim.batch_size=2",
            "optim.max_steps=1",
            "run.tensorboard=false",
        ],
        "knn --checkpoint random:demo --train train.csv --val val.csv": ["--workers", "0"],
        "convert --input videomae_vitb_k400.pth --output converted/": [],
    },
    {
        "pretrain --output runs/b_k400 --resume auto": ["optim.max_steps=2"],
        "probe --checkpoint runs/demo --train train.csv --val val.csv": ["--workers", "0"],
        "probe --checkpoint runs/demo --train train.csv --val val.csv augment=true epochs=10 "
        "lr=1e-3": ["--workers", "0", "epochs=1", "batch_size=8"],
        "extract --checkpoint runs/demo --data val.csv --output feats.safetensors": [
            "--workers",
            "0",
        ],
        "finetune --checkpoint runs/demo": [
            "--train",
            "train.csv",
            "--val",
            "val.csv",
            "data.workers=0",
            "data.test_clips=1",
            "data.test_crops=1",
            "optim.batch_size=4",
            "optim.max_steps=2",
            "run.tensorboard=false",
        ],
        "convert --input runs/demo --output hf_export/ --to hf": [],
        "segment --checkpoint runs/demo --data DAVIS/ --output overlays/": [
            "--max-sequences",
            "1",
        ],
    },
    {
        "test --checkpoint sigma_vitb_k400_ft.pth --data k400_val.csv --clips 5 --crops 3": [
            "--workers",
            "0",
        ],
    },
]
# what a command leaves in the working folder
WRITES = {
    "pretrain": "runs/demo/checkpoints/step_00000002/model.safetensors",
    "pretrain --output runs/b_k400 --resume auto": "runs/b_k400/checkpoints/step_00000002",
    "extract": "feats.safetensors",
    "convert --input videomae_vitb_k400.pth": "converted/encoder.safetensors",
    "convert --input runs/demo": "hf_export/config.json",
    "segment": "overlays",
    "finetune": "runs/finetune_demo/summary.json",
}
# commands with nothing to train or decode much: run in this process, through `main`
IN_PROCESS = {
    "config --config vit_b_k400_mlp optim.epochs=400": "epochs = 400",
    "models": "vit_tiny",
    "presets": "finetune: vit_b_ssv2",
    "data check LIST --config vit_b_k400_mlp": '"missing": 0',
}
RUN_LINES = [line for stage in RUNS for line in stage]


def test_the_commands_run_are_documented():
    documented = {" ".join(words) for words in COMMANDS}
    assert [line for line in [*RUN_LINES, *IN_PROCESS] if line not in documented] == []


def scaled(line: str, extra: list[str], synth: Path) -> list[str]:
    words = [*shlex.split(line), *extra]
    return [PLACEHOLDERS.get(w, w).format(synth=synth) for w in words]


@pytest.mark.parametrize("line", IN_PROCESS)
def test_documented_command_exits_0(line, synth_root, capsys):
    from sigma_video.cli import main

    assert main(scaled(line, [], synth_root)) == 0
    assert IN_PROCESS[line] in capsys.readouterr().out


@pytest.fixture(scope="module")
def documented_runs(synth_root, tmp_path_factory):
    """Every command of RUNS run in one working folder, stage by stage."""
    work = tmp_path_factory.mktemp("readme")
    save_reference(work / "reference.pth", reference_encoder_state())
    done = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SIGMA_VIDEO_CACHE", str(work / "cache"))  # the user's cache is left alone
        env.setenv("OMP_NUM_THREADS", "1")  # a stage's commands share the cores
        for stage in RUNS:
            started = {
                line: start(scaled(line, extra, synth_root), cwd=work)
                for line, extra in stage.items()
            }
            for line, proc in started.items():
                out, err = proc.communicate(timeout=600)
                done[line] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return work, done


@pytest.mark.slow
@pytest.mark.parametrize("line", RUN_LINES)
def test_documented_command_runs(documented_runs, line):
    work, done = documented_runs
    result = done[line]
    assert result.returncode == 0, result.stderr[-3000:]
    for begin, path in WRITES.items():
        if line == begin or line.startswith(begin + " "):
            assert (work / path).exists(), path
    if line.split()[0] in ("probe", "knn", "finetune", "test", "extract", "segment", "convert"):
        json.loads(result.stdout.strip().splitlines()[-1])  # the last line is JSON
