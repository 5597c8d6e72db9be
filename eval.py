"""Evaluation entry point.

python eval.py bench --results DIR --gt DIR --out DIR [--nthresh N] [--workers N] [--images DIR]
python eval.py plot OUT_DIR... --png FILE [--labels NAME...]
python eval.py dsc ...                       (Deep Superpixel Cut evaluation)
python eval.py --config CFG --workdir DIR    (evaluate a trained model)

The evaluations read BSDS500 from --data_dir (--source folder, the default) or from the
prepared bsds500 TFDS dataset (--source tfds --tfds_dir DIR); both give the same numbers.
"""

import importlib
import sys


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
    commands = {"bench": "jaxseg.metrics.bench", "plot": "jaxseg.metrics.plot"}
    commands["dsc"] = "jaxseg.cli.eval_dsc"
    if argv and argv[0] == "bench":
        try:  # a Ctrl-C while the modules load; bench handles its own run
            return _run(commands["bench"], argv[1:])
        except KeyboardInterrupt:
            print("eval.py bench: interrupted", file=sys.stderr)
            return 130
    if argv and argv[0] in commands:
        return _run(commands[argv[0]], argv[1:])
    if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
        print(__doc__)
        return 0
    return _run("jaxseg.experiments.wang2020", argv)


if __name__ == "__main__":
    sys.exit(main())
