"""How the command line reads POINT arguments and filters, and how the client commands parse flags."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from latentspace.cli import query_commands
from latentspace.cli.point_parsing import parse_filter, parse_point, parse_vector
from latentspace_client import Id
from latentspace_client.points import to_query


def test_id_prefix() -> None:
    assert parse_point("id:item-7") == Id("item-7")
    assert parse_point("id:with:colons") == Id("with:colons")
    with pytest.raises(ValueError, match="id"):
        parse_point("id:")


def test_plain_and_escaped_text() -> None:
    assert parse_point("a red circle") == "a red circle"
    assert parse_point("text:id:not-an-id") == "id:not-an-id"
    assert parse_point("text:@literal") == "@literal"
    assert parse_point("") == ""


def test_vectors() -> None:
    assert parse_point("vec:0.1,0.2,-3") == [0.1, 0.2, -3.0]
    assert parse_point("vec:[1, 2 ,3]") == [1.0, 2.0, 3.0]
    assert parse_vector("1 2\n3") == [1.0, 2.0, 3.0]
    for bad in ("vec:", "vec:1,x"):
        with pytest.raises(ValueError):
            parse_point(bad)


def test_vector_files(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([[0.5, 1.5]], dtype=np.float64))
    (tmp_path / "v.json").write_text("[1, 2.5]")
    (tmp_path / "v.txt").write_text("3, 4\n5")
    (tmp_path / "obj.json").write_text('{"a": 1}')
    npy = parse_point(f"@{tmp_path / 'v.npy'}")
    assert npy.dtype == np.float32 and npy.tolist() == [0.5, 1.5]
    assert parse_point(f"@{tmp_path / 'v.json'}") == [1.0, 2.5]
    assert parse_point(f"@{tmp_path / 'v.txt'}") == [3.0, 4.0, 5.0]
    with pytest.raises(ValueError, match="JSON list"):
        parse_point(f"@{tmp_path / 'obj.json'}")
    with pytest.raises(ValueError, match="no such file"):
        parse_point(f"@{tmp_path / 'missing.npy'}")


def test_image_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    png = tmp_path / "Circle.PNG"
    png.write_bytes(b"png-bytes")
    odd = tmp_path / "shape.dat"
    odd.write_bytes(b"dat-bytes")
    assert parse_point(str(png)) == png
    assert to_query(parse_point(str(png))).image == b"png-bytes"  # the client reads and sends the bytes
    monkeypatch.chdir(tmp_path)
    assert parse_point("Circle.PNG") == Path("Circle.PNG")
    # Only an existing file with an image extension is an image; otherwise it is text.
    assert parse_point("nothing-here.png") == "nothing-here.png"
    assert parse_point("shape.dat") == "shape.dat"
    assert parse_point("image:shape.dat") == Path("shape.dat")
    (tmp_path / "dir.png").mkdir()
    assert parse_point("dir.png") == "dir.png"
    with pytest.raises(ValueError, match="no such file"):
        parse_point("image:missing.png")


def test_filters() -> None:
    assert parse_filter(None) is None
    assert parse_filter('{"color": "red", "price": {"lt": 5}}') == {"color": "red", "price": {"lt": 5}}
    with pytest.raises(ValueError, match="JSON object"):
        parse_filter('["color"]')
    with pytest.raises(json.JSONDecodeError):
        parse_filter("{color: red}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="latent")
    query_commands.register(root.add_subparsers(dest="command", required=True))
    return root


def test_command_flags() -> None:
    args = parser().parse_args(
        ["interpolate", "a", "id:b", "--t", "0.2", "0.4", "--lerp", "--json", "-c", "col"]
    )
    assert args.t == [0.2, 0.4] and args.lerp and args.json and args.collection == "col"
    args = parser().parse_args(
        ["edit", "id:x", "--from", "a red shape", "--to", "a blue shape", "--mode", "rotate"]
    )
    assert (args.from_text, args.to_text, args.mode, args.k) == ("a red shape", "a blue shape", "rotate", 5)
    assert parser().parse_args(["collections"]).action == "list"
    assert parser().parse_args(["collections", "drop", "old"]).name == "old"
    with pytest.raises(SystemExit):
        parser().parse_args(["interpolate", "a", "b", "--t", "0.5", "--steps", "3"])


def test_unreachable_server_is_one_line_naming_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    args = parser().parse_args(["search", "a red circle", "--server", address, "-c", "x", "--timeout", "10"])
    assert args.handler(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach a latentspace server at " + address) and "\n" not in err


def test_usage_mistakes_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["search", "x", "--filter", "[1]", "-c", "c", "--server", "127.0.0.1:9"])
    assert args.handler(args) == 2
    assert capsys.readouterr().err.startswith("error: --filter takes a JSON object")
