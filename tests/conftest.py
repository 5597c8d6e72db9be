"""Shared test fixtures: where the real data lives, and what happens when it does not.

Tests that need BSDS500 (or the official benchmark's small test case) skip with the
reason when it is absent. With ``JAXSEG_REQUIRE_DATA=1`` (``.ci/run`` sets it) they fail
with that reason instead, so a machine without the data cannot pass by skipping.
"""

import contextlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import NoReturn

# The whole run (and every subprocess it starts) compiles with XLA's optimisations off,
# the same in a full run and for one file: the tests run small graphs once, and on a CPU
# compiling them optimised costs more than it saves (the suite took twice as long). A test
# that must compile optimised asks for `optimised_compile`. Set
# JAX_DISABLE_MOST_OPTIMIZATIONS=0 to run everything optimised.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# XLA's CPU fusion emitters compile the tests' small graphs several times slower than the
# older loop emitters (the tiny wang2020 training step: 8-12 s against 3 s of CPU).
TEST_XLA_FLAGS = "--xla_cpu_use_fusion_emitters=false"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.test_util import check_jvp, check_vjp  # noqa: E402

os.environ.setdefault("JAX_PLATFORMS", "cpu")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REQUIRE_DATA = "JAXSEG_REQUIRE_DATA"
# XLA setting that only `fast_compile` may change, and only for the test that asks for it.
FAST_FLAG = "jax_disable_most_optimizations"
_RUN_FAST_FLAG = jax.config.read(FAST_FLAG)  # read before any test module is imported
_jax_cache_dir: Path | None = None  # set by pytest_configure
_fast_depth = 0  # fast_compile(_module) fixtures now active


def data_required(environ=os.environ) -> bool:
    """Whether missing data fails the tests (``$JAXSEG_REQUIRE_DATA`` is 1) or skips them."""
    value = environ.get(REQUIRE_DATA, "")
    if value not in ("", "0", "1"):
        raise pytest.UsageError(
            f"{REQUIRE_DATA}={value!r} in the environment: use 1 (tests fail when the "
            f"BSDS500 data is missing, as in CI) or 0 / unset (they skip)"
        )
    return value == "1"


def missing_data(reason: str) -> NoReturn:
    """Skips the test for missing data, or fails it when `data_required()`."""
    if data_required():
        pytest.fail(f"{reason}; {REQUIRE_DATA}=1 requires it (unset it to skip instead)")
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    global _jax_cache_dir
    data_required()  # a bad value stops the run before collection
    if getattr(config, "cache", None) is not None:  # None under `-p no:cacheprovider`
        _jax_cache_dir = config.cache.mkdir("jax-compilation-cache")
    if _jax_cache_dir is not None and os.environ.get("JAXSEG_TEST_SHARED_CACHE", "1") == "1":
        # Many tests compile the same graphs (the tiny wang2020 training step, the
        # packaged models' inference): both xdist workers and every subprocess share one
        # persistent compilation cache under pytest's cache folder (`--cache-clear`
        # empties it; JAXSEG_TEST_SHARED_CACHE=0 turns it off), so a graph compiled once
        # loads from disk after.
        for name, value in (
            ("jax_compilation_cache_dir", str(_jax_cache_dir)),
            ("jax_persistent_cache_min_compile_time_secs", 0.5),
        ):
            jax.config.update(name, value)
            os.environ.setdefault(name.upper(), str(value))  # for the subprocesses


def cpu_devices_env(count: int) -> dict[str, str]:
    """Environment of a subprocess whose JAX sees ``count`` fake CPU devices.

    The subprocess shares the run's persistent compilation cache (see `pytest_configure`).
    """
    env = dict(os.environ)
    env.update(
        XLA_FLAGS=f"--xla_force_host_platform_device_count={count} {TEST_XLA_FLAGS}",
        JAX_PLATFORMS="cpu",
    )
    return env


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
    """BSDS500 root (the folder holding `data/images/...`); `missing_data` when absent."""
    root = _bsds_root()
    if not (root / "data" / "images").is_dir() and not (root / "images").is_dir():
        missing_data(f"BSDS500 not found at {root} (set JAXSEG_DATA or put it in ../shared/data)")
    return root


def prepare_tfds_subset(bsds_root: Path, tmp: Path, counts: dict[str, int]) -> tuple[Path, Path]:
    """The first ``counts[split]`` images of each BSDS500 split linked into ``tmp/BSDS500``
    and prepared as TFDS by the command line (``python -m jaxseg.data.tfds_bsds500``) in
    ``tmp/tfds``; returns ``(BSDS500 root, TFDS data directory)``. Every split needs >= 1."""
    from jaxseg import data
    from jaxseg.data import tfds_bsds500

    root = tmp / "BSDS500"
    for split, n in counts.items():
        for kind in ("images", "groundTruth"):
            (root / "data" / kind / split).mkdir(parents=True)
        for image_id in data.list_ids(bsds_root, split)[:n]:
            (root / "data" / "images" / split / f"{image_id}.jpg").symlink_to(
                data.image_path(bsds_root, split, image_id).resolve()
            )
            (root / "data" / "groundTruth" / split / f"{image_id}.mat").symlink_to(
                data.ground_truth_path(bsds_root, split, image_id).resolve()
            )
    folder = tfds_bsds500.main(["--manual_dir", str(root), "--data_dir", str(tmp / "tfds")])
    assert folder == tmp / "tfds" / "bsds500" / "1.0.0"
    return root, tmp / "tfds"


