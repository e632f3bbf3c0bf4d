"""`vigil bench ...`: speed figures, each printed beside a baseline measured in the same run.

Each area's workload lives in `vigil.bench.<area>`; the commands here only parse options.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks: figures beside an in-run baseline.", no_args_is_help=True)
