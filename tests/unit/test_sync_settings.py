"""sync.url: the store token never travels in clear text off the box."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_settings


def _load(tmp_path: Path, url: str) -> str | None:
    path = tmp_path / "store.toml"
    path.write_text(f'[sync]\nurl = "{url}"\n')
    return load_settings(path).sync.url


@pytest.mark.parametrize("url", ["http://ingest.retailer.example/v1", "http://10.0.0.5:8700", "HTTP://[fe80::1]:80"])
def test_plain_http_to_another_host_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="must use https://") as err:
        _load(tmp_path, url)
    assert "sync.url" in str(err.value) and "store.toml" in str(err.value)


@pytest.mark.parametrize(
    "url", ["https://ingest.retailer.example/v1", "http://127.0.0.1:8700", "http://localhost:8700", "http://[::1]:8700"]
)
def test_https_anywhere_and_plain_http_on_this_machine_are_accepted(tmp_path: Path, url: str) -> None:
    assert _load(tmp_path, url) == url
