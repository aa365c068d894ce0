"""spark-submit probe: trd-spark's session helper joins a SparkContext started before it.

Usage: spark-submit ... join_context.py OUTPUT_DIR.  Prints one JSON line: the master,
a Hail sum computed on the cluster, and where the executors imported trd_spark from.
"""

import json
import sys

from pyspark import SparkContext

context = SparkContext()  # what a notebook or another library may have started first

from trd_spark.session import start_session, stop_session  # noqa: E402

spark = start_session(sys.argv[1])
import hail as hl  # noqa: E402


def where_trd_spark(_: object) -> str:
    import trd_spark

    return str(trd_spark.__file__)


table = hl.utils.range_table(100, n_partitions=4)
result = {
    "same_context": spark.sparkContext._jsc.sc() == context._jsc.sc(),
    "master": spark.sparkContext.master,
    "hail_sum": table.aggregate(hl.agg.sum(table.idx)),
    "executor_imports": sorted(
        set(spark.sparkContext.parallelize(range(4), 4).map(where_trd_spark).collect())
    ),
    "reference": hl.default_reference().name,
}
print("PROBE " + json.dumps(result))
stop_session()
