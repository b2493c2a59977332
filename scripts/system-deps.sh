#!/usr/bin/env bash
# Install the Debian packages the project needs, only those that are missing.
# --run: only what running the pipeline needs (no benchmark, Prometheus, colour-test or browser packages)
set -euo pipefail
quiet=""
run_only=""
for arg in "$@"; do
  case "$arg" in
    --quiet) quiet=--quiet ;;
    --run) run_only=1 ;;
  esac
done
need=()
command -v exiftool >/dev/null || need+=(libimage-exiftool-perl)
ldconfig -p 2>/dev/null | grep -q 'libvips.so.42' || need+=(libvips42)
if [ -z "$run_only" ]; then
  # TurboJPEG for PyTurboJPEG, the binding the benchmark compares with simplejpeg
  ldconfig -p 2>/dev/null | grep -q 'libturbojpeg.so.0' || need+=(libturbojpeg0)
  command -v convert >/dev/null && convert -version 2>/dev/null | grep -q ImageMagick || need+=(imagemagick)
  command -v prometheus >/dev/null || need+=(prometheus)
  # colour tests: Adobe RGB and ProPhoto RGB profiles (colord-data), cjxl for recompressed-JPEG JPEG XL
  # files, avifenc for 10-bit AVIF (libvips' AV1 encoder cannot write it on Debian 12)
  [ -f /usr/share/color/icc/colord/ProPhotoRGB.icc ] || need+=(colord-data)
  command -v cjxl >/dev/null || need+=(libjxl-tools)
  command -v avifenc >/dev/null || need+=(libavif-bin)
  command -v chromium >/dev/null || need+=(chromium)
fi
if [ ${#need[@]} -eq 0 ]; then
  [ "$quiet" = --quiet ] || echo "system packages: all present"
  exit 0
fi
echo "installing system packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
