#!/bin/sh
# Regenerates tests/data/face_api/ (PNG input fixtures + reference.json) by
# running the real face-api.js (@vladmandic/face-api 1.7.15, pure-JS
# TensorFlow.js 4.22 CPU backend; no native tfjs-node) on fixed inputs.
# npm packages go to a temporary directory, never into the repository.
# Usage: tools/reference/make_face_api_reference.sh [MODEL_DIR]
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
data=${FACEANIME_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/faceanime}
model_dir=${1:-$data/npm/@vladmandic_face-api@1.7.15/model}
work=${FACEANIME_REFERENCE_WORK:-$(mktemp -d)}
mkdir -p "$work"
cd "$work"
[ -f package.json ] || echo '{"name":"faceanime-reference","private":true}' > package.json
npm install --no-audit --no-fund --ignore-scripts \
  @vladmandic/face-api@1.7.15 @tensorflow/tfjs@4.22.0 \
  @tensorflow/tfjs-backend-wasm@4.22.0 pngjs@7.0.0 jpeg-js@0.4.4 >/dev/null
NODE_PATH="$work/node_modules" node "$repo/tools/reference/face_api_reference.cjs" "$repo" "$model_dir"
echo "wrote $repo/tests/data/face_api/"
