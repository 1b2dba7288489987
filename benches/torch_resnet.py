#!/usr/bin/env python3
"""PyTorch reference for resdash: the same plain / residual nets, optimiser and recipe, in eager
PyTorch, to anchor resdash's speed and its training curves.

The model is resdash's (src/model.rs): a 3x3 stem conv to 16w channels, three stages of n basic
blocks (16w, 32w, 64w channels, stride 2 at the start of stages 2 and 3), global average pool,
linear classifier; depth = 6n + 2. Option-A shortcuts: keep every second row and column, append
zero channels. Convolutions are bias-free with He-normal (fan-in) weights; BatchNorm momentum 0.1,
eps 1e-5; the classifier is PyTorch's default nn.Linear. SGD with momentum 0.9 (dampening 0) and
coupled weight decay 1e-4, exactly torch.optim.SGD.

Four modes, one JSON line per measurement on stdout:

  throughput  img/s of one train step of the pair (or one net alone) on a random batch; lists
              run every combination in one process:
      python3 benches/torch_resnet.py throughput --device cuda --depth 20,56 --nets pair,residual
      (--batch 128,32 adds a batch-size axis: a step that costs the same at 32 as at 128 is bound
      by the host's per-step work, not by the GPU)
      -> {"impl":"pytorch","device":"cuda","depth":20,"batch":128,"input":"3x32x32","nets":"pair",
          "median_step_ms":..,"img_per_s":..}
      (the same fields as `cargo bench --bench throughput`, so the two can be joined)

  profile     what one step launches, after warm-up (torch.profiler): GPU kernels per step and
              their summed run time on cuda (top-level operators on cpu), the largest by share:
      python3 benches/torch_resnet.py profile --device cuda --depth 20 --nets residual

  sweep       train both nets at each depth for --steps on IDX data (MNIST / Fashion-MNIST format,
              raw or .gz) and print resdash's sweep row per depth (errors in percent; train error on
              the first 2,000 training images in eval mode, test error on the whole test split):
      python3 benches/torch_resnet.py sweep --data /usr/share/datasets/fashion-mnist \
          --depths 20,56 --steps 300 --batch 64

  replay      load a trace written by `cargo run --release --example trace` (resdash's initial
              weights, batches, losses and final weights), run the same steps in PyTorch in
              float32 and float64, and print per-step losses and per-tensor differences: resdash
              vs float64 next to PyTorch float64 with reversed batches (same maths, other
              rounding: the noise floor) and PyTorch float32:
      python3 benches/torch_resnet.py replay --trace /tmp/trace [--trace /tmp/trace-cuda]

Threads: pass --threads to match resdash (2 on the build machine) when comparing CPU numbers.
"""

import argparse
import gzip
import json
import os
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride, residual):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.residual = residual
        self.stride = stride
        self.extra = cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            s = x[:, :, ::2, ::2] if self.stride == 2 else x
            if self.extra:
                s = F.pad(s, (0, 0, 0, 0, 0, self.extra))  # zero channels appended
            out = out + s
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, depth, residual, in_channels, classes=10, width=1):
        super().__init__()
        if (depth - 2) % 6:
            raise SystemExit(f"depth {depth}: must be 6n+2")
        n = (depth - 2) // 6
        widths = [16 * width, 32 * width, 64 * width]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        blocks, cin = [], widths[0]
        for stage, cout in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Block(cin, cout, stride, residual))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


def sgd(model, lr):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)


def train_step(nets, opts, x, y):
    """One SGD step of every net on the same batch; the losses, read back once (as resdash does)."""
    losses = []
    for m, o in zip(nets, opts):
        o.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        o.step()
        losses.append(loss.detach())
    return torch.stack(losses).cpu().tolist()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(args):
    """Every --depth x --nets x --batch combination in one process (one CUDA context, cudnn
    autotune per shape), one JSON line each."""
    for depth in (int(d) for d in args.depth.split(",")):
        for nets in args.nets.split(","):
            for batch in args.batches:
                measure(argparse.Namespace(**{**vars(args), "batch": batch}), depth, nets)


