"""`harness cache ls | verify | prune`: the artifact cache shared by all formats."""

from __future__ import annotations

import time

import click

from harness.cli.options import Number, cache_option, translate_errors
from harness.cli.output import echo, echo_table


@click.group("cache")
def cache_group():
    """The artifact cache shared by all formats."""


def _open(cache_dir):
    from harness.export.cache import ArtifactCache, default_cache_dir

    return ArtifactCache(cache_dir or default_cache_dir())


@cache_group.command("ls")
@cache_option
@translate_errors
def cache_ls(cache_dir):
    """Every cached artifact, most recently used first, and whether it is stale or damaged."""
    from harness.errors import UnknownFormatError
    from harness.export.base import MissingExporter, get_format
    from harness.export.cache import stale_because
    from harness.report.export_matrix import fmt_size

    from harness.report.text import Column, TextTable

    artifact_cache = _open(cache_dir)
    entries = artifact_cache.listing()
    table = TextTable([Column("key", hide=1), Column("model", key=True), Column("format"),
                       Column("status"), Column("size", "right"), Column("last used", hide=2),
                       Column("stale")], title=f"Artifact cache {artifact_cache.root}")
    for e in entries:
        try:
            stale = stale_because(e.inputs, get_format(e.artifact.format).exporter_versions()) or ""
        except UnknownFormatError:
            stale = "format no longer exists"
        except MissingExporter as exc:
            stale = f"cannot tell: {exc}"
        table.add_row(e.key[:12], e.artifact.model, e.artifact.format, e.artifact.status,
                      fmt_size(e.size_bytes), time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used)),
                      e.problem or stale)
    echo_table(table)
    echo(f"{len(entries)} entries, {fmt_size(sum(e.size_bytes for e in entries)) if entries else '0 B'}")


@cache_group.command("verify")
@cache_option
@click.pass_context
@translate_errors
def cache_verify(ctx, cache_dir):
    """Hash every cached artifact again against the sha256 recorded at export. Exits 3 when any
    entry is damaged (`harness cache prune --damaged` removes them; the next run rebuilds)."""
    from harness import exit_codes
    from harness.report.export_matrix import fmt_size

    artifact_cache = _open(cache_dir)
    started = time.perf_counter()
    entries = artifact_cache.verify()
    elapsed = time.perf_counter() - started
    damaged = [e for e in entries if e.problem]
    for e in damaged:
        echo(f"damaged  {e.key[:12]}  {e.artifact.model} / {e.artifact.format}: {e.problem}")
    total = sum(e.size_bytes for e in entries)
    echo(f"{len(entries)} entries ({fmt_size(total) if entries else '0 B'}) hashed in "
         f"{elapsed:.2f} s: {len(entries) - len(damaged)} intact, {len(damaged)} damaged.")
    ctx.exit(exit_codes.SOME_FAILED if damaged else exit_codes.OK)


@cache_group.command("prune")
@click.option("--stale", is_flag=True, help="Entries of other model sources or exporter versions than the current ones.")
@click.option("--failed", is_flag=True, help="Failed exports, so the next export retries them.")
@click.option("--damaged", is_flag=True, help="Entries that fail `harness cache verify`.")
@click.option("--older-than", type=Number(float, 0), default=None, metavar="DAYS",
              help="Entries not used for this many days.")
@click.option("--all", "everything", is_flag=True, help="Everything in the cache.")
@cache_option
@translate_errors
def cache_prune(stale, failed, damaged, older_than, everything, cache_dir):
    """Remove cache entries; say which with --stale, --failed, --damaged, --older-than DAYS or --all."""
    if not (stale or failed or damaged or everything or older_than is not None):
        raise click.UsageError("Say what to prune: --stale, --failed, --damaged, --older-than DAYS or --all.")
    artifact_cache = _open(cache_dir)
    removed = artifact_cache.prune(older_than_days=older_than, stale=stale, failed=failed,
                                   damaged=damaged, everything=everything)
    echo(f"Removed {removed} {'entry' if removed == 1 else 'entries'} from {artifact_cache.root}; "
         f"{len(artifact_cache.listing())} left.")
