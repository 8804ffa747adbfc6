#!/usr/bin/env bash
# Logical backup of the Provisor database (custom format, parallel-restorable).
# Usage: DATABASE_ADMIN_URL=postgresql://... deploy/scripts/backup.sh /backups
set -euo pipefail
dest=${1:?usage: backup.sh DIR}
url=${DATABASE_ADMIN_URL:?set DATABASE_ADMIN_URL}
mkdir -p "$dest"
file="$dest/provisor-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-owner --file "$file" "$url"
echo "$file"
