#!/bin/bash
# Everything a session lent a real GPU should run, as one command with a time limit per part, so
# that one call of the device tool (15 minutes of device time per session, machine start included)
# brings back the adapter, the conformance check and the figures issues 22 and 25 wait for.
#
# Prepare here (the GPU machine has no node_modules and no network):
#   npm run gpu:build && bash ../shared/gpu/pack.sh      # dist/, dist-gpu/, .gpu/
#   GPU_SESSION_QUICK=1 bash bench/gpu-session.sh        # the same parts on SwiftShader, quick sizes
# Then the device tool's `run`, carry [".gpu", "dist", "dist-gpu"], timeout_s 540 (the parts take at most ~460 s):
#   bash bench/gpu-session.sh
# Logs and reports land in $OUT (else .out/): NN-part.log per part, conformance.md/json,
# train/, matmul/ (bench-gpu.md/json), ceiling.json. A part that runs past its limit is cut off
# (its log says so) and the next one starts. Budgets (seconds) can be set per part:
#   GPU_T_CONF, GPU_T_TRAIN, GPU_T_MATMUL, GPU_T_QUANT.
set -u
if [ -d .gpu ]; then
  # shellcheck disable=SC1091
  source ../shared/gpu/prelude.sh 2>/dev/null || source shared/gpu/prelude.sh
elif [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
  # a development machine: SwiftShader
  export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
fi
OUT=${OUT:-.out}
mkdir -p "$OUT"
quick=${GPU_SESSION_QUICK:-}
Q=${quick:+--quick}
SMALL=${quick:+--small}
t0=$(date +%s)

# part NAME LIMIT COMMAND...: runs it under `timeout`, its output to the screen and $OUT/NAME.log
part() {
  local name=$1 limit=$2
  shift 2
  echo "=== $name (limit ${limit}s, $(( $(date +%s) - t0 ))s in)"
  timeout --kill-after=10 "$limit" "$@" > >(tee "$OUT/$name.log") 2>&1
  local rc=$?
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "--- $name: cut off after ${limit}s" | tee -a "$OUT/$name.log"
  echo "--- $name: exit $rc"
}

for f in dist-gpu/bench-gpu.mjs dist-gpu/conformance.mjs dist-gpu/bench-quant.mjs; do
  [ -f "$f" ] || { echo "gpu-session: $f missing: run npm run gpu:build first" >&2; exit 2; }
done
nvidia-smi > "$OUT/00-nvidia-smi.log" 2>&1 || true

# 1. correctness first: every kernel against the CPU backend (it prints the adapter and its features)
part 01-conformance "${GPU_T_CONF:-150}" node dist-gpu/conformance.mjs --out "$OUT" --budget $(( ${GPU_T_CONF:-150} - 20 )) ${SMALL:+--small}
# 2. issue 22: the training steps (MLP, CNN, two GPT sizes) of webtensor compiled / eager / without
#    arenas / with segments, TF.js and jax-js, on the same device in one run
part 02-train "${GPU_T_TRAIN:-150}" node dist-gpu/bench-gpu.mjs --out "$OUT/train" --only train $Q
# 3. the matmul ceiling: PyTorch if this machine's python has it, then webtensor's tiles against it
echo "=== 03-ceiling"
mkdir -p "$OUT/matmul"
timeout 30 python3 bench/gpu-ceiling.py > "$OUT/matmul/ceiling.json" 2> "$OUT/03-ceiling.log"
echo "--- 03-ceiling: exit $? ($(head -c 300 "$OUT/matmul/ceiling.json"))"
part 04-matmul "${GPU_T_MATMUL:-60}" node dist-gpu/bench-gpu.mjs --out "$OUT/matmul" --only matmul $Q
# 4. issue 25: quantized matmul and a SmolLM2-135M-shaped model, f32 / int8 / 4-bit
part 05-quant "${GPU_T_QUANT:-50}" node dist-gpu/bench-quant.mjs --backend webgpu ${quick:+--layers 2}
echo "=== done in $(( $(date +%s) - t0 ))s; logs in $OUT"
