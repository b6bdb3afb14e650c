"""Options and error handling shared by the `harness` commands, defined once and stacked on them.

Device options are not listed here: each device kind declares its own (DeviceKind.options), and
`DeviceOptionsCommand` adds them to `harness run` when it runs.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click
from rich.console import Console

from device_runners.errors import DeviceError, DeviceNameError, DeviceOptionError
from harness import exit_codes
from harness.errors import HarnessError, UsageError

# Progress and estimates, on stderr: stdout holds only results (harness.cli.output).
err_console = Console(stderr=True)


class BadOption(click.ClickException):
    """An option the command cannot work with, found before any work: one line, exit 2."""

    exit_code = exit_codes.USAGE


def translate_errors(fn):
    """Turn the harness's and the device runners' own errors into one line on stderr, once,
    here: exit code 2 for a usage error (harness.errors.UsageError), 1 for the others. Anything
    else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (UsageError, DeviceNameError, DeviceOptionError) as exc:  # the user's to correct: exit 2
            raise BadOption(str(exc)) from None
        except (HarnessError, DeviceError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


class Number(click.ParamType):
    """A number option (every one the commands take): a whole number or a float, finite, within
    its bounds; anything else is one line, exit 2, when the command line is read, before any
    work. click's own FloatRange lets nan through every bound (a comparison with nan is false)
    and takes inf; this takes neither."""

    def __init__(self, kind: type = float, minimum: float | None = None,
                 maximum: float | None = None, min_open: bool = False, max_open: bool = False):
        self.kind, self.minimum, self.maximum = kind, minimum, maximum
        self.min_open, self.max_open = min_open, max_open
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):
        import math

        flag = param.opts[0] if param is not None and param.opts else "the number"
        wanted = f"give {'a whole number' if self.kind is int else 'a number'}{self._bounds()}."
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise BadOption(f"{flag} {value!r}: {wanted}")
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise BadOption(f"{flag} {value!r}: {wanted}") from None
        if not math.isfinite(number):
            raise BadOption(f"{flag} {value}: give a finite number{self._bounds()}.")
        if self.kind is int:
            if number != int(number):
                raise BadOption(f"{flag} {value}: give a whole number{self._bounds()}.")
            number = int(number)
        low = self.minimum is not None and (number <= self.minimum if self.min_open else number < self.minimum)
        high = self.maximum is not None and (number >= self.maximum if self.max_open else number > self.maximum)
        if low or high:
            raise BadOption(f"{flag} {value}: give a number{self._bounds()}.")
        return number

    def _bounds(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f"{'above' if self.min_open else 'at least'} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{'below' if self.max_open else 'at most'} {self.maximum:g}")
        return (" " + " and ".join(parts)) if parts else ""


