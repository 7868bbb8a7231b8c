# PyTorch counterpart of bench/inference.ts: sliding-window inference throughput of the same V-Net
# (n_filters 16, batch norm in eval mode) over random volumes, windows 112x112x80, strides 18,18,4,
# sigmoid of the segmentation logits accumulated on the GPU, one host copy per volume. fp32, TF32 off.
#   python3 bench/torch_inference.py [--volume 180,150,88] [--cases 2] [--window-batch 1]
import argparse, math, sys, time, os
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
p = argparse.ArgumentParser()
p.add_argument('--volume', default='180,150,88'); p.add_argument('--cases', type=int, default=2)
p.add_argument('--window-batch', type=int, default=1); p.add_argument('--anchor', default='torch_vnet_step.py')
a = p.parse_args()
import importlib.util
spec = importlib.util.spec_from_file_location('anchor', os.path.join(os.path.dirname(os.path.abspath(__file__)), a.anchor))
anchor = importlib.util.module_from_spec(spec); spec.loader.exec_module(anchor)
torch.backends.cudnn.benchmark = True
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
dev = 'cuda'
net = anchor.VNet(k=1).to(dev).eval()
P, S = (112, 112, 80), (18, 18, 4)
V = tuple(int(v) for v in a.volume.split(','))
starts = [[min(i * s, v - p) for i in range(math.ceil((v - p) / s) + 1)] for v, p, s in zip(V, P, S)]
windows = [(x, y, z) for x in starts[0] for y in starts[1] for z in starts[2]]
def run_case(vol):
    score = torch.zeros(V, device=dev); count = torch.zeros(V, device=dev)
    with torch.no_grad():
        for i in range(0, len(windows), a.window_batch):
            chunk = windows[i:i + a.window_batch]
            batch = torch.stack([vol[x:x + P[0], y:y + P[1], z:z + P[2]] for x, y, z in chunk])[:, None]
            prob = torch.sigmoid(net(batch)[0])[:, 0]
            for (x, y, z), pr in zip(chunk, prob):
                score[x:x + P[0], y:y + P[1], z:z + P[2]] += pr; count[x:x + P[0], y:y + P[1], z:z + P[2]] += 1
    return (score / count).cpu()
vol = torch.randn(V, device=dev)
run_case(vol); torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(a.cases): run_case(torch.randn(V, device=dev))
torch.cuda.synchronize(); dt = time.perf_counter() - t0
print(f'torch inference fp32: {len(windows) * a.cases} windows over {a.cases} volumes {V} in {dt:.2f} s -> {len(windows) * a.cases / dt:.2f} windows/s (window batch {a.window_batch})', flush=True)
