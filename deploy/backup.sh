#!/bin/sh
# Nightly backup (cron: 15 3 * * * drip /opt/drip/deploy/backup.sh): a consistent copy while
# drip runs, one file per day, the last 14 kept.
set -eu
cd /opt/drip
mkdir -p backups
set -a; . /etc/drip/drip.env; set +a
node bin/drip.js db backup "backups/drip-$(date +%F).db"
ls -1t backups/drip-*.db | tail -n +15 | xargs -r rm --
