"""Command-line front ends (argument parsing and file output only); the ``jaxseg``
console script is :func:`jaxseg.cli.segment.main`.

Every command line spells its options with dashes (``--n-segments``, ``--data-dir``);
:class:`ArgumentParser` also takes the underscore spelling (``--n_segments``) of each of
them, as the same option. ``--help`` lists the dashed spelling only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["ArgumentParser", "dashed_args"]


def dashed_args(args: Sequence[str], options: Sequence[str]) -> list[str]:
    """``args`` with each ``--name_with_underscores`` of an option in ``options`` dashed.

    A token is rewritten when it is not itself one of ``options`` and its dashed form
    (``--name-with-underscores``, with any ``=VALUE`` kept as it is) is one of them or
    the start of one (argparse's abbreviations). Values, unknown options and everything
    after a bare ``--`` are left alone.

    Args:
        args: command-line tokens.
        options: the parser's option strings, e.g. ``["--data-dir", "--out"]``.

    Returns:
        The rewritten tokens.
    """
    longs = [o for o in options if o.startswith("--")]
    out = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + list(args[i:])
        name, eq, value = arg.partition("=")
        if name.startswith("--") and "_" in name and name not in longs:
            dashed = "--" + name[2:].replace("_", "-")
            if any(o.startswith(dashed) for o in longs):
                arg = dashed + eq + value
        out.append(arg)
    return out


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that also takes ``--foo_bar`` for an option ``--foo-bar``.

    Options are declared with dashes only (``add_argument("--data-dir")``, destination
    ``data_dir``); the underscore spelling parses to the same destination and value and
    is not shown in ``--help``. Subcommand parsers (``add_subparsers().add_parser``) are of
    this class too. Declaring an option with an underscore is an error.
    """

    def parse_known_args(self, args=None, namespace=None):
        options = [o for action in self._actions for o in action.option_strings]
        underscored = [o for o in options if o.startswith("--") and "_" in o]
        if underscored:
            raise ValueError(
                f"{self.prog}: options {underscored} are declared with underscores; declare "
                "them with dashes (the underscore spelling is accepted as an alias)"
            )
        args = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(dashed_args(args, options), namespace)
