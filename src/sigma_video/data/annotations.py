"""Reading the lists of samples users already have.

Supported (``read_list`` detects the line format per line; relative paths are joined to
``--data-root``, or to the list's own folder when no root is given):

- VideoMAE/SIGMA ``path label`` — space separated, the label is the last field, the path may
  contain spaces;
- VideoMAE-v2 ``path 0 -1`` (a video, unlabeled) and ``frame_dir start total [label]`` (a
  folder of frames starting at ``start``);
- a bare ``path`` (unlabeled);
- comma-separated ``path,label`` (a header line such as ``path,label`` is skipped);
- Something-Something-v2 JSON files (``read_ssv2``) and plain folders (``read_folder``).

Blank lines and lines starting with ``#`` are ignored. Lines that cannot be read, and labels
outside ``[0, num_classes)``, are reported with their line numbers and left out.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class VideoRecord:
    """One sample: a video file, or a frame folder (``is_frames``) starting at ``start``.

    ``label`` is -1 when unlabeled (for a counting list: the count); ``labels`` holds the
    classes of a multi-label sample (``read_multilabel``); ``num_frames`` is known for
    frame-folder entries.
    """

    path: str
    label: int = -1
    start: int = 0
    num_frames: int | None = None
    is_frames: bool = False
    labels: tuple[int, ...] = ()

    @property
    def is_image(self) -> bool:
        """A still image, used as a static clip."""
        return not self.is_frames and Path(self.path).suffix.lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class ListProblem:
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}: {self.text!r}"


def _int(token: str) -> int | None:
    try:
        return int(token)
    except ValueError:
        return None


def _join(root: str | None, path: str) -> str:
    return path if root is None or os.path.isabs(path) else os.path.join(root, path)


def parse_line(line: str, root: str | None = None) -> VideoRecord:
    """One list line to a record; ValueError with the reason if it is malformed."""
    text = line.strip()
    if "," in text and _int(text.rsplit(",", 1)[1].strip()) is not None:  # path,label
        head, last = (t.strip() for t in text.rsplit(",", 1))
        return VideoRecord(_join(root, head), int(last))
    tokens = text.split()
    if not tokens:
        raise ValueError("empty line")
    if len(tokens) == 1:
        if "," in text and not Path(text).suffix:
            raise ValueError("comma-separated line without an integer label")
        return VideoRecord(_join(root, text))
    if len(tokens) >= 3 and _int(tokens[-1]) is not None and _int(tokens[-2]) is not None:
        path = text.rsplit(None, 2)[0]
        a, b = int(tokens[-2]), int(tokens[-1])
        if b == -1:  # VideoMAE-v2 video list: path start -1
            return VideoRecord(_join(root, path), start=a)
        if os.path.isdir(_join(root, path)):
            if a < 0 or b < 1:
                raise ValueError(f"frame folder start {a} / total {b} out of range")
            return VideoRecord(_join(root, path), start=a, num_frames=b, is_frames=True)
    if len(tokens) >= 4 and all(_int(t) is not None for t in tokens[-3:]):
        path = text.rsplit(None, 3)[0]
        if os.path.isdir(_join(root, path)):  # frame_dir start total label
            a, b, label = (int(t) for t in tokens[-3:])
            return VideoRecord(_join(root, path), label, a, b, is_frames=True)
    head, last = text.rsplit(None, 1)
    label = _int(last)
    if label is None:
        raise ValueError(f"last field {last!r} is not an integer label")
    if len(tokens) >= 3 and _int(tokens[-2]) is not None:
        raise ValueError(
            "expected 'path label': more numbers follow the path (or the frame folder of "
            "'frame_dir start total label' does not exist)"
        )
    return VideoRecord(_join(root, head), label)


def read_list(
    path: str | os.PathLike,
    root: str | None = None,
    num_classes: int | None = None,
) -> tuple[list[VideoRecord], list[ListProblem]]:
    """Read an annotation list; returns the records and the problems (also logged).

    Relative paths are joined to ``root``, or to the list's own folder when ``root`` is
    None (the lists that ``sigma-video data synth`` writes work from anywhere). Raises
    ValueError if the file cannot be read or no line is usable.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise ValueError(f"cannot read list {path}: {err.strerror or err}") from None
    if root is None:
        root = str(Path(path).resolve().parent)
    records, problems = [], []
    first = True
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if first and is_header(line):
            first = False
            continue
        first = False
        try:
            record = parse_line(line, root)
        except ValueError as err:
            problems.append(ListProblem(number, line.strip()[:120], str(err)))
            continue
        if num_classes is not None and record.label >= num_classes:
            reason = f"label {record.label} outside [0, {num_classes})"
            problems.append(ListProblem(number, line.strip()[:120], reason))
            continue
        if record.label < -1:
            problems.append(
                ListProblem(number, line.strip()[:120], f"negative label {record.label}")
            )
            continue
        records.append(record)
    report_problems(str(path), problems)
    if not records:
        raise ValueError(
            f"list {path} has no usable lines" + (f" ({problems[0]})" if problems else "")
        )
    return records, problems


