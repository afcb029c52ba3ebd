#!/usr/bin/env bash
# Renders an Outpost HTML report with headless Chromium and fails if the page has console
# errors, loads anything external, needs scripts, has broken images, or shows a blank chart
# (an <svg class="chart"> without data marks in the DOM, or without coloured pixels in the
# screenshot). Writes a full-page PNG screenshot.
#
#   scripts/report/check_report.sh [REPORT.html [SCREENSHOT.png [--max-height N]]]
#
# Without arguments it checks the sample report that the test
# OutpostResultsTests.ReportTests/testWritesSampleReport writes to /tmp/outpost-report-sample
# (generating it first when it is missing) and saves the screenshot beside it.
# Needs Debian's chromium, python3-websocket, python3-pil and python3-numpy (installed here
# when missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/../.."

sample_dir="${OUTPOST_REPORT_SAMPLE_DIR:-/tmp/outpost-report-sample}"
report="${1:-$sample_dir/report.html}"
screenshot="${2:-${report%.html}.png}"
shift $(( $# > 2 ? 2 : $# ))

missing=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
for module in websocket:python3-websocket PIL:python3-pil numpy:python3-numpy; do
    /usr/bin/python3 -c "import ${module%%:*}" 2>/dev/null || missing+=("${module#*:}")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "check_report: missing ${missing[*]} (apt-get install -y ${missing[*]})" >&2
        exit 2
    fi
    echo "check_report: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -f "$report" && "$report" == "$sample_dir/report.html" ]]; then
    echo "check_report: generating the sample report in $sample_dir"
    OUTPOST_REPORT_SAMPLE_DIR="$sample_dir" swift test -c release -Xswiftc -enable-testing \
        --scratch-path "${OUTPOST_SCRATCH_PATH:-.build}" --filter OutpostResultsTests.ReportTests/testWritesSampleReport
fi

exec /usr/bin/python3 scripts/report/check_report.py "$report" "$screenshot" "$@"
