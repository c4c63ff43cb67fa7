"""The pinned component versions of versions.env, the one list shared with tools/*.mk."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load(path: Path = REPO / "versions.env") -> dict[str, str]:
    """NAME=value lines; blank lines and # comments skipped (the subset make and sh agree on)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pins[name.strip()] = value.strip()
    return pins


def major(version: str) -> str:
    return version.split(".", 1)[0]
