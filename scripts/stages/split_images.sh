#!/bin/sh
# The split stage: holds images of SRC out of training. VAL is either a count (the first VAL images of
# SRC, sorted by name) or a comma-separated list of file names, each of which must be in SRC. The held-out
# images are linked into DEST/val, every other image into DEST/train; nothing else is read for patches.
#   split_images.sh VAL SRC DEST
set -eu
val=$1 src=$(cd "$2" && pwd) dest=$3  # absolute: the links must resolve from DEST

is_image() {
  case $1 in
    *.png | *.PNG | *.bmp | *.BMP | *.jpg | *.JPG | *.jpeg | *.JPEG) return 0 ;;
    *) return 1 ;;
  esac
}

case $val in
  '' | *[!0-9]*) count= names=",$val," ;;
  *) count=$val names= ;;
esac
for name in $(echo "$val" | tr ',' ' '); do
  if [ -z "$count" ] && [ ! -f "$src/$name" ]; then
    echo "split_images.sh: validation image '$name' is not in $src" >&2
    exit 2
  fi
done

rm -rf "$dest/val" "$dest/train"
mkdir -p "$dest/val" "$dest/train"
n=0
for f in $(ls "$src" | sort); do
  is_image "$f" || continue
  n=$((n + 1))
  part=train
  if [ -n "$count" ] && [ "$n" -le "$count" ]; then part=val; fi
  case $names in *",$f,"*) part=val ;; esac
  ln -s "$src/$f" "$dest/$part/"
done
