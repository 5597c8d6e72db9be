"""Evaluation entry point.

python eval.py bench --results DIR --gt DIR --out DIR [--nthresh N] [--workers N] [--images DIR]
python eval.py plot OUT_DIR... --png FILE [--labels NAME...]
python eval.py dsc ...                       (Deep Superpixel Cut evaluation)
python eval.py --config CFG --workdir DIR    (evaluate a trained model)

The evaluations read BSDS500 from --data-dir (--source folder, the default) or from the
prepared bsds500 TFDS dataset (--source tfds --tfds-dir DIR); both give the same numbers.
Options are spelled with dashes (--n-segments); the underscore spelling (--n_segments)
is accepted too. Each command line lives in jaxseg/cli/.
"""

import importlib
import sys

COMMANDS = {"bench": "jaxseg.cli.bench", "plot": "jaxseg.cli.plot", "dsc": "jaxseg.cli.eval_dsc"}
"""Subcommand -> module whose ``main(argv)`` runs it; no subcommand: ``DEFAULT``."""
DEFAULT = "jaxseg.cli.eval_wang2020"


def _run(module: str, argv: list[str]) -> int:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            sys.exit(f"eval.py: {module} is not available in this checkout ({e})")
        raise
    return mod.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":
        try:  # a Ctrl-C while the modules load; bench handles its own run
            return _run(COMMANDS["bench"], argv[1:])
        except KeyboardInterrupt:
            print("eval.py bench: interrupted", file=sys.stderr)
            return 130
    if argv and argv[0] in COMMANDS:
        return _run(COMMANDS[argv[0]], argv[1:])
    if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
        print(__doc__)
        return 0
    return _run(DEFAULT, argv)


if __name__ == "__main__":
    sys.exit(main())
