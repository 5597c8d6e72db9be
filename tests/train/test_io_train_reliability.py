"""Images the docs promise, checkpoint files that name themselves when damaged, and
train.py reruns that survive torn logs, bad data folders, typos and foreign checkpoints."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from flax import nnx
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # configs/ is imported as in train.py
    sys.path.insert(0, str(REPO))

from configs import wang2020_tiny  # noqa: E402
from jaxseg import io  # noqa: E402
from jaxseg.cli import segment as cli  # noqa: E402
from jaxseg.train import checkpointing  # noqa: E402
from jaxseg.train import trainer as training  # noqa: E402
from jaxseg.train.tasks import wang2020  # noqa: E402
from jaxseg.train.trainer import train_and_evaluate  # noqa: E402

# --- images (tifffile path) -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_rgb_tiff_read_as_stored(tmp_path, dtype):
    rgb = np.random.default_rng(0).random((9, 11, 3)).astype(dtype)
    tifffile.imwrite(tmp_path / "f.tif", rgb)
    loaded = io.read_image(tmp_path / "f.tif")
    assert loaded.image.dtype == np.float32 and loaded.image.shape == (9, 11, 3)
    np.testing.assert_allclose(loaded.image, rgb, atol=1e-6)
    assert not any("normalised" in n for n in loaded.notes)


def test_float64_gray_tiff_read_as_stored(tmp_path):
    gray = np.random.default_rng(1).random((7, 5))
    tifffile.imwrite(tmp_path / "g.tif", gray)
    loaded = io.read_image(tmp_path / "g.tif")
    for c in range(3):
        np.testing.assert_allclose(loaded.image[..., c], gray, atol=1e-6)
    assert "grayscale replicated to RGB" in loaded.notes


def test_float_tiff_outside_unit_range_min_max_normalised_with_note(tmp_path):
    rgb = np.linspace(-2.0, 6.0, 4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    tifffile.imwrite(tmp_path / "h.tif", rgb)
    loaded = io.read_image(tmp_path / "h.tif")
    np.testing.assert_allclose(loaded.image, (rgb + 2.0) / 8.0, atol=1e-6)
    assert any("[-2, 6] min-max normalised" in n for n in loaded.notes)


@pytest.mark.parametrize("dtype", [np.uint32, np.int32])
def test_32bit_integer_tiff_scaled_by_its_type_range(tmp_path, dtype):
    top = np.iinfo(dtype).max
    gray = (np.linspace(0.0, 1.0, 6 * 8).reshape(6, 8) * top).astype(dtype)
    gray[0, 0] = top // 1000  # dark stays dark (not stretched to the image's range)
    tifffile.imwrite(tmp_path / "i.tif", gray)
    loaded = io.read_image(tmp_path / "i.tif")
    np.testing.assert_allclose(loaded.image[..., 0], gray / top, atol=1e-6)
    assert loaded.display[0, 0, 0] == 0 and loaded.display.max() == 255
    assert any(f"{np.dtype(dtype)} samples scaled by {top}" in n for n in loaded.notes)
    assert not any("16-bit" in n for n in loaded.notes)


def test_16bit_rgb_tiff_keeps_16_bits(tmp_path):
    # Pillow decodes 16-bit RGB TIFF at 8 bits: 1000 and 1100 would both become 4/255.
    rgb = np.random.default_rng(2).integers(0, 65536, (6, 9, 3)).astype(np.uint16)
    rgb[0, 0], rgb[0, 1] = 1000, 1100
    tifffile.imwrite(tmp_path / "c16.tif", rgb)
    loaded = io.read_image(tmp_path / "c16.tif")
    np.testing.assert_allclose(loaded.image, rgb / 65535.0, atol=1e-6)


def test_signed_tiff_with_negative_values_min_max_normalised(tmp_path):
    gray = np.array([[-100, 0], [50, 100]], np.int8)  # Pillow would wrap -100 to 156
    tifffile.imwrite(tmp_path / "s.tif", gray)
    loaded = io.read_image(tmp_path / "s.tif")
    np.testing.assert_allclose(loaded.image[..., 0], (gray + 100.0) / 200.0, atol=1e-6)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_tiff_orientation_applied_as_pillow_does(tmp_path, orientation):
    # The same pixels as 8-bit (decoded by Pillow + exif_transpose) and as float32
    # (decoded by tifffile) must come out with the same upright layout.
    rgb = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tag = [(274, "H", 1, orientation, True)]
    tifffile.imwrite(tmp_path / "u8.tif", rgb, photometric="rgb", extratags=tag)
    tifffile.imwrite(
        tmp_path / "f32.tif", rgb.astype(np.float32) / 255, photometric="rgb", extratags=tag
    )
    by_pillow = io.read_image(tmp_path / "u8.tif")
    by_tifffile = io.read_image(tmp_path / "f32.tif")
    assert by_pillow.display.shape == ((7, 5, 3) if orientation >= 5 else (5, 7, 3))
    np.testing.assert_array_equal(by_tifffile.display, by_pillow.display)
    for loaded in (by_pillow, by_tifffile):
        noted = f"applied EXIF orientation {orientation}" in loaded.notes
        assert noted == (orientation != 1)


def test_damaged_float_tiff_names_the_file(tmp_path):
    tifffile.imwrite(tmp_path / "ok.tif", np.zeros((40, 40, 3), np.float32))
    data = (tmp_path / "ok.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(io.ImageReadError, match="corrupt or unsupported TIFF") as info:
        io.read_image(tmp_path / "cut.tif")
    assert str(info.value).startswith(f"{tmp_path / 'cut.tif'}: ")


# --- damaged checkpoint files ------------------------------------------------------------


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """An exported (untrained) tiny wang2020 model: config.json + model.npz."""
    config = wang2020_tiny.get_config()
    model = wang2020.create_model(config, nnx.Rngs(0))
    return checkpointing.export_model(model, config, tmp_path_factory.mktemp("model") / "m")


def _damaged_copy(model_folder, tmp_path, kind):
    folder = Path(shutil.copytree(model_folder, tmp_path / kind))
    npz = folder / "model.npz"
    if kind == "truncated":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    elif kind == "random":
        npz.write_bytes(np.random.default_rng(0).bytes(1000))
    else:  # a config.json cut after its first line
        cfg = folder / "config.json"
        cfg.write_text(cfg.read_text().splitlines()[0] + "\n")
    return folder


DAMAGE = {
    "truncated": ("model.npz", "truncated or damaged"),
    "random": ("model.npz", "truncated or damaged"),
    "config": ("config.json", "damaged, not the JSON"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_model_folder_error_names_file(model_folder, tmp_path, kind):
    folder = _damaged_copy(model_folder, tmp_path, kind)
    name, what = DAMAGE[kind]
    with pytest.raises(checkpointing.CheckpointError, match=what) as info:
        checkpointing.restore_model(folder)
    message = str(info.value)
    assert str(folder / name) in message and "copy it again" in message
    assert "allow_pickle" not in message  # numpy's advice to unpickle random bytes


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_segment_cli_damaged_checkpoint_exit_2_one_line(model_folder, tmp_path, capsys, kind):
    folder = _damaged_copy(model_folder, tmp_path, kind)
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / "img.png")
    argv = ["segment", str(tmp_path / "img.png"), "--out", str(tmp_path / "out")]
    code = cli.main([*argv, "--method", "wang2020", "--checkpoint", str(folder), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert (
        err[-1].startswith("jaxseg segment: error: ") and str(folder / DAMAGE[kind][0]) in err[-1]
    )
    assert not any("Traceback" in line for line in err)


# --- train.py ----------------------------------------------------------------------------


def synthetic_config():
    config = wang2020_tiny.get_config()
    config.data.name = "synthetic"
    config.num_steps = 4
    config.eval_every = 100  # evaluate only at the last step
    return config


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A workdir as a run stopped after step 2 of 4 leaves it: config.json, the latest
    checkpoint at step 2 and metrics for steps 1-2 (written directly: no step compiled)."""
    workdir = tmp_path_factory.mktemp("stopped") / "work"
    workdir.mkdir()
    config = synthetic_config()
    checkpointing.write_config(workdir, config)
    model = wang2020.create_model(config, nnx.Rngs(config.seed))
    optimizer = nnx.Optimizer(model, training.make_optimizer(config), wrt=nnx.Param)
    ckpt = checkpointing.CheckpointManager(workdir)
    ckpt.save_latest(2, model, optimizer)
    ckpt.wait_until_finished()
    ckpt.close()
    rows = [{"step": s, "split": "train", "loss": 1.0} for s in (1, 2)]
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return workdir


