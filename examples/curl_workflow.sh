#!/bin/sh
# The guide's curl + jq workflow, against the standalone fake: check inventory, create, poll, read.
# Start the fake:  python -m gpcn_async.testing --port 8080
# then run:        GPCN_API_KEY=<the key it printed> sh curl_workflow.sh
set -eu
BASE=${GPCN_BASE_URL:-http://127.0.0.1:8080/v1}
api() {
  curl -sS --fail-with-body --max-time 10 \
    -H "X-API-Key: $GPCN_API_KEY" -H "Content-Type: application/json" "$@"
}

# 1. What can I order? The first available 1-GPU configuration, as a create body.
ORDER=$(api "$BASE/resource/gpu/inventory?count=1" | jq -c 'first(
  .data[] as $series | $series.availability[] | select(.gpuCounts["1"].available)
  | {name: "train-01", seriesId: $series.seriesId, datacenterId, gpuCount: 1})')

# 2. Order it: 202 Accepted, with a job to poll.
JOB_ID=$(api -X POST -d "$ORDER" "$BASE/resource/gpu" | jq -r '.data.jobId')

# 3. Poll the job until it ends.
for _ in $(seq 60); do
  JOB=$(api -X POST -d "{\"jobIds\": [\"$JOB_ID\"]}" "$BASE/resource/jobs" | jq -c '.data.jobs[0]')
  STATUS=$(echo "$JOB" | jq -r '.status')
  echo "job $JOB_ID: $STATUS, $(echo "$JOB" | jq '.progress')%"
  case $STATUS in completed | failed) break ;; esac
  sleep 1
done

# 4. Read the new VM.
VM_ID=$(echo "$JOB" | jq -r '.resourceId')
api "$BASE/resource/gpu/$VM_ID" | jq '.data | {id, name, status, publicIp}'
