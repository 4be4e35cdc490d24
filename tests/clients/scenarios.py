"""The shared SDK scenarios (``congruence_scenarios.json``): load, run with a client, and report as JSON.

Both SDKs run the same scenarios on one real server: ``test_congruence.py`` runs them with the sync
and the async Python client, and the TypeScript SDK's tests run them with its client and compare
with what this module prints (``python -m tests.clients.scenarios --server ADDR``).

The file holds fixtures and a list of scenarios. A fixture is a collection, created afresh before
each scenario that names it (``"fixture"``, default ``vectors``) with its ``items`` upserted in
batches of ``batch_size``, and dropped after it: ``vectors`` is vector-only (``dimension``) with
float32 matrices ``vectors`` and ``queries`` (little-endian, base64); ``shapes`` is bound to the
``shapes-clip`` model, with texts and images. The client's default collection is the fixture's.
A scenario is ``{"name", "fixture"?, "raises"?, "steps": [...]}``; its result is the list of its
steps' results, or the error it raised (``raises`` names the class: a Python SDK error class, or
``ValueError`` / ``TypeError`` for mistakes the SDK sees before sending).

A step calls one client method by its Python name: ``{"call": "search", "args": [...], "kwargs":
{...}}``, optionally naming its result (``"as"``) and keeping part of it (``"pick"``: a field or a
list of fields; ``"map"``: that field of each element; ``"sort"``: sorted); ``"collect": true`` reads
a stream (``export``) to its end, as ``{"collection", "items"}``. Values are JSON, except
objects with one ``$`` key (and their options):

- ``{"$vector": ["vectors", 3], "scale": -1, "add": 1, "length": 15}``: row 3 of a fixture matrix,
  times ``scale``, plus ``add``, its first ``length`` values (each option may be left out);
- ``{"$id": "v007"}``: ``Id("v007")``;
- ``{"$image": "images/red-circle.png"}``: the bytes of that file (beside this module);
- ``{"$mix": [{"point": p, "weight": 0.7}, ...]}``: ``Mix([(p, 0.7), ...])`` (weight optional);
- ``{"$edit": {"base", "direction", "mode", "strength"}}``: ``Edit(...)``;
- ``{"$analogy": {"a", "a_star", "b", "method", "include_inputs"}}``: ``Analogy(...)``;
- ``{"$text_pair": {"neutral", "target", "use_templates"}}``: ``TextPair(...)``;
- ``{"$examples": {"positive": [...], "negative": [...]}}``: ``Examples(...)``;
- ``{"$named_direction": "to-blue"}``: ``NamedDirection("to-blue")``;
- ``{"$labels": {"field", "positive", "negative", "filter"}}``: ``Labels(...)``;
- ``{"$hit_ids": "before", "take": 3}``: the ids of the hits of the step named ``before``;
- ``{"$concat": [list, list, ...]}``: the lists joined.

Keyword and field names are Python's; the TypeScript runner turns them into camelCase.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import grpc
import numpy as np

from latentspace_client import (
    Analogy,
    Client,
    Edit,
    Examples,
    Id,
    Labels,
    LatentSpaceError,
    Mix,
    NamedDirection,
    TextPair,
)

SCENARIO_FILE = Path(__file__).with_name("congruence_scenarios.json")


class Call(Protocol):
    """Calls a client method by name and returns its result (awaited for the async client)."""

    def __call__(self, method: str, /, *args: Any, **kwargs: Any) -> Any: ...


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[dict[str, Any], ...]
    #: The name of the error class the scenario must raise (None: it must return).
    raises: str | None = None
    #: The name of the fixture it runs on.
    fixture: str = "vectors"


@dataclasses.dataclass(frozen=True)
class Fixture:
    name: str
    collection: str
    batch_size: int
    items: tuple[dict[str, Any], ...]
    model: str | None = None
    dimension: int | None = None
    matrices: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def upsert_items(self) -> list[dict[str, Any]]:
        """The fixture's items with their vectors and images resolved."""
        return [evaluate(item, self, {}) for item in self.items]


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCENARIO_FILE.read_text())
    return document


def load_fixtures() -> dict[str, Fixture]:
    """The fixtures by name."""
    fixtures = {}
    for name, raw in _document()["fixtures"].items():
        matrices = {
            key: np.frombuffer(base64.b64decode(raw[key]["float32_le_base64"]), "<f4").reshape(raw[key]["shape"])
            for key in ("vectors", "queries")
            if key in raw
        }
        fixtures[name] = Fixture(name, raw["collection"], raw["batch_size"], tuple(raw["items"]), raw.get("model"),
                                 raw.get("dimension"), matrices)
    return fixtures


def load_scenarios(path: Path | None = None) -> list[Scenario]:
    """The scenarios of the shared file, or of another file in the same format (same fixtures)."""
    document = _document() if path is None else json.loads(path.read_text())
    return [
        Scenario(s["name"], tuple(s["steps"]), s.get("raises"), s.get("fixture", "vectors"))
        for s in document["scenarios"]
    ]


def called_methods() -> set[str]:
    """Every client method some scenario calls."""
    return {step["call"] for scenario in load_scenarios() for step in scenario.steps}


# ---------------------------------------------------------------- values


