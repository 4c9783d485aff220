#!/bin/sh
# Lay out a minimal root filesystem around a static busybox and pack it as a
# tar that docker-import turns into an image. Inputs (environment):
#   BUSYBOX  path of a statically linked busybox
#   ROOTFS   directory to fill (etc/passwd is already there, from the file builder)
#   OUTPUT   the tar file to write
set -eu

if [ ! -x "$BUSYBOX" ]; then
  echo "busybox not found at $BUSYBOX: install Debian's busybox-static (apt-get install busybox-static)" >&2
  exit 1
fi
if ! "$BUSYBOX" --list-full >/dev/null 2>&1; then
  echo "$BUSYBOX cannot list its applets; a full busybox build is needed" >&2
  exit 1
fi

# Relative paths are relative to where bakehouse runs: pin them before cd.
case "$OUTPUT" in /*) ;; *) OUTPUT="$PWD/$OUTPUT" ;; esac
mkdir -p "$ROOTFS" "$(dirname "$OUTPUT")"
cd "$ROOTFS"
for dir in bin sbin usr/bin usr/sbin usr/local/bin etc root home/app var/tmp srv proc sys dev tmp; do
  mkdir -p "$dir"
done
chmod 1777 tmp var/tmp
cp "$BUSYBOX" bin/busybox
chmod 755 bin/busybox
for applet in $("$BUSYBOX" --list-full); do
  case "$applet" in bin/busybox|linuxrc) continue ;; esac
  mkdir -p "$(dirname "$applet")"
  ln -sf /bin/busybox "$applet"
done
printf 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n' > etc/group

tar --numeric-owner --owner=0 --group=0 -cf "$OUTPUT" .
echo "root filesystem: $(du -sk . | cut -f1) KiB, $("$BUSYBOX" --list-full | wc -l) applets -> $OUTPUT"
