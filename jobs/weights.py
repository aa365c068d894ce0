"""spark-submit entry point: the weights stage (PRS-CS).

hailctl dataproc submit CLUSTER jobs/weights.py -- --config conf/dataproc.yaml
spark-submit --py-files trd_spark.whl jobs/weights.py --config conf/emr.yaml
"""

from __future__ import annotations

import argparse
import sys

from trd_spark.cli import execute, job_parser


def get_parser() -> argparse.ArgumentParser:
    """Arguments: --config FILE [--force]."""
    return job_parser("weights")


def main(args: argparse.Namespace) -> int:
    """Load the config, start Hail on the cluster's Spark context, run, stop."""
    return execute(args)


if __name__ == "__main__":
    sys.exit(main(get_parser().parse_args()))
