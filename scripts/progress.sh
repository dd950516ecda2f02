# Sourced by the scripts that run long steps, so that no step is silent.
#
# step NAME WHAT: prints "NAME: WHAT" and starts the step's clock.
# step_done NAME: prints how long the step took.
# with_heartbeat NAME CMD...: runs CMD, printing "NAME:   still working
#   (Ns)" every 30 s until it ends; returns CMD's status.

step_started=$SECONDS

step() {
	step_started=$SECONDS
	echo "$1: $2" >&2
}

step_done() {
	echo "$1:   done in $((SECONDS - step_started)) s" >&2
}

with_heartbeat() {
	local name=$1
	shift
	local start=$SECONDS
	(
		# The sleep is stopped and reaped too, so that nothing outlives the
		# step, not even a zombie.
		trap 'kill "$nap" 2>/dev/null; wait "$nap"; exit 0' TERM
		while :; do
			sleep 30 &
			nap=$!
			wait "$nap"
			echo "$name:   still working ($((SECONDS - start)) s)" >&2
		done
	) &
	local beat=$!
	local rc=0
	"$@" || rc=$?
	kill "$beat" 2>/dev/null || true
	wait "$beat" 2>/dev/null || true
	return "$rc"
}
