"""The public names a user guesses, and the old module paths of jaxseg 0.1."""

import importlib
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import jaxseg
from jaxseg.ops import slic as slic_module


def test_jaxseg_slic_is_the_function_like_skimage():
    image = np.random.default_rng(0).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    labels = jaxseg.slic(image, n_segments=30)
    assert callable(jaxseg.slic) and jaxseg.slic is slic_module.slic
    assert labels.shape == (40, 60) and labels.dtype == np.int32
    assert_array_equal(labels, slic_module.slic(image, n_segments=30))
    assert 10 <= labels.max() + 1 <= 45


@pytest.mark.parametrize("old", sorted(jaxseg.MOVED_MODULES))
def test_old_module_paths_fail_naming_the_new_place(old):
    new = jaxseg.MOVED_MODULES[old].split(" ")[0]
    with pytest.raises(ModuleNotFoundError, match=rf"{old} was moved.*{new}"):
        importlib.import_module(old)
    importlib.import_module(new)  # the place named exists


def test_from_old_module_import_fails_in_a_fresh_interpreter():
    """The finder is installed by ``import jaxseg`` itself, before any submodule import."""
    code = "from jaxseg.merge import merge_threshold"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "jaxseg.merge was moved in jaxseg 0.2: import jaxseg.regions.merge" in proc.stderr


def test_every_public_name_resolves():
    for name in jaxseg.__all__:
        assert getattr(jaxseg, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        jaxseg.nope  # noqa: B018
