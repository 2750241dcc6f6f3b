"""``lineinspect predict``: files and folders in, one JSON line per image out, annotated copies,
bad files reported per line without stopping the run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.predict_cli import find_images, iter_lines
from edge.stream.annotate import PALETTE
from lineinspect.cli import main
from tests._edge_app import colour_pixels, known_answer_detector
from tests._models import shipped_detector

GREY = np.full((320, 320, 3), 100, np.uint8)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    known_answer_detector(folder)
    return folder / "known.onnx"


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "shift2").mkdir(parents=True)
    cv2.imwrite(str(root / "a.png"), GREY)
    cv2.imwrite(str(root / "shift2" / "b.jpg"), cv2.resize(GREY, (640, 640)))
    (root / "notes.txt").write_text("not an image")
    (root / "shift2" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return root


def test_folders_are_searched_recursively_in_a_stable_order(images: Path) -> None:
    found = [str(rel) for _, rel in find_images([images])]
    assert found == ["a.png", "shift2/b.jpg", "shift2/broken.png"]
    with pytest.raises(FileNotFoundError, match="nope: no such file or folder"):
        find_images([images / "nope"])


def test_predict_writes_a_line_per_image_and_annotated_copies(
        model: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, vis = tmp_path / "res" / "results.jsonl", tmp_path / "vis"
    extra = tmp_path / "single.webp"
    cv2.imwrite(str(extra), GREY)
    code = main(["predict", str(images), str(extra), "--out", str(out), "--visualize", str(vis),
                 "--model", str(model)])
    assert code == 1  # one file could not be read
    lines = list(iter_lines(out))
    assert [Path(str(x["file"])).name for x in lines] == ["a.png", "b.jpg", "broken.png",
                                                          "single.webp"]
    a, b, broken, single = lines
    assert [d["class_name"] for d in a["detections"]] == ["scratch", "dent"]  # type: ignore
    assert a["detections"][0]["box"] == {"x1": 50.0, "y1": 90.0, "x2": 100.0,  # type: ignore
                                         "y2": 130.0}
    assert b["detections"][0]["box"]["x2"] == 200.0  # type: ignore  # at b's own scale
    assert "header is corrupt" in str(broken["error"])
    assert single["width"] == 320 and a["model"]["name"] == "tiny"  # type: ignore
    drawn = sorted(str(p.relative_to(vis)) for p in vis.rglob("*.jpg"))
    assert drawn == ["a.jpg", "shift2/b.jpg", "single.jpg"]
    picture = cv2.imread(str(vis / "a.jpg"))
    assert picture is not None
    assert sum(colour_pixels(picture, c, tol=70) for c in PALETTE) > 100
    err = capsys.readouterr().err
    assert "4/4 images (100%)" in err and "3 of 4 images" in err and "1 could not be read" in err


@pytest.mark.parametrize(("args", "message"), [
    (["missing-folder"], "missing-folder: no such file or folder"),
    (["EMPTY"], "no images found"),
])
def test_nothing_to_do_exits_2_with_a_reason(model: Path, tmp_path: Path, args: list[str],
                                              message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "EMPTY").mkdir()
    args = [str(tmp_path / a) for a in args]
    assert main(["predict", *args, "--out", str(tmp_path / "r.jsonl"), "--model",
                 str(model)]) == 2
    assert message in capsys.readouterr().err


def test_a_model_without_manifest_is_refused(tmp_path: Path, images: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "m.onnx"
    bogus.write_bytes(b"not a model")
    assert main(["predict", str(images), "--out", str(tmp_path / "r.jsonl"), "--model",
                 str(bogus)]) == 2
    assert "cannot load the detector" in capsys.readouterr().err


def test_the_command_runs_the_shipped_detector_on_conveyor_frames(tmp_path: Path) -> None:
    from lineinspect.render.video import ConveyorScene

    scene = ConveyorScene(seed=3, width=640, height=480, fps=15)
    for i in (112, 116):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), scene.render(i)[0])
    out = tmp_path / "r.jsonl"
    proc = subprocess.run([sys.executable, "-m", "lineinspect.cli", "predict", str(tmp_path),
                           "--out", str(out), "--model", str(shipped_detector())],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 2 and all(line["detections"] for line in lines)
    assert {d["class_name"] for line in lines for d in line["detections"]} <= {
        "scratch", "crack", "dent"}
