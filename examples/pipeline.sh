#!/usr/bin/env bash
# The example data pipeline (examples/dags/pipeline.yaml) through its life:
# deploy, backfill the source with progress, read the published dataset's
# partitions, stage an edited UDF threshold, rematerialize it, cut over,
# roll back, query the published transfers. Runs `trace server` and a `trace worker` on this machine with
# moto's SQS and local object storage (needs `moto_server`).
source "$(dirname "$0")/platform.sh"

build_platform op-synthetic-blocks op-range-aggregator op-erc20-transfers
start_queue 5124
"$trace" deploy examples/dags/pipeline.yaml
start_server_and_worker 7071

echo "== backfill the source, 1,000 blocks per run"
"$trace" backfill erc20_pipeline blocks --range 0..30000 --chunk 1000 --every 500ms | sed -n '1p;$p'
until "$trace" tasks --limit 1000 | awk 'NR > 1 && ($3 == "pending" || $3 == "running") { open = 1 } END { exit open }'; do sleep 0.5; done
"$trace" datasets

echo "== stage a higher threshold (rematerializes the edited job), cut over"
sed 's/min_value: "1000000000000"/min_value: "10000000000000"/' examples/dags/pipeline.yaml > "$work/v2.yaml"
"$trace" deploy "$work/v2.yaml" --staged
until "$trace" tasks --limit 1000 | awk 'NR > 1 && ($3 == "pending" || $3 == "running") { open = 1 } END { exit open }'; do sleep 0.5; done
"$trace" cutover erc20_pipeline 2
"$trace" datasets
echo "== roll back"
"$trace" rollback erc20_pipeline
"$trace" datasets
echo "== query what is published (the rolled-back version's transfers, pinned)"
"$trace" query "SELECT count(*) AS transfers, min(block_number) AS first_block, max(block_number) AS last_block FROM erc20_transfers" --format table
