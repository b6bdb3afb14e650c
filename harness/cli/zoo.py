"""`harness models`: the zoo, with the papers' figures, or our counts checked against them."""

from __future__ import annotations

import click

from harness.cli.options import translate_errors
from harness.cli.output import echo, echo_json, echo_table, json_option, wide_option
from harness.errors import HarnessError


@click.command(short_help="The zoo, with the papers' figures.")
@click.option("--family", default=None, help="Only this family (e.g. RepViT).")
@click.option("--check", is_flag=True, help="Count params and MACs and compare with published; exit 1 on a miss.")
@wide_option
@json_option
@translate_errors
def models(family, check, wide, as_json):
    """The zoo: every registered model with its published facts (the paper's latency with the
    device it was measured on)."""
    from harness.report.jsonable import dumps
    from harness.report.text import Notes
    from harness.report.zoo_tables import check_json, check_table, zoo_json, zoo_table
    from harness.zoo.index import family_entries

    entries = family_entries(family)  # the index: listing the zoo imports no torch
    if check:
        from harness.zoo import list_models
        from harness.zoo.check import check_models

        rows = check_models(list_models(family))
        if as_json:
            echo_json(dumps(check_json(rows)))
        else:
            notes = Notes()
            echo_table(check_table(rows, notes), notes, wide=wide)
        misses = [r for r in rows if not r.ok]
        if misses:
            raise HarnessError(f"{len(misses)} of {len(rows)} models miss their published counts: "
                               + ", ".join(r.model for r in misses) + ".")
        if not as_json:
            echo(f"All {len(rows)} models match their published counts.")
        return
    if as_json:
        echo_json(dumps(zoo_json(entries)))
        return
    echo_table(zoo_table(entries), wide=wide, after=[
        "The paper's latencies were measured on the device each names, not on this machine: "
        "`harness run` measures yours."])
