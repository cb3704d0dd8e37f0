import json

import pytest

from sigma_video.data.annotations import (
    VideoRecord,
    parse_line,
    read_folder,
    read_list,
    read_records,
    read_ssv2,
)


def test_path_label_with_spaces_in_the_path(tmp_path):
    assert parse_line("clips/a b  c.mp4 12", root="/data") == VideoRecord(
        "/data/clips/a b  c.mp4", 12
    )
    assert parse_line("/abs/x.mp4 3", root="/data") == VideoRecord("/abs/x.mp4", 3)
    assert parse_line("x.mp4") == VideoRecord("x.mp4")


def test_videomae_v2_formats(tmp_path):
    assert parse_line("videos/x.mp4 0 -1") == VideoRecord("videos/x.mp4", -1, 0)
    (tmp_path / "frames_a").mkdir()
    record = parse_line("frames_a 1 120", root=str(tmp_path))
    assert record == VideoRecord(str(tmp_path / "frames_a"), -1, 1, 120, is_frames=True)
    record = parse_line("frames_a 1 120 7", root=str(tmp_path))
    assert record.label == 7 and record.num_frames == 120 and record.is_frames


def test_read_list_reports_malformed_lines_with_numbers(tmp_path, caplog):
    listing = tmp_path / "train.csv"
    listing.write_text(
        "# a comment\n\na.mp4 0\nb.mp4 cat\nc.mp4 9\nd.mp4 -5\ne f.mp4 2\n", encoding="utf-8"
    )
    records, problems = read_list(listing, root="/r", num_classes=5)
    assert [r.path for r in records] == ["/r/a.mp4", "/r/e f.mp4"]
    assert [(p.line, p.reason.split()[0]) for p in problems] == [
        (4, "last"),
        (5, "label"),
        (6, "negative"),
    ]
    assert "line 4" in caplog.text and "3 line(s) left out" in caplog.text


def test_relative_paths_resolve_from_the_list_folder_without_a_root(tmp_path, monkeypatch):
    (tmp_path / "lists").mkdir()
    listing = tmp_path / "lists" / "train.csv"
    listing.write_text("videos/a.mp4 1\n/abs/b.mp4 2\n")
    monkeypatch.chdir("/")
    records, _ = read_list(listing)
    assert [r.path for r in records] == [str(tmp_path / "lists" / "videos/a.mp4"), "/abs/b.mp4"]
    records, _ = read_list(listing, root="/data")
    assert records[0].path == "/data/videos/a.mp4"


def test_comma_csv_with_a_header(tmp_path):
    listing = tmp_path / "train.csv"
    listing.write_text("path,label\nclips/a b.mp4,3\nc.mp4, 4\n")
    records, problems = read_list(listing, root="/r")
    assert records == [VideoRecord("/r/clips/a b.mp4", 3), VideoRecord("/r/c.mp4", 4)]
    assert problems == []
    # a header is only a header on the first line; later it is a bad line
    listing.write_text("a.mp4,1\nvideo,label\n")
    records, problems = read_list(listing, root="/r")
    assert len(records) == 1 and problems[0].line == 2


def test_extra_numbers_after_a_path_are_refused(tmp_path):
    with pytest.raises(ValueError, match="more numbers follow the path"):
        parse_line("x.mp4 1 2 3 4", root=str(tmp_path))
    with pytest.raises(ValueError, match="more numbers follow the path"):
        parse_line("x.mp4 1 2", root=str(tmp_path))  # not a frame folder
    assert parse_line("x 2.mp4 4") == VideoRecord("x 2.mp4", 4)  # a number inside the name


