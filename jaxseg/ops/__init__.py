"""Pure JAX: colour conversion, SSN / SLIC device part, superpixel pooling, losses, and
batch-invariant mapping (:mod:`jaxseg.ops.batching`).

Everything here can be ``jit``-ed, ``vmap``-ped and differentiated (``grad``) inside
user code; nothing reads files or calls NumPy on traced values.
"""
