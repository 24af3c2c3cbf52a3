"""`movierec`: one subcommand per step, plus `pipeline` for all of them and `serve` for the API."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from conf import Config, ConfigError
from jobs.context import config_from_params

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("movierec.cli")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", help="config environment: conf/<env>.yaml (default $MOVIEREC_ENV or local)")
    common.add_argument("--workdir", help="folder for the lake, runs, Feast repo and MLflow store")
    common.add_argument("--source", choices=["synthetic", "movielens"], help="input source")
    common.add_argument("--data-dir", help="MovieLens folder (ratings.csv or ratings.dat[.gz])")
    common.add_argument("--tmdb-dir", help="TMDB 5000 CSV folder, joined through links.csv")
    common.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set models.als.factors=32")
    common.add_argument("--verbose", action="store_true",
                        help="also show Spark's own output and other libraries' logs and warnings (by default Spark's "
                             "goes to WORKDIR/spark.log, the rest below ERROR is left out)")

    parser = argparse.ArgumentParser(prog="movierec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    pipeline = sub.add_parser("pipeline", parents=[common], help="run every step, then publish if the gates pass")
    pipeline.add_argument("--report", help="write the pipeline report (JSON) here")
    pipeline.add_argument("--run-id")
    ingest = sub.add_parser("ingest", parents=[common], help="sources -> bronze -> silver (+ quarantine)")
    ingest.add_argument("--date", type=_day, help="ingest only the events logged on this day (YYYY-MM-DD)")
    backfill = sub.add_parser("backfill", parents=[common], help="the daily ingest for each day of a range, resumable")
    backfill.add_argument("--start", type=_day, required=True, help="first day (YYYY-MM-DD)")
    backfill.add_argument("--end", type=_day, required=True, help="last day, included")
    backfill.add_argument("--force", action="store_true", help="re-ingest days already in the ingest log")
    for name in ("features", "evaluate", "publish"):
        sub.add_parser(name, parents=[common], help=f"the {name} step for --run-id").add_argument("--run-id", required=True)
    for name in ("train", "score"):
        step = sub.add_parser(name, parents=[common], help=f"the {name} step for --run-id and --split")
        step.add_argument("--run-id", required=True)
        step.add_argument("--split", choices=["eval", "full"], default="eval")
    serve = sub.add_parser("serve", parents=[common], help="serve the published lists over HTTP")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=_positive, help="API processes (default serving.workers; 0 there: one per core)")
    sql = sub.add_parser("sql", parents=[common], help="query the lake's tables (layer.name) with DuckDB, without Spark")
    sql.add_argument("query", help='DuckDB SQL, e.g. "SELECT event_type, count(*) FROM silver.interactions GROUP BY 1"')
    sql.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    show = sub.add_parser("show", parents=[common], help="a lake table's first rows; without TABLE, every table")
    show.add_argument("table", nargs="?", help="layer.name, e.g. gold.ranked_lists")
    show.add_argument("--limit", type=_positive, default=20, help="rows to show (default 20)")
    show.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    sub.add_parser("retention", parents=[common],
                   help="remove what runs older than retention.days left; VACUUM the lake (the pipeline's last step)")
    versions = sub.add_parser("versions", parents=[common], help="the published versions the online store retains")
    versions.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rollback = sub.add_parser("rollback", parents=[common], help="serve a retained version again")
    rollback.add_argument("version", nargs="?", help="the version (run id) to serve; default: the newest good one before the live one")
    forget = sub.add_parser("forget", parents=[common],
                            help="erase users from the lake, runs, Feast and the online store; ingest then drops them")
    forget.add_argument("--user", type=_user_id, action="append", required=True, metavar="ID",
                        help="a user id to forget (repeat for several)")
    experiment = sub.add_parser("experiment", help="A/B experiment readouts")
    readouts = experiment.add_subparsers(dest="action", required=True)
    report = readouts.add_parser("report", parents=[common],
                                 help="per variant: exposure, sample ratio, lifts with Welch and CUPED intervals, a decision")
    report.add_argument("--experiment", help="experiment name (default: experiment.name)")
    report.add_argument("--since", type=_day, help="only exposures from this day on (YYYY-MM-DD)")
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _user_id(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a user id (a whole number)")
    return int(text)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def set_overrides(items: list[str]) -> dict:
    """`--set a.b=1 --set c=x` -> {"a": {"b": 1}, "c": "x"}; values are parsed as YAML scalars."""
    tree: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(value)
    return tree


def _config(args: argparse.Namespace) -> Config:
    return config_from_params({
        "env": args.env, "workdir": args.workdir,
        "source": args.source or ("movielens" if args.data_dir else None),
        "data_dir": args.data_dir, "tmdb_dir": args.tmdb_dir,
        "overrides": set_overrides(args.set),
    })


def _run(args: argparse.Namespace) -> dict | None:
    cfg = _config(args)
    if args.command == "serve":
        from serving.app import serve

        serve(cfg, host=args.host, port=args.port, workers=args.workers)
        return None
    if args.command in ("sql", "show"):
        from jobs.lake_query import as_records, list_tables, render, run_sql, show_table

        if args.command == "sql":
            answer = run_sql(cfg, args.query)
        else:
            answer = show_table(cfg, args.table, args.limit) if args.table else list_tables(cfg)
        print(json.dumps(as_records(answer), indent=2, default=str) if args.json else render(answer))
        return None
    if args.command == "versions":
        from jobs.versions import as_rows, list_versions, table

        retained = list_versions(cfg)
        print(json.dumps(as_rows(retained), indent=2) if args.json else table(retained))
        return None
    if args.command == "rollback":
        from jobs.versions import rollback

        return rollback(cfg, args.version)
    from jobs.spark import get_spark

    jvm_log = None if args.verbose else Path(cfg.workdir) / "spark.log"
    if jvm_log:
        log.info("Spark's own output goes to %s (--verbose shows it here)", jvm_log)
    spark = get_spark(cfg, jvm_log, log_level="WARN")  # Spark's default level: what one reads when a run fails
    if args.command == "experiment":
        from jobs.experiments.report import experiment_report, markdown

        since = datetime(args.since.year, args.since.month, args.since.day, tzinfo=UTC) if args.since else None
        print(markdown(experiment_report(cfg, spark, args.experiment, since)))   # the page, decision last
        return None
    if args.command == "pipeline":
        from jobs.pipeline import run_pipeline

        report = run_pipeline(cfg, spark, args.run_id)
        if args.report:
            Path(args.report).parent.mkdir(parents=True, exist_ok=True)
            Path(args.report).write_text(json.dumps(report, indent=2))
        return report
    from jobs.progress import run_step

    return run_step(f"{args.command}_{args.split}" if args.command in ("train", "score") else args.command,
                    _step, args, cfg, spark)


def _step(args: argparse.Namespace, cfg: Config, spark: SparkSession) -> dict:
    """The step that `args.command` names."""
    if args.command == "ingest":
        from jobs.ingest import Interval, ingest

        return ingest(cfg, spark, Interval(args.date, args.date + timedelta(days=1)) if args.date else None)
    if args.command == "backfill":
        from jobs.backfill import backfill

        return backfill(cfg, spark, args.start, args.end, args.force)
    if args.command == "features":
        from jobs.features import build_features

        return build_features(cfg, spark, args.run_id)
    if args.command in ("train", "score"):
        from jobs.score import score
        from jobs.train import train

        step = train if args.command == "train" else score
        return step(cfg, spark, args.run_id, args.split)
    if args.command == "retention":
        from jobs.retention import apply_retention

        return apply_retention(cfg, spark)
    if args.command == "forget":
        from jobs.erasure import forget

        return forget(cfg, spark, args.user)
    if args.command == "evaluate":
        from jobs.evaluate import evaluate

        return evaluate(cfg, spark, args.run_id)
    from jobs.publish import publish

    return publish(cfg, spark, args.run_id)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _log_to_stderr(args.verbose)
    from jobs.errors import PipelineError

    try:
        result = _run(args)
    except (ConfigError, PipelineError) as exc:
        print(f"movierec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    if result is not None:
        print(json.dumps(_summary(result), indent=2, default=str))
    return 0


def _log_to_stderr(verbose: bool) -> None:
    """Progress on stderr, so stdout stays the JSON summary a script can parse. Other libraries' records and Python's
    warnings show only from ERROR up unless `verbose` (then from INFO up): a run's output is the pipeline's own lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S"))
    if not verbose:
        handler.addFilter(lambda record: record.name.startswith("movierec") or record.levelno >= logging.ERROR)
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # MLflow logs through a handler of its own
    logging.basicConfig(handlers=[handler], level=logging.INFO if verbose else logging.WARNING)
    logging.getLogger("movierec").setLevel(logging.INFO)
    logging.captureWarnings(True)


def _summary(result: dict) -> dict:
    """The report minus the bulky parts, for the terminal."""
    if "models" not in result:
        return result
    return {key: result[key] for key in ("run_id", "models", "gates", "published_version", "timings_seconds") if key in result}


if __name__ == "__main__":
    sys.exit(main())
