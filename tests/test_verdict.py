"""The main job's verdict line, computed from per-seed results (fvgpt.results.verdict)."""
from fvgpt.results import verdict


def seeds(*base_new):
    return [{"base": b, "new": n, "d_fg": None} for b, n in base_new]


def test_a_gap_larger_than_both_spreads_is_called_beyond_the_spread():
    per_seed = {"CoOp": seeds((80, 60), (80, 62), (80, 61)),
                "CoOp + FVG-PT": seeds((80, 70), (80, 71), (80, 72))}
    best, coop = verdict(per_seed, [("CoOp", "CoOp + FVG-PT")])
    assert best.startswith("Best HM: CoOp + FVG-PT (")
    assert coop.startswith("CoOp + FVG-PT beats CoOp on HM by 6.01 points")
    assert "FVG-PT ahead in 3 of 3 seeds" in coop and "beyond the seed spread" in coop


def test_a_gap_inside_the_seed_spread_is_not_called_a_difference():
    per_seed = {"MMRL": seeds((80, 60), (80, 70), (80, 65)),
                "MMRL + FVG-PT": seeds((80, 64), (80, 66), (80, 62))}
    _, line = verdict(per_seed, [("MMRL", "MMRL + FVG-PT")])
    assert line.startswith("MMRL beats MMRL + FVG-PT on HM by ")
    assert "FVG-PT ahead in 1 of 3 seeds" in line and "within the seed spread" in line
