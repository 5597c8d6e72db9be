"""One flag spelling across the command lines: dashed options, underscore aliases.

Every command line (``jaxseg segment``, ``eval.py`` and its subcommands, ``train.py``)
documents ``--foo-bar`` and takes ``--foo_bar`` as the same option.
"""

import argparse
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from jaxseg.cli import ArgumentParser, bench, dashed_args, eval_dsc, eval_wang2020, plot, segment

REPO = Path(__file__).resolve().parents[2]


def _underscored(argv: list[str]) -> list[str]:
    """``argv`` with every ``--option-name`` spelled ``--option_name`` (values kept)."""
    out = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        out.append("--" + name[2:].replace("-", "_") + eq + value if name[:2] == "--" else arg)
    return out


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    for action in parser._actions:  # subcommands
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options += _long_options(sub)
    return options


# (name, parser, argv giving every multi-word option a non-default value, dashed)
CASES = [
    (
        "jaxseg segment",
        segment._build_parser,
        ["segment", "in.png", "--out", "o", "--n-segments", "7", "--num-iters", "3",
         "--dsc-iters", "4", "--batch-size", "2", "--max-side", "64"],
    ),
    (
        "eval.py bench",
        bench.build_parser,
        ["--results", "r", "--gt", "g", "--out", "o", "--max-dist=0.02", "--no-thin",
         "--no-progress"],
    ),
    ("eval.py plot", plot.build_parser, ["a", "b", "--png", "p.png", "--labels", "x", "y"]),
    (
        "eval.py dsc",
        eval_dsc.build_parser,
        ["--superae", "s", "--out", "o", "--data-dir", "d", "--tfds-dir", "t",
         "--gen-kw", '{"min_size_frac": 0.1}', "--base-count", "50", "--ncut-thresh", "0.3,0.1",
         "--num-classes", "3", "--num-iters", "2", "--train-encoder", "--max-segments", "64",
         "--logit-norm", "none", "--write-every", "2"],
    ),
    (
        "eval.py",
        eval_wang2020.build_parser,
        ["--data-dir", "d", "--tfds-dir", "t", "--select-split", "train", "--select-nthresh",
         "5", "--select-by", "pri", "--seg-n-segments", "40", "--seg-n-candidates", "40,80",
         "--select-only", "--n-segments", "100,300"],
    ),
]  # fmt: skip


@pytest.mark.parametrize("name,build,argv", CASES, ids=[c[0] for c in CASES])
def test_underscore_spelling_parses_the_same(name, build, argv):
    dashed = vars(build().parse_args(argv))
    underscored_argv = _underscored(argv)
    assert underscored_argv != argv or name == "eval.py plot"
    assert vars(build().parse_args(underscored_argv)) == dashed
    # The options were read (not left at their defaults).
    minimal = [a for a in argv if a in ("segment", "in.png", "--superae", "s", "a", "b")]
    minimal += ["--out", "o"] if "--out" in argv else []
    minimal += ["--results", "r", "--gt", "g"] if "--results" in argv else []
    minimal += ["--png", "p.png"] if "--png" in argv else []
    assert vars(build().parse_args(minimal)) != dashed


@pytest.mark.parametrize("name,build,argv", CASES, ids=[c[0] for c in CASES])
def test_help_shows_the_dashed_spelling(name, build, argv, capsys):
    parser = build()
    options = _long_options(parser)
    assert not [o for o in options if "_" in o], options
    help_argv = ["segment", "--help"] if name == "jaxseg segment" else ["--help"]
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(help_argv)
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    multi_word = [a.partition("=")[0] for a in argv if a.startswith("--") and "-" in a[2:]]
    for option in multi_word:
        assert option in text
        assert "--" + option[2:].replace("-", "_") not in text


def test_dashed_args_rewrites_only_known_options():
    options = ["--data-dir", "--n-segments", "--out", "-h", "--help"]
    argv = ["--data_dir=/a_b", "--n_segments", "5", "--other_flag", "x_y", "--out", "o_p"]
    assert dashed_args(argv, options) == [
        "--data-dir=/a_b", "--n-segments", "5", "--other_flag", "x_y", "--out", "o_p"
    ]  # fmt: skip
    # An abbreviation of a dashed option; nothing after a bare "--".
    assert dashed_args(["--data_d", "d", "--", "--n_segments"], options) == [
        "--data-d", "d", "--", "--n_segments"
    ]  # fmt: skip


