"""Tests of the trainer's data-parallel batches: each host makes only its rows.

``jaxseg.train.trainer.make_global_batch`` builds the global batch with
``jax.make_array_from_process_local_data`` from the rows of this process's
devices. Checked on 4 fake CPU devices (one process: the same array as
``jax.device_put`` of the whole batch) and on 2 real JAX processes of 2 fake CPU
devices each (``jax.distributed`` on localhost: each loads half, the global array
is the single-process batch).
"""

import json
import socket
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # configs/ is imported as in train.py
    sys.path.insert(0, str(REPO))

from conftest import cpu_devices_env, run_json_script  # noqa: E402

from configs import wang2020_tiny  # noqa: E402
from jaxseg.train import trainer as training  # noqa: E402
from jaxseg.train.tasks import wang2020  # noqa: E402


def synthetic_config(batch_size=4):
    config = wang2020_tiny.get_config()
    config.data.name = "synthetic"
    config.batch_size = batch_size
    return config


def test_rows_of_two_processes_concatenate_to_the_full_batch():
    config = synthetic_config()
    data = wang2020.load_dataset(config, None)
    full = wang2020.make_batch(config, data, 5)
    # Process p of 2 holds rows [2p, 2p + 2) of the global batch of 4.
    parts = [
        training.task_batch_rows(wang2020, config, data, 5, start=2 * p, stop=2 * p + 2)
        for p in (0, 1)
    ]
    assert sorted(full) == sorted(parts[0]) == ["gt", "image"]
    for key, value in full.items():
        assert parts[0][key].shape[0] == 2
        np.testing.assert_array_equal(np.concatenate([parts[0][key], parts[1][key]]), value)
    assert not np.array_equal(parts[0]["image"], parts[1]["image"])


@pytest.mark.parametrize("hflip", [True, False])
def test_superae_rows_are_the_rows_of_the_whole_batch(hflip):
    from configs import superae_tiny
    from jaxseg.train.tasks import superae

    config = superae_tiny.get_config()
    config.batch_size, config.crop_size, config.hflip = 4, 8, hflip
    rng = np.random.default_rng(0)
    images = [rng.random((12 + i, 14, 3), dtype=np.float32) for i in range(5)]
    templates = [rng.integers(0, 4, im.shape[:2]).astype(np.int32) for im in images]
    data = superae.SuperAEData(images, templates, [], [], [str(i) for i in range(5)])
    for step in (0, 3):
        full = superae.make_batch(config, data, step)
        for start, stop in ((0, 2), (2, 4), (1, 3)):
            rows = superae.make_batch_rows(config, data, step, start=start, stop=stop)
            for key, value in full.items():
                np.testing.assert_array_equal(rows[key], value[start:stop])


def test_task_batch_rows_prefers_the_tasks_own_row_maker():
    calls = []

    def make_batch_rows(config, dataset, step, *, start, stop):
        calls.append((step, start, stop))
        return {"x": np.arange(start, stop)}

    def make_batch(config, dataset, step):
        raise AssertionError("the whole batch must not be made")

    task = types.SimpleNamespace(make_batch=make_batch, make_batch_rows=make_batch_rows)
    rows = training.task_batch_rows(task, None, None, 7, start=2, stop=4)
    assert calls == [(7, 2, 4)]
    np.testing.assert_array_equal(rows["x"], [2, 3])


FOUR_DEVICES = textwrap.dedent(
    """
    import functools, json, sys
    import jax, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    sys.path.insert(0, {repo!r})
    from configs import wang2020_tiny
    from jaxseg.train import trainer as training
    from jaxseg.train.tasks import wang2020

    assert jax.device_count() == 4, jax.devices()
    config = wang2020_tiny.get_config()
    config.data.name, config.batch_size = "synthetic", 4
    data = wang2020.load_dataset(config, None)
    mesh = training.make_mesh()
    out = {{}}

    def compare(old, new):
        same = {{}}
        for k in old:
            shards_old = sorted((s.device.id, str(s.index), np.asarray(s.data).tobytes())
                                for s in old[k].addressable_shards)
            shards_new = sorted((s.device.id, str(s.index), np.asarray(s.data).tobytes())
                                for s in new[k].addressable_shards)
            same[k] = dict(
                values=bool(np.array_equal(np.asarray(old[k]), np.asarray(new[k]))),
                dtype=str(new[k].dtype) == str(old[k].dtype),
                sharding=new[k].sharding == old[k].sharding,
                shards=shards_old == shards_new,
                num_shards=len(shards_new),
                shard_shape=list(new[k].addressable_shards[0].data.shape),
            )
        return same

    # The trainer's batch: rows split over the 4 devices.
    sharding = NamedSharding(mesh, P("data"))
    old = jax.device_put(wang2020.make_batch(config, data, 3), sharding)
    new = training.make_global_batch(
        functools.partial(training.task_batch_rows, wang2020, config, data, 3),
        sharding, batch_size=4)
    out["trainer"] = compare(old, new)
    out["ranges"] = training.process_row_ranges(sharding, 4)

    # A seed sweep's batch: (K=2, B, ...) stacked per member, rows on axis 1.
    configs = [config.copy_and_resolve_references() for _ in range(2)]
    configs[1].seed = 1
    sharding = NamedSharding(mesh, P(None, "data"))
    per = [wang2020.make_batch(c, data, 3) for c in configs]
    old = jax.device_put(jax.tree.map(lambda *xs: np.stack(xs), *per), sharding)
    def rows(*, start, stop):
        per = [training.task_batch_rows(wang2020, c, data, 3, start=start, stop=stop)
               for c in configs]
        return jax.tree.map(lambda *xs: np.stack(xs), *per)
    new = training.make_global_batch(rows, sharding, batch_size=4, axis=1)
    out["sweep"] = compare(old, new)
    out["sweep_ranges"] = training.process_row_ranges(sharding, 4, axis=1)

    errors = []
    for bad in (
        lambda: training.check_batch_size(6, mesh),
        lambda: training.make_global_batch(
            lambda *, start, stop: {{"x": np.zeros(stop - start + 1)}},
            NamedSharding(mesh, P("data")), batch_size=4),
    ):
        try:
            bad()
            errors.append("")
        except ValueError as e:
            errors.append(str(e))
    training.check_batch_size(8, mesh)
    out["errors"] = errors
    print(json.dumps(out))
    """
)


