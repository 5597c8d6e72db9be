"""The test suite's own set-up (tests/conftest.py, pyproject's pytest options, .ci/run).

Missing data skips a test with the reason, or fails it in CI; XLA settings cannot leak
from one test into the next; a bare ``pytest`` imports ``configs/``; the subprocess tests
share a persistent compilation cache.
"""

import ast
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import jax
import pytest
from conftest import FAST_FLAG, REPO, REQUIRE_DATA, cpu_devices_env, data_required, run_json_script

TESTS = REPO / "tests"


def _probe(tmp_path, source, env_update, *, python=(sys.executable,), args=()):
    """Runs pytest on one probe test module in ``tmp_path``, with tests/conftest.py as a
    plugin; {test name: (outcome, message)} from its JUnit XML report."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(textwrap.dedent(source))
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if k not in (REQUIRE_DATA, FAST_FLAG.upper())}
    env |= {"PYTHONPATH": str(TESTS), "JAX_PLATFORMS": "cpu"} | env_update
    proc = subprocess.run(
        [*python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         *args, str(probe)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.exists(), proc.stdout + proc.stderr
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        found = [c for c in case if c.tag in ("failure", "error", "skipped")]
        outcomes[case.get("name")] = (
            (found[0].tag, found[0].get("message", "")) if found else ("passed", "")
        )
    return proc.returncode, outcomes


DATA_PROBE = """
    from pathlib import Path

    import conftest

    conftest.SHARED_DATA = Path({empty!r})


    def test_root(bsds_root):
        pass


    def test_bench(bsds_bench_dir):
        pass
"""


@pytest.mark.parametrize("required", ["", "1"])
def test_missing_data_skips_with_the_reason_or_fails_when_required(tmp_path, required):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"JAXSEG_DATA": str(empty)} | ({REQUIRE_DATA: required} if required else {})
    rc, got = _probe(tmp_path, DATA_PROBE.format(empty=str(empty)), env, args=["-p", "conftest"])
    root_reason = f"BSDS500 not found at {empty} (set JAXSEG_DATA or put it in ../shared/data)"
    bench_reason = f"official bsds-bench test case not found at {empty / 'bsds-bench'}"
    assert set(got) == {"test_root", "test_bench"}, got
    if required:
        assert rc == 1
        for name, reason in (("test_root", root_reason), ("test_bench", bench_reason)):
            outcome, message = got[name]
            assert outcome == "error" and reason in message, got[name]
            assert f"{REQUIRE_DATA}=1 requires it (unset it to skip instead)" in message
    else:
        assert rc == 0
        assert got["test_root"] == ("skipped", root_reason)
        assert got["test_bench"] == ("skipped", bench_reason)


def test_require_data_accepts_only_0_or_1():
    assert data_required({}) is False
    assert data_required({REQUIRE_DATA: "0"}) is False
    assert data_required({REQUIRE_DATA: "1"}) is True
    with pytest.raises(pytest.UsageError, match=rf"{REQUIRE_DATA}='yes' .*use 1 .*or 0 / unset"):
        data_required({REQUIRE_DATA: "yes"})


def test_ci_requires_the_data():
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    pytest_line = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert f"export {REQUIRE_DATA}=1" in lines[:pytest_line]


def _calls(tree, name):
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) == name
    ]


def _constant(node, value):
    same_type = isinstance(node, ast.Constant) and type(node.value) is type(value)
    return same_type and node.value == value


def test_no_test_module_switches_xla_settings_for_the_run_or_skips_on_jaxseg_itself():
    """A module that sets the XLA flag at import time changes it for the rest of a full run,
    a fixture that sets it back to False rather than to the value it found undoes a
    run-wide setting (`fast_compile` restores it); and a missing jaxseg module must fail."""
    wrong = []
    for path in sorted(TESTS.glob("*.py")):
        tree = ast.parse(path.read_text())
        defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        at_import = {id(n) for s in tree.body if not isinstance(s, defs) for n in ast.walk(s)}
        for call in _calls(tree, "update"):
            if len(call.args) == 2 and _constant(call.args[0], FAST_FLAG):
                if id(call) in at_import:
                    wrong.append(f"{path.name}:{call.lineno} sets {FAST_FLAG} at import time")
                elif _constant(call.args[1], False):
                    wrong.append(f"{path.name}:{call.lineno} forces {FAST_FLAG} off")
        for call in _calls(tree, "importorskip"):
            if call.args and str(getattr(call.args[0], "value", "")).split(".")[0] == "jaxseg":
                wrong.append(f"{path.name}:{call.lineno} skips if jaxseg's own module is missing")
    assert wrong == [], "use the fast_compile fixture; import jaxseg's modules plainly"


XLA_PROBE = """
    import jax
    import pytest
    from conftest import FAST_FLAG


    @pytest.fixture
    def forced_off():
        jax.config.update(FAST_FLAG, True)
        yield
        jax.config.update(FAST_FLAG, False)


    def test_a_fast_compile_restores_what_it_found(fast_compile):
        assert jax.config.read(FAST_FLAG) is True


    def test_b_leaks(forced_off):
        pass


    def test_c_after_the_leak():
        pass
