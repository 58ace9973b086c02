#!/usr/bin/env bash
# `make check`: build every variant, run every suite, and end with one line
# "N passed, N failed, N skipped" summed over all of them.
#
#   suites: unit (ASan+UBSan), fuzz (libFuzzer, a few seconds each),
#           config (golden files through mitmd -nv), lint (mandoc,
#           systemd-analyze, the example config), integration and sandbox
#           (pytest with Debian's python3, real clients, real binaries).
# FUZZ_SECONDS and PYTEST_ARGS tune a run; CHECK_ONLY=unit,config limits it.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-5}
CHECK_ONLY=${CHECK_ONLY:-}
TMP=$(mktemp -d /tmp/mitmd-check.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

PASSED=0 FAILED=0 SKIPPED=0
FAILURES=()

want() { [ -z "$CHECK_ONLY" ] || [[ ",$CHECK_ONLY," == *",$1,"* ]]; }
pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); echo "FAIL: $1" >&2; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip: $1" >&2; }
section() { printf '\n==== %s\n' "$*"; }

build() {
	section build
	make -s -j"$JOBS" all || return 1
	make -s -j"$JOBS" BUILD=build/test TESTHOOKS=1 all || return 1
}

suite_unit() {
	section "unit tests (ASan+UBSan)"
	if ! make -s -j"$JOBS" BUILD=build/asan SAN=1 unit-bins; then
		fail "unit: build"; return
	fi
	local t out rc
	for t in build/asan/unit/*; do
		[ -x "$t" ] || continue
		# rc first: $(basename) in the arguments would reset $?
		out=$(ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
			timeout 300 "$t" 2>&1)
		rc=$?
		count_tap "unit $(basename "$t")" "$out" "$rc"
	done
}

suite_fuzz() {
	section "fuzz targets (${FUZZ_SECONDS}s each)"
	if ! make -s -j"$JOBS" BUILD=build/fuzz FUZZ=1 CC=clang fuzz-bins; then
		fail "fuzz: build"; return
	fi
	local t name corpus work dict
	for t in build/fuzz/fuzz/*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		corpus=tests/fuzz/corpus/$name
		work=$TMP/fuzz-$name
		mkdir -p "$work"
		if [ ! -d "$corpus" ]; then
			fail "fuzz: $name has no corpus in $corpus"; continue
		fi
		dict=()
		[ -f "tests/fuzz/$name.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$name.dict")
		# New inputs go to the scratch dir; the seeds stay as they are.
		if (cd "$TMP" && timeout $((FUZZ_SECONDS + 60)) "$ROOT/$t" \
			-max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
			-artifact_prefix="$TMP/$name-" "${dict[@]}" "$work" "$ROOT/$corpus" \
			>"$TMP/$name.log" 2>&1); then
			pass; echo "$name: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$TMP/$name.log" || grep -Eo '#[0-9]+' "$TMP/$name.log" | tail -1) runs)"
		else
			tail -30 "$TMP/$name.log"
			fail "fuzz: $name"
		fi
	done
}

# Add the "ok"/"not ok" lines of a TAP-like output to the totals.
count_tap() {
	local name=$1 out=$2 rc=$3 p f
	p=$(printf '%s\n' "$out" | grep -c '^ok ')
	f=$(printf '%s\n' "$out" | grep -c '^not ok ')
	PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
	if [ "$f" -ne 0 ]; then
		printf '%s\n' "$out" | grep -A3 '^not ok' | sed 's/^/  /'
		FAILURES+=("$name")
	elif [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" | tail -20
		fail "$name exited $rc"
	elif [ "$p" -eq 0 ]; then
		printf '%s\n' "$out" | tail -20
		fail "$name ran no test"
	fi
	echo "$name: $p passed, $f failed"
}

suite_config() {
	section "config golden files (mitmd -nv)"
	local out
	out=$(tests/config/run.sh build/mitmd 2>&1); count_tap config "$out" $?
}

suite_lint() {
	section "lint: man pages, unit file, example config"
	local m
	for m in man/*.[0-9]; do
		if out=$(mandoc -Tlint -W warning "$m" 2>&1) && [ -z "$out" ]; then
			pass
		else
			printf '%s\n' "$out"; fail "lint: mandoc $m"
		fi
	done
	# systemd-analyze wants ExecStart to exist: verify a copy that points
	# at the build.
	sed "s#/usr/sbin/mitmd#$ROOT/build/mitmd#g" etc/mitmd.service \
		>"$TMP/mitmd.service"
	if out=$(systemd-analyze verify "$TMP/mitmd.service" 2>&1) &&
	    [ -z "$out" ]; then
		pass
	else
		printf '%s\n' "$out"; fail "lint: systemd-analyze verify"
	fi
	if build/mitmd -n -f etc/mitmd.conf; then pass; else
		fail "lint: mitmd -n etc/mitmd.conf"; fi
	if make -s lint; then pass; else fail "lint: cppcheck"; fi
	if make -s tidy >"$TMP/tidy.log" 2>&1; then pass; else
		grep -E 'warning|error' "$TMP/tidy.log" | head -30
		fail "lint: clang-tidy"
	fi
}

suite_pytest() {
	section "integration and sandbox tests (pytest)"
	local xml=$TMP/pytest.xml
	MITMD_BUILD=$ROOT/build/test /usr/bin/python3 -m pytest -q \
		-p no:cacheprovider --junitxml="$xml" ${PYTEST_ARGS:-} \
		tests/integration tests/sandbox
	local rc=$?
	if [ ! -f "$xml" ]; then
		fail "pytest: no report (exit $rc)"; return
	fi
	read -r t f e s < <(/usr/bin/python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
g = lambda k: sum(int(x.get(k, 0)) for x in suites)
print(g("tests"), g("failures"), g("errors"), g("skipped"))
PY
)
	PASSED=$((PASSED + t - f - e - s)); FAILED=$((FAILED + f + e))
	SKIPPED=$((SKIPPED + s))
	[ $((f + e)) -eq 0 ] || FAILURES+=("pytest: $((f + e)) failed")
	if [ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ] && [ "$rc" -ne 5 ]; then
		fail "pytest: exit $rc"
	fi
}

tests/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
if ! build; then
	echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
want unit && suite_unit
want fuzz && suite_fuzz
want config && suite_config
want lint && suite_lint
want pytest && suite_pytest

section summary
for f in "${FAILURES[@]}"; do echo "  failed: $f"; done
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
