"""The one exception type for file-level upload problems."""
from __future__ import annotations


class UploadFormatError(Exception):
    """The uploaded file cannot be read as a table at all.

    Row-level problems (a bad cell, a duplicate key) are not raised: they go
    into :meth:`workers.ingest.validate.Validator.report`. This error is for the
    file itself: empty, over the size limit, undecodable, wrong delimiter,
    ragged rows, several XLSX sheets, Parquet columns of the wrong type.

    Parameters
    ----------
    message : str
        A sentence the uploader can act on.
    row : int, optional
        1-based data row number (first data row = 1; 0 = the header).
    column : str, optional
        The column header as written in the file.
    """

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column

    def to_dict(self) -> dict:
        return {"message": self.message, "row": self.row, "column": self.column}
