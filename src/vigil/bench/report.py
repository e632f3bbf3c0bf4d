"""One way to print benchmark figures: value, target, in-run baseline, ratio, verdict."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    baseline: float | None = None
    baseline_name: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.value == 0:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def show(title: str, figures: list[Figure], console: Console | None = None) -> None:
    t = Table(title=title, title_justify="left")
    for col in ("figure", "value", "target", "baseline (same run)", "speed-up", "met"):
        t.add_column(col)
    for f in figures:
        sign = ">=" if f.higher_is_better else "<="
        t.add_row(
            f.name,
            f"{f.value:,.2f} {f.unit}",
            "" if f.target is None else f"{sign} {f.target:,.4g} {f.unit}",
            "" if f.baseline is None else f"{f.baseline:,.2f} {f.unit} ({f.baseline_name})",
            "" if f.ratio is None else f"{f.ratio:.2f}x",
            {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[f.met],
        )
    (console or Console()).print(t)
