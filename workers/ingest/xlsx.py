"""A streaming XLSX sheet reader that gives the same cell values as openpyxl's read-only mode, fast.

An XLSX file is a zip of XML parts. The workbook part lists the sheets, its
relationships part maps them to worksheet parts, ``xl/sharedStrings.xml`` holds
the shared string table and ``xl/styles.xml`` tells which cell styles are dates.
The worksheet part (hundreds of MB for a million rows) is never read whole: it is
decompressed in chunks cut at row ends and each chunk is scanned with regular
expressions for the plain cell forms every common writer produces
(``<c r="B2" s="1" t="s"><v>3</v></c>``, inline strings, cached formula values).
A chunk holding anything else (rich inline text, comments, CDATA, unusual
attributes...) is parsed with the standard library's expat parser instead, and a
worksheet with namespace prefixes or a non-UTF-8 encoding is parsed with expat
throughout; both paths give the same rows.

Values follow openpyxl (``load_workbook(read_only=True, data_only=True)``,
``iter_rows(values_only=True)``): numbers are ``int`` unless their text has a
``.``/``e``/``E`` (then ``float``), numbers in a date/time style become
``datetime``/``time``/``timedelta`` (1900 or 1904 epoch), ``t="b"`` booleans,
``t="d"`` ISO dates, errors (``#N/A``) and formula strings text, the cached value
of formulas. Rows numbered below an earlier row are dropped as openpyxl does. One
deliberate difference: a stale ``<dimension>`` element does not truncate the data.
"""
from __future__ import annotations

import io
import operator
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator

from workers.ingest.errors import UploadFormatError

_CHUNK = 4 << 20  # compressed-stream read size; text chunks are cut at row ends

# One cell in the plain forms: groups = column letters, style, type, <v> text, inline <t> text.
_CELL = re.compile(
    r'<c(?: r="([A-Z]{1,3})[0-9]+")?(?: s="([0-9]+)")?(?: t="([a-zA-Z]+)")?\s*'
    r'(?:/>|>(?:<f>[^<]*</f>|<f\s[^>]*?/>|<f\s[^>]*>[^<]*</f>)?'
    r'(?:<v>([^<]*)</v>|<v/>|<is>(?:<t>|<t xml:space="preserve">)([^<]*)</t></is>)?</c>)')
_ROW_TAG = re.compile(r"<row\b([^>]*?)\s*/?>")
_ROW_R = re.compile(r'\sr\s*=\s*["\']([^"\']*)["\']')
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_COLREF = re.compile(r"([A-Za-z]{1,3})([0-9]*)$")
_EOL = re.compile(r"\r\n?")

_RELS_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _entity(m: re.Match) -> str:
    e = m.group(1)
    if e[0] == "#":
        return chr(int(e[2:], 16) if e[1] in "xX" else int(e[1:]))
    return _ENTITIES[e]


def _unescape(text: str) -> str:
    return _ENTITY.sub(_entity, text) if "&" in text else text


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_COLS: dict[str, int] = {}


def col_index(letters: str) -> int:
    """0-based column index of column letters (``A`` -> 0, ``AA`` -> 26)."""
    i = _COLS.get(letters)
    if i is None:
        i = 0
        for ch in letters.upper():
            i = i * 26 + ord(ch) - 64
        i -= 1
        _COLS[letters] = i
    return i


