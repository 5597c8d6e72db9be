"""Fixtures of the pipeline tests: two BSDS500 val images, as files and as the evaluation
reads them."""

import shutil

import numpy as np
import pytest


@pytest.fixture(scope="session")
def val_pair(bsds_root, tmp_path_factory):
    """``(folder, ids, images)``: the first two val images copied into ``folder`` (the input
    of ``jaxseg segment``) and read as the evaluation reads them (float32 in ``[0, 1]``)."""
    from jaxseg.experiments import wang2020 as evaluation

    files = evaluation.split_files(bsds_root, "val", limit=2)
    folder = tmp_path_factory.mktemp("val_pair")
    for _, image_path, _ in files:
        shutil.copy(image_path, folder / image_path.name)
    images = [evaluation.read_image(path) for _, path, _ in files]
    assert all(im.dtype == np.float32 and im.shape[-1] == 3 for im in images)
    return folder, [i for i, _, _ in files], images
