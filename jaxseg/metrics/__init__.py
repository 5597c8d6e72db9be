"""Segmentation metrics: the BSDS500 benchmark (boundary and region) in NumPy/SciPy.

See :mod:`jaxseg.metrics.bench` for the entry points and file formats. The superpixel
metrics live in :mod:`jaxseg.metrics.superpixel` (imported separately).
"""

from jaxseg.metrics.bench import (
    ImageEval,
    collect,
    evaluate_image,
    evaluate_results,
    run_bench,
)
from jaxseg.metrics.boundary import (
    collect_boundary,
    correspond_pixels,
    evaluate_image_boundary,
    seg2bdry,
    thin,
)
from jaxseg.metrics.io import (
    GroundTruth,
    Result,
    load_groundtruth,
    load_result,
    save_npz_result,
)
from jaxseg.metrics.region import (
    RegionImageResult,
    collect_region,
    contingency_table,
    evaluate_image_region,
    global_consistency_error,
    local_consistency_error,
    probabilistic_rand_index,
    rand_index,
    segmentation_covering,
    ucm2_segmentations,
    ucm2_to_segmentation,
    variation_of_information,
)

__all__ = [
    "GroundTruth",
    "ImageEval",
    "RegionImageResult",
    "Result",
    "collect",
    "collect_boundary",
    "collect_region",
    "contingency_table",
    "correspond_pixels",
    "evaluate_image",
    "evaluate_image_boundary",
    "evaluate_image_region",
    "evaluate_results",
    "global_consistency_error",
    "load_groundtruth",
    "load_result",
    "local_consistency_error",
    "probabilistic_rand_index",
    "rand_index",
    "run_bench",
    "save_npz_result",
    "seg2bdry",
    "segmentation_covering",
    "thin",
    "ucm2_segmentations",
    "ucm2_to_segmentation",
    "variation_of_information",
]
