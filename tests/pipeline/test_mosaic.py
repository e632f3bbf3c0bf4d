"""Motion regions packed into one detector input map their boxes back to the frame."""

from __future__ import annotations

import numpy as np

from vigil.vision.mosaic import pack


def test_regions_share_one_canvas_and_boxes_come_back() -> None:
    frame = np.zeros((576, 768, 3), np.uint8)
    frame[100:200, 50:100] = 255  # a bright "person" in the first region
    regions = [(40.0, 90.0, 80.0, 130.0), (600.0, 400.0, 100.0, 150.0)]
    canvas, placements = pack(frame, regions, 416)
    assert canvas.shape == (416, 416, 3) and len(placements) == 2
    first = placements[0]
    assert first.scale == 2.0  # small regions are enlarged, up to twice
    ys, xs = np.nonzero(canvas[..., 0] == 255)
    on_canvas = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    back = first.to_frame(tuple(map(float, on_canvas)))
    assert back is not None and np.allclose(back, (50, 100, 50, 100), atol=1)
    assert placements[1].to_frame(tuple(map(float, on_canvas))) is None  # not its region


def test_regions_that_do_not_fit_become_the_whole_frame() -> None:
    frame = np.zeros((576, 768, 3), np.uint8)
    regions = [(0.0, 0.0, 400.0, 576.0), (368.0, 0.0, 400.0, 576.0)]  # overlapping halves
    _, placements = pack(frame, regions, 416)
    assert len(placements) == 1 and placements[0].region == (0, 0, 768, 576)
    assert placements[0].scale == 416 / 768
    # a box straddling the bottom edge of the picture is clipped to it
    box = placements[0].to_frame((100.0, 300.0, 40.0, 20.0))
    assert box is not None and box[1] + box[3] <= 576 + 1e-6
