"""Training: the one trainer loop (:mod:`jaxseg.train.trainer`), the vmapped
hyper-parameter sweep, checkpoints, and one plug-in per trainable task
(:mod:`jaxseg.train.tasks`)."""
