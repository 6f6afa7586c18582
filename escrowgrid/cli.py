"""The `escrowgrid` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from escrowgrid import jsonlog
from escrowgrid.config import ConfigError, Settings, load_settings
from escrowgrid.embedded_pg import EmbeddedPostgresError
from escrowgrid.migrations import MigrationError
from escrowgrid.onchain import commands as onchain_commands

if TYPE_CHECKING:
    from escrowgrid.bench.http import HttpBenchConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="escrowgrid", description="escrowgrid ledger service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the API (and a private PostgreSQL without DATABASE_URL)")
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser(
        "migrate", help="apply pending migrations to DATABASE_URL or the private cluster"
    )
    db_sub.add_parser("schema", help="print the whole schema as one SQL script (db/schema.sql)")
    sub.add_parser("openapi", help="print /openapi.json (no database needed)")
    bench = sub.add_parser("bench", help="benchmarks (figures for docs/performance.md)")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    appends = bench_sub.add_parser("appends", help="command throughput: ours vs the library")
    appends.add_argument("--seconds", type=float, default=10.0, help="duration of each row")
    appends.add_argument("--writers", default="1,16", help="comma list of concurrent writers")
    appends.add_argument("--processes", type=int, default=1, help="processes sharing the writers")
    http = bench_sub.add_parser("http", help="the service over HTTP: creates, moves, reads")
    http.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    http.add_argument("--concurrency", type=int, default=16, help="connections in flight")
    http.add_argument("--workers", type=int, default=2, help="service worker processes")
    http.add_argument(
        "--runner",
        choices=("inline", "separate"),
        default="inline",
        help="projection runner inside the workers, or as its own process (with --against: on "
        "both sides, a git ref only)",
    )
    http.add_argument(
        "--pg-stats",
        action="store_true",
        help="record PostgreSQL's statements (pg_stat_statements) and print the costliest",
    )
    http.add_argument(
        "--against",
        metavar="REF|URL",
        help="A/B: a git ref (served from a temporary worktree) or a running server's http:// "
        "URL as A, this checkout as B, in alternating rounds; prints B/A",
    )
    http.add_argument(
        "--rounds", type=int, default=3, help="with --against: rounds of each side (A B A B ...)"
    )
    http.add_argument(
        "--against-root-key",
        default=os.environ.get("BENCH_AGAINST_ROOT_KEY"),
        help="with --against URL: that server's root API key (default: $BENCH_AGAINST_ROOT_KEY)",
    )
    floor = bench_sub.add_parser(
        "floor", help="the stack alone (Granian, Litestar, one query): CPU per request"
    )
    floor.add_argument("--seconds", type=float, default=8.0, help="duration of each case")
    floor.add_argument("--concurrency", type=int, default=16, help="connections in flight")
    floor.add_argument("--workers", type=int, default=2, help="server worker processes")
    floor.add_argument("--rounds", type=int, default=3, help="passes over the cases")
    chain = bench_sub.add_parser("onchain", help="the on-chain publisher on anvil: throughput, lag")
    chain.add_argument("--events", type=int, default=300, help="events for each batch size")
    chain.add_argument("--batches", default="1,10,50", help="comma list of events per transaction")
    chain.add_argument("--load-seconds", type=float, default=10.0, help="each HTTP load phase")
    chain.add_argument("--load-concurrency", type=int, default=16, help="HTTP connections")
    chain.add_argument("--load-batch", type=int, default=50, help="events per tx under load")
    _add_read_side(sub)
    _add_drill(sub)
    return parser


def _add_drill(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`drill`: fault drills under load (docs/reliability.md)."""
    drill = sub.add_parser(
        "drill", help="fault drills under load; prints docs/reliability.md's figures"
    )
    drill.add_argument("--minutes", type=float, default=0.0, help="keep running rounds this long")
    drill.add_argument("--seed", type=int, help="replay a run (default: a random seed, printed)")
    drill.add_argument("--only", action="append", default=[], metavar="NAME", help="this drill")
    drill.add_argument("--seconds", type=float, default=20.0, help="load per round")
    drill.add_argument("--round", type=int, default=1, help="number of the first round")
    drill.add_argument("--list", action="store_true", help="list the drills and exit")