@pytest.fixture(scope="session")
def bsds_tfds_pairs(bsds_root, tmp_path_factory) -> tuple[Path, Path]:
    """``(BSDS500 root, TFDS data directory)`` of the first 1 train, 2 val and 2 test
    images of BSDS500, in both forms (:func:`prepare_tfds_subset`)."""
    tmp = tmp_path_factory.mktemp("bsds_tfds_pairs")
    return prepare_tfds_subset(bsds_root, tmp, {"train": 1, "val": 2, "test": 2})


@pytest.fixture(scope="session")
def bsds_bench_dir() -> Path:
    """The official benchmark's small test case (`bsds-bench`); `missing_data` when absent."""
    d = SHARED_DATA / "bsds-bench"
    if not (d / "test_1").is_dir():
        missing_data(f"official bsds-bench test case not found at {d}")
    return d


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@contextlib.contextmanager
def _fast_mode(value: bool = True):
    global _fast_depth
    previous = jax.config.read(FAST_FLAG)
    jax.config.update(FAST_FLAG, value)
    _fast_depth += 1
    try:
        yield
    finally:
        _fast_depth -= 1
        jax.config.update(FAST_FLAG, previous)


@pytest.fixture
def optimised_compile():
    """XLA with its optimisations on for one test (the run has them off), restored after.

    JAX's in-memory caches do not tell the two settings apart, so they are emptied before
    (else the test could run programs compiled unoptimised by earlier tests) and after."""
    jax.clear_caches()
    try:
        with _fast_mode(False):
            yield
    finally:
        jax.clear_caches()


@pytest.fixture
def fast_compile():
    """XLA with most optimisations off: for tests whose time is compiling a graph run once.

    Restores the value it found (``JAX_DISABLE_MOST_OPTIMIZATIONS=1`` may have set it for
    the whole run). A module of such tests: ``pytestmark = pytest.mark.usefixtures(...)``.
    """
    with _fast_mode():
        yield


@pytest.fixture(scope="module")
def fast_compile_module():
    """`fast_compile` for a whole module, module-scoped fixtures included (a fixture that
    trains once for several tests): ``pytestmark = pytest.mark.usefixtures(...)``."""
    with _fast_mode():
        yield


@pytest.fixture(autouse=True)
def _xla_settings_unchanged(request):
    """Each test starts and ends with the run's XLA settings (or those of a module-wide
    `fast_compile_module`), so that it computes the same in a full run as alone: a module
    that changes them at import, or a fixture that does not restore them, fails here."""
    where = request.node.nodeid
    fix = f"use the `fast_compile` fixture (tests/conftest.py) instead of setting {FAST_FLAG}"
    expected = True if _fast_depth else _RUN_FAST_FLAG
    found = jax.config.read(FAST_FLAG)
    if found != expected:
        pytest.fail(
            f"{where} starts with {FAST_FLAG}={found} instead of {expected}: something "
            f"changed it at import time or did not restore it; {fix}"
        )
    yield
    left = jax.config.read(FAST_FLAG)
    if left != found:
        pytest.fail(f"{where} left {FAST_FLAG}={left} (found {found}); {fix}")


def write_png16_rgb(path, array):
    """Minimal 16-bit RGB PNG encoder (Pillow cannot write 48-bit PNGs)."""
    h, w, _ = array.shape
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(png + chunk(b"IEND", b""))


def check_grads_compiled(f, args, *, order=1, modes=("fwd", "rev"), atol=None, rtol=None, eps=None):
    """`jax.test_util.check_grads(f, args, order, modes, atol, rtol, eps)`, its checks and
    tolerances, with each derivative compiled once as one program: check_grads differentiates
    `f` op by op or, for a jitted `f`, compiles it, its linearisation and its transpose
    separately. The primal values it compares come from the same programs."""
    eps = eps or 1e-4  # check_grads' default step

    @jax.jit
    def jvp(primals, tangents):
        return jax.jvp(f, primals, tangents)

    @jax.jit
    def vjp(primals, cotangent):
        out, pullback = jax.vjp(f, *primals)
        return out, pullback(cotangent)

    if "fwd" in modes:
        zeros = jax.tree.map(np.zeros_like, args)
        check_jvp(lambda *p: jvp(p, zeros)[0], jvp, args, atol=atol, rtol=rtol, eps=eps)
        if order > 1:
            check_grads_compiled(
                lambda p, t: jax.jvp(f, p, t),
                (args, args),
                order=order - 1,
                modes=modes,
                atol=atol,
                rtol=rtol,
                eps=eps,
            )
    if "rev" in modes:
        zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(f, *args))

        def f_vjp(*primals):
            return vjp(primals, zeros)[0], lambda ct: vjp(primals, ct)[1]

        check_vjp(lambda *p: vjp(p, zeros)[0], f_vjp, args, atol=atol, rtol=rtol, eps=eps)
        if order > 1:

            def f_vjp2(*primals):  # as check_grads: the VJP of the primal output
                out, pullback = jax.vjp(f, *primals)
                return pullback(out)

            check_grads_compiled(
                f_vjp2, args, order=order - 1, modes=modes, atol=atol, rtol=rtol, eps=eps
            )