def evaluate(value: Any, fixture: Fixture, named: dict[str, Any]) -> Any:
    """A JSON value with its ``$`` forms turned into SDK values (see the module docstring)."""
    if isinstance(value, list):
        return [evaluate(v, fixture, named) for v in value]
    if not isinstance(value, dict):
        return value
    forms = [key for key in value if key.startswith("$")]
    if not forms:
        return {key: evaluate(v, fixture, named) for key, v in value.items()}
    (form,) = forms
    spec = value[form]

    def ev(v: Any) -> Any:
        return evaluate(v, fixture, named)

    if form == "$vector":
        matrix, row = spec
        vector = fixture.matrices[matrix][row] * np.float32(value.get("scale", 1.0)) + np.float32(value.get("add", 0.0))
        return vector[: value.get("length", len(vector))].astype(np.float32)
    if form == "$id":
        return Id(spec)
    if form == "$image":
        return (SCENARIO_FILE.parent / spec).read_bytes()
    if form == "$mix":
        return Mix([(ev(part["point"]), part["weight"]) if "weight" in part else ev(part["point"]) for part in spec])
    if form == "$edit":
        return Edit(ev(spec["base"]), ev(spec["direction"]), spec.get("mode", "add"), spec.get("strength"))
    if form == "$analogy":
        return Analogy(ev(spec["a"]), ev(spec["a_star"]), ev(spec["b"]), spec.get("method", "cos_add"),
                       spec.get("include_inputs", False))
    if form == "$text_pair":
        return TextPair(spec["neutral"], spec["target"], spec.get("use_templates", False))
    if form == "$examples":
        return Examples(ev(spec["positive"]), ev(spec.get("negative", [])))
    if form == "$named_direction":
        return NamedDirection(spec)
    if form == "$labels":
        return Labels(spec["field"], spec["positive"], spec["negative"], ev(spec.get("filter")))
    if form == "$hit_ids":
        return [hit.id for hit in named[spec][: value.get("take")]]
    if form == "$concat":
        return [v for part in spec for v in ev(part)]
    raise ValueError(f"unknown form {form} in the scenario file")


def _keep(result: Any, step: dict[str, Any]) -> Any:
    if step.get("collect"):
        result = {"collection": result.collection, "items": list(result)}
    if "pick" in step:
        pick = step["pick"]
        result = getattr(result, pick) if isinstance(pick, str) else {name: getattr(result, name) for name in pick}
    if "map" in step:
        result = [getattr(element, step["map"]) for element in result]
    if step.get("sort"):
        result = sorted(result)
    return result


def run(scenario: Scenario, fixture: Fixture, call: Call) -> list[Any]:
    """Run the steps in order; the result is the list of their (kept) results."""
    named: dict[str, Any] = {}
    results = []
    for step in scenario.steps:
        args = evaluate(step.get("args", []), fixture, named)
        kwargs = evaluate(step.get("kwargs", {}), fixture, named)
        result = call(step["call"], *args, **kwargs)
        if "as" in step:
            named[step["as"]] = result
        results.append(_keep(result, step))
    return results


def outcome(scenario: Scenario, fixture: Fixture, call: Call) -> tuple[Any, ...]:
    """Run a scenario on a fresh copy of the fixture collection (see :func:`attempt`)."""
    call("create_collection", fixture.collection, model=fixture.model, dimension=fixture.dimension)
    call("upsert", fixture.upsert_items(), batch_size=fixture.batch_size)
    try:
        return attempt(lambda: run(scenario, fixture, call))
    finally:
        call("drop_collection", fixture.collection)


def attempt(body: Callable[[], Any]) -> tuple[Any, ...]:
    """("returned", value), or ("raised", class, code, reason, has a request id, chained to an RpcError)."""
    try:
        return ("returned", body())
    except LatentSpaceError as error:
        chained = isinstance(error.__cause__, grpc.RpcError)
        return ("raised", type(error), error.code, error.reason, bool(error.request_id), chained)
    except (TypeError, ValueError) as error:
        return ("raised", type(error), str(error))


# ---------------------------------------------------------------- as JSON, for the other SDKs


def plain(value: Any) -> Any:
    """A result as JSON: dataclasses as objects of their fields, arrays and tuples as lists, bytes
    (images) as base64."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {key: plain(v) for key, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def plain_outcome(result: tuple[Any, ...]) -> dict[str, Any]:
    """An :func:`outcome` as JSON: ``{"returned": ...}`` or ``{"raised": class name, ...}``."""
    if result[0] == "returned":
        return {"returned": plain(result[1])}
    if len(result) == 3:  # a mistake seen before sending: the messages differ between languages
        return {"raised": result[1].__name__}
    _, cls, code, reason, has_request_id, chained = result
    return {"raised": cls.__name__, "code": code.name, "reason": reason, "request_id": has_request_id,
            "chained": chained}


def caller(client: Client) -> Call:
    """A :class:`Call` on a sync client."""

    def call(method: str, /, *args: Any, **kwargs: Any) -> Any:
        return getattr(client, method)(*args, **kwargs)

    return call


def run_all(address: str, names: Iterable[str] | None = None) -> dict[str, Any]:
    """Every scenario (or those named) with the sync client, as ``{name: plain outcome}``."""
    fixtures = load_fixtures()
    wanted = set(names) if names else None
    results: dict[str, Any] = {}
    clients = {name: Client(address, collection=f.collection, timeout=60) for name, f in fixtures.items()}
    try:
        for scenario in load_scenarios():
            if wanted is None or scenario.name in wanted:
                call = caller(clients[scenario.fixture])
                results[scenario.name] = plain_outcome(outcome(scenario, fixtures[scenario.fixture], call))
    finally:
        for client in clients.values():
            client.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the shared scenarios with the Python SDK; print JSON.")
    parser.add_argument("--server", required=True, help="host:port of a running server")
    parser.add_argument("names", nargs="*", help="only these scenarios")
    args = parser.parse_args()
    json.dump(run_all(args.server, args.names), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