def _read_metrics(workdir):
    return [json.loads(ln) for ln in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_resume_drops_a_torn_last_metrics_line(stopped_run, tmp_path, capsys):
    workdir = Path(shutil.copytree(stopped_run, tmp_path / "work"))
    with open(workdir / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "split": "train", "lo')  # the run died mid-append
    # The rerun resumes from the checkpoint at step 2 and stops there (stop_at=2): the log
    # is reopened as for any resume, without a step to compile.
    result = train_and_evaluate(synthetic_config(), workdir, stop_at=2)
    assert result["step"] == 2
    assert [(r["step"], r["split"]) for r in _read_metrics(workdir)] == [
        (1, "train"),
        (2, "train"),
    ]
    # Whole lines only, so that the next step's record starts a line of its own.
    assert (workdir / "metrics.jsonl").read_text().endswith("}\n")
    err = capsys.readouterr().err
    assert f"{workdir / 'metrics.jsonl'}: dropped its last line" in err


def test_damaged_metrics_line_inside_the_file_names_file_and_line(stopped_run, tmp_path):
    workdir = Path(shutil.copytree(stopped_run, tmp_path / "work"))
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    (workdir / "metrics.jsonl").write_text("garbage\n" + "\n".join(lines[1:]) + "\n")
    with pytest.raises(checkpointing.CheckpointError, match=r"metrics\.jsonl, line 1: "):
        train_and_evaluate(synthetic_config(), workdir)


def test_checkpoint_of_another_config_names_it_and_the_fix(stopped_run, tmp_path):
    workdir = Path(shutil.copytree(stopped_run, tmp_path / "work"))
    config = synthetic_config()
    # config.json edited to another optimiser: the checkpoint holds Adam's state.
    config.optimizer.name = "sgd"
    config.optimizer.momentum = 0.9
    checkpointing.write_config(workdir, config)
    with pytest.raises(checkpointing.CheckpointError) as info:
        train_and_evaluate(config, workdir)
    message = str(info.value)
    assert str(workdir.absolute() / "checkpoints" / "latest" / "2") in message
    assert str(workdir.absolute() / "config.json") in message and "new --workdir" in message
    assert len(message) < 1000  # not orbax's whole tree dump


def test_bad_data_dir_writes_nothing(tmp_path):
    workdir = tmp_path / "work"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_and_evaluate(wang2020_tiny.get_config(), workdir, data_dir=tmp_path / "nope")
    assert not workdir.exists()
    # A workdir holding only a config.json (nothing trained) says it may be deleted.
    workdir.mkdir()
    checkpointing.write_config(workdir, wang2020_tiny.get_config())
    other = wang2020_tiny.get_config()
    other.num_steps = 3
    with pytest.raises(checkpointing.CheckpointError, match="nothing was trained there"):
        train_and_evaluate(other, workdir, data_dir=tmp_path / "nope")


def _train_py(tmp_path, *args):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    argv = [sys.executable, "train.py", "--config", "configs/wang2020_tiny.py"]
    argv += ["--workdir", str(tmp_path / "work"), *args]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "override", ["--config.learning_rat=1", "--config.optimizer.learning_rat=1"]
)
def test_train_py_override_typo_names_close_matches(tmp_path, override):
    proc = _train_py(tmp_path, override)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "AttributeError" not in proc.stderr
    assert lines[0].startswith(f"train.py: error: {override.split('=')[0]}: ")
    assert "did you mean --config.optimizer.learning_rate?" in lines[0]
    assert not (tmp_path / "work").exists()


def test_train_py_bad_data_dir_exit_2_one_line(tmp_path):
    proc = _train_py(tmp_path, f"--data_dir={tmp_path / 'nope'}")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("train.py: error: BSDS500 directory")
    assert "Traceback" not in proc.stderr and not (tmp_path / "work").exists()


def test_sweep_bad_data_dir_writes_nothing(tmp_path):
    from configs import sweep_wang2020_tiny
    from jaxseg.train.sweep import train_sweep

    workdir = tmp_path / "sweep"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_sweep(sweep_wang2020_tiny.get_config(), workdir, data_dir=tmp_path / "nope")
    assert not workdir.exists()


def test_predict_sweep_checks_the_image_values():
    from jaxseg.train.sweep import predict_sweep

    model = wang2020.create_model(wang2020_tiny.get_config(), nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        predict_sweep(model, np.full((8, 8, 3), 200.0, np.float32), pos_scales=[1.0])
