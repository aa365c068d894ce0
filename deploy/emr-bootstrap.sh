#!/usr/bin/env bash
# EMR bootstrap action: on every node, a Python 3.11 virtual environment with Hail and
# trd-spark, and Hail's jar at a fixed path for Spark's class path.
#
#   aws emr create-cluster --release-label emr-7.5.0 --applications Name=Spark ... \
#     --bootstrap-actions Path=s3://BUCKET/trd-spark/emr-bootstrap.sh,Args=[s3://BUCKET/trd-spark/trd_spark-0.1.0-py3-none-any.whl]
#
# Then, on the primary node, submit as README.md ("Amazon EMR") shows, with
# HAIL_JAR=/opt/trd-spark/hail-all-spark.jar and PYSPARK_PYTHON=/opt/trd-spark/venv/bin/python.
# Settings (environment variables):
#   TRD_SPARK_WHEEL   the wheel, if not the first argument: s3://... (copied with aws s3 cp)
#                     or a local path
#   TRD_SPARK_HOME    where the environment goes (default /opt/trd-spark)
#   TRD_SPARK_PYTHON  the Python 3.11 to make it with (default python3.11; installed with
#                     dnf when missing, as on Amazon Linux 2023)
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

wheel=${1:-${TRD_SPARK_WHEEL:-}}
home=${TRD_SPARK_HOME:-/opt/trd-spark}
python=${TRD_SPARK_PYTHON:-python3.11}
if [ -z "$wheel" ]; then
  echo "emr-bootstrap: give the wheel's s3:// path as the first argument" >&2
  exit 1
fi
command -v "$python" >/dev/null 2>&1 || as_root dnf install -y -q python3.11
as_root mkdir -p "$home"
as_root chown "$(id -u):$(id -g)" "$home"
case "$wheel" in
  s3://*) aws s3 cp --only-show-errors "$wheel" "$home/" && wheel="$home/$(basename "$wheel")" ;;
esac
"$python" -m venv "$home/venv"
"$home/venv/bin/pip" install --quiet "$wheel"
jar=$("$home/venv/bin/python" -c \
  'import hail, pathlib; print(pathlib.Path(hail.__file__).parent / "backend" / "hail-all-spark.jar")')
ln -sf "$jar" "$home/hail-all-spark.jar"
echo "emr-bootstrap: $("$home/venv/bin/trd-spark" --version), Hail jar at $home/hail-all-spark.jar"
