#!/usr/bin/env bash
# bench/mrt.sh — routewatch's MRT reader against bgpdump, side by side.
#
# Builds two large inputs from the shared RIS files and times, on the same
# file in one run: `bgpdump -m`, `routewatch mrt dump -m` (output checked
# identical with cmp) and decode-only `routewatch mrt dump -count`, with
# wall time, CPU time (user+sys) and peak RSS from /usr/bin/time -v.
#
#   bench/mrt.sh                # markdown report on stdout
#   REPEAT=40 ENTRIES=8000000 bench/mrt.sh
#
# Inputs:
#   updates  the shared RIS update files as concatenated gzip members,
#            repeated $REPEAT times (default 20)
#   rib      a TABLE_DUMP_V2 RIB of $ENTRIES entries (default 4,000,000)
#            written by routewatch's MRT writer (bench/cmd/mkrib)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${ROUTEWATCH_SHARED:-$(dirname "$ROOT")/shared}/data/mrt
WORK=${BENCH_DIR:-/tmp/routewatch-bench-mrt}
REPEAT=${REPEAT:-20}
ENTRIES=${ENTRIES:-4000000}
BGPDUMP=${BGPDUMP:-$(command -v bgpdump || echo /usr/bin/bgpdump)}
mkdir -p "$WORK"

go build -o "$WORK/routewatch" ./cmd/routewatch
go build -o "$WORK/mkrib" ./bench/cmd/mkrib

UPD="$WORK/updates.mrt.gz"
RIB="$WORK/rib.mrt.gz"
if [ ! -s "$UPD" ]; then
	: >"$UPD"
	for _ in $(seq "$REPEAT"); do
		cat "$SHARED"/updates.20160811.1600.gz "$SHARED"/updates.20070211.0141.gz >>"$UPD"
	done
fi
if [ ! -s "$RIB" ]; then
	"$WORK/mkrib" -peers 40 -entries "$ENTRIES" -o "$RIB" "$SHARED"/bview.20020722.2337.gz "$SHARED"/updates.20160811.1600.gz
fi

# measure NAME CMD... -> prints "wall cpu rss_kb", output to /dev/null
measure() {
	local log="$WORK/time.$1.log"
	shift
	/usr/bin/time -v "$@" >/dev/null 2>"$log"
	local wall user sys rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
	user=$(awk -F': ' '/User time/ {print $2}' "$log")
	sys=$(awk -F': ' '/System time/ {print $2}' "$log")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
	echo "$wall $(echo "$user + $sys" | bc) $rss"
}

ratio() { echo "scale=1; $1 / $2" | bc; }

echo "## MRT reader vs bgpdump"
echo
echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- bgpdump: $(dpkg-query -W -f '${Package} ${Version}' bgpdump 2>/dev/null || echo unknown) ($BGPDUMP); routewatch $(git rev-parse --short HEAD); Go $(go env GOVERSION)"
echo "- commands (output to /dev/null, each under /usr/bin/time -v): \`bgpdump -q -m F\`, \`routewatch mrt dump -q -m F\`, \`routewatch mrt dump -count F\`; identity checked separately with \`cmp <(bgpdump -q -m F) <(routewatch mrt dump -q -m F)\`"
echo "- wall time is what a user waits; CPU time (user+sys) is steadier on a shared, loaded machine"
echo

for in in "$UPD" "$RIB"; do
	name=$(basename "$in")
	size=$(du -h "$in" | cut -f1)
	read -r bw bc br <<<"$(measure bgpdump "$BGPDUMP" -q -m "$in")"
	read -r mw mc mr <<<"$(measure dump "$WORK/routewatch" mrt dump -q -m "$in")"
	read -r cw cc cr <<<"$(measure count "$WORK/routewatch" mrt dump -count "$in")"
	summary=$(grep '^mrt dump:' "$WORK/time.count.log" || true)
	same="identical"
	if ! cmp -s <("$BGPDUMP" -q -m "$in") <("$WORK/routewatch" mrt dump -q -m "$in"); then
		same="DIFFERENT"
	fi
	zw=$( { /usr/bin/time -f %e zcat "$in" >/dev/null; } 2>&1 )
	echo "### $name ($size gzip; $summary)"
	echo
	echo "| command | wall s | CPU s | peak RSS MB | wall ratio vs bgpdump | CPU ratio vs bgpdump |"
	echo "|---|---:|---:|---:|---:|---:|"
	echo "| \`bgpdump -m\` | $bw | $bc | $((br / 1024)) | 1.0 | 1.0 |"
	echo "| \`routewatch mrt dump -m\` (output $same) | $mw | $mc | $((mr / 1024)) | $(ratio "$bw" "$mw") | $(ratio "$bc" "$mc") |"
	echo "| \`routewatch mrt dump -count\` (decode only) | $cw | $cc | $((cr / 1024)) | $(ratio "$bw" "$cw") | $(ratio "$bc" "$cc") |"
	echo "| \`zcat\` (decompression alone) | $zw | | | $(ratio "$bw" "$zw") | |"
	echo
done
