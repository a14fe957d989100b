"""Output files: the checks before any work, and writing all of a run's outputs or none.

Every output of cloud-cascade (masks, reports, quicklooks, model sidecars, benchmark records)
is checked by :func:`check_outputs` before any work starts and written through an
:class:`OutputSet` (:func:`atomic_output` for one file): each file is written to a temporary
name beside its target and all of them are renamed over their targets together when the last
one is complete, so a reader never sees a half-written file and a run never leaves some of its
outputs without the others.

Temporary names say who made them: ``.NAME.cascade-tmp-HOST-PID-TOKEN`` (GDAL may add
``.ovr.tmp`` and the like to them). A run that is killed (SIGKILL, power loss) leaves them
behind; the next run of the same output (:func:`recover_outputs`) removes those whose process
on this host is gone. Committing writes a journal first (``.NAME.cascade-commit-...``) that
lists the renames and hard-link backups of the files they replace: the renames of a run
killed while renaming are undone by the next one, so the outputs on disk are always all of
one run or all as they were before it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from cascade.errors import OutputError, OutputExistsError, name_of

__all__ = [
    "OutputSet",
    "atomic_output",
    "check_distinct",
    "check_outputs",
    "recover_outputs",
    "temporary_name",
]

PathLike = str | os.PathLike[str]
# The renames that commit and undo outputs (one name, so tests can inject failures).
_rename = os.replace
_MARK = ".cascade-"
_NAME = re.compile(
    r"^\.(?P<target>.+)\.cascade-(?P<kind>tmp|bak|commit)-(?P<host>[A-Za-z0-9_.]*)-"
    r"(?P<pid>\d+)-(?P<token>[0-9a-f]{8})(?P<extra>\..*)?$"
)
# What earlier versions left: tempfile.mkstemp(prefix=".NAME.", suffix=".tmp") (+ ".ovr.tmp").
_LEGACY = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp(?:\..*)?$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40]


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else the common 022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def temporary_name(target: PathLike, kind: str = "tmp") -> Path:
    """A fresh temporary path beside ``target`` that names this host and process."""
    t = Path(target)
    name = f".{t.name}{_MARK}{kind}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
    return _folder(t) / name


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


# -- checks -------------------------------------------------------------------------------


def _keys(path: Path) -> list[tuple[str, object]]:
    """What identifies a file: its path with symbolic links resolved, and its inode."""
    keys: list[tuple[str, object]] = [("path", os.path.realpath(path))]
    with contextlib.suppress(OSError):
        st = os.stat(path)
        keys.append(("inode", (st.st_dev, st.st_ino)))  # hard links, bind mounts
    return keys


def _label(role: str) -> str:
    return name_of(role, f"the {role.replace('_', ' ')}")


def check_distinct(outputs: Mapping[str, PathLike], inputs: Sequence[PathLike] = ()) -> None:
    """Raise :class:`OutputError` when an output is an input or two outputs are one file.

    ``outputs`` maps a role (``output``, ``report``, ...: named by :func:`name_of`, so the
    command line's option names appear in its messages) to a path. Paths are compared after
    resolving symbolic links, and by inode where both exist. ``--overwrite`` does not lift
    this: replacing an input with an output loses the input.
    """
    seen: dict[tuple[str, object], tuple[str | None, PathLike]] = {}
    for given in inputs:
        for key in _keys(Path(given)):
            seen.setdefault(key, (None, given))
    for role, p in outputs.items():
        path = Path(p)
        for key in _keys(path):
            if key not in seen:
                continue
            other_role, other = seen[key]
            if other_role is None:
                raise OutputError(
                    f"{_label(role)} {path} is the input {other}: writing it would destroy "
                    "the input; choose another path for it"
                )
            raise OutputError(
                f"{_label(other_role)} {other} and {_label(role)} {path} are the same file; "
                "give each output its own path"
            )
        for key in _keys(path):
            seen[key] = (role, p)


def check_outputs(
    paths: Sequence[PathLike] | Mapping[str, PathLike],
    *,
    inputs: Sequence[PathLike] = (),
    overwrite: bool = False,
    hint: str | None = None,
    writable: bool = True,
) -> list[Path]:
    """Fail before any work when outputs clash, exist, or their folder cannot be written.

    ``paths``: the outputs, as a sequence or as ``{role: path}`` (roles name them in
    messages). Raises :class:`OutputError` for an output that is one of ``inputs``, two
    outputs that are one file, or a folder that is missing (or, with ``writable``, not
    writable), and :class:`OutputExistsError` for an output that exists while ``overwrite``
    is false; ``hint`` names the option that allows it (default: ``overwrite=True`` in
    Python, ``--overwrite`` within a ``cascade`` command).
    """
    named = (
        dict(paths)
        if isinstance(paths, Mapping)
        else {f"output {i + 1}": p for i, p in enumerate(paths)}
    )
    check_distinct(named, inputs)
    outputs = [Path(p) for p in named.values()]
    hint = hint or name_of("overwrite", "overwrite=True")
    for p in outputs:
        if p.is_dir():
            raise OutputError(f"cannot write {p}: it is a folder; give a file name")
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p} already exists; pass {hint} to replace it")
        folder = _folder(p)
        if not folder.is_dir():
            raise OutputError(f"cannot write {p}: folder {folder} does not exist")
        if writable and not os.access(folder, os.W_OK):
            raise OutputError(f"cannot write {p}: folder {folder} is not writable")
    return outputs


# -- recovery -----------------------------------------------------------------------------


def _undo(renames: Sequence[Sequence[str]]) -> list[Path]:
    """Undo what of ``renames`` (temporary, target, backup) was done, judged by the files:
    a temporary file that is gone was renamed, so its target gets its backup back (or is
    removed, when it was new). Temporary files and backups go. Returns the targets undone."""
    undone = []
    for tmp, target, backup in renames:
        if os.path.exists(tmp):  # not renamed: the target is as it was
            os.unlink(tmp)
        elif backup and os.path.exists(backup):
            _rename(backup, target)
            undone.append(Path(target))
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)
                undone.append(Path(target))
        if backup:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(backup)
    return undone


def _roll_back(journal: Path) -> list[Path]:
    """Undo the renames of a commit that was killed (its journal), then remove the journal."""
    try:
        entries = [tuple(map(str, e)) for e in json.loads(journal.read_text())["renames"]]
    except (OSError, ValueError, KeyError, TypeError):
        entries = []
    undone = _undo(entries)
    with contextlib.suppress(FileNotFoundError):
        journal.unlink()
    return undone


def recover_outputs(targets: Sequence[PathLike], *, any_owner: bool = False) -> list[str]:
    """Clean up after runs of ``targets`` that were killed; what was done, one line each.

    A commit of a dead run that was cut short is undone from its journal (what it renamed
    is put back as it was), so that none of its outputs stays; temporary files and backups
    of dead runs are removed. A run is dead when its process is gone on
    this host; with ``any_owner`` (a batch whose earlier attempt died on another worker)
    every leftover of these targets counts as dead. Files of earlier versions' naming
    (``.NAME.XXXXXXXX.tmp``) are removed too.
    """
    by_folder: dict[Path, set[str]] = {}
    for t in targets:
        by_folder.setdefault(_folder(Path(t)), set()).add(Path(t).name)
    done: list[str] = []
    here = _host()
    for folder, names in by_folder.items():
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        stale = []
        for entry in entries:
            if not entry.name.startswith("."):  # ours are all hidden: skip the rest fast
                continue
            m = _NAME.match(entry.name)
            if m and m.group("target") in names:
                dead = any_owner or (
                    m.group("host") == here and not _pid_alive(int(m.group("pid")))
                )
                if dead:
                    stale.append((m.group("kind"), Path(entry.path)))
            else:
                legacy = _LEGACY.match(entry.name)
                if legacy and legacy.group("target") in names:
                    stale.append(("tmp", Path(entry.path)))
        for kind, path in sorted(stale, key=lambda x: x[0] != "commit"):  # journals first
            if kind == "commit" and path.suffix == ".json":
                for target in _roll_back(path):
                    done.append(f"put back {target} as it was before a run that was killed")
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    done.append(f"removed {path}, left by a run that was killed")
    return done


# -- writing ------------------------------------------------------------------------------


class OutputSet:
    """The outputs of one run, written to temporary files and committed together.

    >>> with OutputSet({"output": "m.tif", "report": "m.json"}) as outs:  # doctest: +SKIP
    ...     write_mask(outs.temp("output")); outs.temp("report").write_text("{}")

    Entering checks them (:func:`check_outputs`) after cleaning up what killed runs of the
    same outputs left (:func:`recover_outputs`). Leaving without an exception renames every
    temporary file that was asked for over its target; an exception, or a failed rename,
    removes the temporary files and leaves every target as it was.
    """

    def __init__(
        self,
        outputs: Mapping[str, PathLike],
        *,
        inputs: Sequence[PathLike] = (),
        overwrite: bool = False,
    ) -> None:
        self.targets = {role: Path(p) for role, p in outputs.items()}
        self.inputs = list(inputs)
        self.overwrite = overwrite
        self.recovered: list[str] = []
        self._temps: dict[str, Path] = {}

    def __enter__(self) -> OutputSet:
        self.recovered = recover_outputs(list(self.targets.values()))
        check_outputs(self.targets, inputs=self.inputs, overwrite=self.overwrite, writable=False)
        return self

    def temp(self, role: str) -> Path:
        """The temporary path to write ``role``'s output to (made once, on first request)."""
        if role not in self._temps:
            target = self.targets[role]
            tmp = temporary_name(target)
            try:
                tmp.touch(mode=0o666, exist_ok=False)  # the usual mode under the umask
            except OSError as exc:
                raise OutputError(
                    f"cannot write {target}: {exc.strerror} ({_folder(target)})"
                ) from exc
            self._temps[role] = tmp
        return self._temps[role]

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            self._discard()

    def _discard(self) -> None:
        for tmp in self._temps.values():
            for leftover in [tmp, *tmp.parent.glob(glob_escape(tmp.name) + ".*")]:
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        self._temps.clear()

    def _commit(self) -> None:
        for role in self._temps:
            target = self.targets[role]
            if target.exists() and not self.overwrite:  # appeared while this run worked
                raise OutputExistsError(
                    f"{target} appeared while this run worked; pass "
                    f"{name_of('overwrite', 'overwrite=True')} to replace it"
                )
        renames = []  # (temporary, target, backup of the old target or "")
        for role, tmp in self._temps.items():
            target = self.targets[role]
            backup = ""
            if target.exists():
                bak = temporary_name(target, "bak")
                with contextlib.suppress(OSError):  # no hard links here: no rollback for it
                    os.link(target, bak)
                    backup = str(bak)
            renames.append((str(tmp), str(target), backup))
        if not renames:
            return
        journal = self._write_journal(renames)
        try:
            for entry in renames:
                _rename(entry[0], entry[1])
        except BaseException as exc:  # a failed rename, or an interruption: undo them all
            _undo(renames)
            journal.unlink()
            if isinstance(exc, OSError):
                raise OutputError(
                    f"cannot write {entry[1]}: {exc.strerror or exc}; no output of this run "
                    "was kept"
                ) from exc
            raise
        journal.unlink()  # the commit point: from here on a killed run leaves the new outputs
        for _tmp, _target, backup in renames:
            if backup:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(backup)
        self._temps.clear()

    def _write_journal(self, renames: list[tuple[str, str, str]]) -> Path:
        first = Path(renames[0][1])
        journal = Path(f"{temporary_name(first, 'commit')}.json")
        staging = Path(str(journal) + ".part")
        try:
            with open(staging, "w") as fh:
                json.dump({"renames": renames}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(staging, journal)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
            raise OutputError(
                f"cannot write {first}: {exc.strerror or exc}; no output of this run was kept"
            ) from exc
        return journal


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


@contextlib.contextmanager
def atomic_output(path: PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success rename it to ``path``.

    An :class:`OutputSet` of one file: on an exception the temporary file is removed and
    ``path`` is left as it was. Raises what :func:`check_outputs` raises, and an
    :class:`OutputError` naming the folder if the temporary file cannot be created.
    """
    with OutputSet({"output": path}, overwrite=overwrite) as outs:
        yield outs.temp("output")
