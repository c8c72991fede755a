"""Is FG-World in the paper's regime? Checks (a)-(d) on the val split, without FVG-PT
(sweeps/regime.py states them).

    python scripts/world_regime.py [--root data/world0] [--output output/world_benchmark/world0]
        [--world-seed 0] [--seeds 1 2 3]

The CoOp runs are the main job's (scripts/world_benchmark.py, which also prints these checks):
trained there if missing, loaded from their last epoch here.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sweeps import regime, world  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    world.add_run_arguments(parser, "the main job's output folder (its CoOp base runs are shared)")
    args = parser.parse_args(argv)
    return regime.check_regime(world.sweep_of_arguments(args, ["CoOp"]))


if __name__ == "__main__":
    main()
