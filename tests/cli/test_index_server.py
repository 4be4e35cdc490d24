"""``latent index --server`` against a real ``latent serve``: the server encodes, reruns skip by content hash.

Real processes and the real minilm model: the first run writes the corpus through UpsertStream; a
rerun writes nothing and the server encodes nothing (its Prometheus counter of encoded items stays
put); after one record changes, only that one is encoded again. A record the server refuses lands
in the rejects file and the rest of its window is still written.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.request
from pathlib import Path

from tests.conftest import LATENT, subprocess_env

TIMEOUT = 300
_SUMMARY = re.compile(r"read\s+(\d+) records: (\d+) written, (\d+) unchanged .*, (\d+) rejected")
_ENCODED = re.compile(r"^latentspace_encoded_items_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_corpus(path: Path, changed: str = "") -> Path:
    lines = [json.dumps({"id": f"d{i:03d}", "text": f"Document {i} about " + ["rivers", "violins", "maps"][i % 3]
                                                      + (changed if i == 38 else ""), "payload": {"n": i}})
             for i in range(40)]
    # A text-only model refuses an image: the server names the item, the run rejects it and goes on.
    (path.parent / "photo.png").write_bytes(b"not really an image")
    lines.insert(20, json.dumps({"id": "photo", "image": "photo.png"}))
    lines.append(json.dumps({"id": "no-text", "payload": {"n": -1}}))  # read as a bad record
    # Over the server's lower text limit (the client checks with the default): the server refuses it
    # mid-stream, the run rejects it and sends the rest of the window again.
    lines.insert(30, json.dumps({"id": "long", "text": "word " * 40}))
    path.write_text("\n".join(lines) + "\n")
    return path


def index(source: Path, server: str, *extra: str) -> tuple[tuple[int, ...], str]:
    run = subprocess.run([*LATENT, "index", str(source), "--server", server, "--collection", "docs",
                          "--batch-size", "8", "--no-progress", *extra],
                         capture_output=True, text=True, timeout=TIMEOUT, env=subprocess_env())
    assert run.returncode == 0, run.stdout + run.stderr
    found = _SUMMARY.search(run.stdout)
    assert found, run.stdout
    return tuple(int(n) for n in found.groups()), run.stdout


def encoded(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(value) for value in _ENCODED.findall(text))


def test_index_through_a_server_skips_what_it_holds_unchanged(tmp_path, server_process):
    metrics_port = free_port()
    server = server_process(tmp_path / "data", "--metrics-port", str(metrics_port),
                            env={"LATENTSPACE_MAX_TEXT_CHARS": "120"})
    (tmp_path / "corpus").mkdir()
    source = write_corpus(tmp_path / "corpus" / "docs.jsonl")

    counts, out = index(source, server.address, "--model", "minilm")
    # read, written, unchanged, rejected (the image, no-text and long). The server's refusal resends
    # its window, whose batches committed before it then count as unchanged: the sum is exact.
    assert counts[0] == 43 and counts[1] + counts[2] == 40 and counts[3] == 3, out
    assert encoded(metrics_port) == 40
    rejects = [json.loads(line) for line in source.with_name("docs.rejects.jsonl").read_text().splitlines()]
    assert sorted(reject["id"] for reject in rejects) == ["long", "no-text", "photo"]
    assert "120" in next(reject["reason"] for reject in rejects if reject["id"] == "long")
    assert any(reject["location"].endswith("docs.jsonl:21") for reject in rejects)
    assert "holds 40" in out

    counts, out = index(source, server.address)
    assert counts == (43, 0, 40, 3), out
    assert encoded(metrics_port) == 40  # the rerun encoded nothing

    write_corpus(source, changed=" and lakes")
    counts, out = index(source, server.address)
    assert counts == (43, 1, 39, 3), out
    assert encoded(metrics_port) == 41  # only the changed record
