"""What `harness run` shows on stderr while it works: one bar over the whole run (exports and
measurements, in estimated seconds of work: harness.report.estimate) with the time left, the
cells done beside it, and one line per cell as it is stored."""

from __future__ import annotations

from rich.progress import Progress, ProgressColumn
from rich.text import Text

from harness.store.cell_key import base_format


class EtaColumn(ProgressColumn):
    """The time left: the estimated seconds of work not done yet, scaled by how the work done
    so far compared with its estimate."""

    def render(self, task) -> Text:
        from harness.report.estimate import fmt_duration

        if task.finished or not task.total:
            return Text("")
        done, elapsed = task.completed, task.elapsed or 0.0
        pace = elapsed / done if done >= 0.05 * task.total and elapsed > 0 else 1.0
        return Text(f"about {fmt_duration(max(0.0, task.total - done) * pace)} left")


class ProgressObserver:
    """One bar over the whole run, exports and measurements, in estimated seconds of work
    (harness.report.estimate) with the time left; the cells done beside it; and one line per
    cell as it is stored."""

    def __init__(self, progress: Progress, estimate):
        self.progress = progress
        self.estimate = estimate
        self.task = None
        self.run_id = None
        self.cells = 0
        self.total = 1.0
        self.done = 0
        self.credited: set = set()  # work already counted: ("export", model, fmt), ("trial", ...)
        self.exporting: dict[str, str] = {}  # model -> the format its export child is at

    def run_started(self, run_id, cells):
        self.run_id, self.cells = run_id, cells
        self.total = max(self.estimate.total_units, 1.0)
        self.task = self.progress.add_task(f"run {run_id}", total=self.total, cells=f"0/{cells} cells")

    def _credit(self, work: tuple, units: float) -> None:
        if work not in self.credited:
            self.credited.add(work)
            self.progress.advance(self.task, units)

    def _credit_export(self, model: str, fmt: str) -> None:
        self._credit(("export", model, fmt), self.estimate.export_units.get((model, fmt), 0.0))

    def _credit_exports(self) -> None:
        for model, fmt in self.estimate.export_units:
            self._credit_export(model, fmt)

    def _credit_trial(self, model: str, label: str, trial: int) -> None:
        units = self.estimate.trial_units.get((model, base_format(label)), 0.0)
        self._credit(("trial", model, label, trial), units)

    def cell_started(self, model, format, step):
        self.progress.update(self.task, description=f"{step} {model} / {format}")
        if step == "cooldown" or step.startswith("trial "):
            self._credit_exports()  # measuring starts once every export is done
            if step.startswith("trial "):
                trial = int(step.split()[1].split("/")[0])
                for earlier in range(1, trial):
                    self._credit_trial(model, format, earlier)
        elif format and format != "-":
            previous = self.exporting.get(model)
            if previous and previous != format:
                self._credit_export(model, previous)
            self.exporting[model] = format

    def finished(self):
        """The run is over: whatever the estimate still counted is done."""
        if self.task is not None:
            self.progress.update(self.task, completed=self.total)

    def cell_finished(self, record):
        from harness.report.figures import fmt_latency

        self.done += 1
        base = base_format(record.format)
        self._credit_export(record.model, base)
        for trial in range(1, self.estimate.trials + 1):
            self._credit_trial(record.model, record.format, trial)
        self.progress.update(self.task, cells=f"{self.done}/{self.cells} cells")
        line = f"  {record.model}  {record.format}  {fmt_latency(record)}"
        self.progress.console.print(line + (f"  {record.reason}" if record.reason else ""),
                                    markup=False, soft_wrap=True, highlight=False)
        for note in record.artifact.get("notes", ()):
            self.progress.console.print(f"    note: {note}", markup=False, soft_wrap=True,
                                        highlight=False)
