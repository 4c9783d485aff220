#!/bin/sh
# Records a few facts about this machine next to the greeting.
set -e
{
  echo "system: $(uname -s)"
  echo "scripts run by: $PACKER_BUILD_NAME"
} > "$OUT_DIR/inventory.txt"
echo "wrote $OUT_DIR/inventory.txt"
