"""Command-line flags, default paths and logging shared by the data-preparation recipes.

Default paths are relative to the repository root: real runs use ``downloads/<name>`` and ``data-bin/<dest>``,
smoke runs the same under ``runs/smoke/``. Paths given on the command line are relative to the working directory.
"""
import argparse
import logging
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SMOKE = Path("runs/smoke")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def recipe_parser(module: str, doc: str, name: str, dest: str) -> argparse.ArgumentParser:
    """A parser with the flags every data recipe has; ``name`` names the downloads folder, ``dest`` the output."""
    parser = argparse.ArgumentParser(prog=f"python -m memattn_fairseq.recipes.{module}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true",
                        help="build tiny local stand-ins of the downloads (same formats, same pipeline) and prepare "
                             f"them into {SMOKE}/")
    parser.add_argument("--downloads", type=Path, metavar="DIR",
                        help=f"archives already downloaded, and where downloads go (default downloads/{name}, "
                             f"smoke: {SMOKE}/downloads/{name})")
    parser.add_argument("--dest", type=Path, metavar="DIR",
                        help=f"output directory (default data-bin/{dest}, smoke: {SMOKE}/data-bin/{dest})")
    parser.add_argument("--workers", type=positive_int, default=min(20, os.cpu_count() or 1), metavar="N",
                        help="processes for fairseq-preprocess and threads for other steps (default: CPU count, "
                             "at most 20)")
    parser.add_argument("--mirror", metavar="URL",
                        help="fetch every archive from URL/<file name> instead of the built-in mirrors "
                             "(a local or institutional copy; file:// URLs work)")
    parser.set_defaults(_name=name, _dest=dest)
    return parser


def parse(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parsed flags with the default paths filled in, and logging set up."""
    args = parser.parse_args(argv)
    root = REPO / SMOKE if args.smoke else REPO
    args.downloads = args.downloads or root / "downloads" / args._name
    args.dest = args.dest or root / "data-bin" / args._dest
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO,
                        force=True)
    return args
