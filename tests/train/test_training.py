"""Tests for the trainer, checkpointing and the wang2020 task (tiny configs)."""

import json
import sys
import textwrap
from pathlib import Path

import jax
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from scipy import ndimage

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # configs/ is imported as in train.py
    sys.path.insert(0, str(REPO))

from conftest import run_json_script  # noqa: E402

from configs import wang2020_tiny  # noqa: E402
from jaxseg.train import checkpointing  # noqa: E402
from jaxseg.train import trainer as training  # noqa: E402
from jaxseg.train.tasks import wang2020  # noqa: E402
from jaxseg.train.trainer import train_and_evaluate  # noqa: E402


def synthetic_config(**overrides):
    """The module's one training config: its step is compiled once (`straight_run`) and
    reused by the fixed-batch test, and `test_one_and_four_devices_give_the_same_params`
    trains it again on 4 devices."""
    config = wang2020_tiny.get_config()
    config.data.name = "synthetic"
    config.num_devices, config.batch_size = 1, 4  # a row per device on 4 devices
    # SGD: the update is linear in the gradient. (Adam's first steps move each weight by
    # +-lr whatever the gradient's size, so float noise in a ~0 gradient flips a whole
    # step, and the 1- and 4-device runs would differ.)
    config.optimizer.name, config.optimizer.learning_rate = "sgd", 0.1
    config.num_steps = 2
    config.eval_every = 100  # evaluate only at the last step
    config.checkpoint_every = 100  # save at the last step (or at `stop_at`) only
    for k, v in overrides.items():
        config[k] = v
    return config


def params(model):
    return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def assert_trees_equal(a, b):
    leaves = jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b))
    assert leaves and all(leaves)


def read_metrics(workdir):
    return [json.loads(ln) for ln in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """`synthetic_config()`'s 2 steps without interruption on synthetic data."""
    workdir = tmp_path_factory.mktemp("straight")
    result = train_and_evaluate(synthetic_config(), workdir)
    return workdir, result


@pytest.mark.slow
def test_kill_and_resume_gives_identical_params(straight_run, tmp_path):
    straight_dir, straight = straight_run
    config = synthetic_config()
    first = train_and_evaluate(config, tmp_path, stop_at=1)  # "killed" after step 1
    assert first["step"] == 1 and first["eval"] == {}
    assert checkpointing.CheckpointManager(tmp_path).latest_step() == 1
    resumed = train_and_evaluate(config, tmp_path)  # restart: rebuilds everything
    assert resumed["step"] == 2
    a, _ = checkpointing.restore_model(straight_dir, which="latest")
    b, _ = checkpointing.restore_model(tmp_path, which="latest")
    assert_trees_equal(params(a), params(b))
    assert resumed["eval"] == straight["eval"]
    # Each step logged once, with the same losses as the straight run.
    train_a = [r for r in read_metrics(straight_dir) if r["split"] == "train"]
    train_b = [r for r in read_metrics(tmp_path) if r["split"] == "train"]
    assert [r["step"] for r in train_b] == [1, 2]
    assert [r["loss"] for r in train_b] == [r["loss"] for r in train_a]


def test_a_second_run_of_a_config_reuses_its_compiled_step(straight_run):
    # straight_run trained synthetic_config() in this process; an equal config (another
    # object) gets the same optimiser and jitted step, so the step is not compiled again
    # (test_kill_and_resume: 35 s -> 3 s on a 2-core CPU).
    tx, step = training.compiled_train_step(synthetic_config())
    assert training.compiled_train_step(synthetic_config()) == (tx, step)
    changed = synthetic_config(seed=1)
    tx2, step2 = training.compiled_train_step(changed)
    assert tx2 is not tx and step2 is not step
    # keyed by content: the edited config finds the entry of its new content
    changed.seed = 0
    assert training.compiled_train_step(changed) == (tx, step)
    # The loop's cadence and the length of a constant schedule do not change the step...
    loop = synthetic_config(num_steps=7, log_every=3, eval_every=5, checkpoint_every=4)
    assert training.compiled_train_step(loop) == (tx, step)
    # ...but a cosine schedule decays over num_steps.
    cosine = synthetic_config()
    cosine.optimizer.schedule = "cosine"
    tx3, step3 = training.compiled_train_step(cosine)
    cosine.num_steps = 7
    tx4, step4 = training.compiled_train_step(cosine)
    assert tx4 is not tx3 and step4 is not step3 and tx3 is not tx
    assert training.compiled_train_step(synthetic_config()) == (tx, step)  # still kept


def test_refuses_workdir_of_another_config(straight_run):
    straight_dir, _ = straight_run
    config = synthetic_config()
    config.model.width = 32
    with pytest.raises(ValueError, match=r"different config \(config\.model\.width: 16 vs 32"):
        train_and_evaluate(config, straight_dir)


def test_export_and_restore_released_model(straight_run, tmp_path):
    straight_dir, _ = straight_run
    model, config = checkpointing.restore_model(straight_dir, which="latest")
    out = checkpointing.export_model(model, config, tmp_path / "released")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.npz"]
    again, cfg = checkpointing.restore_model(out)
    assert_trees_equal(params(model), params(again))
    assert cfg.to_dict() == config.to_dict()
    # Weights of another model config are refused with a clear error.
    saved = json.loads((out / "config.json").read_text())
    saved["model"]["seg_channels"] = 4
    (out / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="another model config"):
        checkpointing.restore_model(out)


def test_restore_model_errors(straight_run, tmp_path):
    straight_dir, _ = straight_run
    with pytest.raises(FileNotFoundError, match="not a directory"):
        checkpointing.restore_model(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="not a jaxseg workdir"):
        checkpointing.restore_model(tmp_path)
    with pytest.raises(ValueError, match="which='worst' must be one of"):
        checkpointing.restore_model(straight_dir, which="worst")


def test_predict_contract(straight_run):
    straight_dir, _ = straight_run
    model, _ = checkpointing.restore_model(straight_dir)
    image = np.random.default_rng(0).random((29, 35, 3)).astype(np.float32)
    pred = wang2020.predict(model, image, n_segments=9, num_iters=2)
    m = pred.region_features.shape[0]
    assert pred.labels.shape == (29, 35) and pred.labels.dtype == np.int32
    assert 0 <= int(pred.labels.min()) and int(pred.labels.max()) < m
    p = pred.pairs[pred.valid]
    assert p.shape[0] > 0 and bool(np.all(p[:, 0] < p[:, 1]))
    s = np.asarray(pred.similarity)[np.asarray(pred.valid)]
    assert np.all((s > 0) & (s <= 1))
    with pytest.raises(ValueError, match=r"image must be \(H, W, 3\)"):
        wang2020.predict(model, image[..., 0], n_segments=9, num_iters=2)


def test_make_batch_is_pure_function_of_seed_and_step():
    config = synthetic_config()
    data = wang2020.load_dataset(config, None)
    a, b = wang2020.make_batch(config, data, 3), wang2020.make_batch(config, data, 3)
    assert a["image"].shape == (4, 33, 33, 3) and a["gt"].dtype == np.int32
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["gt"], b["gt"])
    assert not np.array_equal(a["image"], wang2020.make_batch(config, data, 4)["image"])


