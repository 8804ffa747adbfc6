"""Pure, streaming parse + validate + canonical COPY encoding of portfolio uploads.

No database here: the caller stores the upload, runs :func:`ingest` (or the
pieces: :func:`iter_batches`, :class:`Validator`, :func:`encode_copy_csv`,
:class:`ContentHasher`) and COPYs the bytes into ``kind.table``.
"""
from workers.ingest.copyfmt import ContentHasher, encode_copy_csv
from workers.ingest.errors import UploadFormatError
from workers.ingest.formats import detect_format, open_upload
from workers.ingest.pipeline import IngestResult, ingest
from workers.ingest.readers import iter_batches
from workers.ingest.validate import Validator, to_frame, validate_records

__all__ = [
    "ContentHasher", "IngestResult", "UploadFormatError", "Validator", "detect_format", "encode_copy_csv",
    "ingest", "iter_batches", "open_upload", "to_frame", "validate_records",
]
