"""Where FVG-PT's base-class gain or loss comes from on FG-World: backgrounds or fit
(sweeps/diagnosis.py says how it is measured). Writes ``diagnosis.md`` in ``--output``.

    python scripts/world_diagnosis.py [--root data/world0] [--output output/world_benchmark/world0]
        [--seeds 1 2 3] [--backbones CoOp KgCoOp PromptSRC MMRL]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fvgpt.backbones.registry import BACKBONES  # noqa: E402
from sweeps import diagnosis, world  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    world.add_run_arguments(parser, "the main job's output folder (its runs are used)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    args = parser.parse_args(argv)
    return diagnosis.diagnose(world.sweep_of_arguments(args, args.backbones))


if __name__ == "__main__":
    main()
