#!/bin/sh
exec busybox httpd -f -p 80 -h /srv/www
