"""Writing files the user asked for, without ever destroying what they own.

One helper writes every output curalog produces (reports, the dashboard, the config, exported
logs, the validator's cache): a regular file (or a new name) is replaced atomically (a temp
file in the same folder, fsynced, renamed over it); anything else is never renamed over: a
named pipe, a character device (``/dev/null``), ``/dev/stdout`` or a terminal is written into
directly, and a symlink is followed so the link stays and its target gets the new content.

``check_output`` is the guard in front of a user-named output path: it refuses the project's
own inputs and database, folders, and an existing file unless the user passed ``--force``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from curalog.errors import ConfigError, shown

Writer = Callable[[BinaryIO], None]  # writes a file's content to the file object it is given


class NotRegularFile(OSError):
    """A named pipe, a device or a socket: curalog never reads one (it would block or never end)."""

    def __init__(self, path: object) -> None:
        super().__init__(errno.EINVAL, "not a regular file (a named pipe, a device or a socket)", path)


_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)


def open_regular(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
    """A read descriptor of the regular file at ``path`` (``NotRegularFile`` for anything else),
    opened non-blocking: a named pipe with no writer cannot hang the caller."""
    fd = os.open(path, _READ_FLAGS, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(os.fspath(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    """What identifies one version of a file without reading it: size, mtime_ns, inode and
    ctime_ns (a file rewritten in place with its mtime restored has a new ctime)."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def read_regular(path: str | os.PathLike[str], limit: int = -1) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``limit``; all when -1), no file object."""
    if limit < -1:
        raise ValueError("read length must be non-negative or -1")
    fd = open_regular(path)
    try:
        return b"".join(chunks_of(fd, limit))
    finally:
        os.close(fd)


def chunks_of(fd: int, limit: int = -1, chunk: int = 1 << 20) -> Iterator[bytes]:
    """An open file's bytes from where it is, up to ``limit`` (-1: all), by plain ``os.read`` calls."""
    while limit and (data := os.read(fd, chunk if limit < 0 else min(chunk, limit))):
        yield data
        limit -= len(data) if limit > 0 else 0


