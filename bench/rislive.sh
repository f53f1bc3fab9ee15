#!/usr/bin/env bash
# RIS Live benchmark: ris_message JSON decoded (rislive.Decoder), tagged
# against all five providers' published ranges and analyzed, one op per
# message, GOMAXPROCS=1. Figures go to bench/results/rislive.md.
#
#   bash bench/rislive.sh [MESSAGES]     (default 200000 per stage)
#
# The corpus is generated (bench/rislive_test.go risCorpus): 20 RRCs × 30
# feeders, 1–4 prefixes per announcement, 10 % withdrawals, half the
# messages inside the clouds' ranges (wide subscriptions bring the rest).
# msgs/cpu-s counts user+sys of the whole process (GC included), so it is
# the per-core figure on a shared machine. x-firehose-5k is that rate
# over an assumed full-firehose peak of 5 000 ris_messages/s (all RRCs,
# all peers; the average is nearer 1–2 k/s) — routewatch subscribes to
# far less than the firehose, so this is the worst case.
set -euo pipefail
N=${1:-200000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"
go test -count 1 -run '^$' -bench '^BenchmarkRISLivePipeline$' -benchtime "${N}x" -cpu 1 ./bench/ | grep -E '^(Benchmark|ok|FAIL)'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