def col_letters(index: int) -> str:
    """Column letters of a 0-based column index (inverse of :func:`col_index`)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _cast_number(v: str):
    return float(v) if ("." in v or "e" in v or "E" in v) else int(v)


class Workbook:
    """The parts of an XLSX zip needed to read one sheet's values."""

    def __init__(self, fileobj):
        try:
            self.zip = zipfile.ZipFile(fileobj)
            self._read_workbook()
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, ET.ParseError) as exc:
            raise UploadFormatError(f"not a readable XLSX workbook: {exc}") from None
        self._sst: list[str] | None = None
        self._styles = None

    def close(self) -> None:
        self.zip.close()

    def _rels(self, part: str) -> dict[str, str]:
        folder, name = posixpath.split(part)
        path = posixpath.join(folder, "_rels", name + ".rels")
        try:
            root = ET.fromstring(self.zip.read(path))
        except KeyError:
            return {}
        out = {}
        for rel in root:
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External":
                continue
            target = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            out[rel.get("Id")] = (target, rel.get("Type", ""))
        return out

    def _read_workbook(self) -> None:
        part = "xl/workbook.xml"
        for target, rtype in self._rels("").values() if "_rels/.rels" in self.zip.namelist() else ():
            if rtype.endswith("/officeDocument"):
                part = target
        root = ET.fromstring(self.zip.read(part))
        rels = self._rels(part)
        self.date1904 = False
        self.sheets: dict[str, str] = {}
        for el in root:
            name = _local(el.tag)
            if name == "workbookPr":
                self.date1904 = el.get("date1904", "").lower() in ("1", "true")
            elif name == "sheets":
                for sh in el:
                    rid = sh.get(f"{{{_RELS_NS}}}id") or next(
                        (v for k, v in sh.attrib.items() if _local(k) == "id"), None)
                    target = rels.get(rid, ("", ""))[0]
                    self.sheets[sh.get("name")] = target
        self._part = part
        self._all_rels = rels

    @property
    def sheetnames(self) -> list[str]:
        return list(self.sheets)

    def _part_of_type(self, suffix: str, default: str) -> str:
        for target, rtype in self._all_rels.values():
            if rtype.endswith(suffix):
                return target
        return default

    def shared_strings(self) -> list[str]:
        """The shared string table, as openpyxl reads it (runs joined, ``x005F_`` removed)."""
        if self._sst is None:
            path = self._part_of_type("/sharedStrings", "xl/sharedStrings.xml")
            strings: list[str] = []
            try:
                src = self.zip.open(path)
            except KeyError:
                self._sst = strings
                return strings
            try:
                with src:
                    for _, el in ET.iterparse(src):
                        if _local(el.tag) == "si":
                            strings.append(_si_text(el).replace("x005F_", ""))
                            el.clear()
            except ET.ParseError as exc:
                raise UploadFormatError(f"the shared strings part cannot be parsed: {exc}") from None
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise UploadFormatError(f"not a readable XLSX workbook: {exc}") from None
            self._sst = strings
        return self._sst

    def date_styles(self) -> tuple[set[int], set[int]]:
        """(style ids with a date/time number format, those among them that are durations)."""
        if self._styles is None:
            path = self._part_of_type("/styles", "xl/styles.xml")
            try:
                src = self.zip.read(path)
            except KeyError:
                self._styles = (set(), set())
            else:
                import warnings

                from openpyxl.styles.stylesheet import Stylesheet
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sheet = Stylesheet.from_tree(ET.fromstring(src))
                self._styles = (set(sheet.date_formats), set(sheet.timedelta_formats))
        return self._styles

    def open_sheet(self, name: str):
        try:
            return self.zip.open(self.sheets[name])
        except KeyError:
            raise UploadFormatError(f"the workbook has no worksheet part for sheet {name!r}") from None


def _si_text(el) -> str:
    """Plain text of a string item (``<si>`` or ``<is>``): its ``<t>`` then the ``<t>`` of its runs."""
    parts = []
    for child in el:
        name = _local(child.tag)
        if name == "t":
            if child.text is not None:
                parts.append(child.text)
        elif name == "r":
            for t in child:
                if _local(t.tag) == "t" and t.text is not None:
                    parts.append(t.text)
    return "".join(parts)


class CellValues:
    """Turns raw cell tuples (letters, style, type, v text, inline text or None) into openpyxl values."""

    def __init__(self, book: Workbook):
        self.book = book
        self.sst = None
        self.dates, self.durations = book.date_styles()
        import datetime as dt
        self.epoch = dt.datetime(1904, 1, 1) if book.date1904 else dt.datetime(1899, 12, 30)

    def value(self, s: str, t: str, v: str | None, inline: str | None, col: int, row: int):
        """The openpyxl value of one cell (``v``/``inline`` already unescaped)."""
        try:
            if t == "inlineStr":
                return inline
            if not v:
                return None
            if t in ("", "n"):
                x = _cast_number(v)
                if s and int(s) in self.dates:
                    from openpyxl.utils.datetime import from_excel
                    try:
                        return from_excel(x, self.epoch, timedelta=int(s) in self.durations)
                    except (OverflowError, ValueError):
                        return "#VALUE!"
                return x
            if t == "s":
                if self.sst is None:
                    self.sst = self.book.shared_strings()
                return self.sst[int(v)]
            if t == "b":
                return bool(int(v))
            if t == "d":
                from openpyxl.utils.datetime import from_ISO8601
                return from_ISO8601(v)
            return v  # str, e (errors) and unknown types keep their text
        except (ValueError, IndexError, TypeError) as exc:
            raise UploadFormatError(f"cell {col_letters(col)}{row}: cannot read value {v!r} (type {t or 'n'}): {exc}",
                                    row=row) from None


