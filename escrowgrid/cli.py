"""The `escrowgrid` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from escrowgrid import jsonlog
from escrowgrid.config import ConfigError, load_settings
from escrowgrid.embedded_pg import EmbeddedPostgresError
from escrowgrid.migrations import MigrationError


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
    bench = sub.add_parser("bench", help="benchmarks (figures for docs/performance.md)")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    appends = bench_sub.add_parser("appends", help="command throughput: ours vs the library")
    appends.add_argument("--seconds", type=float, default=10.0, help="duration of each row")
    appends.add_argument("--writers", default="1,16", help="comma list of concurrent writers")
    appends.add_argument("--processes", type=int, default=1, help="processes sharing the writers")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "db" and args.db_command == "schema":
        from escrowgrid.migrations import render_schema_sql

        sys.stdout.write(render_schema_sql())
        return 0
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
    except (MigrationError, EmbeddedPostgresError) as exc:
        print(f"escrowgrid: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