def test_parser_aliases_abbreviations_and_errors(capsys):
    p = ArgumentParser(prog="t")
    p.add_argument("--data-dir")
    p.add_argument("--n-segments", type=int)
    p.add_argument("rest", nargs="*")
    args = p.parse_args(["--data_d", "x", "--n_segments=4", "--", "--n_segments"])
    assert (args.data_dir, args.n_segments, args.rest) == ("x", 4, ["--n_segments"])
    with pytest.raises(SystemExit):
        p.parse_args(["--max_segments", "3"])
    assert "unrecognized arguments: --max_segments" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        p.parse_args(["--n_segments", "x"])
    assert "argument --n-segments: invalid int value: 'x'" in capsys.readouterr().err
    bad = ArgumentParser(prog="bad")
    bad.add_argument("--data_dir")
    with pytest.raises(ValueError, match=r"\['--data_dir'\] are declared with underscores"):
        bad.parse_args([])


_TRAIN_FLAGS = """
import importlib.util, json, sys
from absl import flags
spec = importlib.util.spec_from_file_location("train_entry", "train.py")
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
fv = flags.FlagValues()
train.define_flags(fv)
fv(["train.py", *sys.argv[1:]])
print(json.dumps({k: fv[k].value for k in ("workdir", "data-dir", "init-from", "distributed")}))
"""


def _train_flags(*argv: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _TRAIN_FLAGS, *argv],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_train_py_flags():
    config = ["--config", "configs/wang2020_tiny.py", "--workdir", "w"]
    dashed = _train_flags(*config, "--data-dir", "d", "--init-from=m")
    assert dashed == {"workdir": "w", "data-dir": "d", "init-from": "m", "distributed": False}
    assert _train_flags(*config, "--data_dir", "d", "--init_from=m") == dashed
    proc = subprocess.run(
        [sys.executable, "train.py", "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # absl's --help exits with status 1.
    assert "--data-dir:" in proc.stdout and "--init-from:" in proc.stdout
    assert "--data_dir: Alias for --data-dir." in proc.stdout


def _main_calls(monkeypatch, module, name, argv_sets):
    """The arguments ``module.main`` passes to ``module.<name>`` for each argv."""
    calls = []
    monkeypatch.setattr(module, name, lambda *a, **kw: calls.append((a, kw)) or Path("x"))
    for argv in argv_sets:
        module.main(argv)
    return calls


def test_data_tool_flags(monkeypatch, tmp_path, capsys):
    from jaxseg.data import pack, tfds_bsds500

    monkeypatch.setattr(tfds_bsds500, "prepared_dir", lambda out: out)
    monkeypatch.setattr(tfds_bsds500, "resolve_data_dir", lambda manual: manual)
    dashed = ["--manual-dir", str(tmp_path), "--data-dir", str(tmp_path / "t")]
    calls = _main_calls(
        monkeypatch, tfds_bsds500, "prepare", [dashed, _underscored(dashed), ["--data-dir", "u"]]
    )
    assert calls[0] == calls[1] != calls[2]
    assert calls[0][0][1] == tmp_path / "t"
    monkeypatch.setattr(Path, "stat", lambda self: types.SimpleNamespace(st_size=0))
    dashed = ["root", "o.npz", "--max-images", "3"]
    calls = _main_calls(monkeypatch, pack, "pack_bsds500", [dashed, _underscored(dashed)])
    assert calls[0] == calls[1] and calls[0][1]["max_images"] == 3
    capsys.readouterr()
    for module in (tfds_bsds500, pack):
        with pytest.raises(SystemExit):
            module.main(["--help"])
        text = capsys.readouterr().out
        assert "--data-dir" in text or "--max-images" in text
        assert "--data_dir" not in text and "--manual_dir" not in text and "_images" not in text
