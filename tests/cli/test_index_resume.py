"""``latent index`` killed midway and run again ends as an uninterrupted run, encoding only the rest.

Real processes, a real model and real SIGKILLs: the first run is killed once a few batches are
committed; the second run on the same source must skip exactly what was committed (its summary
counts what the model encoded) and leave the same ids and vectors as one run that was never killed.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.encoders.registry import EncoderRegistry
from tests.conftest import LATENT, subprocess_env

TIMEOUT = 300
TEXTS = 400
BATCH = 8
#: How long to wait for the first batches of the run to be killed; only a hang makes it wait this long.
WAIT = 240
_SUMMARY = re.compile(r"read\s+(\d+) records: (\d+) written, (\d+) unchanged .*, (\d+) rejected; "
                      r"the model encoded (\d+)")


def corpus(path: Path, changed: dict[int, str] | None = None, count: int = TEXTS) -> Path:
    subjects = ["a river", "the compiler", "a violin", "my garden", "the archive", "an old map", "the bakery"]
    lines = []
    for i in range(count):
        text = (changed or {}).get(i) or f"Note {i}: {subjects[i % 7]} " + "and more words " * (i % 5)
        lines.append(json.dumps({"id": f"n{i:04d}", "text": text, "payload": {"n": i}}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def index(source: Path, data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LATENT, "index", str(source), "--collection", "notes", "--model", "minilm", "--data",
                           str(data), "--batch-size", str(BATCH), "--no-progress", *extra],
                          capture_output=True, text=True, env=subprocess_env(), timeout=TIMEOUT, check=False)


def counts(run: subprocess.CompletedProcess[str]) -> dict[str, int]:
    assert run.returncode == 0, run.stderr
    found = _SUMMARY.search(run.stdout)
    assert found, run.stdout
    return dict(zip(("read", "written", "unchanged", "rejected", "encoded"), map(int, found.groups()),
                    strict=True))


def stored_count(data: Path) -> int:
    store = data / "collections" / "notes" / "items.sqlite3"
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    except sqlite3.OperationalError:  # the tables are not created yet
        return 0


def contents(data: Path) -> dict[str, np.ndarray]:
    with DataDir.open(data, EncoderRegistry(EncoderOptions(device="cpu", allow_download=False))) as opened:
        collection = opened.collection("notes")
        ids = [item_id for page in collection.all_ids() for item_id in page]
        return {item.id: item.vector for item in collection.get(ids, with_vectors=True)
                if item.vector is not None}


@pytest.mark.semantic
def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    source = corpus(tmp_path / "notes.jsonl")
    whole = counts(index(source, tmp_path / "whole"))
    assert whole == {"read": TEXTS, "written": TEXTS, "unchanged": 0, "rejected": 0, "encoded": TEXTS}

    killed_data = tmp_path / "killed"
    child = subprocess.Popen([*LATENT, "index", str(source), "--collection", "notes", "--model", "minilm",
                              "--data", str(killed_data), "--batch-size", str(BATCH), "--no-progress"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=subprocess_env())
    try:
        deadline = time.monotonic() + WAIT
        while stored_count(killed_data) < 2 * BATCH and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(TIMEOUT)
    assert child.returncode == -signal.SIGKILL
    committed = stored_count(killed_data)
    assert 2 * BATCH <= committed < TEXTS, "the kill did not land midway"

    resumed = counts(index(source, killed_data))
    assert resumed == {"read": TEXTS, "written": TEXTS - committed, "unchanged": committed, "rejected": 0,
                       "encoded": TEXTS - committed}
    expected, got = contents(tmp_path / "whole"), contents(killed_data)
    assert sorted(got) == sorted(expected) == [f"n{i:04d}" for i in range(TEXTS)]
    for item_id, vector in expected.items():
        # Texts met the model in other batches, hence other padding: equal to float32 rounding.
        np.testing.assert_allclose(got[item_id], vector, atol=1e-5, err_msg=item_id)

    # A third run finds nothing to do.
    again = counts(index(source, killed_data))
    assert again == {"read": TEXTS, "written": 0, "unchanged": TEXTS, "rejected": 0, "encoded": 0}


@pytest.mark.semantic
def test_changed_records_are_re_encoded_and_missing_ones_deleted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = counts(index(corpus(tmp_path / "v1.jsonl", count=40), data))
    assert first["encoded"] == 40
    # Version 2: two texts changed, the last five records gone, the rest as before.
    source = corpus(tmp_path / "v2.jsonl", changed={3: "A new text about tides.", 7: "Another change."}, count=35)
    run = index(source, data, "--delete-missing")
    assert counts(run) == {"read": 35, "written": 2, "unchanged": 33, "rejected": 0, "encoded": 2}
    assert "deleted  5 items" in run.stdout
    run = index(source, data, "--delete-missing")
    assert counts(run)["encoded"] == 0 and "deleted" not in run.stdout  # nothing left to do
    with DataDir.open(data, EncoderRegistry(EncoderOptions(device="cpu", allow_download=False))) as opened:
        collection = opened.collection("notes")
        assert [item_id for page in collection.all_ids() for item_id in page] == [f"n{i:04d}" for i in range(35)]
        changed = collection.get(["n0003"], with_vectors=True)[0]
        assert changed.content == "A new text about tides."
        assert changed.vector is not None
        np.testing.assert_allclose(changed.vector, collection.encode_texts(["A new text about tides."])[0],
                                   atol=1e-5)
