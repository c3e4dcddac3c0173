"""The OpenAPI contract and the reference receiver describe the same API."""

from __future__ import annotations

from pathlib import Path

import yaml

from cloud.receiver import create_app
from edge.sync.client import INGEST_PATH

DOC = Path(__file__).resolve().parents[2] / "docs" / "cloud-api.yaml"
CHAIN_DOC = DOC.with_name("cloud-api-chain.yaml")  # the chain's routes: coupons, keys, members, guides


def test_contract_paths_match_the_reference_receiver() -> None:
    doc, chain = yaml.safe_load(DOC.read_text()), yaml.safe_load(CHAIN_DOC.read_text())
    assert doc["openapi"].startswith("3.") and chain["openapi"].startswith("3.")
    assert not set(doc["paths"]) & set(chain["paths"]), "each route is documented once"
    app = create_app("postgresql://unused", {"s": "t"}, faults=False)
    # the app's own OpenAPI lists every route it serves, those of included routers too
    served = {(p, m) for p, ops in app.openapi()["paths"].items() for m in ops}
    documented = {(p, m) for d in (doc, chain) for p, ops in d["paths"].items() for m in ops}
    assert served == documented
    assert INGEST_PATH in doc["paths"]
    batch = doc["components"]["schemas"]["BatchResult"]
    assert set(batch["required"]) == {"accepted", "duplicates", "rejected"}
