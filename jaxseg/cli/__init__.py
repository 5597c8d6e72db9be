"""Command-line front ends (argument parsing and file output only); the ``jaxseg``
console script is :func:`jaxseg.cli.segment.main`."""
