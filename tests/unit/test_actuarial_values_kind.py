"""Kind ``actuarial_values`` run through an in-memory context (life.md B, D)."""
import json

import marshmallow as ma
import numpy as np
import pytest

from workers.kinds import actuarial_values as av
from workers.kinds import registry
from workers.kinds.base import InputError

ILT = {"law": "makeham", "A": 0.0007, "B": 0.00005, "c": 1.0964782, "start_age": 13, "terminal_age": 130}


class Ctx:
    """Implements the PlanContext / ShardContext / FinalizeContext protocols in memory."""

    def __init__(self, params):
        self.params = av.ActuarialValuesParams().load(params)
        self.seed, self.n_items, self.default_shard_size = None, 0, 1000
        self.job_id, self.shard_no, self.portfolio_id = "job-1", 0, None
        self.partials = []

    def load_items(self, start, stop):
        raise AssertionError("actuarial_values reads no input")

    def cancelled(self):
        return False


def _run(params):
    ctx = Ctx(params)
    shards = av.plan(ctx)
    outs = []
    for spec in shards:
        ctx.spec = spec
        outs.append(av.run_shard(ctx))
    ctx.partials = [o.partial for o in outs]
    return shards, outs, av.finalize(ctx)


def test_registered_with_table_columns():
    kind = registry.get("actuarial_values")
    assert kind is av.KIND and kind.input_kind is None and not kind.input_required
    assert kind.result_table.column_names == ["age", "qx", "lx", "dx", "Dx", "Nx", "Cx", "Mx", "A", "a_due"]


def test_illustrative_life_table_rows_and_summary():
    shards, outs, summary = _run({"life_table": ILT, "interest": 0.06})
    assert len(shards) == 1
    rows = outs[0].rows
    assert list(rows.columns) == av.RESULT_TABLE.column_names
    assert rows["age"].tolist() == list(range(13, 131))
    r40 = rows.set_index("age").loc[40]
    # Bowers et al. 2nd ed. Appendix 2A (ILT, 6 %): ä_40 = 14.8166, 1000 A_40 = 161.32, 1000 q_40 = 2.78.
    assert r40["a_due"] == pytest.approx(14.8166, abs=0.5e-4)
    assert 1000 * r40["A"] == pytest.approx(161.32, abs=0.005)
    assert 1000 * r40["qx"] == pytest.approx(2.78, abs=0.005)
    np.testing.assert_allclose(rows["A"] + 0.06 / 1.06 * rows["a_due"], 1.0, atol=1e-12)
    assert rows["lx"].iloc[0] == 100_000.0 and rows["qx"].iloc[-1] == 1.0
    json.dumps(summary, allow_nan=False)
    assert summary["interest"] == 0.06 and summary["life_table"]["law"] == "makeham"
    assert summary["headline"]["60"]["a_due"] == pytest.approx(11.1454, abs=0.5e-4)


def test_qx_input_and_age_filter():
    _, outs, summary = _run({"life_table": {"ages": [60, 61, 62], "qx": [0.1, 0.2, 0.5]}, "interest": 0.05,
                             "ages": [61, 70]})
    rows = outs[0].rows
    assert rows["age"].tolist() == [61, 62]
    v = 1 / 1.05
    # Hand computation: A_61 = v q_61 + v^2 p_61 (q = 1 at the closing age).
    assert rows["A"].iloc[0] == pytest.approx(0.2 * v + 0.8 * v ** 2, rel=1e-14)
    assert rows["a_due"].iloc[1] == pytest.approx(1.0, rel=1e-14)
    assert summary["life_table"] == {"law": None, "ages": [60, 62]} and summary["n_rows"] == 2


def test_unreached_ages_have_undefined_values_not_warnings():
    _, outs, _ = _run({"life_table": {"ages": [0, 1, 2], "qx": [1.0, 0.5, 0.5]}, "interest": 0.03})
    rows = outs[0].rows
    assert rows["A"].iloc[0] == pytest.approx(1 / 1.03) and np.isnan(rows["A"].iloc[1])


@pytest.mark.parametrize("params, field", [
    ({"life_table": {"law": "makeham", "B": 1e-5, "c": 1.1, "start_age": 20, "terminal_age": 120},
      "interest": 0.03}, "life_table"),
    ({"life_table": {"ages": [1, 3], "qx": [0.1, 0.2]}, "interest": 0.03}, "life_table"),
    ({"life_table": {"ages": [1, 2], "qx": [0.1]}, "interest": 0.03}, "life_table"),
    ({"life_table": {"ages": [1, 2], "qx": [0.1, 1.5]}, "interest": 0.03}, "life_table"),
    ({"life_table": ILT, "interest": -1.0}, "interest"),
    ({"life_table": ILT}, "interest"),
    ({"life_table": ILT, "interest": 0.03, "ages": [80, 20]}, "ages"),
    ({"life_table": {**ILT, "terminal_age": 10}, "interest": 0.03}, "life_table"),
])
def test_bad_params_rejected_with_field(params, field):
    with pytest.raises(ma.ValidationError) as err:
        av.ActuarialValuesParams().load(params)
    assert field in err.value.messages


def test_age_filter_outside_table_is_input_error():
    with pytest.raises(InputError):
        _run({"life_table": {"ages": [60, 61], "qx": [0.1, 0.2]}, "interest": 0.05, "ages": [10, 20]})