def target_of(path: os.PathLike[str] | str) -> Path:
    """Where writing ``path`` lands: symlinks followed (a dangling one names the file it will create).

    Raises ``ConfigError`` for a symlink loop or a path too long to resolve."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        pass  # a new name, or a dangling link: the file it will create
    except (OSError, RuntimeError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"cannot use {shown(path)}: {why}") from exc
    try:
        return Path(os.path.realpath(path, strict=False))
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"cannot use {shown(path)}: {exc}") from exc


def where_is(path: os.PathLike[str] | str) -> Path:
    """``path`` with its links followed where they can be, else as written (absolute): a project
    file that is a symlink loop is still compared by the name it has."""
    try:
        return target_of(path)
    except ConfigError:
        return Path(os.path.abspath(path))


_FD_ALIASES = re.compile(r"^/(?:dev/(?:std(in|out|err)|fd/(\d+))|proc/self/fd/(\d+))$")


def _open_fds() -> dict[int, tuple[int, int]]:
    out = {}
    for fd in range(256):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        out[fd] = (st.st_dev, st.st_ino)
    return out


#: the descriptors this process was given (as curalog was first imported): only those may be named
#: as an output (``/dev/fd/9`` after ``9>>file``); one curalog opened itself (its database) never
_INHERITED = _open_fds()


def _inherited_fd(path: os.PathLike[str] | str) -> int | None:
    """The descriptor an output name stands for: ``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``
    or a link to one (or a name for the very file one of them is open on). It is written to as it
    is (``>>`` keeps appending), never reopened (reopening a regular file truncates it). A
    descriptor the process was not given is refused."""
    text = os.fspath(path)
    m = _FD_ALIASES.match(text)
    if m is not None:
        std, n1, n2 = m.groups()
        fd = {"in": 0, "out": 1, "err": 2}[std] if std else int(n1 or n2)
        try:
            st = os.fstat(fd)
        except OSError as exc:
            raise ConfigError(f"cannot write {shown(path)}: descriptor {fd} is not open") from exc
        if _INHERITED.get(fd) != (st.st_dev, st.st_ino):
            raise ConfigError(f"cannot write {shown(path)}: descriptor {fd} was not given to curalog")
        return fd
    if os.path.islink(text):  # a link to /dev/stdout, say: the file it reaches is what fd 1 is open on
        try:
            st = os.stat(text)
        except OSError:
            return None
        for fd, ident in sorted(_INHERITED.items()):
            with contextlib.suppress(OSError):
                now = os.fstat(fd)
                if ident == (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
                    return fd
    return None


def is_stream(path: os.PathLike[str] | str) -> bool:
    """True when writing ``path`` creates or replaces no file: a descriptor this process was
    given, a device, a named pipe (nothing to record in the audit log)."""
    try:
        return _inherited_fd(path) is not None or _is_direct(path, target_of(path))
    except ConfigError:  # a folder, a loop, a descriptor not given: no stream (and refused elsewhere)
        return False


def _is_direct(path: os.PathLike[str] | str, real: Path) -> bool:
    """True for what must be written into, never renamed over: a device, a FIFO, a socket."""
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot write {shown(path)}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"cannot write {shown(path)}: it is a folder")
    return not stat.S_ISREG(st.st_mode)


def _fill(fd: int, content: bytes | memoryview | Writer) -> None:
    if not callable(content):
        return _write_all(fd, content)
    with os.fdopen(fd, "wb", closefd=False) as fh:
        content(fh)


def _write_all(fd: int, payload: bytes | memoryview) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def write_file(
    path: os.PathLike[str] | str,
    data: str | bytes | memoryview | Writer,
    *,
    encoding: str = "utf-8",
    durable: bool = True,
    own: bool = False,
) -> Path:
    """Write ``data`` to ``path`` safely; returns the path written (a symlink's target).

    A regular file or a new name is replaced atomically (never half-written); a FIFO, device
    or ``/dev/...`` name is written into directly; a symlink is followed. Every failure is a
    ``ConfigError`` with one line naming the path and the reason; nothing is left behind.
    ``durable=False`` skips the fsyncs (a cache that may be lost, not a report);
    ``own=True`` (curalog's own files: its cache) accepts only a regular file or a new name: a
    link planted there could point at a user's file, a named pipe would block. ``/dev/stdout``
    and ``/proc/self/fd/N`` (descriptors the process was given) go to the open descriptor.
    ``data`` may be a ``Writer`` (never whole in memory); what it raises leaves nothing behind.
    """
    payload = data.encode(encoding) if isinstance(data, str) else data
    if own:
        _own_file(path)
    inherited = _inherited_fd(path)
    try:
        if inherited is not None:
            _fill(inherited, payload)
            return Path(path)
        real = target_of(path)
        if _is_direct(path, real):
            fd = os.open(real, os.O_WRONLY | os.O_NOCTTY)  # no O_TRUNC, no O_CREAT: into what is there
            try:
                _fill(fd, payload)
            finally:
                os.close(fd)
            return Path(path)
    except OSError as exc:
        raise ConfigError(f"cannot write {shown(path)}: {exc.strerror or exc}") from exc
    folder = real.parent
    if not folder.is_dir():
        raise ConfigError(f"cannot write {shown(path)}: the folder {shown(folder)} does not exist")
    tmp = folder / f".{real.name[:200]}.curalog-tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode) if real.exists() else None
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            _fill(fd, payload)
            if mode is not None:
                os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, real)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise ConfigError(f"cannot write {shown(path)}: {exc.strerror or exc}") from exc
        raise
    if not durable:
        return real
    with contextlib.suppress(OSError):  # the rename itself survives a power cut
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return real


_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2(a: Path, b: Path, flags: int) -> bool:
    """Linux ``renameat2(a, b, flags)``; False where the system or the file system lacks it."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):  # EINVAL: the file system cannot
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def swap_folder(new: Path, target: Path, *, replace: bool = True) -> Path | None:
    """Put the folder ``new`` at ``target``. When ``target`` exists, the two are exchanged in one
    step where the file system can (a kill leaves either the old set or the new one in place,
    never neither) and the old content is returned at ``new``'s path, for the caller to remove.
    ``replace=False``: ``FileExistsError`` if something appeared at ``target`` meanwhile (another
    process), instead of replacing it."""
    if not replace:
        if _renameat2(new, target, _RENAME_NOREPLACE):
            return None
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "appeared while the dataset was built", os.fspath(target))
        os.rename(new, target)
        return None
    if not os.path.lexists(target):
        os.rename(new, target)
        return None
    if _renameat2(new, target, _RENAME_EXCHANGE):
        return new
    old = new.with_name(new.name + ".old")
    os.rename(target, old)  # the short window with no set at ``target``, where exchange is missing
    os.rename(new, target)
    return old


def append_record(path: os.PathLike[str] | str, data: bytes) -> None:
    """Append ``data`` (one record) to the regular file at ``path``, created if missing, with one
    ``write`` (``O_APPEND``: concurrent writers never interleave within a record) and fsync. A name
    that is not a regular file (a named pipe, a folder, a device) is refused, never blocked on."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(os.fspath(path))
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (or one not-yet-existing path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return where_is(a) == where_is(b)


def _own_file(path: os.PathLike[str] | str) -> None:
    """``ConfigError`` unless ``path`` is a regular file (not a link) or does not exist yet."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot write {shown(path)}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(
            f"cannot write {shown(path)}: curalog writes this file itself, and something else is there "
            "(a link, a named pipe, a folder); move it away"
        )