def test_read_list_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot read list"):
        read_list(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("x.mp4 cat\n")
    with pytest.raises(ValueError, match="no usable lines"):
        read_list(bad)


def test_read_folder(tmp_path):
    for cls, name in [("walk", "1.mp4"), ("walk", "2.webm"), ("run", "3.mp4"), ("run", "x.txt")]:
        (tmp_path / cls).mkdir(exist_ok=True)
        (tmp_path / cls / name).write_bytes(b"")
    records, classes = read_folder(tmp_path)
    assert classes == ["run", "walk"]
    assert [(r.path.split("/")[-1], r.label) for r in records] == [
        ("3.mp4", 0),
        ("1.mp4", 1),
        ("2.webm", 1),
    ]
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "v.mp4").write_bytes(b"")
    assert read_folder(flat)[0] == [VideoRecord(str(flat / "v.mp4"))]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no videos"):
        read_folder(tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        read_folder(tmp_path / "missing")


def test_read_ssv2(tmp_path):
    labels = {"Pushing something from left to right": "0", "Holding something": "1"}
    entries = [
        {"id": "11", "template": "Pushing [something] from left to right"},
        {"id": "12", "template": "Holding [something]"},
        {"id": "13", "template": "Juggling [something]"},
    ]
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    (tmp_path / "train.json").write_text(json.dumps(entries))
    records, problems = read_ssv2(tmp_path / "train.json", tmp_path / "labels.json", "/ssv2")
    assert records == [VideoRecord("/ssv2/11.webm", 0), VideoRecord("/ssv2/12.webm", 1)]
    assert len(problems) == 1 and problems[0].line == 3
    # the same JSON where any command takes a list: labels file found beside it
    assert read_records(tmp_path / "train.json", "/ssv2") == records
    with pytest.raises(ValueError, match="--data-root"):
        read_records(tmp_path / "train.json")
    (tmp_path / "labels.json").unlink()
    with pytest.raises(ValueError, match=r"something-something-v2-labels\.json"):
        read_records(tmp_path / "train.json", "/ssv2")


def test_multilabel_lists(tmp_path):
    from sigma_video.data.annotations import read_multilabel

    listing = tmp_path / "ml.txt"
    listing.write_text("# comment\na b.mp4 3,1,3\n/abs/c.mp4 0\n")
    records = read_multilabel(listing)
    assert records[0].path == str(tmp_path / "a b.mp4") and records[0].labels == (1, 3)
    assert records[1].path == "/abs/c.mp4" and records[1].labels == (0,)
    for line, reason in [
        ("x.mp4", "expected 'path labels'"),
        ("x.mp4 1,a", "not comma-separated integers"),
        ("x.mp4 ,", "at least one label"),
        ("x.mp4 -2", "negative label"),
    ]:
        listing.write_text(f"ok.mp4 1\n{line}\n")
        with pytest.raises(ValueError, match=f"line 2: .*{reason}"):
            read_multilabel(listing)


def test_charades_csv(tmp_path, caplog):
    from sigma_video.data.annotations import read_multilabel

    csv_file = tmp_path / "Charades_v1_train.csv"
    csv_file.write_text(
        "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
        '46GP8,HR43,Kitchen,6,7,Yes,"A person, cooking.",food,"desc",'
        '"c092 11.90 21.20;c147 0.00 12.60;c092 25.0 30.0",24.83\n'
        "N11GT,0KZ7,Stairs,6,7,Yes,script,stairs,desc,,17.54\n"
    )
    with caplog.at_level("WARNING"):
        records = read_multilabel(csv_file, root="/videos")
    assert [(r.path, r.labels) for r in records] == [("/videos/46GP8.mp4", (92, 147))]
    assert "1 video(s) without any action left out" in caplog.text
    csv_file.write_text("id,actions\nA1,cx1 0.0 1.0;c2 1.0 2.0\n")
    with pytest.raises(ValueError, match="bad Charades row"):
        read_multilabel(csv_file)


def test_ucfrep_annotations(tmp_path, caplog):
    from sigma_video.data.annotations import read_ucfrep

    annotations = tmp_path / "annotations"
    (annotations / "train").mkdir(parents=True)
    (annotations / "repetition_label").mkdir()
    (annotations / "repetition_label" / "JumpRope.txt").write_text(
        "v_JumpRope_g01_c01\n1 16 28 44\nv_JumpRope_g02_c01\n0\n"
    )
    for name in ("v_JumpRope_g01_c01", "v_JumpRope_g02_c01"):
        (annotations / "train" / f"{name}.mat").write_bytes(b"")
    (tmp_path / "videos" / "JumpRope").mkdir(parents=True)
    (tmp_path / "videos" / "JumpRope" / "v_JumpRope_g01_c01.avi").write_bytes(b"")
    with caplog.at_level("WARNING"):
        records = read_ucfrep(annotations / "train", str(tmp_path / "videos"))
    (record,) = records
    assert record.path == str(tmp_path / "videos" / "JumpRope" / "v_JumpRope_g01_c01.avi")
    assert (record.label, record.start, record.num_frames) == (3, 0, 44)  # 3 cycles, frames 1-44
    assert "1 video(s) marked unusable" in caplog.text
    (annotations / "train" / "v_Other_g01_c01.mat").write_bytes(b"")
    with pytest.raises(ValueError, match="v_Other_g01_c01 has no line"):
        read_ucfrep(annotations / "train", str(tmp_path / "videos"))