def test_global_batch_on_four_devices_equals_device_put_of_the_whole_batch():
    script = FOUR_DEVICES.format(repo=str(REPO))
    out = run_json_script(script, devices=4, timeout=300)
    assert out["ranges"] == [[0, 4]] and out["sweep_ranges"] == [[0, 4]]
    # One row per device: (1, 33, 33, ...) for the trainer, (K=2, 1, 33, 33, ...) for the sweep.
    for layout, lead in (("trainer", [1]), ("sweep", [2, 1])):
        assert sorted(out[layout]) == ["gt", "image"]
        for key, same in out[layout].items():
            shard_shape = lead + [33, 33] + ([3] if key == "image" else [])
            assert same == dict(
                values=True,
                dtype=True,
                sharding=True,
                shards=True,
                num_shards=4,
                shard_shape=shard_shape,
            ), (layout, key)
    device_error, rows_error = out["errors"]
    assert "batch_size=6 must be a multiple of the 4 devices" in device_error
    assert "rows [0, 4) came back with 5 rows" in rows_error


TWO_HOSTS = textwrap.dedent(
    """
    import functools, json, sys
    import jax, numpy as np
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address="localhost:{port}", num_processes=2, process_id={pid})
    from jax.experimental import multihost_utils
    from jax.sharding import NamedSharding, PartitionSpec as P
    sys.path.insert(0, {repo!r})
    from configs import wang2020_tiny
    from jaxseg.train import trainer as training
    from jaxseg.train.tasks import wang2020

    config = wang2020_tiny.get_config()
    config.data.name, config.batch_size = "synthetic", 4
    data = wang2020.load_dataset(config, None)
    mesh = training.make_mesh()
    training.check_batch_size(4, mesh)
    sharding = NamedSharding(mesh, P("data"))
    asked = []
    def rows(*, start, stop):
        asked.append([start, stop])
        return training.task_batch_rows(wang2020, config, data, 3, start=start, stop=stop)
    batch = training.make_global_batch(rows, sharding, batch_size=4)
    full = wang2020.make_batch(config, data, 3)
    gathered = multihost_utils.process_allgather(batch, tiled=True)
    try:
        training.check_batch_size(2, training.make_mesh(jax.devices()[:2]))
        error = ""
    except ValueError as e:
        error = str(e)
    print(json.dumps(dict(
        processes=jax.process_count(), devices=jax.device_count(), asked=asked,
        shapes={{k: list(v.shape) for k, v in batch.items()}},
        local_rows=sorted(str(s.index[0]) for s in batch["image"].addressable_shards),
        equal={{k: bool(np.array_equal(gathered[k], full[k])) for k in full}},
        sum=float(jax.jit(lambda x: x.sum())(batch["image"])),
        full_sum=float(full["image"].sum(dtype=np.float32)),
        error=error,
    )))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_hosts_each_load_their_half_of_the_global_batch():
    port = _free_port()
    env = cpu_devices_env(2)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_HOSTS.format(repo=str(REPO), port=port, pid=pid)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in (0, 1)
    ]
    outs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, stderr[-3000:]
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            proc.kill()
    for pid, out in enumerate(outs):
        assert out["processes"] == 2 and out["devices"] == 4
        # Each process made only the rows of its two devices...
        assert out["asked"] == [[2 * pid, 2 * pid + 2]]
        assert out["local_rows"] == [str(slice(2 * pid + i, 2 * pid + i + 1)) for i in range(2)]
        # ...and the global array is the single-process batch.
        assert out["shapes"] == {"image": [4, 33, 33, 3], "gt": [4, 33, 33]}
        assert out["equal"] == {"image": True, "gt": True}
        assert out["sum"] == pytest.approx(out["full_sum"], rel=1e-5)
        assert "no device of process(es) [1] of 2" in out["error"]