def check_output(
    path: os.PathLike[str] | str,
    *,
    protected: Iterable[Path] = (),
    force: bool = False,
    what: str = "--output",
    new_folders: bool = False,
    own: bool = False,
) -> None:
    """Refuse an output path that would destroy something: one of ``protected`` (the project's
    inputs, its database, its settings), a folder, or an existing regular file without ``force``.
    Devices and FIFOs (``/dev/null``, ``/dev/stdout``, a pipe) are always fine. The folder must
    exist unless the caller makes it (``new_folders``). ``own``: a file curalog writes by itself (the
    default dashboard): only a regular file or a new name is accepted there."""
    if own:
        _own_file(path)
    text = os.fspath(path)
    if text.endswith("/"):
        raise ConfigError(f"{what} {shown(path)} names a folder; name the file to write")
    if _inherited_fd(path) is not None:
        return
    real = target_of(path)
    if len(os.fsencode(real.name)) > 255:
        raise ConfigError(f"{what} {shown(path)}: the file name is longer than 255 bytes")
    for p in protected:
        owned = where_is(p)
        if same_file(Path(path), p) or real == owned or owned in real.parents:
            raise ConfigError(
                f"{what} {shown(path)} is the project's own {shown(p)}: curalog never writes over "
                "its inputs; choose another file"
            )
    if _is_direct(path, real):
        return
    if real.exists() and not force:
        raise ConfigError(f"{what} {shown(path)} already exists; pass --force to replace it")
    if not new_folders and not real.parent.is_dir():
        raise ConfigError(f"{what} {shown(path)}: the folder {shown(real.parent)} does not exist")


def check_output_folder(real: Path, root: Path, owned: Iterable[Path], named: str, *, verb: str) -> None:
    """Refuse an output folder (``real``: its links followed) that is the project ``root`` or a
    folder above it, that is, holds or is inside one of the project's own files (``owned``: the
    logs, the database, the vectors, the audit log), or that is a file. ``named`` starts each
    message; ``verb`` says what writing there would do to an owned file ("replace")."""
    root = target_of(root)
    if real == root or real in root.parents:
        raise ConfigError(f"{named} is the project root or a folder above it; choose a folder of its own")
    for p in owned:
        mine = where_is(p)
        if real == mine or real in mine.parents or mine in real.parents:
            raise ConfigError(f"{named} would {verb} the project's own {shown(p)}; choose another folder")
    if real.exists() and not real.is_dir():
        raise ConfigError(f"{named} is a file, not a folder")


__all__ = [
    "NotRegularFile", "append_record", "check_output", "check_output_folder", "chunks_of", "is_stream",
    "open_regular", "read_regular", "same_file", "swap_folder", "target_of", "where_is", "write_file",
]  # fmt: skip
