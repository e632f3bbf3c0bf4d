"""C parts compiled on this machine against its own libraries, once per version of their source.

Vigil's C (the recorder's copy loop, the bench's probe) links the system's FFmpeg (Debian's
`libavformat-dev`): PyAV's wheels bundle their FFmpeg without headers (decision 0079). A build
goes to `~/.cache/vigil/compiled/` under a name carrying the source's hash, written to a
temporary name first, so processes building at once never load half a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from vigil.errors import VigilError

BUILD_DEPS = "on Debian: apt install gcc libc6-dev pkg-config libavformat-dev"


def compiled_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vigil" / "compiled"


def build_c(source: Path, libs: list[str], *, shared: bool, hint: str = BUILD_DEPS) -> Path:
    """`source` built with the flags `pkg-config` gives for `libs`: a shared library (`.so`)
    or a program; the cached build when this version of `source` was built before against
    these versions of `libs` (an upgraded FFmpeg gets a new build). Raises VigilError (with
    `hint`) when the compiler or a library's development files are missing."""
    cc, pkg_config = shutil.which("cc"), shutil.which("pkg-config")
    if cc is None or pkg_config is None:
        raise VigilError(f"building {source.name} needs a C compiler and pkg-config", hint=hint)
    found = [
        subprocess.run([pkg_config, *args, *libs], capture_output=True, text=True)
        for args in (["--modversion"], ["--cflags", "--libs"])
    ]
    if any(f.returncode for f in found):
        raise VigilError(f"the development files of {', '.join(libs)} are missing", hint=hint)
    versions, flags = (f.stdout for f in found)
    digest = hashlib.sha256(source.read_bytes() + versions.encode()).hexdigest()[:16]
    out = compiled_dir() / f"{source.stem}-{digest}{'.so' if shared else ''}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f"{out.name}.{os.getpid()}.part")
    mode = ["-shared", "-fPIC"] if shared else []
    built = subprocess.run(
        [cc, "-O2", *mode, "-o", str(part), str(source), *flags.split(), "-lpthread"],
        capture_output=True,
        text=True,
    )
    if built.returncode:
        part.unlink(missing_ok=True)
        raise VigilError(f"cannot build {source.name}: {built.stderr.strip()[-800:]}")
    part.replace(out)  # earlier builds stay: another checkout's Vigil may be loading one
    return out
