"""The simulator is a stand-in for PAN-OS, not a copy of the product (issue 15.1).

1. ``reconciler/sim`` imports nothing from the rest of ``reconciler`` (an AST scan of every module, and a
   fresh interpreter that imports every simulator module and loads no product module).
2. Its PAN-OS rules (``reconciler/sim/rules.py``) are compared with the product's (``reconciler/core/rules.py``)
   over every pair of versions in the simulator's catalogue: may A be installed over B directly
   (standalone, HA member)? which base images must be downloaded first? may HA peers run A and B? Every
   disagreement must match one row of ``DIFFERENCES`` below (with its reason), every row must still
   match something, and the simulator is only ever the STRICTER side: a simulator that allowed what the
   planner refuses would hide nothing, one that allowed what PAN-OS refuses would hide product bugs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.core.rules import DEFAULT_RULES
from reconciler.core.version import PanOsVersion
from reconciler.sim import rules as sim_rules
from reconciler.sim.catalog import default_catalog
from reconciler.sim.version import Version

SIM_DIR = Path(__file__).resolve().parents[2] / "reconciler" / "sim"


# -- 1. no imports of the product ----------------------------------------------------------------------------


def _product_imports(path: Path) -> list[str]:
    """Every import in ``path`` that reaches ``reconciler`` outside ``reconciler.sim``."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

    def product(name: str) -> bool:
        return (name == "reconciler" or name.startswith("reconciler.")) and not (
            name == "reconciler.sim" or name.startswith("reconciler.sim.")
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if product(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level >= 2:  # from .. import x: out of the sim package
                found.append(f"{node.lineno}: from {'.' * node.level}{node.module or ''} import ...")
            elif node.level == 0 and node.module == "reconciler":
                found += [
                    f"{node.lineno}: from reconciler import {a.name}" for a in node.names if a.name != "sim"
                ]
            elif node.level == 0 and node.module and product(node.module):
                found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            target = node.args[0].value
            if name in ("import_module", "__import__") and isinstance(target, str) and product(target):
                found.append(f"{node.lineno}: {name}({target!r})")
    return found


def test_the_simulator_source_imports_nothing_from_the_product() -> None:
    modules = sorted(SIM_DIR.rglob("*.py"))
    assert len(modules) > 20
    offending = {str(p.relative_to(SIM_DIR)): _product_imports(p) for p in modules}
    assert {} == {name: lines for name, lines in offending.items() if lines}


def test_the_scan_sees_every_form_of_product_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import reconciler.core.rules\nfrom reconciler.core.version import PanOsVersion\nfrom reconciler import errors\n"
        "from .. import store\nimport importlib\nimportlib.import_module('reconciler.core.plan')\n"
        "from reconciler import sim\nfrom reconciler.sim import rules\nimport reconciler.sim.version\n"
    )
    assert 5 == len(_product_imports(sample))


def test_importing_every_simulator_module_loads_no_product_module() -> None:
    names = sorted(
        "reconciler.sim" + ("" if p.stem == "__init__" else "." + p.stem) for p in SIM_DIR.glob("*.py")
    )
    code = (
        "import sys, importlib, reconciler\n"
        "before = set(sys.modules)\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(m for m in set(sys.modules) - before\n"
        "    if m.startswith('reconciler.') and not m.startswith('reconciler.sim'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "" == out.stdout.strip()


# -- 2. the simulator's rules against the product's ------------------------------------------------------------

CATALOGUE = default_catalog().versions()


def _steps(a: Version, b: Version) -> int:
    return sim_rules.steps(a.feature_release, b.feature_release)


@dataclass(frozen=True)
class Difference:
    """A deliberate disagreement: on ``question``, for the pairs ``where`` holds, the simulator answers
    ``sim`` where the product answers the opposite."""

    question: str
    where: Callable[[Version, Version], bool]
    sim: bool
    reason: str


# The product's downgrade rules (``UpgradeRules.downgrade_refusal``, used by rollback) and the simulator's are
# written from the same TechDocs pages; they agree on every catalogue pair, so nothing is listed here now.
DIFFERENCES: tuple[Difference, ...] = ()


def _sim_answers(a: Version, b: Version) -> dict[str, object]:
    def direct(ha: bool) -> bool:
        return sim_rules.direct_upgrade_allowed(a, b, ha=ha) and sim_rules.downgrade_refusal(a, b) is None

    return {
        "install directly (standalone)": direct(False),
        "install directly (HA member)": direct(True),
        "base images needed": [str(v) for v in sim_rules.bases_needed(a, b)],
        "HA peers may run both": sim_rules.ha_peers_compatible(a, b),
    }


def _product_answers(a: Version, b: Version) -> dict[str, object]:
    pa, pb = PanOsVersion.parse(str(a)), PanOsVersion.parse(str(b))
    ta, tb = pa.feature_release, pb.feature_release
    allowed_down = DEFAULT_RULES.downgrade_refusal(pa, pb) is None
    return {
        "install directly (standalone)": DEFAULT_RULES.can_jump(ta, tb, ha=False) and allowed_down,
        "install directly (HA member)": DEFAULT_RULES.can_jump(ta, tb, ha=True) and allowed_down,
        "base images needed": [str(v) for v in DEFAULT_RULES.required_bases(pa, pb)],
        # The product plans HA members one feature release at a time and never further apart.
        "HA peers may run both": abs(DEFAULT_RULES.distance(ta, tb)) <= 1,
    }


def _disagreements() -> list[tuple[str, Version, Version, object, object]]:
    out = []
    for a in CATALOGUE:
        for b in CATALOGUE:
            sim, product = _sim_answers(a, b), _product_answers(a, b)
            out += [(q, a, b, sim[q], product[q]) for q in sim if sim[q] != product[q]]
    return out


def test_the_catalogue_spans_every_train_the_simulator_knows_from_9_1() -> None:
    trains = {v.feature_release for v in CATALOGUE}
    assert trains == set(sim_rules.TRAINS[sim_rules.TRAINS.index("9.1") :])
    assert len(CATALOGUE) ** 2 > 2500


def test_every_disagreement_with_the_product_is_a_listed_deliberate_difference() -> None:
    unexplained, looser = [], []
    used: set[int] = set()
    for question, a, b, sim, product in _disagreements():
        rows = [i for i, d in enumerate(DIFFERENCES) if d.question == question and d.where(a, b)]
        if isinstance(sim, bool) and sim and not product:
            looser.append(f"{question}: {a} -> {b}: the simulator allows what the product refuses")
        elif not rows or any(DIFFERENCES[i].sim != sim for i in rows):
            unexplained.append(f"{question}: {a} -> {b}: simulator {sim!r}, product {product!r}")
        used.update(rows)
    assert [] == looser, "the simulator may be stricter than the product, never looser"
    assert [] == unexplained[:40], f"{len(unexplained)} disagreements not in DIFFERENCES"
    stale = [d.question + ": " + d.reason[:60] for i, d in enumerate(DIFFERENCES) if i not in used]
    assert [] == stale, "rows of DIFFERENCES that no longer match any pair"


def test_the_simulator_is_never_looser_on_base_images() -> None:
    """Where the two agree on a direct install, the simulator asks for at least the product's bases."""
    for a in CATALOGUE:
        for b in CATALOGUE:
            sim, product = _sim_answers(a, b), _product_answers(a, b)
            assert set(product["base images needed"]) <= set(sim["base images needed"]), (a, b)  # type: ignore[arg-type]


@pytest.mark.parametrize("train", sim_rules.TRAINS)
def test_base_images_known_trains_and_minimum_content_match(train: str) -> None:
    assert DEFAULT_RULES.knows(train)
    assert str(sim_rules.base_image(train)) == str(DEFAULT_RULES.base_image(train))
    product_min = DEFAULT_RULES.min_content(train)
    assert sim_rules.min_content(train) == (int(product_min) if product_min is not None else 0)


def test_both_know_the_same_feature_releases_in_the_same_order() -> None:
    assert tuple(DEFAULT_RULES.feature_releases) == sim_rules.TRAINS


def test_version_order_agrees_with_the_product_on_every_catalogue_pair() -> None:
    extra = ["10.2.9-b1", "10.2.9-c2", "10.2.9-h2", "9.1.17-h3", "11.1.6-h10", "12.1.2"]
    versions = [str(v) for v in CATALOGUE] + extra
    sim_sorted = [str(v) for v in sorted(Version.parse(v) for v in versions)]
    product_sorted = [str(v) for v in sorted(PanOsVersion.parse(v) for v in versions)]
    assert sim_sorted == product_sorted
    assert Version.parse("11.1.6") < Version.parse("11.1.6-h1") < Version.parse("11.1.7")
    assert Version.parse("10.2.9-b1") < Version.parse("10.2.9-c2") < Version.parse("10.2.9")
    for bad in ("10.2", "10.2.9-h0", "10.2.9-x1", "v10.2.9", ""):
        assert Version.try_parse(bad) is None, bad
    assert Version.try_parse(10.2) is None
