"""marshmallow schemas of the HTTP API (request validation and the OpenAPI document)."""
from marshmallow import Schema, fields, validate


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw(),
                         metadata={"description": "field path or row → messages"})
    request_id = fields.String()


class JobRequestSchema(Schema):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64))
    params = fields.Dict(load_default=dict)
    portfolio_id = fields.String(load_default=None, allow_none=True)
    portfolio_version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    inputs = fields.Dict(load_default=None, allow_none=True)
    seed = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=2**63 - 1))


class ProgressSchema(Schema):
    shards_done = fields.Integer()
    shards_total = fields.Integer()
    percent = fields.Float()


class JobSchema(Schema):
    id = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"enum": ["queued", "running", "succeeded", "failed", "canceling", "canceled"]})
    progress = fields.Nested(ProgressSchema)
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    error = fields.Dict(allow_none=True)
    input_sha256 = fields.String()
    result_sha256 = fields.String(allow_none=True)
    seed = fields.Integer(allow_none=True)
    engine_version = fields.String()
    portfolio_id = fields.String(allow_none=True)
    portfolio_version_id = fields.String(allow_none=True)
    rerun_of = fields.String(allow_none=True)
    rerun_hash_matched = fields.Boolean(allow_none=True)
    links = fields.Dict()


class JobListSchema(Schema):
    items = fields.List(fields.Nested(JobSchema))
    next_cursor = fields.String(allow_none=True)


class JobListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(
        ["queued", "running", "succeeded", "failed", "canceling", "canceled"]))
    kind = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None)


class RowsArgs(Schema):
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=50_000))
    cursor = fields.String(load_default=None)
    format = fields.String(load_default=None, validate=validate.OneOf(["json", "csv", "parquet"]))


class PortfolioCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["loans", "policies", "mortality_data"]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ResourceCreateSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(
        ["mortality_basis", "lapse", "discount_curve", "expense_set"]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    content = fields.Dict(required=True)


class AuditArgs(Schema):
    entity_id = fields.String(load_default=None)
    since = fields.DateTime(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(load_default=None)
