"""Standard-formula aggregation, market, operational, MCR and risk margin vs hand computations."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.engines.solvency import aggregation as agg
from workers.engines.solvency import standard_formula as sf


def test_regulatory_matrices_are_valid_correlations():
    assert agg.correlation_problems(agg.LIFE_CORRELATION.tolist(), "life", 7) == []
    assert agg.correlation_problems(agg.BSCR_CORRELATION.tolist(), "bscr", 5) == []
    for a in (0.0, 0.5):
        assert agg.correlation_problems(agg.market_correlation(a).tolist(), "market", 6) == []


def test_life_aggregation_with_negative_correlation_by_hand():
    # sqrt(100² + 50² + 2·(-0.25)·100·50) = sqrt(10 000) = 100
    node = agg.aggregate_node("life", {"mortality": 100.0, "longevity": 50.0}, agg.LIFE_ORDER, agg.LIFE_CORRELATION)
    assert node.value == pytest.approx(100.0, rel=1e-15)
    assert node.undiversified == 150.0
    assert node.diversification == pytest.approx(-50.0)


def test_zero_submodule_changes_nothing_and_bscr_by_hand():
    base = agg.aggregate_node("bscr", {"market": 30.0, "default": 10.0, "life": 40.0},
                              agg.BSCR_ORDER, agg.BSCR_CORRELATION)
    with_zero = agg.aggregate_node("bscr", {"market": 30.0, "default": 10.0, "life": 40.0, "health": 0.0},
                                   agg.BSCR_ORDER, agg.BSCR_CORRELATION)
    # 900 + 100 + 1600 + 2·0.25·(30·10 + 30·40 + 10·40) = 3550
    assert base.value == pytest.approx(math.sqrt(3550.0), rel=1e-15)
    assert with_zero.value == base.value
    tree = base.to_dict()
    assert [c["name"] for c in tree["children"]] == list(agg.BSCR_ORDER)
    assert tree["diversification"] == pytest.approx(math.sqrt(3550.0) - 80.0)


def test_lapse_and_expense_correlation_by_hand():
    # expense 30, lapse 40, correlation 0.5: sqrt(900 + 1600 + 1200) = sqrt(3700)
    v = agg.aggregate_node("life", {"expense": 30.0, "lapse": 40.0}, agg.LIFE_ORDER, agg.LIFE_CORRELATION)
    assert v.value == pytest.approx(math.sqrt(3700.0), rel=1e-15)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e9), min_size=7, max_size=7))
def test_aggregate_bounded_by_sum_and_by_largest_with_nonnegative_rows(values):
    # for a PSD matrix sqrt(vCv) <= Σ v (|C_ij| <= 1); with non-negative correlations it is >= max v
    total = agg.aggregate(values, agg.LIFE_CORRELATION)
    assert total <= math.fsum(values) * (1 + 1e-12) + 1e-6
    bscr = agg.aggregate(values[:5], agg.BSCR_CORRELATION)
    assert bscr >= max(values[:5]) * (1 - 1e-12) - 1e-6


@pytest.mark.parametrize("matrix, needle", [
    ([[1, 0.3], [0.2, 1]], "!="),
    ([[0.9, 0.0], [0.0, 1.0]], "must be 1"),
    ([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]], "positive semi-definite"),
    ([[1, 0], [0, 1]], "must be 7x7"),
])
def test_bad_matrix_problem_is_named(matrix, needle):
    problems = agg.correlation_problems(matrix, "correlation_life", 7)
    assert problems and any(needle in p for p in problems)
    assert all("correlation_life" in p for p in problems)


def test_interest_shock_table_published_points_and_interpolation():
    up, down = sf.interest_shock_factors([0.5, 1, 5, 10, 20, 55, 90, 120])
    np.testing.assert_allclose(up, [0.70, 0.70, 0.55, 0.42, 0.26, 0.23, 0.20, 0.20])
    np.testing.assert_allclose(down, [0.75, 0.75, 0.46, 0.31, 0.29, 0.245, 0.20, 0.20])


def test_shocked_curves_minimum_up_and_no_down_on_negative_rates():
    r = np.array([-0.005, 0.0, 0.02, 0.03])
    up, down = sf.spot_annual_shocked(r)
    # maturities 1..4: up 70 %, 70 %, 64 %, 59 %, at least +1 point
    np.testing.assert_allclose(up, [0.005, 0.01, max(0.02 * 1.64, 0.03), 0.03 * 1.59])
    np.testing.assert_allclose(down, [-0.005, 0.0, 0.02 * (1 - 0.56), 0.03 * (1 - 0.50)])


def test_equity_property_currency_by_hand():
    # L1 = 100·0.39 = 39, L2 = 200·0.49 = 98, sqrt(39² + 2·0.75·39·98 + 98²)
    assert sf.scr_equity(100.0, 200.0) == pytest.approx(math.sqrt(39 ** 2 + 1.5 * 39 * 98 + 98 ** 2))
    assert sf.scr_equity(100.0, 0.0, symmetric_adjustment=-0.02) == pytest.approx(37.0)
    assert sf.scr_property(80.0) == 20.0
    assert sf.scr_currency(-40.0) == 10.0


def test_market_up_down_rule_picks_larger_aggregation():
    sub = {"equity": 100.0}
    node_up, binding = sf.scr_market(sub, interest_up=50.0, interest_down=10.0)
    # up: A = 0 → sqrt(50² + 100²); down: A = 0.5 → sqrt(10² + 100² + 2·0.5·10·100)
    assert binding == "up"
    assert node_up.value == pytest.approx(math.sqrt(12500.0))
    node_dn, binding = sf.scr_market(sub, interest_up=0.0, interest_down=40.0)
    assert binding == "down"
    assert node_dn.value == pytest.approx(math.sqrt(1600 + 10000 + 4000))


def test_operational_cap_and_unit_linked():
    # Op = max(0.04·1000, 0.0045·20000) = 90, capped by 0.3·BSCR
    assert sf.scr_operational(1000.0, 1000.0, 20000.0) == pytest.approx(90.0)
    assert sf.scr_operational(200.0, 1000.0, 20000.0, expenses_unit_linked=40.0) == pytest.approx(60.0 + 10.0)


@pytest.mark.parametrize("linear, floor, mcr, binding", [
    (300.0, 0.0, 300.0, "linear"),
    (100.0, 0.0, 250.0, "corridor_low"),
    (900.0, 0.0, 450.0, "corridor_high"),
    (300.0, 400.0, 400.0, "floor"),
])
def test_mcr_corridor_and_floor(linear, floor, mcr, binding):
    out = sf.mcr(1000.0, linear, floor)
    assert out["mcr"] == pytest.approx(mcr)
    assert out["binding"] == binding


def test_mcr_linear_life_by_hand():
    assert sf.mcr_linear_life(1000.0, 100000.0) == pytest.approx(21.0 + 70.0)
    assert sf.mcr_linear_life(-1000.0, 100000.0) == pytest.approx(70.0)


def test_risk_margin_hand_case():
    # SCR0 = 100, BEL run-off 1000, 600, 200 → SCR 100, 60, 20; flat 2 %: DF 1/1.02^(t+1)
    df = 1.02 ** -np.arange(1, 4, dtype=float)
    out = sf.risk_margin(100.0, [1000.0, 600.0, 200.0], df, cost_of_capital=0.06)
    expected = 0.06 * (100 / 1.02 + 60 / 1.02 ** 2 + 20 / 1.02 ** 3)
    assert out["risk_margin"] == pytest.approx(expected, rel=1e-14)
    assert out["scr_projection"] == pytest.approx([100.0, 60.0, 20.0])
    with pytest.raises(ValueError):
        sf.risk_margin(100.0, [-5.0, 1.0], df[:2])


def test_pv_future_at_year_start_by_hand():
    x = np.ones(24)
    df = 1.05 ** (-np.arange(24) / 12.0)
    v = sf.pv_future_at_year_start(x, df)
    assert v[0] == pytest.approx(df.sum())
    assert v[1] == pytest.approx(df[12:].sum() / df[12])
