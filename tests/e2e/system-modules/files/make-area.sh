#!/bin/sh
# Creates the area the other tasks read; run once (creates:).
set -e
mkdir -p /srv/moda/parts
printf 'alpha\n' > /srv/moda/parts/a.part
printf 'beta\n' > /srv/moda/parts/b.part
printf '%s\n' "$1" > /srv/moda/motd
touch /srv/moda/created
