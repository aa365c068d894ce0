#!/usr/bin/env bash
# Dataproc initialization action: install trd-spark on every node of a cluster that
# `hailctl dataproc start` made, into the Python that already has Hail and pyspark.
#
#   hailctl dataproc start trd --num-workers 8 \
#     --init gs://BUCKET/trd-spark/dataproc-init.sh \
#     --metadata TRD_SPARK_WHEEL=gs://BUCKET/trd-spark/trd_spark-0.1.0-py3-none-any.whl
#
# The image's hail and pyspark stay as they are: pip gets their installed versions as
# constraints, so it adds what trd-spark needs besides them and replaces neither.
# Settings (environment variables, else the instance metadata of the same name):
#   TRD_SPARK_WHEEL  the wheel: gs://... (copied with gsutil) or a local path
#   TRD_SPARK_PIP    the pip of the image's Python (default /opt/conda/default/bin/pip)
set -euo pipefail

metadata() { /usr/share/google/get_metadata_value "attributes/$1" 2>/dev/null || true; }

wheel=${TRD_SPARK_WHEEL:-$(metadata TRD_SPARK_WHEEL)}
pip=${TRD_SPARK_PIP:-/opt/conda/default/bin/pip}
if [ -z "$wheel" ]; then
  echo "dataproc-init: set the metadata key TRD_SPARK_WHEEL to the wheel's gs:// path" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case "$wheel" in
  gs://*) gsutil -q cp "$wheel" "$work/" && wheel="$work/$(basename "$wheel")" ;;
esac
"$pip" freeze | grep -iE '^(hail|pyspark)==' > "$work/image-versions.txt" || true
"$pip" install --quiet -c "$work/image-versions.txt" "$wheel"
echo "dataproc-init: installed $("$pip" show trd-spark | grep -E '^(Name|Version):' | tr '\n' ' ')" \
  "with $(tr '\n' ' ' < "$work/image-versions.txt")"
