"""``latent index`` as a user runs it: a child process, real models, a folder with a corrupt file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.shapes.render import ShapeSpec, render_shape
from tests.conftest import LATENT, subprocess_env

TIMEOUT = 300


def latent(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LATENT, *map(str, args)], capture_output=True, text=True, env=subprocess_env(),
                          timeout=TIMEOUT, check=False)


@pytest.fixture
def notes_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    (folder / "cooking").mkdir(parents=True)
    (folder / "cooking" / "bread.txt").write_text("How to bake sourdough bread at home.", encoding="utf-8")
    (folder / "cooking" / "soup.md").write_text("# Soup\nA warm tomato soup recipe.", encoding="utf-8")
    (folder / "python.txt").write_text("Splitting a file path into its folder and file name.", encoding="utf-8")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "data.bin").write_bytes(b"\0\1")
    return folder


@pytest.mark.semantic
def test_index_a_folder_with_minilm(notes_folder: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    run = latent("index", notes_folder, "--collection", "notes", "--model", "minilm", "--data", data,
                 "--batch-size", "2")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    # One progress bar at most (ours, on a terminal); none of the libraries' own ("Loading weights").
    assert "Loading weights" not in run.stderr and "it/s]" not in run.stderr
    out = run.stdout
    assert "indexed  3 items" in out and "items/s" in out and "the collection now holds 3" in out
    assert "rejected 1:" in out and "broken.png:" in out and "cannot encode images" in out
    assert "ignored  1 files" in out

    # Again with the collection's model implied: upserts replace, the count stays.
    again = latent("index", notes_folder, "--collection", "notes", "--data", data, "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "the collection now holds 3" in again.stdout

    # The same collection name with another model is a clear error, not a mix of two models' vectors.
    other = latent("index", notes_folder, "--collection", "notes", "--model", "shapes-clip", "--data", data)
    assert other.returncode == 1
    assert other.stderr.startswith("latent index: error:") and len(other.stderr.strip().splitlines()) == 1
    assert "--collection" in other.stderr


@pytest.mark.semantic
def test_index_images_with_shapes_clip_skips_the_corrupt_one(tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for color in ("red", "blue"):
        render_shape(ShapeSpec(color, "circle", "large"), rng).save(folder / f"{color}.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    records = [{"id": "cap", "text": "a red circle", "payload": {"kind": "caption"}},
               {"id": "pic", "image": "shapes/red.png"}, {"id": "both", "text": "x", "image": "y.png"}]
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")

    data = tmp_path / "data"
    run = latent("index", folder, "--collection", "shapes", "--model", "shapes-clip", "--data", data)
    assert run.returncode == 0, run.stderr
    assert "indexed  2 items" in run.stdout
    assert "corrupt.jpg: " in run.stdout and "cannot decode" in run.stdout

    run = latent("index", jsonl, "--collection", "shapes", "--data", data, "--no-progress")
    assert run.returncode == 0, run.stderr
    assert "indexed  2 items" in run.stdout and "the collection now holds 4" in run.stdout
    assert f"{jsonl}:3: record has both text and image" in run.stdout


def test_missing_source_is_a_one_line_error(tmp_path: Path) -> None:
    run = latent("index", tmp_path / "nowhere", "--collection", "c", "--model", "minilm", "--data",
                 tmp_path / "data")
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.strip().splitlines() == [f"latent index: error: source: no such file or folder: "
                                                f"{tmp_path / 'nowhere'}"]


def test_user_errors_exit_1_without_a_traceback(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text("{nope\n" + json.dumps({"id": "v", "vector": [0, 0, 0]}) + "\n", encoding="utf-8")
    run = latent("index", source, "--collection", "vecs", "--data", tmp_path / "data")
    # A missing collection without --model cannot be created: say so.
    assert run.returncode == 1 and "pass --model to create it" in run.stderr

    run = latent("index", source, "--collection", "vecs", "--data", tmp_path / "data", "--threads", "0")
    assert run.returncode == 1 and "--threads must be at least 1" in run.stderr

    csv_source = tmp_path / "t.csv"
    csv_source.write_text("id,title\n1,x\n", encoding="utf-8")
    run = latent("index", csv_source, "--collection", "c", "--model", "minilm", "--data", tmp_path / "data")
    assert run.returncode == 1 and "no 'text', 'image' or 'vector' column" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.semantic
def test_nothing_indexed_and_something_bad_exits_1(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text("{nope\n" + json.dumps({"id": "e", "text": "   "}) + "\n", encoding="utf-8")
    run = latent("index", source, "--collection", "c", "--model", "minilm", "--data", tmp_path / "data")
    assert run.returncode == 1, run.stderr
    assert "indexed  0 items" in run.stdout and "rejected 2:" in run.stdout


def test_help_is_fast_and_lists_the_flags() -> None:
    run = latent("index", "--help")
    assert run.returncode == 0
    for flag in ("--collection", "--model", "--data", "--batch-size", "--index-kind", "--threads", "--no-progress"):
        assert flag in run.stdout
    run = latent("demo", "build", "--help")
    assert run.returncode == 0 and "--data" in run.stdout


def test_the_indexer_gives_the_model_every_core_unless_told_otherwise() -> None:
    import os

    from latentspace.cli.index_command import indexing_encoder_options
    from latentspace.server.settings import Settings

    settings = Settings(workers=64)
    assert indexing_encoder_options(settings, None).threads == (os.cpu_count() or 1)
    assert indexing_encoder_options(Settings(compute_threads=3), None).threads == 3
    assert indexing_encoder_options(Settings(compute_threads=3), 1).threads == 1
    assert indexing_encoder_options(settings, None).batch_size == settings.batch_size
    # The operator's own tool: no download allow-list (the server's callers get one).
    assert indexing_encoder_options(settings, None).download_allow is None


@pytest.mark.semantic
def test_bad_records_land_in_the_rejects_file_and_the_run_completes(tmp_path: Path) -> None:
    render_shape(ShapeSpec("red", "circle", "large"), np.random.default_rng(1)).save(tmp_path / "red.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))  # a corrupted image
    (tmp_path / "a-folder.png").mkdir()  # a file that cannot be read
    records = [{"id": "caption", "text": "a red circle"}, {"id": "red", "image": "red.png"},
               {"id": "corrupt", "image": "broken.png"},
               {"id": "no-text", "payload": {"title": "a record without its text field"}},
               {"id": "unreadable", "image": "a-folder.png"}]
    source = tmp_path / "corpus.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    stale = tmp_path / "corpus.rejects.jsonl"

    run = latent("index", source, "--collection", "shapes", "--model", "shapes-clip", "--data", tmp_path / "data",
                 "--no-progress")
    assert run.returncode == 0, run.stderr
    assert "indexed  2 items" in run.stdout and "the collection now holds 2" in run.stdout
    assert "read     5 records: 2 written, 0 unchanged (already indexed), 3 rejected" in run.stdout
    assert f"(all 3 in {stale})" in run.stdout
    # Batch by batch; within a batch, by the stage that refused them.
    rejects = sorted((json.loads(line) for line in stale.read_text(encoding="utf-8").splitlines()),
                     key=lambda r: r["location"])
    assert [(r["location"], r["id"]) for r in rejects] == [
        (f"{source}:3", "corrupt"), (f"{source}:4", "no-text"), (f"{source}:5", "unreadable")]
    assert "cannot decode" in rejects[0]["reason"]
    assert rejects[1]["reason"] == "record has no text, image or vector"
    assert "cannot read" in rejects[2]["reason"] and "a-folder.png" in rejects[2]["reason"]

    # Elsewhere with --rejects; the fixed source leaves no rejects, and no stale file behind.
    source.write_text("\n".join(json.dumps(r) for r in records[:2]) + "\n", encoding="utf-8")
    elsewhere = tmp_path / "out" / "rejects.jsonl"
    run = latent("index", source, "--collection", "shapes", "--data", tmp_path / "data", "--no-progress",
                 "--rejects", elsewhere)
    assert run.returncode == 0, run.stderr
    assert "2 unchanged (already indexed), 0 rejected; the model encoded 0" in run.stdout
    assert not elsewhere.exists() and stale.exists()
    run = latent("index", source, "--collection", "shapes", "--data", tmp_path / "data", "--no-progress")
    assert run.returncode == 0 and not stale.exists()


def test_precomputed_vectors_with_field_flags_and_one_progress_bar_when_asked(tmp_path: Path) -> None:
    vectors = np.random.default_rng(2).normal(size=(300, 16)).astype(np.float32)
    np.save(tmp_path / "emb.npy", vectors)
    (tmp_path / "emb.ids.txt").write_text("\n".join(f"e{i}" for i in range(300)) + "\n", encoding="utf-8")
    data = tmp_path / "data"
    run = latent("index", tmp_path / "emb.npy", "--collection", "emb", "--dimension", "16", "--data", data,
                 "--progress")
    assert run.returncode == 0, run.stderr
    assert "indexed  300 items" in run.stdout and "the model encoded 0" in run.stdout
    bar = run.stderr.strip().splitlines()
    assert "indexing emb" in run.stderr and "300/300" in run.stderr and "records/s" in run.stderr
    assert all("indexing emb" in line or not line.strip() for line in bar)  # that bar and nothing else

    rows = [{"doc": "x1", "vec": vectors[0].tolist(), "keep": 1, "drop": 2}]
    (tmp_path / "more.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    run = latent("index", tmp_path / "more.jsonl", "--collection", "emb", "--data", data, "--id-field", "doc",
                 "--vector-field", "vec", "--payload-fields", "keep")
    assert run.returncode == 0, run.stderr
    assert "indexed  1 items" in run.stdout and "the collection now holds 301" in run.stdout
    assert run.stderr == ""  # not a terminal and not asked: no bar
