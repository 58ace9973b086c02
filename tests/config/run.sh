#!/bin/sh
# Golden tests of the config parser through the real binary:
#   NAME.conf + NAME.out   `mitmd -nv -f NAME.conf` exits 0 and prints
#                          exactly NAME.out; NAME.out, parsed again, prints
#                          itself (the normalised form is a fixed point).
#   NAME.conf + NAME.err   `mitmd -nv -f NAME.conf` exits non-zero, prints
#                          nothing on stdout, and its "file:line: message"
#                          lines on stderr are exactly NAME.err (whatever
#                          prefix the log adds in front of each).
# Usage: tests/config/run.sh [path/to/mitmd], from the top of the checkout.
# Prints `ok N - name` lines and `# passed P failed F`; exits 1 on failure.

MITMD=${1:-${MITMD:-build/mitmd}}
dir=tests/config
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
result() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - config $2"
	else
		failed=$((failed + 1))
		echo "not ok $n - config $2"
		sed 's/^/# /' "$tmp/why"
	fi
}

if [ ! -x "$MITMD" ]; then
	echo "not ok 1 - config: no executable $MITMD"
	echo "# passed 0 failed 1"
	exit 1
fi

# The token files "admin token file" names must be 0600; a checkout gives
# them the umask's mode.
chmod 0600 "$dir"/*.token

for conf in "$dir"/*.conf; do
	name=${conf%.conf}
	base=${name##*/}
	: > "$tmp/why"
	"$MITMD" -nv -f "$conf" > "$tmp/stdout" 2> "$tmp/stderr"
	rc=$?
	if [ -f "$name.out" ]; then
		st=0
		if [ $rc -ne 0 ]; then
			echo "exit status $rc" > "$tmp/why"
			cat "$tmp/stderr" >> "$tmp/why"
			st=1
		elif ! diff -u "$name.out" "$tmp/stdout" > "$tmp/why"; then
			st=1
		fi
		result $st "$base"

		# Print the output again: the same text comes back.
		cp "$name.out" "$tmp/$base.conf"
		: > "$tmp/why"
		st=0
		if ! "$MITMD" -nv -f "$tmp/$base.conf" > "$tmp/again" \
		    2> "$tmp/why" || ! diff -u "$name.out" "$tmp/again" \
		    >> "$tmp/why"; then
			st=1
		fi
		result $st "$base reparsed"
	elif [ -f "$name.err" ]; then
		st=0
		grep -o "$conf:[0-9]*: .*" "$tmp/stderr" > "$tmp/errors"
		if [ $rc -eq 0 ]; then
			echo "exit status 0 on a bad config" > "$tmp/why"
			st=1
		elif [ -s "$tmp/stdout" ]; then
			echo "output on stdout:" > "$tmp/why"
			cat "$tmp/stdout" >> "$tmp/why"
			st=1
		elif ! diff -u "$name.err" "$tmp/errors" > "$tmp/why"; then
			st=1
		fi
		result $st "$base errors"
	else
		echo "neither $base.out nor $base.err" > "$tmp/why"
		result 1 "$base"
	fi
done

echo "# passed $((n - failed)) failed $failed"
[ $failed -eq 0 ]