def _fixed_batch(task_name):
    """A config of ``task_name``, a model, its optimiser, the trainer's jitted step and one
    batch of synthetic images (no data files)."""
    if task_name == "wang2020":
        # The trainer's step of `synthetic_config()`, as `straight_run` compiled it: the
        # state and batch laid out on the trainer's mesh, so the compiled step is reused.
        config = synthetic_config()
        batch = wang2020.make_batch(config, wang2020.load_dataset(config, None), 0)
        tx, step = training.compiled_train_step(config)
        model = wang2020.create_model(config, nnx.Rngs(config.seed))
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
        mesh = training.make_mesh()
        state = jax.device_put(nnx.state((model, optimizer)), NamedSharding(mesh, P()))
        nnx.update((model, optimizer), state)
        batch = jax.device_put(batch, NamedSharding(mesh, P("data")))
        return model, optimizer, step, batch
    from configs import superae_tiny
    from jaxseg.train.tasks import superae

    config = superae_tiny.get_config()
    config.num_steps = 5
    # 16x16 crops (the config's are 32x32): unoptimised XLA runs the step in time
    # proportional to the pixels, and the loss falls as much.
    config.crop_size = 16
    rng = np.random.default_rng(0)
    images = [rng.random((40, 48, 3)).astype(np.float32) for _ in range(2)]
    images = [ndimage.gaussian_filter(im, (3, 3, 0)) for im in images]  # smooth: learnable
    blocks = (np.arange(40)[:, None] // 8) * 6 + np.arange(48)[None, :] // 8  # 30 templates
    data = superae.SuperAEData(images, [blocks.astype(np.int32)] * 2, [], [], ["a", "b"])
    model = superae.create_model(config, nnx.Rngs(config.seed))
    optimizer = nnx.Optimizer(model, training.make_optimizer(config), wrt=nnx.Param)
    step = nnx.jit(training.make_train_step(config))
    return model, optimizer, step, superae.make_batch(config, data, 0)


@pytest.mark.parametrize("task_name", ["wang2020", "superae"])
def test_training_lowers_the_loss_on_a_fixed_batch(task_name, fast_compile):
    model, optimizer, step, batch = _fixed_batch(task_name)
    model.train()
    # The trainer's step, five times on the same batch (each reports the loss before its
    # update): measured 0.24 -> 0.055 (wang2020, pair loss) and 0.15 -> 0.02 (SuperAE).
    losses = [float(step(model, optimizer, batch)["loss"]) for _ in range(5)]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], losses


