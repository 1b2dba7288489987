#!/usr/bin/env python3
"""PyTorch reference for resdash: the same plain / residual nets, optimiser and recipe, in eager
PyTorch, to anchor resdash's speed and its training curves.

The model is resdash's (src/model.rs): a 3x3 stem conv to 16w channels, three stages of n basic
blocks (16w, 32w, 64w channels, stride 2 at the start of stages 2 and 3), global average pool,
linear classifier; depth = 6n + 2. Option-A shortcuts: keep every second row and column, append
zero channels. Convolutions are bias-free with He-normal (fan-in) weights; BatchNorm momentum 0.1,
eps 1e-5; the classifier is PyTorch's default nn.Linear. SGD with momentum 0.9 (dampening 0) and
coupled weight decay 1e-4, exactly torch.optim.SGD.

Two modes, one JSON line per measurement on stdout:

  throughput  img/s of one train step of the pair (or the residual net alone) on a random batch:
      python3 benches/torch_resnet.py throughput --device cuda --depth 20 --batch 128
      -> {"impl":"pytorch","device":"cuda","depth":20,"batch":128,"input":"3x32x32","nets":"pair",
          "median_step_ms":..,"img_per_s":..}
      (the same fields as `cargo bench --bench throughput`, so the two can be joined)

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
      python3 benches/torch_resnet.py replay --trace /tmp/trace

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
    device = torch.device(args.device)
    torch.manual_seed(1)
    c, s = args.channels, args.size
    kinds = [False, True] if args.nets == "pair" else [True]
    nets = [ResNet(args.depth, r, c).to(device) for r in kinds]
    opts = [sgd(m, 0.1) for m in nets]
    x = torch.randn(args.batch, c, s, s, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

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
        "impl": "pytorch", "device": args.device, "depth": args.depth, "batch": args.batch,
        "input": f"{c}x{s}x{s}", "nets": args.nets,
        "median_step_ms": round(median * 1e3, 2), "img_per_s": round(args.batch / median, 1),
        "warmup_s": round(warm, 1),
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


def replay_run(trace, init, dtype, reverse):
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
        nets.append(m)
    opts = [torch.optim.SGD(m.parameters(), lr=trace["lr"], momentum=trace["momentum"],
                            weight_decay=trace["weight_decay"]) for m in nets]
    losses = []
    for b in batches:
        x = torch.tensor(b["images"], dtype=dtype).reshape(b["shape"])
        y = torch.tensor(b["labels"], dtype=torch.long)
        if reverse:
            x, y = x.flip(0), y.flip(0)
        losses.append(train_step(nets, opts, x, y))
    e = trace["eval"]
    x = torch.tensor(e["images"], dtype=dtype).reshape(e["shape"])
    y = torch.tensor(e["labels"], dtype=torch.long)
    scores = []
    with torch.no_grad():
        for m in nets:
            m.eval()
            logits = m(x)
            scores.append((F.cross_entropy(logits, y).item(),
                           (logits.argmax(1) == y).double().mean().item()))
    states = [{k: v.double() for k, v in m.state_dict().items()} for m in nets]
    return states, losses, scores


def replay(args):
    trace_dir = args.trace
    with open(os.path.join(trace_dir, "trace.json")) as f:
        trace = json.load(f)
    with open(os.path.join(trace_dir, "init.json")) as f:
        init = json.load(f)
    with open(os.path.join(trace_dir, "final.json")) as f:
        final = json.load(f)
    if trace["shortcut"] != "A":
        raise SystemExit("replay: only option-A shortcuts are in this reference")
    kinds = ("plain", "residual")
    ref_states, ref_losses, ref_scores = replay_run(trace, init, torch.float64, False)
    alt_states, alt_losses, _ = replay_run(trace, init, torch.float64, True)
    f32_states, f32_losses, f32_scores = replay_run(trace, init, torch.float32, False)
    ours = trace["losses"]
    depth, steps = trace["depth"], len(ours)
    print(f"depth {depth}, {steps} steps, batch {trace['batches'][0]['shape'][0]}, resdash in "
          f"{trace.get('float', 'f32')}. Loss per step: PyTorch float64 (ref), then the "
          "difference to it of resdash | PyTorch float64 with each batch reversed (same maths, "
          "other rounding) | PyTorch float32")
    worst = {k: [0.0, 0.0, 0.0] for k in kinds}
    for i in range(steps):
        cells = []
        for k, kind in enumerate(kinds):
            r = ref_losses[i][k]
            d = [ours[i][k] - r, alt_losses[i][k] - r, f32_losses[i][k] - r]
            worst[kind] = [max(w, abs(x) / r) for w, x in zip(worst[kind], d)]
            cells.append(f"{kind} {r:.6f} | {d[0]:+.1e} | {d[1]:+.1e} | {d[2]:+.1e}")
        print(f"  step {i + 1:>3}: " + "   ".join(cells))
    print("After the last step: worst tensor's relative L2 difference to the ref (weights and "
          "BatchNorm running statistics), and eval-mode loss/accuracy on "
          f"{len(trace['eval']['labels'])} test images")
    summary = {"depth": depth, "steps": steps}
    for k, kind in enumerate(kinds):
        ref = ref_states[k]
        diffs = {"resdash": [], "f64_reversed": [], "f32": []}
        for name, t in final[kind].items():
            key = torch_name(name)
            ours_t = torch.tensor(t["data"], dtype=torch.float64).reshape(t["shape"])
            if key == "fc.weight":
                ours_t = ours_t.t()
            diffs["resdash"].append((rel(ours_t, ref[key]), name))
            diffs["f64_reversed"].append((rel(alt_states[k][key], ref[key]), name))
            diffs["f32"].append((rel(f32_states[k][key], ref[key]), name))
        w = {key: max(v) for key, v in diffs.items()}
        print(f"  {kind:>8} weights: resdash {w['resdash'][0]:.1e} ({w['resdash'][1]}) | "
              f"float64 reversed {w['f64_reversed'][0]:.1e} | float32 {w['f32'][0]:.1e}")
        ev = trace["eval"]
        print(f"  {kind:>8} eval: resdash {ev['loss'][k]:.6g}/{ev['accuracy'][k]:.3f} | ref "
              f"{ref_scores[k][0]:.6g}/{ref_scores[k][1]:.3f} | float32 "
              f"{f32_scores[k][0]:.6g}/{f32_scores[k][1]:.3f}")
        summary[kind] = {
            "loss_rel_diff": {"resdash": worst[kind][0], "f64_reversed": worst[kind][1],
                              "f32": worst[kind][2]},
            "weight_rel_diff": {key: v[0] for key, v in w.items()},
            "eval_loss": {"resdash": ev["loss"][k], "ref": ref_scores[k][0]},
        }
    print(json.dumps(summary), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    p.add_argument("--device", default="cpu")
    sub = p.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--depth", type=int, default=20)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--channels", type=int, default=3)
    t.add_argument("--size", type=int, default=32)
    t.add_argument("--nets", choices=["pair", "residual"], default="pair")
    t.add_argument("--steps", type=int, default=20)
    t.add_argument("--warmup", type=int, default=5)
    s = sub.add_parser("sweep")
    s.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    s.add_argument("--depths", default="20,56")
    s.add_argument("--steps", type=int, default=300)
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--lr", type=float, default=0.1)
    s.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("replay")
    r.add_argument("--trace", required=True, help="directory written by examples/trace.rs")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    {"throughput": throughput, "sweep": sweep, "replay": replay}[args.mode](args)


if __name__ == "__main__":
    main()