def is_header(line: str) -> bool:
    """A CSV header such as ``path,label`` or ``video, class``: commas, no number at the end."""
    fields = [f.strip() for f in line.split(",")]
    return len(fields) >= 2 and _int(fields[-1]) is None and not Path(fields[0]).suffix


def report_problems(source: str, problems: list[ListProblem], show: int = 5) -> None:
    if problems:
        shown = "; ".join(str(p) for p in problems[:show])
        more = f" (and {len(problems) - show} more)" if len(problems) > show else ""
        logger.warning("%s: %d line(s) left out: %s%s", source, len(problems), shown, more)


def read_folder(root: str | os.PathLike) -> tuple[list[VideoRecord], list[str]]:
    """Videos or images in a folder: one sub-folder per class (sorted names -> labels 0, 1,
    …; videos anywhere below it, images directly in it), or files directly in ``root``
    (unlabeled). Returns the records and the class names."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"data folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    records: list[VideoRecord] = []
    for label, name in enumerate(classes):
        folder = root / name
        videos = [f for f in folder.rglob("*") if f.suffix.lower() in VIDEO_SUFFIXES]
        images = [f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES]
        records += [VideoRecord(str(f), label) for f in sorted(videos + images)]
    if not records:  # flat folder: unlabeled
        classes = []
        records = [
            VideoRecord(str(f))
            for f in sorted(root.iterdir())
            if f.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES
        ]
    if not records:
        raise ValueError(
            f"data folder {root} holds no videos or images "
            f"({', '.join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)})"
        )
    return records, classes


SSV2_LABELS = ("something-something-v2-labels.json", "labels.json")


def read_records(path: str | os.PathLike, root: str | None = None) -> Sequence[VideoRecord]:
    """Records of an annotation list, a folder (``read_list`` / ``read_folder``), an SSv2
    JSON file (``read_ssv2``; its labels file beside it, the videos in ``root``) or tar
    shards (``data.shards.read_shards``: ``shards.json``, its folder, ``{a..b}.tar``)."""
    return read_source(path, root)[0]


def read_source(
    path: str | os.PathLike, root: str | None = None
) -> tuple[Sequence[VideoRecord], list[ListProblem]]:
    """``read_records`` with the lines it left out (logged too; none for a folder)."""
    from sigma_video.data.shards import is_shard_source, read_shards

    if is_shard_source(path):
        return read_shards(path), []
    path = Path(path)
    if path.is_dir():
        return read_folder(path)[0], []
    if not path.exists():
        raise ValueError(f"data list {path} does not exist")
    if path.suffix.lower() == ".json":
        labels = next((path.parent / n for n in SSV2_LABELS if (path.parent / n).exists()), None)
        if labels is None:
            raise ValueError(
                f"SSv2 list {path} needs {SSV2_LABELS[0]} (the template -> class file) beside it"
            )
        if root is None:
            raise ValueError(f"SSv2 list {path} needs --data-root: the folder of the .webm videos")
        return read_ssv2(path, labels, root)
    return read_list(path, root=root)


def read_ssv2(
    annotation_json: str | os.PathLike,
    labels_json: str | os.PathLike,
    root: str,
    suffix: str = ".webm",
) -> tuple[list[VideoRecord], list[ListProblem]]:
    """Something-Something-v2: ``[{"id", "template", …}]`` plus ``{"template": "index"}``.

    The label of an entry is its template with the brackets removed (the official rule).
    """
    try:
        entries = json.loads(Path(annotation_json).read_text(encoding="utf-8"))
        labels = json.loads(Path(labels_json).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read SSv2 annotations: {err}") from None
    records, problems = [], []
    for number, entry in enumerate(entries, start=1):
        try:
            template = entry["template"].replace("[", "").replace("]", "")
            records.append(
                VideoRecord(os.path.join(root, f"{entry['id']}{suffix}"), int(labels[template]))
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            problems.append(ListProblem(number, str(entry)[:120], f"bad entry ({err})"))
    report_problems(str(annotation_json), problems)
    if not records:
        raise ValueError(f"{annotation_json} has no usable entries")
    return records, problems


def parse_multilabel_line(line: str, root: str | None = None) -> VideoRecord:
    """``path l1,l2,...`` (the last whitespace-separated field: comma-separated class
    indices, at least one) to a record; ValueError with the reason otherwise."""
    parts = line.strip().rsplit(None, 1)
    if len(parts) < 2:
        raise ValueError("expected 'path labels' (labels comma-separated, e.g. 3,17)")
    path, field = parts
    labels = [_int(token) for token in field.split(",") if token.strip()]
    if not labels:
        raise ValueError("a multi-label row needs at least one label")
    if any(label is None for label in labels):
        raise ValueError(f"labels {field!r} are not comma-separated integers")
    if any(label < 0 for label in labels):  # type: ignore[operator]
        raise ValueError(f"negative label in {field!r}")
    return VideoRecord(_join(root, path), labels=tuple(sorted(set(labels))))  # type: ignore[arg-type]


CHARADES_COLUMNS = ("id", "actions")


def read_multilabel(
    path: str | os.PathLike, root: str | None = None, suffix: str = ".mp4"
) -> list[VideoRecord]:
    """A multi-label list: ``path l1,l2,...`` lines, or the official Charades CSV
    (``Charades_v1_{train,test}.csv``: columns ``id`` and ``actions`` =
    ``"c092 11.90 21.20;c147 0.00 12.60"``; the video is ``root/<id><suffix>``, its labels
    the classes of all its actions, ``c092`` -> 92). Relative paths join ``root`` (default:
    the list's folder). Malformed rows raise ValueError naming the first few lines; Charades
    videos without any action are left out with one warning (the official files have some).
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise ValueError(f"cannot read list {path}: {err.strerror or err}") from None
    if root is None:
        root = str(Path(path).resolve().parent)
    lines = text.splitlines()
    header = next((line for line in lines if line.strip()), "")
    if all(column in [c.strip() for c in header.split(",")] for column in CHARADES_COLUMNS):
        return _read_charades(path, text, root, suffix)
    records, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            records.append(parse_multilabel_line(line, root))
        except ValueError as err:
            problems.append(ListProblem(number, line.strip()[:120], str(err)))
    if problems:
        shown = "; ".join(str(p) for p in problems[:3])
        raise ValueError(f"{path}: {len(problems)} bad multi-label line(s): {shown}")
    if not records:
        raise ValueError(f"list {path} has no usable lines")
    return records


def _read_charades(path: str | os.PathLike, text: str, root: str, suffix: str) -> list[VideoRecord]:
    import csv
    import io

    records, empty, problems = [], [], []
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        actions = (row.get("actions") or "").strip()
        video = (row.get("id") or "").strip()
        if not video:
            problems.append(ListProblem(number, str(row)[:120], "no id"))
            continue
        if not actions:
            empty.append(video)
            continue
        try:
            labels = {int(item.split()[0].lstrip("c")) for item in actions.split(";") if item}
        except (ValueError, IndexError):
            problems.append(ListProblem(number, actions[:120], "actions are not 'cNNN start end'"))
            continue
        records.append(VideoRecord(_join(root, video + suffix), labels=tuple(sorted(labels))))
    if problems:
        shown = "; ".join(str(p) for p in problems[:3])
        raise ValueError(f"{path}: {len(problems)} bad Charades row(s): {shown}")
    if empty:
        logger.warning(
            "%s: %d video(s) without any action left out (e.g. %s)", path, len(empty), empty[0]
        )
    if not records:
        raise ValueError(f"{path} has no video with actions")
    return records


def read_ucfrep(split_dir: str | os.PathLike, root: str | None = None) -> list[VideoRecord]:
    """UCFRep repetition counts (SEVERE's UCF-RC): ``split_dir`` is the annotations'
    ``train`` or ``val`` folder (one ``<video>.mat`` per sample: its names are the split),
    its sibling ``repetition_label/<Class>.txt`` holds per video a name line and a line of
    cycle-boundary frames (1-based; a lone ``0`` marks an unusable video). The count is
    the number of cycles (boundaries − 1), the sample the segment from the first to the
    last boundary of ``root/<video>.avi`` (or ``root/<Class>/<video>.avi``)."""
    split_dir = Path(split_dir)
    labels_dir = split_dir.parent / "repetition_label"
    if not labels_dir.is_dir():
        raise ValueError(f"{split_dir}: UCFRep needs {labels_dir} (the cycle boundaries)")
    bounds: dict[str, list[int]] = {}
    for text_file in sorted(labels_dir.glob("*.txt")):
        lines = [line.split() for line in text_file.read_text().splitlines() if line.strip()]
        for name, values in zip(lines[::2], lines[1::2], strict=False):
            try:
                bounds[name[0]] = [int(float(v)) for v in values]
            except ValueError:
                raise ValueError(f"{text_file}: boundaries of {name[0]} are not numbers") from None
    root = root or str(split_dir)
    records, unusable = [], []
    for name in sorted(p.stem for p in split_dir.glob("*.mat")):
        cycle = bounds.get(name)
        if cycle is None:
            raise ValueError(f"{split_dir}: {name} has no line in {labels_dir}")
        if len(cycle) < 2:
            unusable.append(name)
            continue
        path = os.path.join(root, name + ".avi")
        nested = os.path.join(root, name.split("_")[1] if "_" in name else "", name + ".avi")
        records.append(
            VideoRecord(
                path if os.path.exists(path) or not os.path.exists(nested) else nested,
                label=len(cycle) - 1,
                start=max(0, cycle[0] - 1),
                num_frames=cycle[-1] - cycle[0] + 1,
            )
        )
    if unusable:
        logger.warning("%s: %d video(s) marked unusable left out", split_dir, len(unusable))
    if not records:
        raise ValueError(f"{split_dir} holds no UCFRep sample (.mat files)")
    return records
