#!/usr/bin/env bash
# Downloads the public data the pipeline needs into DIR (default: $VDSR_ASSETS, else ../shared/assets),
# in the layout vdsr-pipeline reads (docs/pipeline.md):
#   DIR/models/vdsr_x234_state_dict.pt  the reference PyTorch VDSR (twtygqyy/pytorch-vdsr model_epoch_50.pth,
#                                       converted by scripts/import_pth.py; needs python3-torch)
#   DIR/Set5/*.png                      Set5 ground truth (the BMPs shipped with the reference, as PNG)
#   DIR/Set14/*.png                     Set14 ground truth (SelfExSR's copy; optional for the pipeline)
#   DIR/train291/                       NOT downloadable from a stable public URL: see the message at the end
# Files already there are kept. Checksums: the .pth must match the file this project was validated with
# (a mismatch is an error); images are compared pixel by pixel with the validated copies (a mismatch is a
# warning: evaluation still works, but PSNRs may differ from the README's).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-${VDSR_ASSETS:-$(cd .. && pwd)/shared/assets}}"
python=/usr/bin/python3
vdsr_repo=https://raw.githubusercontent.com/twtygqyy/pytorch-vdsr
# The commit that still ships Set5 as BMP files (later ones only have .mat files).
vdsr_set5_commit=7cd0d6267c5c58f22df21da736888fb119d7e216
selfexsr=https://raw.githubusercontent.com/jbhuang0604/SelfExSR/master/data
pth_sha256=eab4d79ae5a6e5acef4c55e46015aed225ade207679bcb6695b07af8fb18e876

# sha256 of the decoded RGB pixels of the copies this project was validated with.
declare -A pixels=(
  [Set5/baby]=f14d515486b1a110a8f6a08b23114a7c0ef79e96337692bb48e24dfd8943b3b7
  [Set5/bird]=0f7ca11adc96abc59dd08160fb99dc77a3732ffc7b903db6832eceeb5592dcbf
  [Set5/butterfly]=200d3ae507119f83763ea74f31f54de31cad6a36ec478cae7a8eab2de2304163
  [Set5/head]=1aca63a883d2cabd7a143dd452427305ca9fa8ab965d7202d9081fcce5cbd508
  [Set5/woman]=6d9d5a40b83984bde434c44ae6e070484ec37b15741b4561c684b2001deb474f
  [Set14/baboon]=98907465928a27865658a818db29276338ea9eaf528f7dbe1515a0d800f74614
  [Set14/barbara]=0267e5896588256605a865df7b6bbe7c346b8059e970bbf8cae99b0973f38cec
  [Set14/bridge]=278689daf6c3cb7add8f09315fc6079fe987f5ecd4d98871ffc34ec5d84aefa8
  [Set14/coastguard]=59e27df80c33a7cbef338414b81a5745cc9bf8d72a6d9275d7c773cd9f149520
  [Set14/comic]=57505129f413912195e0ef1875d3deb72259776ed934c455e12e5cbe743ac9f6
  [Set14/face]=10729944d3efb29e5ec99a92cb80ddfa4a69f6853549ba9691a98dd81a01ebf7
  [Set14/flowers]=806ffffa563c57c5c1583872a4c3aba620c3a590d61b68f0bbccf5aabaedd528
  [Set14/foreman]=df44893b86c999937d2354ff96a9b56ccf95afbac530005bdb342f3b84eca818
  [Set14/lenna]=467e7e33da6f66bd3b9a61510cb7ce87d7fd004d82d8a15e3febecd7a5f314c9
  [Set14/man]=6b586ecfe5e768e612442c459430a451ba4490934d28ec7ac6c6ccfd025f802a
  [Set14/monarch]=601d3e0f5563eeef71d45f8a89ac73cf2f3d546cf572b8f8744950d17927c0d8
  [Set14/pepper]=a18d4e9adaa8677dbf9d454680ace6000767e81a349ddbebf988670d1623bb85
  [Set14/ppt3]=a855ec6f6aae3f6e18fe4830751437f99f5735156da92c40208d87b1632fa530
  [Set14/zebra]=caab9603b04192480c22bdb13717612760a531a7f127ee0fa6c471bf34ca6c52
)
set14_names=(baboon barbara bridge coastguard comic face flowers foreman lenna man monarch pepper ppt3 zebra)

