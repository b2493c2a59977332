"""The CIEDE2000 implementation against Sharma, Wu and Dalal's published test pairs."""

from __future__ import annotations

import numpy as np

from tests.fixtures.ciede2000 import delta_e_2000

# (L1, a1, b1, L2, a2, b2, dE00): pairs 1, 7, 13, 17, 19, 25 and 34 of the paper's table
PAIRS = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_the_published_pairs():
    table = np.array(PAIRS)
    got = delta_e_2000(table[:, 0:3], table[:, 3:6])
    assert np.allclose(got, table[:, 6], atol=1e-4), got
    assert np.allclose(delta_e_2000(table[:, 3:6], table[:, 0:3]), got)  # symmetric
