#!/bin/sh
# Regenerates the expected outputs of the corpus with real Ansible.
#
#   NAME.j2 + NAME.vars.yml   -> NAME.expected       (template module output, byte for byte)
#   NAME.args.yml             -> NAME.expected.json  (the `args` dict templated like task args)
#   NAME.when.yml             -> NAME.expected.json  (each of `case_conditions` evaluated as a
#                                                    `when:`: "true", "false" or "error")
#   failures of any           -> NAME.ansible-error  (Ansible's message, for comparison)
#
# Usage: ANSIBLE_PLAYBOOK=/path/to/venv/bin/ansible-playbook tests/corpus/make-expected.sh [NAME...]
# Needs ansible-core (tested with 2.19) and, for `ipwrap`, the ansible.utils collection + netaddr.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
playbook=${ANSIBLE_PLAYBOOK:-ansible-playbook}
# The managed "host" is this machine: run modules with the Python that runs Ansible.
python=${ANSIBLE_PYTHON:-$(dirname "$(command -v "$playbook")")/python3}
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0
cases=${*:-$(cd "$dir" && ls *.j2 *.args.yml *.when.yml 2>/dev/null | sed -e 's/\.args\.yml$//' -e 's/\.when\.yml$//' -e 's/\.j2$//' | sort -u)}
for case in $cases; do
    rm -f "$dir/$case.expected" "$dir/$case.expected.json" "$dir/$case.ansible-error"
    if [ -f "$dir/$case.j2" ]; then
        vars="$dir/$case.vars.yml"
        [ -f "$vars" ] || vars="$dir/empty.vars.yml"
        "$playbook" -i "$dir/inventory.yml" "$dir/render.yml" -e "ansible_python_interpreter=$python" -e "case_dir=$dir" -e "case=$case" \
            -e case_kind=template -e "@$vars" >"$dir/.last-run.log" 2>&1 || true
    elif [ -f "$dir/$case.when.yml" ]; then
        "$playbook" -i "$dir/inventory.yml" "$dir/render.yml" -e "ansible_python_interpreter=$python" -e "case_dir=$dir" -e "case=$case" \
            -e case_kind=when -e "@$dir/$case.when.yml" >"$dir/.last-run.log" 2>&1 || true
    else
        "$playbook" -i "$dir/inventory.yml" "$dir/render.yml" -e "ansible_python_interpreter=$python" -e "case_dir=$dir" -e "case=$case" \
            -e case_kind=args -e "@$dir/$case.args.yml" >"$dir/.last-run.log" 2>&1 || true
    fi
    if [ -f "$dir/$case.expected" ] || [ -f "$dir/$case.expected.json" ] || [ -f "$dir/$case.ansible-error" ]; then
        echo "ok   $case"
    else
        echo "FAIL $case (see $dir/.last-run.log)"
    fi
done
[ -n "${KEEP_LOG:-}" ] || rm -f "$dir/.last-run.log"
