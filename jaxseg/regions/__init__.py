"""Host NumPy on label images: connectivity, region statistics, agglomeration and the
UCM hierarchy (:mod:`jaxseg.regions.merge`), the classic superpixel generators."""
