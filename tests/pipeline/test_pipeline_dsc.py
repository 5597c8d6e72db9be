"""The ``"dsc"`` method of the pipeline: ``jaxseg segment --method dsc`` gives what the lin2021
evaluation (``eval.py dsc``, variant ``dsc``) benchmarks, for the same settings; its settings
come from the model folder's ``settings.json`` and are checked."""

import json

import ml_collections
import numpy as np
import pytest
from flax import nnx

from jaxseg.cli import segment as cli
from jaxseg.data import bsds500
from jaxseg.experiments import lin2021
from jaxseg.nn.superae import SuperAE, prepare_input, reconstruct
from jaxseg.pipeline import METHODS
from jaxseg.pipeline.dsc import PACKAGED_MODEL, SETTINGS_FILE, padding
from jaxseg.regions.generators import generate
from jaxseg.regions.labels import upsample_labels
from jaxseg.train import checkpointing

COUNTS = [20, 10]
# Two iterations at a quarter of the image size: the test compares two paths with the
# same settings, which needs no converged DSC; a scale other than the packaged model's 0.5
# also shows that both paths take it from the settings.
ITERS = 2
SCALE = 0.25


@pytest.mark.slow
def test_segment_cli_equals_lin2021(bsds_root, tmp_path, fast_compile, monkeypatch):
    """Two val images of one shape: the CLI runs them as one batch of 2, lin2021 one at a
    time, so equal labels also show that an image's result does not depend on its batch.
    The lin2021 stacks are those its evaluation (``eval.py dsc``) computes and benchmarks,
    recorded as it runs."""
    records = bsds500.load_split(bsds_root, "val", limit=2)
    assert records[0].image.shape == records[1].image.shape  # one batch in the CLI
    folder = bsds500.resolve_data_dir(bsds_root) / "images" / "val"
    paths = [str(next(folder.rglob(f"{r.id}.jpg"))) for r in records]
    out = tmp_path / "out"
    argv = ["segment", *paths, "--out", str(out), "--method", "dsc", "-q",
            "--set", f"counts={json.dumps(COUNTS)}", "--set", f"num_iters={ITERS}",
            "--set", f"scale={SCALE}", "--set", "segs_level=1"]  # fmt: skip
    assert cli.main(argv) == 0

    config = lin2021.default_config()
    config.update(
        superae=str(PACKAGED_MODEL), generator="meanshift", counts=COUNTS, num_iters=ITERS,
        num_classes=16, max_segments=128, seed=0, out=str(tmp_path / "eval"), scale=SCALE,
    )  # fmt: skip
    seen = []  # (segmenter, image, segs) of each lin2021.dsc_segs call

    def recording_dsc_segs(segmenter, image, _dsc_segs=lin2021.dsc_segs):
        segs = _dsc_segs(segmenter, image)
        seen.append((segmenter, image, segs))
        return segs

    monkeypatch.setattr(lin2021, "dsc_segs", recording_dsc_segs)
    config.update(data_dir=str(bsds_root), split="val", limit=2, variants=["dsc"], write_every=0)
    res = lin2021.run(config)
    assert len(seen) == len(records)
    assert res["settings"]["counts"] == COUNTS and res["scale"] == SCALE
    all_segs = []
    for rec, (segmenter, image, segs) in zip(records, seen, strict=True):
        full = rec.image.astype(np.float32) / 255.0
        np.testing.assert_array_equal(image, full)
        assert segmenter.settings["num_iters"] == ITERS and segmenter.settings["scale"] == SCALE
        all_segs.append(segs)
        assert segs.shape == (len(COUNTS), *full.shape[:2]) and segs.dtype == np.int32
        np.testing.assert_array_equal(np.load(out / rec.id / "segments.npy"), segs[1])
        with np.load(out / "bench" / f"{rec.id}.npz") as z:
            np.testing.assert_array_equal(z["segs"], segs + 1)
        # Superpixels: the generator on the reconstruction at the finest count, upsampled.
        model = segmenter.method.model
        recon = reconstruct(model, prepare_input(full, SCALE))
        sp = upsample_labels(generate("meanshift", recon, n_segments=max(COUNTS)), full.shape[:2])
        np.testing.assert_array_equal(np.load(out / rec.id / "superpixels.npy"), sp)
        # DSC merges superpixels: fewer regions than the count's superpixels.
        assert int(segs[0].max()) + 1 < int(sp.max()) + 1

    # eval.py dsc's "dsc" rows are the benchmark of these stacks.
    regions = np.mean([[int(s.max()) + 1 for s in segs] for segs in all_segs], axis=0)
    np.testing.assert_allclose(res["levels"]["dsc"]["regions"], regions)


def test_defaults_are_the_packaged_settings(tmp_path):
    record = json.loads((PACKAGED_MODEL / SETTINGS_FILE).read_text())
    assert record["method"] == "dsc" and record["chosen_on"] and record["command"]
    defaults = METHODS["dsc"].defaults()
    for name, value in record["settings"].items():
        assert defaults[name] == value, name
    dsc = METHODS["dsc"]()
    assert dsc.settings == defaults
    json.dumps(dsc.settings)  # JSON-able, written to result.json
    # A model folder without settings.json: the packaged settings, its own image_scale.
    config = ml_collections.ConfigDict({"task": "superae", "image_scale": 0.25})
    checkpointing.export_model(SuperAE(rngs=nnx.Rngs(0)), config, tmp_path / "model")
    other = METHODS["dsc"](checkpoint=tmp_path / "model")
    assert other.settings["scale"] == 0.25
    assert other.settings["counts"] == record["settings"]["counts"]
    assert other.settings["checkpoint"] == str(tmp_path / "model")


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"n_segments": 100}, "has no setting 'n_segments'.*counts"),
        ({"counts": []}, "counts=.*non-empty list"),
        ({"counts": [100, 0]}, r"counts\[1\] must be an int >= 1, got 0"),
        ({"segs_level": 4}, "segs_level=4: must index counts"),
        ({"counts": [50], "segs_level": 1}, "segs_level=1"),
        ({"generator": "watershed"}, "generator='watershed'.*meanshift"),
        ({"scale": 2.0}, r"scale=2.0: must be in \(0, 1\]"),
        ({"sigma": 0}, "sigma=0.0: must be > 0"),
        ({"num_classes": 1}, "num_classes must be an int >= 2, got 1"),
        ({"logit_norm": "bn"}, "logit_norm='bn'"),
        ({"gen_kw": [1]}, "gen_kw=.*expected a dict"),
    ],
)
def test_bad_settings_name_the_value(settings, match):
    with pytest.raises(ValueError, match=match):
        METHODS["dsc"](**settings)


def test_settings_file_of_another_method(tmp_path):
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"method": "wang2020", "settings": {}}))
    with pytest.raises(ValueError, match="method 'wang2020', not 'dsc'"):
        METHODS["dsc"].defaults(tmp_path)
    (tmp_path / SETTINGS_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a settings file"):
        METHODS["dsc"].defaults(tmp_path)


def test_padding_is_per_image():
    labels = np.arange(100).reshape(10, 10) % 70  # 70 superpixels
    assert padding(labels, 128) == 128
    assert padding(labels, 64) == 128  # does not fit: 70 rounded up to 64s
    assert padding(labels, None) == 128
    assert padding(labels % 10, None) == 64
