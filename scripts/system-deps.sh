#!/usr/bin/env bash
# Installs the Debian packages that Vigil's tests and demo use, when they are missing.
# Usage: scripts/system-deps.sh [test|demo]   (run as root, or with sudo available)
set -euo pipefail
# a compiler and FFmpeg's headers: the recorder's C copy loop (decision 0079; without them
# it records with its PyAV loop)
want=(python3-venv ffmpeg gcc libc6-dev pkg-config libavformat-dev)
if [ "${1:-test}" = "test" ]; then
  # RTSP test server (GStreamer + python3-gi), MQTT broker, browser for UI tests, pip for the
  # test data (PyPI sdist; vigil.demo.testdata), OpenSSL's headers for the C copy-loop probe
  # of `vigil bench record --c-probe`.
  want+=(gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base
         gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
         gstreamer1.0-libav python3-gi mosquitto chromium python3-pip libssl-dev)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
