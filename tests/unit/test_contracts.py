"""The provider owns its contract, and its callers follow it at type-check time: a change to
pricing's quote that the order service does not follow fails mypy, not production.

mypy runs on a copy of the services, as `make lint` runs it, once as they are and once with
a field of pricing's Quote renamed. The project's mypy cache, when there is one, is copied
along: the libraries' entries stay valid and save most of the first run.
"""

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("shopkit", "order", "inventory", "pricing")
CONFIG = """\
[mypy]
python_version = 3.11
strict = True
plugins = pydantic.mypy
mypy_path = services
"""


def mypy(root: Path) -> subprocess.CompletedProcess[str]:
    packages = [arg for package in PACKAGES for arg in ("-p", package)]
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", *packages],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )


@dataclass
class Copy:
    root: Path
    # mypy's answer on the copy as it was made.
    pristine: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Copy:
    """The services copied, and type-checked once as they are (which warms the cache)."""
    root = tmp_path_factory.mktemp("contracts")
    for package in PACKAGES:
        shutil.copytree(
            REPO / "services" / package,
            root / "services" / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    (root / "mypy.ini").write_text(CONFIG)
    if (REPO / ".mypy_cache").is_dir():
        shutil.copytree(REPO / ".mypy_cache", root / ".mypy_cache")
    return Copy(root, mypy(root))


def test_the_services_type_check_as_they_are(services: Copy) -> None:
    assert services.pristine.returncode == 0, services.pristine.stdout


def test_a_renamed_quote_field_fails_the_order_service_s_type_check(services: Copy) -> None:
    contract = services.root / "services/pricing/contract.py"
    source = contract.read_text()
    quote = source.index("class Quote(BaseModel):")
    renamed = source[quote:].replace("\n    total: Decimal\n", "\n    grand_total: Decimal\n", 1)
    assert renamed != source[quote:], "pricing's Quote has no `total` field any more"
    contract.write_text(source[:quote] + renamed)

    result = mypy(services.root)

    assert result.returncode == 1, result.stdout
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    in_order = [line for line in errors if line.startswith("services/order/")]
    assert in_order, "\n".join(errors)
    assert any('"Quote" has no attribute "total"' in line for line in in_order), in_order
