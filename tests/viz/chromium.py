"""Headless Chromium for rendering tests: found, or installed from Debian's packages when absent."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-quic"]


def find_or_install() -> str:
    """Path of a chromium binary; installs Debian's ``chromium`` once (under a lock) when possible."""
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (not root or no apt-get)")
    lock = Path(tempfile.gettempdir()) / "acrn-chromium-install.lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # xdist workers: install once
        if not shutil.which("chromium"):
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            for cmd in (["apt-get", "update", "-qq"],
                        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
                r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
                if r.returncode != 0:
                    pytest.skip(f"could not install chromium ({' '.join(cmd)}): {r.stderr.strip()[-300:]}")
    path = shutil.which("chromium")
    if not path:
        pytest.skip("chromium install finished but no chromium binary is on PATH")
    return path


def dump_dom(html_path: Path) -> str:
    """The DOM after load (scripts run), as Chromium serialises it."""
    binary = find_or_install()
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([binary, *_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                            "--dump-dom", html_path.resolve().as_uri()],
                           capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or "<html" not in r.stdout:
        raise AssertionError(f"chromium failed (rc={r.returncode}): {r.stderr[-500:]}")
    return r.stdout


def screenshot(html_path: Path, png: Path, size: tuple[int, int] = (1200, 1600)) -> Path:
    binary = find_or_install()
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([binary, *_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={size[0]},{size[1]}", html_path.resolve().as_uri()],
                       capture_output=True, text=True, timeout=120, check=True)
    return png
