"""What the preview pane shows, fetched in a worker thread (no Textual here).

Only the first PREVIEW_BYTES of a file are read, decompressed by core, so a
1 GiB file previews as fast as a small one.
"""

from __future__ import annotations

import codecs
import mimetypes
import posixpath
from dataclasses import dataclass, field

from ..core import Attr, FileSystem, FsError
from . import fmt

PREVIEW_BYTES = 64 * 1024
HEX_BYTES = 16 * 1024
SUMMARY_PAGE = 1000


@dataclass
class PreviewData:
    """One preview: ``kind`` picks the renderer (text, binary, dir, symlink, special)."""

    kind: str
    path: str
    attr: Attr
    headline: str
    text: str = ""
    data: bytes = b""
    facts: list[tuple[str, str]] = field(default_factory=list)


def looks_binary(sample: bytes) -> bool:
    """NUL bytes or invalid UTF-8 (ignoring a character cut at the end) mean binary."""
    if b"\0" in sample[:8192]:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return True
    return False


HEX_MIN_ROW, HEX_MAX_ROW = 4, 32  # bytes per hex row, whatever the width


def hex_line_width(per_row: int) -> int:
    """Cells of one hexdump line of ``per_row`` bytes: offset, hex, ASCII."""
    return 8 + 2 + per_row * 3 + 2 + per_row


def hex_bytes_per_row(cells: int) -> int:
    """The most bytes per row (a multiple of 4) whose lines fit in ``cells``."""
    per_row = (cells - 12) // 4 // 4 * 4
    return max(HEX_MIN_ROW, min(HEX_MAX_ROW, per_row))


def hexdump(data: bytes, offset: int = 0, width: int = 16) -> str:
    """Classic offset / hex / ASCII lines."""
    lines = []
    for start in range(0, len(data), width):
        chunk = data[start:start + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        half = width // 2 * 3
        if width >= 16 and len(chunk) > width // 2:  # a gap between the halves of a wide row
            hexes = hexes[:half] + " " + hexes[half:]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset + start:08x}  {hexes:<{width * 3}}  {text}")
    return "\n".join(lines)


def portion(shown: int, total: int) -> str:
    if shown >= total:
        return fmt.size(total)
    return f"first {fmt.size(shown)} of {fmt.size(total)}"


def load_preview(fs: FileSystem, attr: Attr, path: str) -> PreviewData:
    """Gather everything the preview pane needs for one inode."""
    name = posixpath.basename(path) or "/"
    if attr.is_dir:
        return _directory(fs, attr, path)
    if attr.is_symlink:
        target = fmt.decode_name(fs.readlink(attr.ino))
        where = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        try:
            hit = fs.resolve(where)
            status = f"{fmt.kind(hit.mode)}, inode {hit.ino}"
        except FsError:
            status = "dangling (target does not exist)"
        return PreviewData("symlink", path, attr, f"{name} -> {target}",
                           facts=[("target", target), ("resolves to", status)])
    if not attr.is_reg:
        return PreviewData("special", path, attr, f"{name}: {fmt.kind(attr.mode)}",
                           facts=[("type", fmt.kind(attr.mode)), ("rdev", str(attr.rdev))])
    if attr.size == 0:
        return PreviewData("text", path, attr, f"{name}: empty file", text="")
    data = fs.read(attr.ino, 0, min(attr.size, PREVIEW_BYTES))
    mime = mimetypes.guess_type(name)[0] or ""
    if looks_binary(data):
        shown = data[:HEX_BYTES]
        head = f"{name}: binary{' ' + mime if mime else ''}, {portion(len(shown), attr.size)}"
        return PreviewData("binary", path, attr, head, data=shown)
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=False)
    head = f"{name}: text{' ' + mime if mime else ''}, {portion(len(data), attr.size)}"
    return PreviewData("text", path, attr, head, text=text)


def _directory(fs: FileSystem, attr: Attr, path: str) -> PreviewData:
    total = fs.count_entries(attr.ino)
    counts: dict[str, int] = {}
    sizes = 0
    sample: list[tuple[bytes, Attr]] = []
    for page in fs.readdir_plus(attr.ino, page_size=SUMMARY_PAGE):
        sample.extend(page)
        if len(sample) >= SUMMARY_PAGE:
            break
    for _, child in sample:
        counts[fmt.kind(child.mode)] = counts.get(fmt.kind(child.mode), 0) + 1
        sizes += child.size if child.is_reg else 0
    scope = "" if len(sample) >= total else f" (first {len(sample):,} of {total:,})"
    facts = [("entries", f"{total:,}")]
    facts += [(f"{k}s" if not k.endswith("y") else k[:-1] + "ies", f"{v:,}")
              for k, v in sorted(counts.items())]
    facts.append((f"file bytes{scope}", fmt.size(sizes)))
    largest = sorted((c for c in sample if c[1].is_reg), key=lambda c: -c[1].size)[:5]
    if largest:
        facts.append(("largest", ", ".join(
            f"{fmt.decode_name(n)} ({fmt.size(a.size)})" for n, a in largest)))
    head = f"{posixpath.basename(path) or path}: directory, {total:,} entries"
    return PreviewData("dir", path, attr, head, facts=facts)