def _add_read_side(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`projections run|status|rebuild|bench-*` and `verify` (the read side, projections/)."""
    proj = sub.add_parser("projections", help="read models: run, status, rebuild, benchmarks")
    proj_sub = proj.add_subparsers(dest="projections_command", required=True)
    run = proj_sub.add_parser("run", help="follow the log, keeping the read models current")
    run.add_argument("names", nargs="*", metavar="NAME", help="projections (default: all)")
    run.add_argument("--batch-size", type=int, default=5000, help="events per transaction")
    status = proj_sub.add_parser("status", help="position, lag and runner of each projection")
    status.add_argument("names", nargs="*", metavar="NAME", help="projections (default: all)")
    status.add_argument("--json", action="store_true", help="JSON instead of a table")
    rebuild = proj_sub.add_parser("rebuild", help="rebuild beside the live tables, then swap")
    rebuild.add_argument("names", nargs="*", metavar="NAME", help="projections (default: all)")
    rebuild.add_argument("--batch-size", type=int, default=50_000, help="events per transaction")
    bench = proj_sub.add_parser("bench-rebuild", help="rebuild throughput over a generated log")
    bench.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    bench.add_argument("--batch-size", type=int, default=50_000, help="events per transaction")
    live = proj_sub.add_parser("bench-live", help="commit-to-visible lag under a write load")
    live.add_argument("--seconds", type=float, default=20.0, help="duration of the load")
    live.add_argument("--writers", type=int, default=16, help="concurrent commands in flight")
    onchain_commands.add_parser(sub)
    verify = sub.add_parser("verify", help="check hash chains, ledger digest and read models")
    verify.add_argument("--digest", metavar="POSITION:HASH", help="check a published digest")
    verify.add_argument("--export", metavar="FILE", help="also write the log as JSON lines")
    verify.add_argument("--chain", action="store_true", help="also prove the on-chain anchors")


def _read_side(args: argparse.Namespace, settings: Settings) -> int:
    from escrowgrid.bench.projection_lag import live_benchmark
    from escrowgrid.bench.rebuild import rebuild_benchmark
    from escrowgrid.bootstrap import projection_runner
    from escrowgrid.migrations import migrate
    from escrowgrid.serve import database_for
    from projections.rebuilding.console import rebuild_command
    from projections.registry import UnknownProjection
    from projections.runner import console

    command = args.command if args.command == "verify" else args.projections_command
    try:
        if command == "bench-rebuild":
            folder = settings.data_dir / "bench"
            print(rebuild_benchmark(args.events, args.batch_size, folder))
            return 0
        if command == "bench-live":
            print(live_benchmark(args.seconds, args.writers, settings.data_dir / "bench"))
            return 0
        with database_for(settings) as dsn:
            migrate(dsn)
            if command == "verify":
                from escrowgrid.verify import main as verify_main

                code = verify_main(dsn, digest=args.digest, export_path=args.export, out=sys.stdout)
                if args.chain and code == 0:
                    return onchain_commands.verify_chain(settings.onchain, dsn)
                return code
            if command == "run":
                return console.run(projection_runner(dsn, args.names, batch_size=args.batch_size))
            if command == "status":
                return console.status(dsn, args.names, as_json=args.json, out=sys.stdout)
            return rebuild_command(dsn, args.names, batch_size=args.batch_size, out=sys.stdout)
    except UnknownProjection as exc:
        print(f"escrowgrid: {exc}", file=sys.stderr)
        return 2


def _publisher_scrape(settings: Settings) -> onchain_commands.Follower | None:
    """`onchain run`'s /metrics on ONCHAIN_METRICS_PORT, answering the root key as the API does."""
    if not settings.onchain.metrics_port:
        return None
    import msgspec

    from escrowgrid.api.scrape_auth import root_only
    from escrowgrid.onchain.scrape import MetricsEndpoint
    from escrowgrid.serve import ensure_root_key

    # Without ROOT_API_KEY, the key `serve` generated in the data folder (or a new one there).
    root = settings.root_api_key or ensure_root_key(settings.data_dir)[0]
    with_root = msgspec.structs.replace(settings, root_api_key=root)
    return MetricsEndpoint(settings.host, settings.onchain.metrics_port, root_only(with_root))


def _drill(args: argparse.Namespace) -> int:
    from escrowgrid.drill.campaign import campaign
    from escrowgrid.drill.registry import UnknownDrill, select

    try:
        if args.list:
            for drill in select(args.only):
                print(f"{drill.number}  {drill.name:24} {drill.summary}")
            return 0
        return campaign(
            minutes=args.minutes,
            seed=args.seed,
            only=args.only,
            seconds=args.seconds,
            first_round=args.round,
        )
    except UnknownDrill as exc:
        print(f"escrowgrid: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the campaign has stopped what it started on the way out
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "openapi":
        from escrowgrid.api.openapi_dump import main as openapi_main

        return openapi_main()
    if args.command == "db" and args.db_command == "schema":
        from escrowgrid.migrations import render_schema_sql

        sys.stdout.write(render_schema_sql())
        return 0
    if args.command == "drill":
        return _drill(args)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"escrowgrid: configuration error: {exc}", file=sys.stderr)
        return 2
    jsonlog.configure(settings.log_level)
    try:
        if args.command == "serve":
            from escrowgrid.serve import serve

            return serve(settings)
        if args.command == "db" and args.db_command == "migrate":
            from escrowgrid.migrations import migrate
            from escrowgrid.serve import database_for

            with database_for(settings) as dsn:
                applied = migrate(dsn)
            print(f"escrowgrid: {len(applied)} migration(s) applied: {', '.join(applied) or '-'}")
            return 0
        if args.command == "bench" and args.bench_command == "appends":
            from escrowgrid.bench.appends import BenchConfig, run

            writers = tuple(int(w) for w in args.writers.split(","))
            config = BenchConfig(args.seconds, writers, args.processes)
            print(run(config, settings.data_dir / "bench"))
            return 0
        if args.command == "bench" and args.bench_command == "http":
            from escrowgrid.bench.http import HttpBenchConfig
            from escrowgrid.bench.http import run as run_http_bench

            http_config = HttpBenchConfig(
                args.seconds, args.concurrency, args.workers, args.runner, args.pg_stats
            )
            if args.against is not None:
                return _ab(args, http_config, settings.data_dir / "bench")
            print(run_http_bench(http_config, settings.data_dir / "bench"))
            return 0
        if args.command == "bench" and args.bench_command == "floor":
            return _floor(args, settings.data_dir / "bench")
        if args.command == "bench" and args.bench_command == "onchain":
            from escrowgrid.bench.onchain import OnchainBenchConfig
            from escrowgrid.bench.onchain import run as run_onchain_bench

            chain_config = OnchainBenchConfig(
                args.events,
                tuple(int(b) for b in args.batches.split(",")),
                args.load_seconds,
                args.load_concurrency,
                args.load_batch,
            )
            print(run_onchain_bench(chain_config, settings.data_dir / "bench"))
            return 0
        if args.command == "onchain":
            if args.onchain_command == "deploy":
                return onchain_commands.deploy(settings.onchain)
            from escrowgrid.migrations import migrate
            from escrowgrid.serve import database_for

            with database_for(settings) as dsn:
                migrate(dsn)
                scrape = _publisher_scrape(settings) if args.onchain_command == "run" else None
                return onchain_commands.run(args, settings.onchain, dsn, scrape=scrape)
        if args.command in ("projections", "verify"):
            return _read_side(args, settings)
    except (MigrationError, EmbeddedPostgresError) as exc:
        print(f"escrowgrid: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


def _floor(args: argparse.Namespace, data_root: Path) -> int:
    """`bench floor`: refuse a count below one before starting anything, then run."""
    from escrowgrid.bench.floor import run
    from escrowgrid.bench.http import HttpBenchConfig

    for flag in ("rounds", "concurrency", "workers"):
        if getattr(args, flag) < 1:
            print(f"escrowgrid: --{flag} must be at least 1", file=sys.stderr)
            return 2
    if not args.seconds > 0:
        print("escrowgrid: --seconds must be more than 0", file=sys.stderr)
        return 2
    config = HttpBenchConfig(args.seconds, args.concurrency, args.workers)
    print(run(config, data_root, args.rounds))
    return 0


def _ab(args: argparse.Namespace, config: HttpBenchConfig, folder: Path) -> int:
    """`bench http --against`: check the arguments before starting anything, then run."""
    from escrowgrid.bench.ab import AgainstError, parse_against, run_ab

    if args.rounds < 1:
        print("escrowgrid: --rounds must be at least 1", file=sys.stderr)
        return 2
    if config.pg_stats:
        print("escrowgrid: --against takes no --pg-stats", file=sys.stderr)
        return 2
    try:
        against = parse_against(args.against, args.against_root_key)
    except AgainstError as exc:
        print(f"escrowgrid: {exc}", file=sys.stderr)
        return 2
    if config.runner != "inline" and against.ref is None:
        # A server at a URL runs its runner however it was started; only B's would change.
        print("escrowgrid: --runner separate needs --against REF, not a URL", file=sys.stderr)
        return 2
    print(run_ab(config, against, args.rounds, folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
