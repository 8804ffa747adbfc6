"""Life tables and commutation functions against published tables and identities (life.md B)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.engines.life.tables import LifeTable, commutation, premium_net_annual, q_makeham, reserve_prospective

# Illustrative Life Table: Bowers, Gerber, Hickman, Jones & Nesbitt, *Actuarial Mathematics*,
# 2nd ed. (1997), Appendix 2A: Makeham A = 0.0007, B = 0.00005, c = 10^0.04 from age 13, i = 6 %.
# Columns printed: 1000 q_x (2 dp), ä_x (4 dp), 1000 A_x (2 dp).
ILT = {  # age: (ä_x, 1000 A_x)
    20: (16.5133, 65.28), 30: (15.8561, 102.48), 40: (14.8166, 161.32), 50: (13.2668, 249.05),
    60: (11.1454, 369.13), 70: (8.5693, 514.95), 80: (5.9050, 665.75),
}
ILT_1000Q = {40: 2.78, 50: 5.92, 60: 13.76}

# Standard Ultimate Life Table: Dickson, Hardy & Waters, *Actuarial Mathematics for Life Contingent
# Risks*, 2nd ed. (2013), Appendix D: Makeham A = 0.00022, B = 2.7e-6, c = 1.124, l_20 = 100 000, i = 5 %.
SULT_LX = {30: 99727.3, 40: 99338.3, 50: 98576.4, 60: 96634.1, 70: 91082.4, 80: 75657.2, 90: 41841.1,
           100: 6248.2}  # 1 dp
SULT_VALUES = {  # age: (ä_x 4 dp, A_x 5 dp)
    20: (19.9664, 0.04922), 30: (19.3834, 0.07698), 40: (18.4578, 0.12106), 50: (17.0245, 0.18931),
    60: (14.9041, 0.29028), 70: (12.0083, 0.42818), 80: (8.5484, 0.59293),
}


@pytest.fixture(scope="module")
def ilt():
    return commutation(LifeTable.makeham(0.0007, 0.00005, 10 ** 0.04, 13, 130), 0.06)


@pytest.fixture(scope="module")
def sult():
    table = LifeTable.makeham(0.00022, 2.7e-6, 1.124, 20, 130)
    return table, commutation(table, 0.05)


@pytest.mark.parametrize("age", sorted(ILT))
def test_illustrative_life_table_values(ilt, age):
    a_due, thousand_a = ILT[age]
    assert float(ilt.a_due(age)) == pytest.approx(a_due, abs=0.5e-4 + 1e-9)
    assert 1000 * float(ilt.A_whole(age)) == pytest.approx(thousand_a, abs=0.5e-2 + 1e-9)


@pytest.mark.parametrize("age", sorted(ILT_1000Q))
def test_illustrative_life_table_q(age):
    assert 1000 * q_makeham([age], 0.0007, 0.00005, 10 ** 0.04)[0] == pytest.approx(ILT_1000Q[age], abs=0.005)


def test_standard_ultimate_life_table(sult):
    table, comm = sult
    for age, lx in SULT_LX.items():
        assert table.lx[age - 20] == pytest.approx(lx, abs=0.05 + 1e-9)
    for age, (a_due, a) in SULT_VALUES.items():
        assert float(comm.a_due(age)) == pytest.approx(a_due, abs=0.5e-4 + 1e-9)
        assert float(comm.A_whole(age)) == pytest.approx(a, abs=0.5e-5 + 1e-9)
    assert table.qx[60 - 20] == pytest.approx(0.003398, abs=0.5e-6)
    assert float(comm.E_pure(60, 10)) == pytest.approx(0.57864, abs=0.5e-5)


def test_hand_computed_three_age_table():
    table = LifeTable.from_qx([60, 61, 62], [0.1, 0.2, 0.5])  # last q is closed to 1
    assert table.qx.tolist() == [0.1, 0.2, 1.0]
    assert table.lx.tolist() == pytest.approx([100000.0, 90000.0, 72000.0])
    assert table.dx.tolist() == pytest.approx([10000.0, 18000.0, 72000.0])
    v = 1 / 1.05
    comm = commutation(table, 0.05)
    assert float(comm.A_whole(60)) == pytest.approx(0.1 * v + 0.9 * 0.2 * v ** 2 + 0.72 * v ** 3, rel=1e-14)
    assert float(comm.a_due(60)) == pytest.approx(1 + 0.9 * v + 0.72 * v ** 2, rel=1e-14)
    assert float(comm.A_term(60, 2)) == pytest.approx(0.1 * v + 0.18 * v ** 2, rel=1e-14)
    assert float(comm.E_pure(60, 2)) == pytest.approx(0.72 * v ** 2, rel=1e-14)
    assert float(comm.A_endowment(60, 2)) == pytest.approx(0.1 * v + 0.18 * v ** 2 + 0.72 * v ** 2, rel=1e-14)
    assert float(comm.a_due_temp(60, 2)) == pytest.approx(1 + 0.9 * v, rel=1e-14)
    # Beyond the terminal age nobody survives.
    assert float(comm.E_pure(61, 5)) == 0.0
    assert float(comm.A_term(60, 10)) == pytest.approx(float(comm.A_whole(60)), rel=1e-15)
    assert comm.Dx[0] == pytest.approx(v ** 60 * 100000.0, rel=1e-14)


def test_gompertz_is_makeham_without_a():
    g = LifeTable.gompertz(2.7e-6, 1.124, 20, 120)
    m = LifeTable.makeham(0.0, 2.7e-6, 1.124, 20, 120)
    np.testing.assert_array_equal(g.qx, m.qx)
    assert g.source == "gompertz" and g.qx[-1] == 1.0
    assert g.dx.sum() == pytest.approx(g.lx[0], rel=1e-12)


@pytest.mark.parametrize("ages, qx", [([1, 3], [0.1, 0.2]), ([1, 2], [0.1, 1.2]), ([1, 2], [0.1]), ([], [])])
def test_from_qx_rejects_bad_tables(ages, qx):
    with pytest.raises(ValueError):
        LifeTable.from_qx(ages, qx)


def test_ages_outside_table_rejected(ilt):
    with pytest.raises(ValueError):
        ilt.a_due(12)
    with pytest.raises(ValueError):
        ilt.A_whole(131)


qx_tables = st.lists(st.floats(0.0, 0.6), min_size=3, max_size=40)
rates = st.floats(-0.02, 0.15)


@settings(max_examples=60, deadline=None)
@given(qx=qx_tables, i=rates, data=st.data())
def test_assurance_annuity_identities(qx, i, data):
    table = LifeTable.from_qx(np.arange(30, 30 + len(qx)), qx)
    comm = commutation(table, i)
    d = i / (1 + i)
    x = data.draw(st.integers(30, 30 + len(qx) - 1))
    n = data.draw(st.integers(0, len(qx) + 2))
    if table.lx[x - 30] == 0.0:
        return
    assert float(comm.A_whole(x) + d * comm.a_due(x)) == pytest.approx(1.0, abs=1e-12)
    assert float(comm.A_endowment(x, n) + d * comm.a_due_temp(x, n)) == pytest.approx(1.0, abs=1e-12)
    # Split at duration n: A_x = A1_{x:n} + nE_x A_{x+n} (when x + n is reachable).
    if x + n <= table.max_age and table.lx[x + n - 30] > 0:
        e = float(comm.E_pure(x, n))
        assert float(comm.A_whole(x)) == pytest.approx(
            float(comm.A_term(x, n)) + e * float(comm.A_whole(x + n)), abs=1e-12)
        assert float(comm.a_due(x)) == pytest.approx(
            float(comm.a_due_temp(x, n)) + e * float(comm.a_due(x + n)), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(qx=st.lists(st.floats(0.0005, 0.4), min_size=12, max_size=30), i=st.floats(0.0, 0.12),
       kind=st.sampled_from(["whole_life", "term", "endowment"]), n=st.integers(1, 10),
       sa=st.floats(1.0, 1e6))
def test_reserve_recursion_and_zero_at_issue(qx, i, kind, n, sa):
    ages = np.arange(40, 40 + len(qx))
    comm = commutation(LifeTable.from_qx(ages, qx), i)
    x = 40
    prem = float(premium_net_annual(comm, x, n, sa, kind)[0])
    last = n if kind != "whole_life" else len(qx) - 1
    reserves = [float(reserve_prospective(comm, x, n, k, sa, kind)[0]) for k in range(last)]
    assert reserves[0] == pytest.approx(0.0, abs=1e-9 * sa)
    q = np.asarray(qx, dtype=float)
    for k in range(last - 1):
        lhs = (reserves[k] + prem) * (1 + i)
        rhs = q[k] * sa + (1 - q[k]) * reserves[k + 1]
        assert lhs == pytest.approx(rhs, abs=1e-9 * sa)
    if kind in ("term", "endowment"):
        # Final year: the maturity value is 0 (term) or SA (endowment).
        final = sa if kind == "endowment" else 0.0
        k = n - 1
        assert (reserves[k] + prem) * (1 + i) == pytest.approx(q[k] * sa + (1 - q[k]) * final, abs=1e-9 * sa)


def test_whole_life_reserve_from_published_annuities(ilt):
    # 20V_40 = 1 - ä_60 / ä_40 with the ILT's printed annuities (Bowers et al. 2nd ed. §8.3).
    expected = 1 - 11.1454 / 14.8166
    got = float(reserve_prospective(ilt, 40, 0, 20, 1.0, "whole_life")[0])
    assert got == pytest.approx(expected, abs=1e-5)
    assert float(premium_net_annual(ilt, 40, 0, 1000.0, "whole_life")[0]) == pytest.approx(
        161.32 / 14.8166, abs=1e-3)


def test_unknown_policy_type_rejected(ilt):
    with pytest.raises(ValueError, match="unknown policy_type"):
        premium_net_annual(ilt, 40, 10, 1.0, "unit_linked")


def test_commutation_rejects_bad_rate():
    with pytest.raises(ValueError):
        commutation(LifeTable.from_qx([0, 1], [0.1, 1.0]), -1.0)
    assert math.isfinite(commutation(LifeTable.from_qx([0, 1], [0.1, 1.0]), 0.0).Nx[0])