def _row_number(attrs: str | None, last: int) -> int:
    if attrs is None:
        return last + 1
    m = _ROW_R.search(attrs)
    if m is None:
        return last + 1
    r = m.group(1)
    try:
        return int(r)
    except ValueError:
        try:
            f = float(r)
        except ValueError:
            f = 0.5
        if f.is_integer():
            return int(f)
        raise UploadFormatError(f"invalid row number {r!r} in the worksheet") from None


def _tree_rows(elements, last: int):
    """Raw rows from parsed ``<row>`` elements: (row number, [(letters, s, t, v, inline)])."""
    for row in elements:
        r = row.get("r")
        last = _row_number(f' r="{r}"' if r is not None else None, last)
        cells = []
        for c in row:
            ref = c.get("r") or ""
            letters = ""
            if ref:
                m = _COLREF.match(ref)
                if m is None:
                    raise UploadFormatError(f"invalid cell reference {ref!r} in row {last}")
                letters = m.group(1).upper()
            v = None
            inline = None
            for child in c:
                name = _local(child.tag)
                if name == "v":
                    v = child.text
                elif name == "is":
                    inline = _si_text(child)
            cells.append((letters, c.get("s", ""), c.get("t", ""), v, inline))
        yield last, cells


def _stream_chunks(src) -> Iterator[tuple[str, object]]:
    """Raw rows of a whole worksheet with expat (any namespace prefix or encoding)."""
    parser = ET.XMLPullParser(events=("start", "end"))
    last = 0
    sheet_data = None
    while True:
        data = src.read(_CHUNK)
        if data:
            parser.feed(data)
        else:
            parser.close()
        done = []
        for event, el in parser.read_events():
            name = _local(el.tag)
            if event == "start":
                if name == "sheetData":
                    sheet_data = el
            elif name == "row":
                done.append(el)
        rows = list(_tree_rows(done, last))
        if rows:
            last = rows[-1][0]
            yield "rows", rows
        if sheet_data is not None and done:
            del sheet_data[:len(done)]  # completed rows come first; forget them
        if not data:
            return


_SHEETDATA = re.compile(r"<sheetData\s*(/?)>")


