"""Tests of jaxseg.train.sweep: a vmapped sweep equals K separate train.py runs."""

import json

import jax
import ml_collections
import numpy as np
import pytest
from flax import nnx

from configs import wang2020_tiny
from jaxseg.train import checkpointing, sweep
from jaxseg.train import trainer as training
from jaxseg.train.tasks import wang2020

# The graphs run for two steps: compile time is what counts.
pytestmark = pytest.mark.usefixtures("fast_compile")


def _tiny_config():
    config = wang2020_tiny.get_config()
    config.data.name = "synthetic"
    config.data.synthetic_size = (24, 32)
    config.data.crop_size = 17
    config.data.max_images = 3
    config.n_segments = 4
    config.eval.n_segments = 4
    config.batch_size = 2
    config.num_steps = 2
    config.checkpoint_every = 100  # save at the last step only
    return config


def _params(model):
    return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))


@pytest.mark.slow
def test_sweep_equals_separate_runs(tmp_path):
    # SGD: its update is linear in the gradient, so float rounding stays at rounding
    # size. (Adam divides by |g|: parameters whose gradient is rounding noise, such as
    # the head-2 output bias that the pair distances cancel, move by +-lr either way.)
    config = _tiny_config()
    config.optimizer.name = "sgd"
    config.optimizer.momentum = 0.9
    config.sweep = ml_collections.ConfigDict()
    config.sweep.optimizer = dict(learning_rate=[0.01, 0.03])
    config.sweep.loss = dict(pair_weight=[0.25])
    config.sweep.seed = [0, 1]
    work = tmp_path / "sweep"
    results = sweep.train_sweep(config, work)

    assert len(results) == 4
    assert results[0]["hparams"] == {
        "loss.pair_weight": 0.25,
        "optimizer.learning_rate": 0.01,
        "seed": 0,
    }
    assert results[3]["hparams"] == {
        "loss.pair_weight": 0.25,
        "optimizer.learning_rate": 0.03,
        "seed": 1,
    }
    saved = json.loads((work / sweep.SWEEP_FILE).read_text())
    assert [r["hparams"] for r in saved] == [r["hparams"] for r in results]
    configs = sweep.member_configs(config)
    # Member 2 differs from the base config in the learning rate and the loss weight.
    # (Seed members differ in their data too: synthetic data is drawn from the seed,
    # and a sweep loads the dataset once, so they are checked separately below.)
    k = 2
    assert results[k]["hparams"]["seed"] == 0
    ref_dir = tmp_path / "ref"
    training.train_and_evaluate(configs[k], ref_dir)
    member_dir = work / f"model_{k}"
    got, got_config = checkpointing.restore_model(member_dir, which="latest")
    want, _ = checkpointing.restore_model(ref_dir, which="latest")
    assert got_config.to_json(sort_keys=True) == configs[k].to_json(sort_keys=True)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
        _params(got),
        _params(want),
    )
    lines = [json.loads(ln) for ln in (member_dir / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(ln) for ln in (ref_dir / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == [ln["step"] for ln in ref]
    for a, b in zip(lines, ref, strict=True):
        assert a["split"] == b["split"]
        key = "loss" if a["split"] == "train" else "score"
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6)

    # The members really differ: another learning rate gives other weights, another
    # seed another initialisation and other batches (so another first loss).
    p0 = _params(checkpointing.restore_model(work / "model_0", which="latest")[0])
    p2 = _params(checkpointing.restore_model(work / "model_2", which="latest")[0])
    assert not np.allclose(p0["conv1"]["conv"]["kernel"], p2["conv1"]["conv"]["kernel"])
    first = [
        json.loads((work / f"model_{i}" / "metrics.jsonl").read_text().splitlines()[0])["loss"]
        for i in (0, 1)
    ]
    assert first[0] != first[1]
    assert checkpointing.load_config(work / "model_1").seed == 1

    # Rerunning the finished sweep trains nothing; another sweep config is refused.
    again = sweep.train_sweep(config, work)
    assert [r["step"] for r in again] == [2] * 4
    assert (member_dir / "metrics.jsonl").read_text().splitlines() == [
        json.dumps(ln) for ln in lines
    ]
    other = ml_collections.ConfigDict(config.to_dict())
    other.sweep.seed = [0, 2]
    with pytest.raises(ValueError, match="different config"):
        sweep.train_sweep(other, work)


@pytest.mark.parametrize(
    "field, values, match",
    [
        ("loss", dict(pair_alpha=[0.3, 0.5]), "loss.pair_alpha cannot be swept"),
        ("model", dict(width=[8, 16]), "model.width cannot be swept"),
        ("optimizer", dict(learning_rate=[]), "non-empty list"),
        ("optimizer", dict(learning_rate=[1e-3, float("nan")]), "finite numbers"),
        ("optimizer", dict(momentum=[0.9]), "optimizer.momentum cannot be swept"),
    ],
)
def test_bad_sweeps_raise(field, values, match):
    config = _tiny_config()
    config.sweep = ml_collections.ConfigDict({field: values})
    with pytest.raises(ValueError, match=match):
        sweep.sweep_members(config)


def test_no_sweep_raises():
    with pytest.raises(ValueError, match="config.sweep is missing"):
        sweep.sweep_members(_tiny_config())


def test_grid_order():
    config = _tiny_config()
    config.sweep = ml_collections.ConfigDict()
    config.sweep.optimizer = dict(learning_rate=[1.0, 2.0], b1=[0.5, 0.6, 0.7])
    members = sweep.sweep_members(config)
    # Sorted paths, the last varying fastest: optimizer.b1, then optimizer.learning_rate.
    assert [(m["optimizer.b1"], m["optimizer.learning_rate"]) for m in members] == [
        (0.5, 1.0),
        (0.5, 2.0),
        (0.6, 1.0),
        (0.6, 2.0),
        (0.7, 1.0),
        (0.7, 2.0),
    ]
    configs = sweep.member_configs(config)
    assert configs[3].optimizer.b1 == 0.6 and configs[3].optimizer.learning_rate == 2.0
    assert "sweep" not in configs[4]


def test_predict_sweep_equals_predict():
    config = _tiny_config()
    model = wang2020.create_model(config, nnx.Rngs(0))
    model.eval()
    image = np.random.default_rng(0).uniform(size=(20, 28, 3)).astype(np.float32)
    # Both scales differ between the two entries and from the model's (2.5, 0.26).
    pos, col = [0.5, 8.0], [0.1, 0.4]
    preds = sweep.predict_sweep(
        model, image, pos_scales=pos, color_scales=col, n_segments=6, num_iters=3
    )
    assert preds.labels.shape == (2, 20, 28)
    for k in range(2):
        model.pos_scale, model.color_scale = pos[k], col[k]
        want = wang2020.predict(model, image, n_segments=6, num_iters=3)
        np.testing.assert_array_equal(preds.labels[k], want.labels)
        np.testing.assert_array_equal(preds.valid[k], want.valid)
        np.testing.assert_allclose(preds.similarity[k], want.similarity, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(preds.labels[0], preds.labels[1])
    with pytest.raises(ValueError, match="color_scales has shape"):
        sweep.predict_sweep(model, image, pos_scales=pos, color_scales=[1.0])
    # Both entry points check the static counts the same way (wang2020.check_counts).
    for predict in (
        lambda **kw: wang2020.predict(model, image, **kw),
        lambda **kw: sweep.predict_sweep(model, image, pos_scales=pos, **kw),
    ):
        with pytest.raises(ValueError, match="n_segments=0 must be a positive int"):
            predict(n_segments=0, num_iters=3)
        with pytest.raises(ValueError, match="num_iters=-1 must be a non-negative int"):
            predict(n_segments=6, num_iters=-1)
