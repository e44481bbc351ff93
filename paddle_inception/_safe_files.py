"""One rule for every path the package reads (issue 30): a regular file after resolving symlinks
(or a directory where one is expected), opened so that the open itself cannot block, read with
a byte bound, gzip members decompressed with a bound.

A FIFO with no writer blocks a plain `open()` forever and `/dev/zero` never ends a `read()`; here
the file is opened with O_NONBLOCK and its type checked on the open descriptor (`fstat`, so a file
swapped after a `stat` is still caught) before a byte is read. Existing devices, FIFOs and sockets
are reported as "not a regular file", never as "not found".

No imports from the package (rank 0).
"""

from __future__ import annotations

import fcntl
import gzip
import os
import stat
import zlib

__all__ = [
    "NotRegularFileError",
    "FileTooLargeError",
    "file_kind",
    "check_file",
    "check_dir",
    "open_regular",
    "read_bounded",
    "gunzip_bounded",
    "is_regular_file",
    "file_problem",
    "human_bytes",
    "printable",
    "MAX_TEXT_BYTES",
    "MAX_JSON_BYTES",
    "MAX_IMAGE_BYTES",
]

#: list files, class maps (a 1,000,000-line list is ~40 MB)
MAX_TEXT_BYTES = 256 * 2**20
#: JSON side files (state.json, _meta.json, an exported program's .json)
MAX_JSON_BYTES = 256 * 2**20
#: one encoded image file (the decoder's pixel bound applies after this)
MAX_IMAGE_BYTES = 256 * 2**20


class NotRegularFileError(ValueError):
    """The path exists but is a FIFO, a device, a socket or a directory where a file is read (or
    not a directory where one is expected). A ValueError: the tools report it in one line."""


class FileTooLargeError(ValueError):
    """A file (or a gzip member once decompressed) is over the byte bound of what it should be."""


def human_bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


def file_kind(mode: int) -> str:
    """'a FIFO', 'a character device', ... for an st_mode."""
    for test, name in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _label(what: str | None) -> str:
    return f"{what}: " if what else ""


def printable(path) -> str:
    """A path for a message: undecodable bytes of a non-UTF-8 file name (surrogate escapes)
    as backslash escapes, so that printing or logging it never raises UnicodeEncodeError."""
    text = os.fsdecode(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _not_regular(path, mode: int, what: str | None, expected: str = "a regular file"):
    return NotRegularFileError(
        f"{_label(what)}{printable(path)} is {file_kind(mode)}, not {expected}"
        + (f" ({_resolved(path)})" if os.path.islink(path) else "")
    )


def _resolved(path) -> str:
    return f"a symlink to {printable(os.path.realpath(path))}"


def check_file(path, what: str | None = None) -> os.stat_result:
    """stat `path` following symlinks: FileNotFoundError if nothing is there (a dangling link
    included), NotRegularFileError if it is not a regular file. Opens nothing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{_label(what)}file not found: {printable(path)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode, what)
    return st


def check_dir(path, what: str | None = None) -> os.stat_result:
    """`check_file` for a directory."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{_label(what)}directory not found: {printable(path)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise _not_regular(path, st.st_mode, what, "a directory")
    return st


def is_regular_file(path) -> bool:
    """os.path.isfile without raising (a FIFO, a device, a dangling link: False)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def file_problem(path) -> str | None:
    """None for a regular file (symlinks resolved), else what is wrong in a few words: 'file
    not found', 'a FIFO (named pipe), not a regular file', ... (for per-item error lists)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as e:
        return f"cannot access ({e.strerror or type(e).__name__})"
    except ValueError:  # an embedded NUL
        return "not a valid path"
    if stat.S_ISREG(st.st_mode):
        return None
    return f"{file_kind(st.st_mode)}, not a regular file"


def open_regular(path, what: str | None = None):
    """A binary file object for a regular file, opened without blocking (O_NONBLOCK, then the
    type checked on the descriptor, then blocking reads restored). Missing: FileNotFoundError;
    a FIFO/device/socket/directory: NotRegularFileError; other OSErrors (EACCES...) propagate."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"{_label(what)}file not found: {printable(path)}") from None
    except IsADirectoryError:
        raise NotRegularFileError(
            f"{_label(what)}{printable(path)} is a directory, not a regular file"
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode, what)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path, limit: int, what: str | None = None, kind: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes (FileTooLargeError above it: the
    size is checked on the descriptor first, and at most limit + 1 bytes are ever read)."""
    with open_regular(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise _too_large(path, limit, what, kind, size)
        data = f.read(limit + 1)
    if len(data) > limit:  # grew while read
        raise _too_large(path, limit, what, kind, len(data))
    return data


def _too_large(path, limit, what, kind, size=None) -> FileTooLargeError:
    got = f" ({human_bytes(size)})" if size is not None else ""
    return FileTooLargeError(
        f"{_label(what)}{printable(path)} is larger than {human_bytes(limit)}{got}, the bound for "
        f"{kind}s"
    )


def gunzip_bounded(path, limit: int, what: str | None = None, kind: str = "file") -> bytes:
    """Decompress a gzip file (all members) to at most `limit` bytes: a small file that expands
    to gigabytes (a gzip bomb) is a FileTooLargeError after limit + 1 bytes, not a MemoryError.
    A corrupt or truncated stream is a ValueError naming the file."""
    with open_regular(path, what) as raw:
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as g:
                data = g.read(limit + 1)  # GzipFile.read(n) decompresses at most n bytes
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(
                f"{_label(what)}{printable(path)}: corrupt or truncated gzip file "
                f"({type(e).__name__}: {e})"
            ) from None
    if len(data) > limit:
        raise FileTooLargeError(
            f"{_label(what)}{printable(path)} decompresses to more than {human_bytes(limit)}, the "
            f"bound for {kind}s"
        )
    return data