def _parse_shape(ctx, param, text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter("give whole numbers separated by commas, e.g. 1,3,224,224") from None


input_shape_option = click.option(
    "--input-shape", default=None, callback=_parse_shape,
    help="Input shape of models from files (path/to/net.py:factory), e.g. 1,3,224,224; a zoo "
         "model takes only its own.",
)

MODELS_HELP = ("all (the whole zoo), a family (repvit), model names (repvit_m0_9,emo_1m), "
               "path/to/net.py:factory (a function returning the nn.Module), or a file to measure "
               "as it is (model.tflite, .pte, .onnx, .mlpackage); comma-separated. "
               "`harness models` lists the zoo.")


def models_option(fn):
    return click.option("--models", "model_selector", default=None, metavar="MODELS",
                        help=MODELS_HELP)(fn)


def require_models(selector: str | None) -> str:
    """`--models` as given; the whole zoo takes hours, so it must be asked for by name."""
    if selector:
        return selector
    from harness.zoo.index import zoo_index

    families = sorted({e.family for e in zoo_index()}, key=str.lower)
    raise BadOption(f"Say which models: --models all (the whole zoo, {len(zoo_index())} models), "
                    f"a family ({', '.join(f.lower() for f in families)}), names, or "
                    "path/to/net.py:factory; e.g. --models repvit_m0_9.")


def check_formats(selector: str) -> str:
    """`--formats` in lower case, every name a known format (a close one suggested); raises
    before any work."""
    import difflib

    from harness.export.index import format_names

    known = format_names()  # the index: checking names imports no exporter
    names = [p.strip().lower() for p in selector.split(",") if p.strip()]
    if names == ["all"]:
        return "all"
    for name in names or [selector]:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise UsageError(f"Unknown format {name!r}.{hint} Known formats: {', '.join(known)}, "
                               "or all.")
    return ",".join(names)


class DatabaseParam(click.Path):
    """A results database: a file (a Path, checked as before) or a PostgreSQL URL (a str, as
    given: Path() would fold its `//`). The prefixes are harness.store.location.URL_SCHEMES, repeated
    here so that parsing options does not import the store."""

    name = "path|url"
    URL_SCHEMES = ("postgresql://", "postgres://")

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value.startswith(self.URL_SCHEMES):
            return value
        return super().convert(value, param, ctx)


db_option = click.option(
    "--db", type=DatabaseParam(dir_okay=False, path_type=Path), envvar="HARNESS_DB", default=None,
    help="Results database: a file (default results/harness.db) or a postgresql:// URL "
         "(docs/store.md); or $HARNESS_DB.",
)


numerics_reference_option = click.option(
    "--numerics-reference", type=click.Path(exists=True), default=None, metavar="FILE",
    help="For model files given with --models (model.tflite, ...): another file of the same "
         "model (its .onnx, say) whose outputs theirs must match; without it their numerics "
         "are not checked.")


weights_option = click.option(
    "--weights", type=click.Path(exists=True, dir_okay=False), default=None,
    help="A local state dict (.pth or .safetensors) for the one model named by --models.",
)


calibration_option = click.option(
    "--calibration-images", type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None, help="Images (or .npy arrays) to calibrate the int8 formats on; "
                       "default: seeded random inputs.",
)


def cache_option(fn):
    return click.option(
        "--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="HARNESS_CACHE",
        default=None, help="Artifact cache (default results/cache, or $HARNESS_CACHE).",
    )(fn)


def _click_option(option) -> click.Option:
    """The click option for a device kind's `DeviceOption`; None means the runner's default."""
    if option.type == "flag":
        return click.Option([option.flag, option.dest], is_flag=True, help=option.help)
    if option.type == "path":  # a directory too: an iOS app (--ios-app X.app) is one
        kind = click.Path(path_type=Path)
    elif option.type == "dir":
        kind = click.Path(file_okay=False, path_type=Path)
    elif option.type == "choice":
        kind = click.Choice(option.choices)
    elif option.type == "text":
        kind = str
    else:
        kind = Number(float, option.minimum, option.maximum)
    return click.Option([option.flag, option.dest], type=kind, default=None, help=option.help)


class DeviceOptionsCommand(click.Command):
    """A command that takes, besides its own options, every device kind's (harness.devices),
    read when it runs: a kind added to that list brings its options along. Its help's
    `{formats}` becomes the registered formats, from the formats' index (harness.export.index)."""

    def format_help_text(self, ctx, formatter):
        if self.help and "{formats}" in self.help:
            from harness.export.index import format_index

            listed = "; ".join(f"{f.name} ({f.description})" for f in format_index())
            original = self.help
            self.help = original.replace("{formats}", listed)
            try:
                return super().format_help_text(ctx, formatter)
            finally:
                self.help = original
        return super().format_help_text(ctx, formatter)

    def get_params(self, ctx):
        from harness.devices import device_options

        params = super().get_params(ctx)
        help_option = self.get_help_option(ctx)
        own = [p for p in params if p is not help_option and p.name != "help"]
        device = [_click_option(o) for o in device_options()]
        return own + device + [p for p in params if p not in own]


jobs_option = click.option(
    "--jobs", type=Number(int, 1), default=None,
    help="Models exported at once, each in a process of its own [the number of cores]; "
         "measurements always run alone, after the exports.")


def resolve_jobs(jobs: int | None) -> int:
    from harness.export.isolated import default_jobs

    return jobs or default_jobs()


# --- the measurement settings (harness.bench.settings), as options -------------------------------


def _setting_option(f) -> click.Option:
    """The click option of one measurement setting; its name is the setting's field name."""
    from harness.bench.settings import parse_cpus

    meta = f.metadata
    decls = [meta["cli"], f.name]
    if meta["kind"] == "flag":
        return click.Option(decls, is_flag=True, default=f.default, help=meta["help"])
    if meta["kind"] == "trials":
        def trials(ctx, param, text):
            from harness.bench.settings import MeasurementSettings

            try:
                return MeasurementSettings.from_values({"trials": text}).trials
            except Exception as exc:  # UsageError: the sentence says what to give
                raise BadOption(str(exc)) from None

        return click.Option(decls, default=str(f.default), show_default=True, callback=trials,
                            metavar="N|auto", help=meta["help"])
    if meta["kind"] == "duration":
        def duration(ctx, param, text):
            from harness.bench.settings import MeasurementSettings

            try:
                return getattr(MeasurementSettings.from_values({f.name: text}), f.name)
            except Exception as exc:  # UsageError: the sentence says what to give
                raise click.BadParameter(str(exc).split(": ", 1)[-1]) from None

        return click.Option(decls, default=None, callback=duration, metavar="DURATION",
                            help=meta["help"])
    if meta["kind"] == "cpus":
        def cpus(ctx, param, text):
            try:
                return parse_cpus(text)
            except ValueError as exc:
                raise BadOption(f"{meta['cli']} {text}: {exc}.") from None

        return click.Option(decls, default=None, callback=cpus, help=meta["help"])
    number = Number(int if meta["kind"] == "int" else float, meta["minimum"])
    return click.Option(decls, type=number, default=f.default, show_default=f.default is not None,
                        help=meta["help"])


def measurement_options(*names: str):
    """The options of these measurement settings (by field name), or of every one that has an
    option; stacked on a command in declaration order."""
    from harness.bench.settings import cli_fields

    chosen = [f for f in cli_fields() if not names or f.name in names]

    def decorate(fn):
        for f in reversed(chosen):
            option = _setting_option(f)
            fn.__click_params__ = [*getattr(fn, "__click_params__", []), option]
        return fn

    return decorate


def settings_from(params: dict):
    """The MeasurementSettings of a command's parsed options (those it has)."""
    from harness.bench.settings import MeasurementSettings, setting_fields

    return MeasurementSettings.from_values({f.name: params[f.name] for f in setting_fields() if f.name in params})