fail() { echo "error: $*" >&2; exit 1; }
command -v curl >/dev/null || fail "curl is needed (apt-get install -y curl)"
"$python" -c "import PIL" 2>/dev/null || fail "Python's PIL is needed to convert images (apt-get install -y python3-pil)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# download URL FILE: to a temp name first, so an interrupted download never looks complete.
download() {
  echo "  $1" >&2
  curl -fsSL --retry 2 --connect-timeout 20 -o "$2.part" "$1" ||
    fail "could not download $1 (no network?). Put the files in place by hand: $dir/models/vdsr_x234_state_dict.pt (or model_epoch_50.pth there, converted on the next run), $dir/Set5/*.png (baby, bird, butterfly, head, woman), $dir/Set14/*.png (optional), $dir/train291/*.png; or run the pipeline without them: build/bin/vdsr-pipeline --bootstrap DIR_OF_IMAGES"
  mv "$2.part" "$2"
}

# to_png SRC DEST KEY: converts to RGB PNG and compares the pixels with the validated copy.
to_png() {
  local got
  got=$("$python" - "$1" "$2" <<'PY'
import hashlib, sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
im.save(sys.argv[2] + ".part.png")
print(hashlib.sha256(im.tobytes()).hexdigest())
PY
)
  mv "$2.part.png" "$2"
  if [ "$got" != "${pixels[$3]}" ]; then
    echo "warning: $2 differs from the copy this project was validated with (PSNRs may differ from the README)" >&2
  fi
}

mkdir -p "$dir/models" "$dir/Set5" "$dir/Set14"
echo "assets into $dir" >&2

model="$dir/models/vdsr_x234_state_dict.pt"
if [ ! -f "$model" ]; then
  pth="$dir/models/model_epoch_50.pth"
  [ -f "$pth" ] || download "$vdsr_repo/master/model/model_epoch_50.pth" "$pth"
  echo "$pth_sha256  $pth" | sha256sum -c --quiet - || fail "$pth: unexpected sha256 (not the reference model_epoch_50.pth)"
  "$python" scripts/import_pth.py "$pth" "$tmp/model.pt" || fail "converting $pth failed (needs python3-torch)"
  mv "$tmp/model.pt" "$model"
fi

for name in baby bird butterfly head woman; do
  [ -f "$dir/Set5/$name.png" ] && continue
  download "$vdsr_repo/$vdsr_set5_commit/Set5/${name}_GT_scale_2.bmp" "$tmp/$name.bmp"
  to_png "$tmp/$name.bmp" "$dir/Set5/$name.png" "Set5/$name"
done

for i in "${!set14_names[@]}"; do
  name=${set14_names[$i]}
  [ -f "$dir/Set14/$name.png" ] && continue
  n=$(printf '%03d' $((i + 1)))
  download "$selfexsr/Set14/image_SRF_2/img_${n}_SRF_2_HR.png" "$tmp/$name.png"
  to_png "$tmp/$name.png" "$dir/Set14/$name.png" "Set14/$name"
done

if [ ! -d "$dir/train291" ] || [ -z "$(ls -A "$dir/train291" 2>/dev/null)" ]; then
  cat >&2 <<MSG
note: $dir/train291/ is still missing. The "291" training set (Yang et al.'s T91: t*.png, tt*.png, and the
200 training images of BSDS300 as *.png) has no stable public download URL; copy it there by hand. Without
it, run the pipeline on your own pictures: build/bin/vdsr-pipeline --bootstrap DIR_OF_IMAGES
MSG
fi
echo "done: $dir" >&2
