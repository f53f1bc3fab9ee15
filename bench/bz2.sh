#!/usr/bin/env bash
# bench/bz2.sh — `.bz2` archives (RouteViews' format): `routewatch mrt
# dump -m` (parallel block decoding) vs `bgpdump -m` (libbz2, one thread),
# side by side on the same file, output checked identical with cmp.
#
#   bench/bz2.sh              # markdown table on stdout
#   COPIES=8 bench/bz2.sh     # a larger input
#
# Input: the shared RIS files decompressed, concatenated $COPIES times
# (default 4; ~47 MB of MRT) and recompressed with Debian's bzip2 -9 at run
# time (nothing from ../shared is committed). Also timed: an older build
# (BEFORE=/path/to/old/routewatch, BEFORE_LABEL=what it is) and bzcat
# (decompression alone).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${ROUTEWATCH_SHARED:-$(dirname "$(pwd)")/shared}/data/mrt
WORK=${BENCH_DIR:-/tmp/routewatch-bench-bz2}
COPIES=${COPIES:-4}
RUNS=${RUNS:-3}
mkdir -p "$WORK"
go build -o "$WORK/routewatch" ./cmd/routewatch
IN="$WORK/mix.mrt.bz2"
if [ ! -s "$IN" ]; then
	for _ in $(seq "$COPIES"); do
		zcat "$SHARED"/updates.20160811.1600.gz "$SHARED"/updates.20070211.0141.gz "$SHARED"/bview.20020722.2337.gz
	done | bzip2 -9 >"$IN"
fi
cmp <(bgpdump -q -m "$IN") <("$WORK/routewatch" mrt dump -q -m "$IN") && same=identical || same=DIFFERENT

# t CMD... -> "wall cpu" (best of $RUNS by wall time), output to /dev/null
t() {
	local best=""
	for _ in $(seq "$RUNS"); do
		local r
		/usr/bin/time -o "$WORK/time" -f "%e %U %S" "$@" >/dev/null 2>&1
		r=$(tail -1 "$WORK/time")
		read -r w u s <<<"$r"
		local c
		c=$(echo "$u + $s" | bc)
		if [ -z "$best" ] || [ "$(echo "$w < ${best% *}" | bc)" = 1 ]; then best="$w $c"; fi
	done
	echo "$best"
}
ratio() { echo "scale=1; $1 / $2" | bc; }
echo "### \`.bz2\` mrt dump -m vs bgpdump ($(du -h "$IN" | cut -f1) bzip2, $(bzcat "$IN" | wc -c | awk '{printf "%.0f MB", $1/1e6}') MRT)"
echo
echo "- machine: $(nproc) cores, load average at start: $(cut -d' ' -f1-3 /proc/loadavg); best of $RUNS runs by wall time"
echo
echo "| command | wall s | CPU s | wall ratio vs bgpdump | CPU ratio vs bgpdump |"
echo "|---|---:|---:|---:|---:|"
read -r bw bc <<<"$(t bgpdump -q -m "$IN")"
echo "| \`bgpdump -m\` | $bw | $bc | 1.0 | 1.0 |"
read -r mw mc <<<"$(t "$WORK/routewatch" mrt dump -q -m "$IN")"
echo "| \`routewatch mrt dump -m\` (output $same) | $mw | $mc | $(ratio "$bw" "$mw") | $(ratio "$bc" "$mc") |"
if [ -n "${BEFORE:-}" ]; then
	read -r ow oc <<<"$(t "$BEFORE" mrt dump -q -m "$IN")"
	echo "| \`routewatch mrt dump -m\`, before (${BEFORE_LABEL:-$BEFORE}) | $ow | $oc | $(ratio "$bw" "$ow") | $(ratio "$bc" "$oc") |"
fi
read -r cw cc <<<"$(t "$WORK/routewatch" mrt dump -count "$IN")"
echo "| \`routewatch mrt dump -count\` (decode only) | $cw | $cc | $(ratio "$bw" "$cw") | $(ratio "$bc" "$cc") |"
read -r zw zc <<<"$(t bzcat "$IN")"
echo "| \`bzcat\` (libbz2 decompression alone) | $zw | $zc | $(ratio "$bw" "$zw") | |"
