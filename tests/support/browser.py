"""Headless Chromium (Debian's `chromium` package, installed by .ci/run) taking a screenshot of
a local page: what a person would see, checked by the pixels."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# No sandbox: CI runs as root, where Chromium's sandbox refuses to start. The rest keeps a
# headless run from reaching out (updates, sync, first-run pages) or needing a GPU.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def chromium() -> str:
    """The browser; missing it fails in CI (which installs it) and skips elsewhere."""
    # Debian's name, Ubuntu's, and the Chrome that GitHub's runners carry.
    names = ("chromium", "chromium-browser", "google-chrome")
    found = next((path for name in names if (path := shutil.which(name))), None)
    if found is None:
        message = "chromium not installed (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def screenshot(page: Path, png: Path, width: int, height: int) -> Path:
    """Load `page` in a fresh profile and write what the window shows to `png`."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0 and png.exists(), result.stderr[-2000:]
    return png
