"""Adherence as a count with its interval: the helpers notebooks 07 and 08 print every adherence with."""
import pytest

from soralite.eval.adherence import counted_share, format_share, wilson_interval


def test_a_counted_share_keeps_its_count_and_wilson_interval():
    s = counted_share([True] * 13 + [False] * 19)
    assert (s["k"], s["n"]) == (13, 32) and s["share"] == pytest.approx(13 / 32)
    assert s["ci95"] == wilson_interval(13, 32)
    lo, hi = s["ci95"]
    assert lo < s["share"] < hi and hi - lo > 0.3            # 32 clips: an interval about 0.33 wide


def test_none_of_ten_still_has_an_upper_bound():
    # Wilson at 0 of n: upper bound z^2 / (n + z^2), not the zero a plain +-1.96 SE gives
    s = counted_share([False] * 10)
    assert s["share"] == 0 and s["ci95"][0] == 0
    assert s["ci95"][1] == pytest.approx(1.959964 ** 2 / (10 + 1.959964 ** 2), abs=1e-4)


def test_format_share_reads_count_and_interval_and_handles_no_clips():
    assert format_share(counted_share([True, True, False, False])) == "50% (2 of 4; 95% interval 15% to 85%)"
    empty = counted_share([])
    assert empty["share"] is None and empty["ci95"] is None
    assert format_share(empty) == "no clips (0 of 0)"
