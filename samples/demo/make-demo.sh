#!/usr/bin/env bash
# Rebuilds samples/demo/demo.mp4, the built-in demo camera of `crowdlens start` (see ATTRIBUTION.md).
# Five intel-iot-devkit sample clips (CC BY 4.0) from ../shared/data/videos, each followed by 1.5 s of an
# empty grey frame so that people leave the view between clips; 480x270, 12 fps, H.264, no audio.
# Usage: samples/demo/make-demo.sh [VIDEOS_DIR]   (default ../shared/data/videos beside the project root)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
videos="${1:-$root/../shared/data/videos}"
clips=(face-demographics-walking.mp4 head-pose-face-detection-female-and-male.mp4 face-demographics-walking-and-pause.mp4
  head-pose-face-detection-male.mp4 head-pose-face-detection-female.mp4)
inputs=()
filter=""
n=0
for c in "${clips[@]}"; do
  inputs+=(-i "$videos/$c")
  filter+="[$n:v]fps=12,scale=480:270,setsar=1,format=yuv420p[v$n];"
  n=$((n + 1))
done
inputs+=(-f lavfi -i "color=c=0x3a3a3a:s=480x270:r=12:d=1.5")
filter+="[$n:v]format=yuv420p,setsar=1,split=${#clips[@]}$(for i in $(seq 0 $((${#clips[@]} - 1))); do printf '[g%d]' "$i"; done);"
for i in $(seq 0 $((${#clips[@]} - 1))); do filter+="[v$i][g$i]"; done
filter+="concat=n=$((${#clips[@]} * 2)):v=1:a=0[out]"
ffmpeg -y -hide_banner -loglevel error "${inputs[@]}" -filter_complex "$filter" -map '[out]' -an \
  -c:v libx264 -preset veryslow -crf 28 -g 24 -pix_fmt yuv420p -movflags +faststart -map_metadata -1 \
  "$root/samples/demo/demo.mp4"
ls -l "$root/samples/demo/demo.mp4"
