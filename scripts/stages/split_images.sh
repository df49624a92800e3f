#!/bin/sh
# The split stage of --bootstrap: the first COUNT images of SRC (sorted by name) are linked into DEST/val
# for evaluation, the others into DEST/train.
#   split_images.sh COUNT SRC DEST
set -eu
count=$1 src=$2 dest=$3

rm -rf "$dest"
mkdir -p "$dest/val" "$dest/train"
n=0
for f in $(ls "$src" | sort); do
  case $f in
    *.png | *.PNG | *.bmp | *.BMP | *.jpg | *.JPG | *.jpeg | *.JPEG)
      n=$((n + 1))
      if [ "$n" -le "$count" ]; then part=val; else part=train; fi
      ln -s "$src/$f" "$dest/$part/"
      ;;
  esac
done