def test_injectable_optimizer_matches_the_plain_one():
    # Cosine schedule with warmup, clipping and non-finite skipping: the sweep's
    # injected-hyperparameter optimiser makes the trainer's updates.
    config = ml_collections.ConfigDict(
        dict(
            num_steps=6,
            optimizer=dict(
                name="adam",
                learning_rate=3e-3,
                b1=0.8,
                schedule="cosine",
                warmup_steps=2,
                grad_clip_norm=1.0,
                skip_nonfinite_updates=True,
            ),
        )
    )
    plain = training.make_optimizer(config)
    injected = training.make_optimizer(config, injectable=True)
    params = {"w": np.ones((3, 4), np.float32), "b": np.zeros(4, np.float32)}
    rng = np.random.default_rng(0)
    # Jitted (as in the trainer and the sweep): two compiled graphs, not dozens of eager ops.
    sp, si = jax.jit(plain.init)(params), jax.jit(injected.init)(params)
    hyper = optax.tree_utils.tree_get(si, "hyperparams")
    assert float(hyper["learning_rate"]) == pytest.approx(3e-3)
    assert float(hyper["b1"]) == pytest.approx(0.8)
    plain_update, injected_update = jax.jit(plain.update), jax.jit(injected.update)
    largest = 0.0
    for _ in range(5):
        grads = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in params.items()}
        up, sp = plain_update(grads, sp, params)
        ui, si = injected_update(grads, si, params)
        for k in params:
            np.testing.assert_allclose(ui[k], up[k], rtol=2e-5, atol=1e-9)  # float32 rounding
            largest = max(largest, float(np.abs(up[k]).max()))
    assert largest > 1e-4  # the warmup's first step is 0, the later ones are not
    config.optimizer.name = "sgd"
    config.optimizer.momentum = -0.5
    with pytest.raises(ValueError, match="momentum=-0.5 must be >= 0"):
        training.make_optimizer(config)


FOUR_DEVICES = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from flax import nnx
    sys.path.insert(0, {repo!r})
    from jaxseg.train.checkpointing import load_config, restore_model
    from jaxseg.train.trainer import train_and_evaluate

    assert jax.device_count() == 4, jax.devices()
    config = load_config({straight!r})  # the 1-device run's config...
    assert config.num_devices == 1 and config.batch_size == 4
    config.num_devices = 4  # ...on 4 devices, stopped after its last step as a killed run
    # would be, so without the validation (not compared here): num_steps only sets the
    # learning-rate schedule, constant here
    assert config.optimizer.schedule == "constant"
    steps, config.num_steps = config.num_steps, config.num_steps + 1
    train_and_evaluate(config, {tmp!r} + "/d4", stop_at=steps)
    model = restore_model({tmp!r} + "/d4", which="latest")[0]
    leaves = jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    np.savez({tmp!r} + "/d4.npz", **{{jax.tree_util.keystr(k): v for k, v in leaves}})
    config.batch_size = 2
    try:
        train_and_evaluate(config, {tmp!r} + "/bad")
        error = ""
    except ValueError as e:
        error = str(e)
    print(json.dumps({{"error": error}}))
    """
)


@pytest.mark.slow
def test_one_and_four_devices_give_the_same_params(straight_run, tmp_path):
    # `straight_run` trained `synthetic_config()` (batch 4) on this process's 1 device; a
    # subprocess trains it again on 4 fake devices, one row of each batch per device.
    straight_dir, _ = straight_run
    assert jax.device_count() == 1 and synthetic_config().num_devices == 1
    script = FOUR_DEVICES.format(repo=str(REPO), straight=str(straight_dir), tmp=str(tmp_path))
    result = run_json_script(script, devices=4, timeout=900)
    with np.load(tmp_path / "d4.npz") as f:
        four = dict(f)

    def by_path(model):
        return {
            jax.tree_util.keystr(k): v
            for k, v in jax.tree_util.tree_leaves_with_path(params(model))
        }

    one = by_path(checkpointing.restore_model(straight_dir, which="latest")[0])
    init = by_path(wang2020.create_model(synthetic_config(), nnx.Rngs(0)))
    assert sorted(four) == sorted(one)

    def maxdiff(x, y):
        return max(float(np.abs(x[k] - y[k]).max()) for k in x)

    assert maxdiff(one, init) > 1e-3  # training did change the parameters...
    assert maxdiff(one, four) < 1e-5  # ...identically on 1 and 4 devices (up to reduction order)
    assert "batch_size=2 must be a multiple of the 4 devices" in result["error"]
