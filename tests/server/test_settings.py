"""Settings: defaults, then LATENTSPACE_* variables, then flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentspace.indexer.errors import InvalidInput
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


def test_compute_threads_split_the_cores_between_workers(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert Settings(workers=4).threads_per_call() == 4
    assert Settings(workers=32).threads_per_call() == 1
    assert Settings(workers=4, compute_threads=3).encoder_options().threads == 3
