"""``farm gc``: remove the containers of farm processes that are gone and the farm images no
scenario's newest record uses; say what went, what stayed and why, and the space freed.
Then trim each compiler cache to its bound (``--ccache-size``), or empty them all
(``--drop-ccache``)."""

from __future__ import annotations

import argparse

from farm.commands.common import progress
from farm.containers import gc
from farm.containers.engine import Engine
from farm.inputs.sources import default_cache_dir
from farm.run import compiler_cache


def run(args: argparse.Namespace) -> int:
    required = [gc.parse_label_filter(text) for text in args.label]
    caches = compiler_cache.CompilerCaches.under(default_cache_dir(), args.ccache_size)
    engine = Engine.connect()
    directory = gc.records_dir()
    records = gc.read_records(directory)
    inventory = gc.collect(engine, required_labels=required)
    plan = gc.plan_gc(
        inventory, records, all_containers=args.all_containers, required_labels=required
    )
    for note in plan.notes:
        print(f"note: {note}")
    for kept in plan.kept:
        print(f"kept {kept.kind.value} {kept.what}: {kept.reason}")
    print(
        f"kept {plan.recorded_tags} recorded image tag(s): the base image and the newest "
        f"records of {len(gc.newest_records(records))} scenario(s) in {directory}"
    )
    if args.dry_run:
        for removal in plan.removals:
            print(f"would remove {removal.kind.value} {removal.what}: {removal.reason}")
        print(
            f"dry run: nothing removed; {len(plan.removals)} object(s) would go, freeing "
            f"{gc.format_bytes(plan.estimated_bytes)} or more"
        )
        what = "removed" if args.drop_ccache else f"trimmed to {caches.max_size}"
        for directory in caches.directories():
            print(f"compiler cache {directory}: would be {what}")
        return 0
    outcome = gc.execute(engine, plan, progress=progress)
    for removal in outcome.removed:
        print(f"removed {removal.kind.value} {removal.what}: {removal.reason}")
    for kept in outcome.refused:
        print(f"kept {kept.kind.value} {kept.what}: {kept.reason}")
    for removal, error in outcome.failed:
        print(f"FAILED to remove {removal.kind.value} {removal.what}: {error}")
    containers = sum(1 for r in outcome.removed if r.kind is gc.Kind.CONTAINER)
    print(
        f"removed {containers} container(s) and {len(outcome.removed) - containers} image "
        f"reference(s); reclaimed {gc.format_bytes(outcome.reclaimed_bytes)}"
    )
    if args.drop_ccache:
        for removed in caches.remove():
            print(f"removed compiler cache {removed}")
    else:
        for line in caches.trim(engine, compiler_cache.toolchain_images(engine)):
            print(f"compiler cache {line}")
    return 1 if outcome.failed else 0
