"""Settings: defaults, then LATENTSPACE_* variables, then flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.model_spec import ALIASES
from latentspace.server.settings import Settings


def test_environment_over_defaults_and_flags_over_environment():
    env = {"LATENTSPACE_PORT": "6000", "LATENTSPACE_DATA_DIR": "/srv/data", "LATENTSPACE_ALLOW_DOWNLOAD": "no",
           "LATENTSPACE_MAX_K": "50", "LATENTSPACE_SHUTDOWN_GRACE": "2.5", "UNRELATED": "x"}
    settings = Settings.load(env, port=7000, host=None)
    assert settings.port == 7000  # the flag wins
    assert settings.host == "127.0.0.1"  # an unset flag leaves the default
    assert settings.data_dir == Path("/srv/data")
    assert settings.allow_download is False
    assert settings.shutdown_grace == 2.5
    assert settings.limits.max_k == 50 and settings.limits.max_batch == 1024
    assert settings.encoder_options().allow_download is False


@pytest.mark.parametrize(("name", "value"), [("LATENTSPACE_PORT", "http"), ("LATENTSPACE_ALLOW_DOWNLOAD", "maybe"),
                                             ("LATENTSPACE_MAX_BATCH", "1.5")])
def test_unreadable_values_name_the_variable(name, value):
    with pytest.raises(InvalidInput, match=name):
        Settings.load({name: value})


def test_model_batches_use_every_core_and_threads_follow_the_in_flight_bound(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert Settings().threads_per_call() == 16  # one model batch at a time per model
    assert Settings(compute_threads=3).encoder_options().threads == 3
    assert Settings(max_in_flight=10).request_threads() == 10  # every admitted call has a thread
    assert Settings(max_in_flight=10, workers=4).request_threads() == 4
    assert Settings().search_batches_at_once() == 16
    assert Settings.load({"LATENTSPACE_METRICS_PORT": "9100"}).metrics_port == 9100
    assert Settings.load({}).metrics_port is None


def test_milvus_is_an_operator_setting_with_the_token_from_the_environment_only():
    env = {"LATENTSPACE_MILVUS_URI": "http://milvus:19530", "LATENTSPACE_MILVUS_TOKEN": "root:secret",
           "LATENTSPACE_DEFAULT_BACKEND": "milvus"}
    settings = Settings.load(env)
    target = settings.milvus_target()
    assert target is not None and (target.uri, target.token, target.consistency) == \
        ("http://milvus:19530", "root:secret", "Strong")
    assert "secret" not in repr(settings) and "secret" not in repr(target)
    assert Settings().milvus_target() is None and Settings().default_backend == "embedded"
    with pytest.raises(InvalidInput, match="--milvus-uri"):
        Settings.load({"LATENTSPACE_DEFAULT_BACKEND": "milvus"})
    with pytest.raises(InvalidInput, match="LATENTSPACE_DEFAULT_BACKEND"):
        Settings.load({"LATENTSPACE_DEFAULT_BACKEND": "faiss"})
    with pytest.raises(InvalidInput, match="consistency"):
        Settings.load(env | {"LATENTSPACE_MILVUS_CONSISTENCY": "Sometimes"}).milvus_target()


def test_the_trust_boundary_is_closed_by_default():
    settings = Settings.load({})
    options = settings.encoder_options()
    assert settings.allow_download is False and options.allow_download is False
    assert settings.model_root is None and settings.model_access().model_root is None
    # Downloads, once on, are for the documented aliases only; the operator's own tools may fetch any spec.
    assert options.download_allow == frozenset(ALIASES.values())
    assert settings.encoder_options(operator_tool=True).download_allow is None


def test_model_root_and_download_allow_list_come_from_the_environment(tmp_path):
    env = {"LATENTSPACE_MODEL_ROOT": str(tmp_path / "models" / ".." / "models"), "LATENTSPACE_ALLOW_DOWNLOAD": "1",
           "LATENTSPACE_DOWNLOAD_ALLOW": "minilm, open_clip:ViT-B-32/openai,,"}
    settings = Settings.load(env)
    assert settings.model_access().model_root == (tmp_path / "models").resolve()
    assert settings.download_allow == ("minilm", "open_clip:ViT-B-32/openai")
    assert settings.encoder_options().download_allow == {"sentence-transformers:all-MiniLM-L6-v2",
                                                         "open_clip:ViT-B-32/openai"}
    assert Settings.load({"LATENTSPACE_DOWNLOAD_ALLOW": "*"}).encoder_options().download_allow is None


@pytest.mark.parametrize("entry", ["not-a-spec", "open_clip:/models/x"])
def test_a_bad_allow_list_entry_fails_at_start_naming_the_variable(entry):
    with pytest.raises(InvalidInput, match="LATENTSPACE_DOWNLOAD_ALLOW"):
        Settings.load({"LATENTSPACE_DOWNLOAD_ALLOW": entry}).encoder_options()


def test_per_request_limits_are_settings_too():
    limits = Settings.load({"LATENTSPACE_MAX_FILTER_VALUES": "500", "LATENTSPACE_MAX_REQUEST_PIXELS": "1000",
                            "LATENTSPACE_MAX_HITS": "77"}).limits
    assert (limits.max_filter_values, limits.max_request_pixels, limits.max_hits) == (500, 1000, 77)
    with pytest.raises(InvalidInput, match="max_ids"):
        Settings.load({"LATENTSPACE_MAX_IDS": "0"})


def test_request_threads_run_faiss_with_the_search_threads_setting(tmp_path):
    """OpenMP's thread count is per thread: the threads that run the searches must get the setting,
    not only the thread that built the state (3: no machine's default here, whatever its cores)."""
    import asyncio

    import faiss

    from latentspace.server.state import ServerState

    before = faiss.omp_get_max_threads()
    state = ServerState(Settings(data_dir=tmp_path, search_threads=3))
    try:
        assert asyncio.run(state.run(faiss.omp_get_max_threads)) == 3
    finally:
        state.close()
        faiss.omp_set_num_threads(before)
