"""The main job's verdict lines and D_fg plot, computed from per-seed results (fvgpt.results)."""
from PIL import Image

from fvgpt.results import d_fg_plot, summarise, verdict


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


def test_d_fg_plot_is_a_png_of_the_methods_that_measured_it(tmp_path):
    rows = summarise({"CLIP": [{"base": 60, "new": 70, "d_fg": 0.2}],
                      "CoOp": [{"base": 70, "new": 65, "d_fg": 0.1}],
                      "no D_fg": [{"base": 70, "new": 65, "d_fg": None}]})
    d_fg_plot(rows, tmp_path / "d_fg.png", "title")
    with Image.open(tmp_path / "d_fg.png") as image:
        assert image.format == "PNG" and image.width > 100
