"""The prepared GPU run (benchmarks/device_run.py), dry-run on the CPU with tiny configs,
and the BSDS500 pack it carries."""

import json
import os
import re
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from conftest import REPO

from jaxseg.data import bsds500
from jaxseg.data.pack import pack_bsds500, unpack_bsds500
from jaxseg.train import checkpointing


@pytest.fixture(scope="module")
def tiny_pack(bsds_root, tmp_path_factory):
    return pack_bsds500(bsds_root, tmp_path_factory.mktemp("pack") / "p.npz", max_images=2)


def test_pack_round_trip_gives_the_same_images_and_ground_truth(bsds_root, tiny_pack, tmp_path):
    root = unpack_bsds500(tiny_pack, tmp_path / "bsds")
    for split in bsds500.SPLITS:
        ids = bsds500.list_ids(root, split)
        assert ids == bsds500.list_ids(bsds_root, split)[:2]
        for i in ids:
            a = bsds500.image_path(root, split, i).read_bytes()
            assert a == bsds500.image_path(bsds_root, split, i).read_bytes()
            got = bsds500.read_ground_truth(bsds500.ground_truth_path(root, split, i))
            want = bsds500.read_ground_truth(bsds500.ground_truth_path(bsds_root, split, i))
            assert len(got) == len(want)
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g.segmentation, w.segmentation)
                np.testing.assert_array_equal(g.boundaries, w.boundaries)


def test_unpack_names_a_file_that_is_not_a_pack(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"x\.npz is not a BSDS500 pack.*jaxseg\.data\.pack"):
        unpack_bsds500(bad, tmp_path / "out")


@pytest.mark.slow
def test_device_run_dry_run_on_cpu(tiny_pack, tmp_path):
    # The GPU machine has no tensorflow_datasets: the run must not import it.
    blocker = tmp_path / "blocker" / "tensorflow_datasets"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not on the device machine')\n")
    env = dict(os.environ, PYTHONPATH=str(blocker.parent), JAX_PLATFORMS="cpu")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/device_run.py",
            "--tiny",
            "--budget-s",
            "20",  # every stage still runs once: the tiny run only shortens the training
            "--data",
            str(tiny_pack),
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "device_run.log",
        "device_run.tar.gz",
        "throughput.json",
    ]
    log = (out / "device_run.log").read_text()
    assert "devices: " in log and "versions: jax " in log

    throughput = json.loads((out / "throughput.json").read_text())
    names = {re.sub(r" b\d+.*$", "", r["name"]) for r in throughput["rows"]}
    assert {"slic_batch", "ssn fwd", "ssn fwd+bwd", "dsc batch", "wang2020 train step"} <= names
    assert any(n.startswith("wang2020 predict") for n in names)
    assert all(r["images_per_s"] > 0 for r in throughput["rows"]), throughput["rows"]

    with tarfile.open(out / "device_run.tar.gz") as tar:
        tar.extractall(tmp_path / "x", filter="data")
    run = tmp_path / "x" / "device_run"
    summary = json.loads((run / "summary.json").read_text())
    assert all(s["ok"] for s in summary["stages"].values()), summary["stages"]
    for name, task in (("wang2020_gpu", "wang2020"), ("superae_gpu", "superae")):
        model, config = checkpointing.restore_model(run / "weights" / name)
        assert config.task == task
        steps = json.loads((run / "weights" / name / "run.json").read_text())["result"]["step"]
        assert steps >= 1
        lines = (run / "metrics" / f"{name}.jsonl").read_text().splitlines()
        assert json.loads(lines[-1])["step"] == steps
