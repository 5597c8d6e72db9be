"""train_and_evaluate on BSDS500: the tiny config end to end, its time limit, and --init_from
(continuing from a packaged model)."""

import json

import jax
import numpy as np
import pytest
from conftest import REPO
from flax import nnx

import train  # train.py, run in this process through its main(argv)
from configs import superae_tiny, wang2020_tiny
from jaxseg.train import checkpointing
from jaxseg.train.trainer import train_and_evaluate


def _params(model):
    return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def _equal(a, b):
    return all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))


def superae_tiny_model(config):
    from jaxseg.train.tasks import superae

    return superae.create_model(config, nnx.Rngs(config.seed))


def test_init_from_a_packaged_model_starts_from_its_weights(bsds_root, tmp_path, fast_compile):
    packaged = checkpointing.pretrained_path("superae_cpu")
    want = _params(checkpointing.restore_model(packaged)[0])
    config = superae_tiny.get_config()
    config.num_steps = 2
    config.optimizer.learning_rate = 0.0  # the one step leaves the weights as loaded
    # Stopped after that step (saved there), before the last step's validation.
    result = train_and_evaluate(
        config, tmp_path / "a", data_dir=bsds_root, init_from=packaged, stop_at=1
    )
    assert result["step"] == 1
    got = _params(checkpointing.restore_model(tmp_path / "a", which="latest")[0])
    assert _equal(got, want)
    # The config's own initialisation is another model (so the equality above is news).
    fresh = superae_tiny_model(config)
    assert not _equal(_params(fresh), want)


def test_init_from_refuses_another_task_or_architecture(bsds_root, tmp_path):
    config = wang2020_tiny.get_config()  # width 16: not the packaged width-64 network
    with pytest.raises(checkpointing.CheckpointError, match=r"wang2020_cpu_long.*does not fit"):
        train_and_evaluate(
            config,
            tmp_path / "w",
            data_dir=bsds_root,
            init_from=checkpointing.pretrained_path("wang2020_cpu_long"),
        )
    with pytest.raises(checkpointing.CheckpointError, match=r"holds a 'superae' model"):
        train_and_evaluate(
            config,
            tmp_path / "w",
            data_dir=bsds_root,
            init_from=checkpointing.pretrained_path("superae_cpu"),
        )


def test_tiny_bsds_stopped_by_a_time_limit_then_rerun_writes_everything(
    bsds_root, tmp_path, fast_compile
):
    # The tiny config on BSDS500 (2 steps), stopped by a time limit after step 1 with a
    # checkpoint, then rerun to the end.
    config = wang2020_tiny.get_config()
    config.data.max_images = 1  # its crops make every batch; fewer images to read
    config.checkpoint_every = 100  # the first run's only save is the time limit's
    work = tmp_path / "w"
    first = train_and_evaluate(config, work, data_dir=bsds_root, time_limit_s=0.0)
    assert first["step"] == 1 and first["eval"] == {}  # the limit is checked after each step
    mngr = checkpointing.CheckpointManager(work)
    try:
        assert mngr.latest_step() == 1
    finally:
        mngr.close()
    result = train_and_evaluate(config, work, data_dir=bsds_root)
    assert result["step"] == 2
    assert np.isfinite(result["train"]["loss"])
    assert {"recon", "compact", "pair", "pair_bacc"} <= set(result["train"])
    assert 0.0 <= result["eval"]["score"] <= 1.0
    saved = json.loads((work / "config.json").read_text())
    assert saved["task"] == "wang2020" and saved["model"]["width"] == 16
    rows = [json.loads(ln) for ln in (work / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["split"]) for r in rows] == [(1, "train"), (2, "train"), (2, "eval")]
    assert (work / "checkpoints" / "latest" / "2").is_dir()
    assert (work / "checkpoints" / "best" / "2").is_dir()
    best, cfg = checkpointing.restore_model(work, which="best")
    latest, _ = checkpointing.restore_model(work, which="latest")
    assert cfg.model.width == 16
    assert _equal(_params(best), _params(latest))


def test_train_py_init_from_flag_reaches_the_trainer(bsds_root, tmp_path, capsys):
    # train.py's main(argv) in this process: the flags as on the command line.
    argv = ["train.py", "--config", str(REPO / "configs" / "wang2020_tiny.py")]
    argv += ["--workdir", str(tmp_path / "w"), "--data_dir", str(bsds_root)]
    argv += ["--init_from", str(checkpointing.pretrained_path("superae_cpu"))]
    with pytest.raises(SystemExit) as info:
        train.main(argv)
    assert info.value.code == 2
    assert "holds a 'superae' model" in capsys.readouterr().err
