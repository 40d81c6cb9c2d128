#!/usr/bin/env bash
# Demo of offline-first sync (what `make demo` runs): a notes-server on a
# temporary SQLite file, with a random JWT secret, and two devices of the
# same user, each with its own SQLite file and a bearer token minted for the
# user, that change notes offline, sync, and end up with the same notes.
# Needs only Go and a C compiler (go-sqlite3 uses cgo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CGO_ENABLED=1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ssync-demo.XXXXXX")
server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf '\n== %s\n' "$*"; }

step "building notes-server and notes (the first build compiles SQLite: it can take a minute)"
go build -o "$tmp/bin/notes-server" ./example/cmd/notes-server
go build -o "$tmp/bin/notes" ./example/cmd/notes

# The server verifies bearer tokens with a random secret, given through the
# environment rather than -jwt-secret so that it does not show in ps.
unset SSYNC_USER SSYNC_TOKEN
SSYNC_JWT_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export SSYNC_JWT_SECRET
# The devices' user is the token's: notes-server mints one for development.
token=$("$tmp/bin/notes-server" -mint-token demo -ttl 1h)
a() { "$tmp/bin/notes" -db "$tmp/device-a.db" -server "$server" -token "$token" "$@"; }
b() { "$tmp/bin/notes" -db "$tmp/device-b.db" -server "$server" -token "$token" "$@"; }

# healthy URL: succeeds when GET URL/healthz answers 200. Uses curl or wget
# when present, else bash's /dev/tcp.
healthy() {
	local url=$1
	if command -v curl >/dev/null; then
		curl -fsS -m 2 -o /dev/null "$url/healthz" 2>/dev/null
	elif command -v wget >/dev/null; then
		wget -q -T 2 -O /dev/null "$url/healthz" 2>/dev/null
	else
		local hostport=${url#http://} status
		(
			exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
			printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$hostport" >&3
			IFS= read -r -t 2 status <&3 || exit 1
			[[ $status == "HTTP/1."?" 200"* ]]
		) 2>/dev/null
	fi
}

step "starting notes-server (log: notes-server.log in the temp dir)"
"$tmp/bin/notes-server" -addr 127.0.0.1:0 -db "$tmp/server.db" 2>"$tmp/notes-server.log" &
server_pid=$!
server=""
for _ in $(seq 1 100); do # at most ~10s
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "notes-server exited early:" >&2
		cat "$tmp/notes-server.log" >&2
		exit 1
	fi
	if [[ -z "$server" ]]; then
		server=$(sed -n 's/^notes-server listening on \(http:\/\/.*\)$/\1/p' "$tmp/notes-server.log" | head -n 1)
	fi
	if [[ -n "$server" ]] && healthy "$server"; then
		break
	fi
	sleep 0.1
done
if [[ -z "$server" ]] || ! healthy "$server"; then
	echo "notes-server did not become healthy within 10s:" >&2
	cat "$tmp/notes-server.log" >&2
	exit 1
fi
echo "server at $server (bearer tokens required; both devices use one minted for user demo)"

step "device A adds 3 notes offline"
a1=$(a add "buy milk")
a2=$(a add "call the plumber")
a3=$(a add "water the plants")
a list

step "device B adds 2 notes offline"
b1=$(b add "read chapter 3")
b2=$(b add "fix the bike light")
b list

step "both sync (A, B, A)"
a sync
b sync
a sync

step "offline edits: A edits one of B's notes and marks one done; B deletes one of A's notes"
a edit "$b1" "read chapters 3 and 4"
a done "$a2"
b rm "$a3"
echo "A edited $b1, marked $a2 done; B deleted $a3"
head -c 262144 /dev/urandom >"$tmp/photo.bin"
a attach "$a1" "$tmp/photo.bin"
echo "A attached a 256 KiB file to $a1"

step "both sync again (A, B, A)"
a sync
b sync
a sync

list_a=$(a list)
list_b=$(b list)
step "device A"
printf '%s\n' "$list_a"
step "device B"
printf '%s\n' "$list_b"

step "device B opens the file A attached"
b open "$a1" "$tmp/photo-on-b.bin"
if ! cmp -s "$tmp/photo.bin" "$tmp/photo-on-b.bin"; then
	echo "the file differs on device B" >&2
	exit 1
fi
echo "identical: $(wc -c <"$tmp/photo-on-b.bin") bytes"

echo
if [[ "$list_a" == "$list_b" ]]; then
	n=$(printf '%s\n' "$list_a" | grep -c . || true)
	echo "devices converged: $n notes"
	exit 0
fi
echo "devices differ:" >&2
diff <(printf '%s\n' "$list_a") <(printf '%s\n' "$list_b") >&2 || true
exit 1
