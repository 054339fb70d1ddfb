#!/bin/sh
# Regenerates the expected outputs of every corpus case with the real Ansible:
#   ANSIBLE_BIN=/path/to/venv/bin sh make-expected.sh
# Each case directory holds `sources` (one -i source per line, relative to the case), optional
# `patterns.txt` (a host pattern per line, optionally a TAB and a --limit) and the inventory.
# Writes expected-list.json, expected-graph.txt, expected-graph-vars.txt, expected-patterns.txt.
set -eu
BIN=${ANSIBLE_BIN:-}
[ -n "$BIN" ] && BIN="$BIN/"
export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_NOCOLOR=1
here=$(cd "$(dirname "$0")" && pwd)
for case in "$here"/corpus/*/; do
    cd "$case"
    set --
    while IFS= read -r src; do [ -n "$src" ] && set -- "$@" -i "$src"; done < sources
    "${BIN}ansible-inventory" "$@" --list > expected-list.json
    "${BIN}ansible-inventory" "$@" --graph > expected-graph.txt
    "${BIN}ansible-inventory" "$@" --graph --vars > expected-graph-vars.txt
    : > expected-patterns.txt
    if [ -f patterns.txt ]; then
        tab=$(printf '\t')
        while IFS= read -r line; do
            pattern=${line%%"$tab"*}
            limit=""
            [ "$pattern" != "$line" ] && limit=${line#*"$tab"}
            if [ -n "$limit" ]; then
                out=$("${BIN}ansible" "$@" "$pattern" --limit "$limit" --list-hosts 2>/dev/null || true)
            else
                out=$("${BIN}ansible" "$@" "$pattern" --list-hosts 2>/dev/null || true)
            fi
            hosts=$(printf '%s\n' "$out" | sed -n 's/^    //p' | tr '\n' ' ' | sed 's/ $//')
            printf '%s\t%s\t%s\n' "$pattern" "$limit" "$hosts" >> expected-patterns.txt
        done < patterns.txt
    fi
    printf '%s\n' "$case"
done
