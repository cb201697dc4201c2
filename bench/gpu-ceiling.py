"""The GPU's own matmul ceiling, for bench/gpu.ts's figures (PyTorch on the same GPU).

Prints one JSON object: PyTorch matmul TFLOP/s at n = 1024, 2048, 4096 for fp32 with TF32 off
(the fp32 ceiling the issue compares against), fp32 with TF32 on, fp16 and bf16; median of 20
timed runs after 5 warm-up runs, timed with CUDA events. Without PyTorch or CUDA it prints why.
"""
import json
import sys

try:
    import torch
except Exception as e:  # no PyTorch on this machine
    print(json.dumps({"error": f"no torch: {e}"}))
    sys.exit(0)

if not torch.cuda.is_available():
    print(json.dumps({"error": "torch.cuda.is_available() is False"}))
    sys.exit(0)


def tflops(n: int, dtype: torch.dtype, tf32: bool) -> float:
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    a = torch.rand(n, n, device="cuda", dtype=dtype)
    b = torch.rand(n, n, device="cuda", dtype=dtype)
    for _ in range(5):
        a @ b
    torch.cuda.synchronize()
    times = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        a @ b
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) / 1000)
    times.sort()
    return 2 * n**3 / times[len(times) // 2] / 1e12


out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "tflops": {}}
for n in (1024, 2048, 4096):
    out["tflops"][str(n)] = {
        "fp32 (tf32 off)": round(tflops(n, torch.float32, False), 2),
        "fp32 (tf32 on)": round(tflops(n, torch.float32, True), 2),
        "fp16": round(tflops(n, torch.float16, False), 2),
        "bf16": round(tflops(n, torch.bfloat16, False), 2),
    }
print(json.dumps(out, indent=1))