"""


def test_a_test_that_leaks_xla_settings_fails_and_so_does_the_next(tmp_path):
    # The run starts with the flag on (as `JAX_DISABLE_MOST_OPTIMIZATIONS=1 pytest` would).
    rc, got = _probe(tmp_path, XLA_PROBE, {FAST_FLAG.upper(): "1"}, args=["-p", "conftest"])
    assert rc == 1
    assert got["test_a_fast_compile_restores_what_it_found"] == ("passed", "")
    outcome, message = got["test_b_leaks"]
    assert outcome == "error" and "teardown" in message
    assert f"test_probe.py::test_b_leaks left {FAST_FLAG}=False (found True)" in message
    assert "use the `fast_compile` fixture" in message
    outcome, message = got["test_c_after_the_leak"]
    assert outcome == "error" and "setup" in message
    assert f"test_c_after_the_leak starts with {FAST_FLAG}=False instead of True" in message
    assert "changed it at import time or did not restore it" in message


@pytest.fixture(scope="module")
def _flag_in_a_module_fixture(fast_compile_module):
    return jax.config.read(FAST_FLAG)


def test_fast_compile_module_covers_module_fixtures(_flag_in_a_module_fixture):
    # (The autouse check accepts the flag on while a module-wide fast_compile is active.)
    assert _flag_in_a_module_fixture is True and jax.config.read(FAST_FLAG) is True


def test_bare_pytest_imports_configs(tmp_path):
    """`pytest` (not `python -m pytest`, which puts the working folder on sys.path)."""
    probe = """
        from pathlib import Path

        from configs import wang2020_tiny


        def test_configs():
            assert Path(wang2020_tiny.__file__).parent == Path({configs!r})
    """
    rc, got = _probe(
        tmp_path,
        probe.format(configs=str(REPO / "configs")),
        {"PYTHONPATH": ""},
        python=(sys.executable, "-P"),  # -P: no working folder on sys.path, as a bare `pytest`
        args=["-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO)],
    )
    assert (rc, got) == (0, {"test_configs": ("passed", "")})


def test_the_run_and_its_subprocesses_share_a_persistent_compilation_cache(request):
    env = cpu_devices_env(2)
    if getattr(request.config, "cache", None) is None:  # `-p no:cacheprovider`: no cache
        pytest.skip("run without pytest's cache folder (-p no:cacheprovider)")
    if os.environ.get("JAXSEG_TEST_SHARED_CACHE", "1") != "1":
        pytest.skip("JAXSEG_TEST_SHARED_CACHE=0: the shared cache is off")
    cache = Path(request.config.cache.mkdir("jax-compilation-cache"))
    assert Path(jax.config.jax_compilation_cache_dir) == cache
    assert Path(env.get("JAX_COMPILATION_CACHE_DIR", "")) == cache
    assert float(env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]) > 0  # only costly graphs
    before = set(cache.iterdir())
    # A constant of this run's own makes a graph that is not in the cache yet; this tiny
    # graph compiles fast, so the script caches whatever it compiles.
    unique = float(int.from_bytes(os.urandom(2), "little"))  # exact in float32
    script = f"""
import json, jax
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
print(json.dumps(float(jax.jit(lambda x: x * {unique!r} + 1.0)(2.0))))
"""
    assert run_json_script(script, devices=2, timeout=120) == unique * 2.0 + 1.0
    assert set(cache.iterdir()) - before, f"nothing written to {cache}"