def _fast_chunks(src, head: bytes) -> Iterator[tuple[str, object]]:
    """Raw rows with regular expressions, falling back to expat for unusual chunks."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    text = decoder.decode(head)
    root = re.search(r"<worksheet\b[^>]*>", text)
    m = _SHEETDATA.search(text)
    while m is None or root is None:
        data = src.read(_CHUNK)
        if not data:
            raise UploadFormatError("the worksheet has no sheetData element")
        text += decoder.decode(data)
        root = re.search(r"<worksheet\b[^>]*>", text)
        m = _SHEETDATA.search(text)
    if m.group(1):  # <sheetData/>
        return
    root_tag = root.group(0)
    text = text[m.end():]
    last = 0
    eof = False
    while True:
        while not eof and len(text) < _CHUNK and "</sheetData>" not in text:
            data = src.read(_CHUNK)
            eof = not data
            text += decoder.decode(data, final=eof)
        end = text.find("</sheetData>")
        if end >= 0:
            chunk, text, stop = text[:end], "", True
        else:
            cut = text.rfind("</row>")
            if cut < 0:
                if eof:
                    raise UploadFormatError("the worksheet XML is truncated (no </sheetData>)")
                data = src.read(_CHUNK)
                eof = not data
                text += decoder.decode(data, final=eof)
                continue
            cut += 6
            chunk, text, stop = text[:cut], text[cut:], False
        if "\r" in chunk:
            chunk = _EOL.sub("\n", chunk)
        done = False
        if "<!" not in chunk and "<?" not in chunk:
            cells = _CELL.findall(chunk)
            if len(cells) == chunk.count("<c"):  # no other element starts with <c (no rich text)
                tags = _ROW_TAG.findall(chunk)
                parts = chunk.split("<row")[1:]
                if len(tags) == len(parts):
                    if "&" in chunk:
                        cells = [(a, s, t, _unescape(v), _unescape(i)) for a, s, t, v, i in cells]
                    counts = list(map(operator.methodcaller("count", "<c"), parts))
                    if any(tags):
                        numbers = []
                        for attrs in tags:
                            last = _row_number(attrs, last) if attrs else last + 1
                            numbers.append(last)
                    else:
                        numbers = range(last + 1, last + 1 + len(tags))
                        last += len(tags)
                    k = counts[0] if counts else 0
                    if k and counts.count(k) == len(counts):
                        yield "grid", (numbers, k, cells)
                    elif counts:
                        rows, at = [], 0
                        for number, n in zip(numbers, counts):
                            rows.append((number, cells[at:at + n]))
                            at += n
                        yield "rows", rows
                    done = True
        if not done:  # unusual content: let expat parse this chunk in the worksheet's namespaces
            try:
                tree = ET.fromstring(root_tag + "<sheetData>" + chunk + "</sheetData></worksheet>")
            except ET.ParseError as exc:
                raise UploadFormatError(f"the worksheet XML cannot be parsed: {exc}") from None
            rows = list(_tree_rows(list(tree[0]), last))
            if rows:
                last = rows[-1][0]
                yield "rows", rows
        if stop:
            return


def raw_chunks(book: Workbook, name: str) -> Iterator[tuple[str, object]]:
    """Raw cells of sheet ``name`` in document order, a chunk of rows at a time.

    Yields ``("rows", [(row number, cells), ...])`` or, for a chunk whose rows all
    have the same number ``k`` of cells, ``("grid", (row numbers, k, cells))`` with
    the cells of all rows in one flat list. Each cell is ``(column letters or "",
    style id text or "", type or "" (a number), v text or None/"", inline text)``;
    the inline text only means something when the type is ``inlineStr``.
    """
    src = book.open_sheet(name)
    with src:
        try:
            head = src.read(_CHUNK)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise UploadFormatError(f"not a readable XLSX workbook: {exc}") from None
        decl = re.match(rb'\s*<\?xml[^>]*encoding\s*=\s*["\']([^"\']+)', head)
        utf8 = decl is None or decl.group(1).lower().replace(b"_", b"-") in (b"utf-8", b"utf8")
        prefixed = re.search(rb"<[A-Za-z_][\w.-]*:(?:worksheet|sheetData|row)\b", head) is not None
        try:
            if utf8 and not prefixed and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
                yield from _fast_chunks(src, head)
            else:
                yield from _stream_chunks(io.BufferedReader(_Prepend(head, src), _CHUNK))
        except UnicodeDecodeError as exc:
            raise UploadFormatError(f"the worksheet XML is not valid UTF-8: {exc}") from None
        except ET.ParseError as exc:
            raise UploadFormatError(f"the worksheet XML cannot be parsed: {exc}") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise UploadFormatError(f"not a readable XLSX workbook: {exc}") from None


def grid_rows(grid) -> list[tuple[int, list]]:
    """The ``("rows", ...)`` form of a ``("grid", ...)`` chunk."""
    numbers, k, cells = grid
    return [(number, cells[i * k:(i + 1) * k]) for i, number in enumerate(numbers)]


def raw_rows(book: Workbook, name: str) -> Iterator[tuple[int, list]]:
    """Raw rows of sheet ``name`` in document order: (row number, cells); see :func:`raw_chunks`."""
    for kind, payload in raw_chunks(book, name):
        yield from (grid_rows(payload) if kind == "grid" else payload)


class _Prepend(io.RawIOBase):
    """A raw stream of ``head`` then the rest of ``src``."""

    def __init__(self, head: bytes, src):
        self.head = head
        self.src = src

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.src.read(len(b))
        b[:len(data)] = data
        return len(data)
