#!/bin/sh
# InfluxDB 2 first start (docker-entrypoint-initdb.d): map the bucket to an InfluxQL database
# of the same name, which the collector's query API and Grafana read through the v1 API.
set -eu
bucket_id=$(influx bucket list --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f1)
influx v1 dbrp create --bucket-id "$bucket_id" --db "$DOCKER_INFLUXDB_INIT_BUCKET" \
    --rp autogen --default
