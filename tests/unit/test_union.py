"""The merged candidate set: per row, the distinct items of every generator's list."""

import numpy as np

from jobs.evaluate import _union


def test_union_is_each_rows_distinct_items_ascending():
    rng = np.random.default_rng(0)
    arrays = [np.where(rng.random((40, 8)) < 0.2, -1, rng.integers(0, 30, (40, 8))) for _ in range(3)]
    merged = _union(arrays)
    for r in range(40):
        expected = np.unique(np.concatenate([a[r] for a in arrays]))
        expected = expected[expected >= 0]
        assert merged[r, :len(expected)].tolist() == expected.tolist()
        assert (merged[r, len(expected):] == -1).all()
    assert merged.shape[1] == max(len(set(np.concatenate([a[r] for a in arrays])) - {-1}) for r in range(40))
