#!/bin/sh
# The image's default command: greet, and say where and how it was baked.
echo "${GREETING:-Hello} from a Bakehouse-built image (user $(id -un), in $(pwd))"
cat /srv/www/build-info.txt
echo "Serve the site with: docker run --rm -p 8080:8080 <image> \"httpd -f -v -p 8080 -h /srv/www\""
