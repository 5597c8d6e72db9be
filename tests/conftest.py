"""Shared test fixtures: where the real data lives, and skips when it does not."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def cpu_devices_env(count: int) -> dict[str, str]:
    """Environment of a subprocess whose JAX sees ``count`` fake CPU devices."""
    flags = f"--xla_force_host_platform_device_count={count}"
    return dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")


def run_json_script(script: str, *, devices: int, timeout: float) -> dict:
    """Runs ``python -c script`` on ``devices`` fake CPU devices; its last stdout line (JSON)."""
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=cpu_devices_env(devices),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _bsds_root() -> Path:
    return Path(os.environ.get("JAXSEG_DATA", SHARED_DATA / "BSDS500"))


@pytest.fixture(scope="session")
def bsds_root() -> Path:
    """BSDS500 root (the folder holding `data/images/...`); skips when absent."""
    root = _bsds_root()
    if not (root / "data" / "images").is_dir() and not (root / "images").is_dir():
        pytest.skip(f"BSDS500 not found at {root} (set JAXSEG_DATA or put it in ../shared/data)")
    return root


@pytest.fixture(scope="session")
def bsds_bench_dir() -> Path:
    """The official benchmark's small test case (`bsds-bench`); skips when absent."""
    d = SHARED_DATA / "bsds-bench"
    if not (d / "test_1").is_dir():
        pytest.skip(f"official bsds-bench test case not found at {d}")
    return d


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def fast_compile():
    """XLA with most optimisations off: for tests whose time is compiling a graph run once."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)