def setup(args, depth, which):
    """The nets of one configuration, their optimisers and a seeded random batch."""
    device = torch.device(args.device)
    torch.manual_seed(1)
    c, s = args.channels, args.size
    kinds = {"pair": [False, True], "residual": [True], "plain": [False]}[which]
    nets = [ResNet(depth, r, c).to(device) for r in kinds]
    opts = [sgd(m, 0.1) for m in nets]
    x = torch.randn(args.batch, c, s, s, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    return device, nets, opts, x, y


def measure(args, depth, which):
    device, nets, opts, x, y = setup(args, depth, which)

    def step():
        return train_step(nets, opts, x, y)

    started = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync(device)
    warm = time.perf_counter() - started
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    print(json.dumps({
        "impl": "pytorch", "device": args.device, "depth": depth, "batch": args.batch,
        "input": f"{args.channels}x{args.size}x{args.size}", "nets": which,
        "median_step_ms": round(median * 1e3, 2), "img_per_s": round(args.batch / median, 1),
        "warmup_s": round(warm, 1),
    }), flush=True)


def profile(args):
    """Kernels per step and their time, for one configuration after warm-up (torch.profiler):
    on cuda the GPU kernels (CUPTI times: kernel run time, no launch cost), on cpu the top-level
    operators. The counterpart of the cubecl profile the GPU check takes of resdash."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity
    device, nets, opts, x, y = setup(args, args.depth, args.nets)
    for _ in range(args.warmup):
        train_step(nets, opts, x, y)
    sync(device)
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    started = time.perf_counter()
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(args.steps):
            train_step(nets, opts, x, y)
        sync(device)
    wall = time.perf_counter() - started
    if cuda:
        events = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
    else:
        events = [e for e in prof.events() if e.cpu_parent is None]
    by_name = {}
    for e in events:
        by_name[e.name] = by_name.get(e.name, 0.0) + e.time_range.elapsed_us()
    busy = sum(by_name.values())
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:args.top]
    print(json.dumps({
        "impl": "pytorch", "mode": "profile", "device": args.device, "depth": args.depth,
        "batch": args.batch, "nets": args.nets,
        "events": "gpu kernels" if cuda else "cpu operators",
        "per_step": round(len(events) / args.steps, 1),
        "busy_ms_per_step": round(busy / 1e3 / args.steps, 2),
        "profiled_step_ms": round(wall * 1e3 / args.steps, 2),
        "top": [[name[:90], round(100 * us / max(busy, 1e-9), 1)] for name, us in top],
    }), flush=True)


def read_idx(path):
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rb") as f:
                data = f.read()
            break
    else:
        raise SystemExit(f"{path}[.gz]: not found")
    zero, kind, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def load(directory):
    split = {}
    for name, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte")).float() / 255
        labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte")).long()
        split[name] = (images.unsqueeze(1), labels)
    mean, std = split["train"][0].mean(), split["train"][0].std()
    return {k: ((x - mean) / std, y) for k, (x, y) in split.items()}


@torch.no_grad()
def error(model, x, y, device, batch=500):
    model.eval()
    wrong = 0
    for i in range(0, len(y), batch):
        logits = model(x[i:i + batch].to(device))
        wrong += (logits.argmax(1).cpu() != y[i:i + batch]).sum().item()
    model.train()
    return 100.0 * wrong / len(y)


def sweep(args):
    device = torch.device(args.device)
    data = load(args.data)
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    for depth in [int(d) for d in args.depths.split(",")]:
        torch.manual_seed(args.seed)
        nets = [ResNet(depth, r, xtr.shape[1]).to(device) for r in (False, True)]
        opts = [sgd(m, args.lr) for m in nets]
        gen = torch.Generator().manual_seed(args.seed)
        order, cursor = torch.randperm(len(ytr), generator=gen), 0
        started = time.perf_counter()
        for step in range(args.steps):
            if cursor + args.batch > len(order):
                order, cursor = torch.randperm(len(ytr), generator=gen), 0
            idx = order[cursor:cursor + args.batch]
            cursor += args.batch
            x, y = xtr[idx].to(device), ytr[idx].to(device)
            losses = train_step(nets, opts, x, y)
            if (step + 1) % max(1, args.steps // 10) == 0:
                print(f"depth {depth} step {step + 1}: loss plain {losses[0]:.4f} "
                      f"residual {losses[1]:.4f}", file=sys.stderr, flush=True)
        n = min(2000, len(ytr))
        row = {"depth": depth, "steps": args.steps,
               "plain_train_error": error(nets[0], xtr[:n], ytr[:n], device),
               "plain_test_error": error(nets[0], xte, yte, device),
               "residual_train_error": error(nets[1], xtr[:n], ytr[:n], device),
               "residual_test_error": error(nets[1], xte, yte, device),
               "wall_s": round(time.perf_counter() - started, 1)}
        print(json.dumps(row), flush=True)


def torch_name(name):
    """resdash's parameter path (examples/trace.rs) -> this module's state_dict key."""
    name = name.replace("stem_conv.", "stem.").replace("stem_bn.", "bn.")
    return name.replace(".gamma", ".weight").replace(".beta", ".bias")


def load_weights(model, weights, dtype):
    state = model.state_dict()
    for name, t in weights.items():
        key = torch_name(name)
        if key not in state:
            raise SystemExit(f"trace weight {name} ({key}) has no PyTorch counterpart "
                             "(option-B projections are not in this reference)")
        value = torch.tensor(t["data"], dtype=dtype).reshape(t["shape"])
        if key == "fc.weight":
            value = value.t()  # burn's Linear stores [in, out]
        state[key] = value
    model.load_state_dict(state)


def rel(a, b):
    return ((a - b).norm() / max(b.norm().item(), 1e-30)).item()


def replay_run(trace, init, dtype, reverse, device=torch.device("cpu")):
    """PyTorch's run of the trace's steps. `reverse` feeds every batch in reverse order: the same
    maths (BatchNorm statistics and the mean loss do not depend on the order of a batch), other
    rounding, so the distance between the two float64 runs is the float64 noise floor."""
    kinds = ("plain", "residual")
    batches = trace["batches"]
    c = batches[0]["shape"][1]
    nets = []
    for kind in kinds:
        m = ResNet(trace["depth"], kind == "residual", c).to(dtype)
        load_weights(m, init[kind], dtype)
        nets.append(m.to(device))
    opts = [torch.optim.SGD(m.parameters(), lr=trace["lr"], momentum=trace["momentum"],
                            weight_decay=trace["weight_decay"]) for m in nets]
    losses = []
    for b in batches:
        x = torch.tensor(b["images"], dtype=dtype).reshape(b["shape"])
        y = torch.tensor(b["labels"], dtype=torch.long)
        if reverse:
            x, y = x.flip(0), y.flip(0)
        losses.append(train_step(nets, opts, x.to(device), y.to(device)))
    e = trace["eval"]
    x = torch.tensor(e["images"], dtype=dtype).reshape(e["shape"])
    y = torch.tensor(e["labels"], dtype=torch.long)
    scores = []
    x, y = x.to(device), y.to(device)
    with torch.no_grad():
        for m in nets:
            m.eval()
            logits = m(x)
            scores.append((F.cross_entropy(logits, y).item(),
                           (logits.argmax(1) == y).double().mean().item()))
    states = [{k: v.double().cpu() for k, v in m.state_dict().items()} for m in nets]
    return states, losses, scores


def load_trace(trace_dir):
    parts = {}
    for part in ("trace", "init", "final"):
        with open(os.path.join(trace_dir, f"{part}.json")) as f:
            parts[part] = json.load(f)
    if parts["trace"]["shortcut"] != "A":
        raise SystemExit("replay: only option-A shortcuts are in this reference")
    return parts


def distances(losses, states, kinds, ref_losses, ref_states):
    """Per net: relative loss difference per step to the ref, and the worst tensor's relative L2
    difference after the last step (`states`: per net, name -> tensor; resdash or PyTorch)."""
    out = {}
    for k, kind in enumerate(kinds):
        per_step = [abs(l[k] - r[k]) / abs(r[k]) for l, r in zip(losses, ref_losses)]
        worst = max((rel(t, ref_states[k][name]), name) for name, t in states[k].items())
        out[kind] = {"loss_rel_diff": per_step, "weight_rel_diff": worst[0],
                     "worst_tensor": worst[1]}
    return out


def resdash_states(final, kinds):
    states = []
    for kind in kinds:
        state = {}
        for name, t in final[kind].items():
            key = torch_name(name)
            value = torch.tensor(t["data"], dtype=torch.float64).reshape(t["shape"])
            state[key] = value.t() if key == "fc.weight" else value
        states.append(state)
    return states


def replay(args):
    kinds = ("plain", "residual")
    traces = [load_trace(d) for d in args.trace]
    first = traces[0]
    trace, init = first["trace"], first["init"]
    for other, d in zip(traces[1:], args.trace[1:]):
        if other["init"] != init or other["trace"]["batches"] != trace["batches"]:
            raise SystemExit(f"replay: {d} has other initial weights or batches than "
                             f"{args.trace[0]}: trace them with the same config and seed")
    ref_states, ref_losses, ref_scores = replay_run(trace, init, torch.float64, False)
    alt_states, alt_losses, _ = replay_run(trace, init, torch.float64, True)
    device = torch.device(args.device)
    f32_states, f32_losses, f32_scores = replay_run(trace, init, torch.float32, False, device)
    rows = {}
    for t, d in zip(traces, args.trace):
        label = f"resdash {t['trace'].get('backend', '?')} {t['trace'].get('float', 'f32')}"
        if label in rows:
            label += f" ({d})"
        rows[label] = (t["trace"]["losses"], resdash_states(t["final"], kinds), t["trace"]["eval"])
    rows["pytorch f64 reversed batches"] = (alt_losses, alt_states, None)
    rows[f"pytorch {device.type} f32"] = (f32_losses, f32_states, None)
    depth, steps = trace["depth"], len(ref_losses)
    summary = {"depth": depth, "steps": steps,
               "runs": {label: distances(losses, states, kinds, ref_losses, ref_states)
                        for label, (losses, states, _) in rows.items()}}
    print(f"depth {depth}, {steps} steps, batch {trace['batches'][0]['shape'][0]}: relative "
          "difference to PyTorch float64 (the ref). 'pytorch f64 reversed batches' is the same "
          "maths with other rounding (the float64 noise floor); 'pytorch <device> f32' shows "
          "how far float32 rounding alone carries a run.")
    shown = sorted({0, 1, min(4, steps - 1), steps // 2, steps - 1})
    shown = [i for i in shown if 0 <= i < steps]
    header = "  ".join(f"step {i + 1:<4}" for i in shown)
    for k, kind in enumerate(kinds):
        print(f"  {kind:<28} {header}  worst tensor after the last step")
        print(f"  {'loss of the ref':<28} " + "  ".join(f"{ref_losses[i][k]:<9.5f}" for i in shown))
        for label, run in summary["runs"].items():
            r = run[kind]
            cells = "  ".join(f"{r['loss_rel_diff'][i]:<9.1e}" for i in shown)
            print(f"  {label:<28} {cells}  {r['weight_rel_diff']:.1e} ({r['worst_tensor']})")
    for k, kind in enumerate(kinds):
        evals = [f"{label} {ev['loss'][k]:.6g}/{ev['accuracy'][k]:.3f}"
                 for label, (_, _, ev) in rows.items() if ev is not None]
        print(f"  {kind} eval-mode loss/accuracy on {len(trace['eval']['labels'])} test images: "
              f"ref {ref_scores[k][0]:.6g}/{ref_scores[k][1]:.3f}; " + "; ".join(evals))
    print(json.dumps(summary), flush=True)


def batch_list(value):
    try:
        batches = [int(b) for b in value.split(",")]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise argparse.ArgumentTypeError(f"{value}: expected a batch size or a list: 128,32")
    return batches


def nets_list(value):
    if any(n not in ("pair", "residual", "plain") for n in value.split(",")):
        raise argparse.ArgumentTypeError(f"{value}: expected pair, residual or plain (or a list)")
    return value


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    p.add_argument("--device", default="cpu")
    sub = p.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--depth", default="20", help="a depth or a list: 20,56,110")
    t.add_argument("--batch", dest="batches", default=[128], type=batch_list,
                   help="a batch size or a list: 128,32")
    t.add_argument("--channels", type=int, default=3)
    t.add_argument("--size", type=int, default=32)
    t.add_argument("--nets", default="pair", type=nets_list,
                   help="pair, residual or plain, or a list: pair,residual")
    t.add_argument("--steps", type=int, default=20)
    t.add_argument("--warmup", type=int, default=5)
    f = sub.add_parser("profile")
    f.add_argument("--depth", type=int, default=20)
    f.add_argument("--batch", type=int, default=128)
    f.add_argument("--channels", type=int, default=3)
    f.add_argument("--size", type=int, default=32)
    f.add_argument("--nets", default="residual", choices=["pair", "residual", "plain"])
    f.add_argument("--steps", type=int, default=3)
    f.add_argument("--warmup", type=int, default=5)
    f.add_argument("--top", type=int, default=6)
    s = sub.add_parser("sweep")
    s.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    s.add_argument("--depths", default="20,56")
    s.add_argument("--steps", type=int, default=300)
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--lr", type=float, default=0.1)
    s.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("replay")
    r.add_argument("--trace", required=True, action="append",
                   help="directory written by examples/trace.rs (repeat to compare several "
                        "traces of the same config and seed, e.g. flex and cuda)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    {"throughput": throughput, "profile": profile, "sweep": sweep,
     "replay": replay}[args.mode](args)


if __name__ == "__main__":
    main()
