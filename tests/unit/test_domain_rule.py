"""The domain rule, machine-checked (docs/architecture.md): a domain imports `edge.platform`,
`edge.bus`, its own modules, and other domains' `contract` and `events` modules, nothing else,
and never another domain from inside a function. The platform imports no domain at run time."""

from __future__ import annotations

import ast
from pathlib import Path

EDGE = Path(__file__).resolve().parents[2] / "edge"
ROOT_ONLY = {"api", "demo", "migrations", "platform"}  # the root's packages (with app/cli/config), the floor
DOMAINS = sorted(p.name for p in EDGE.iterdir() if (p / "__init__.py").exists() and p.name not in ROOT_ONLY)
PUBLIC = ("contract", "events")


def _imports(tree: ast.AST) -> list[tuple[str, bool, bool]]:
    """(module, inside a function, inside `if TYPE_CHECKING:`) for every absolute edge import."""
    found: list[tuple[str, bool, bool]] = []

    def walk(node: ast.AST, in_func: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            func = in_func or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            typing = typing_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_func, typing_only) for a in child.names if a.name.startswith("edge"))
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and (child.module or "").startswith("edge"):
                names = [f"{child.module}.{a.name}" for a in child.names] if child.module == "edge" else [child.module]
                found.extend((str(n), in_func, typing_only) for n in names)
            walk(child, func, typing)

    walk(tree, False, False)
    return found


def violations(edge: Path = EDGE) -> list[str]:
    out: list[str] = []
    for path in sorted(edge.rglob("*.py")):
        rel = path.relative_to(edge)
        owner = rel.parts[0] if len(rel.parts) > 1 else None
        if owner is None or owner in ROOT_ONLY - {"platform"}:
            continue  # the composition root wires everything together
        for module, in_func, typing_only in _imports(ast.parse(path.read_text(), str(path))):
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else ""
            if owner == "platform":
                ok = target in ("platform", "bus") or (typing_only and (target == "config" or parts[-1] in PUBLIC))
            elif target in ("platform", "bus", owner, "__version__"):
                ok = True
            else:
                ok = target in DOMAINS and len(parts) > 2 and parts[2] in PUBLIC and not in_func
            if not ok:
                out.append(f"edge/{rel}: imports {module}" + (" inside a function" if in_func else ""))
    return out


def test_every_import_keeps_the_domain_rule() -> None:
    assert DOMAINS, "no domains found"
    assert violations() == []


def test_the_rule_catches_a_planted_violation(tmp_path: Path) -> None:
    (tmp_path / "platform").mkdir()
    for name, body in {
        "checkout": "from edge.scanning import gs1\nfrom edge.facepay.contract import FacePayer\n",
        "facepay": "def f():\n    from edge.checkout.contract import CatalogReader\n",
        "platform": "from edge.checkout.models import Order\n",
    }.items():
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "__init__.py").write_text("")
        (tmp_path / name / "x.py").write_text(body)
    assert violations(tmp_path) == [
        "edge/checkout/x.py: imports edge.scanning",
        "edge/facepay/x.py: imports edge.checkout.contract inside a function",
        "edge/platform/x.py: imports edge.checkout.models",
    ]
