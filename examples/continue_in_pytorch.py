#!/usr/bin/python3
"""Continue in PyTorch from weights thaw trained.

Loads a `thaw finetune` weights.safetensors (or a .pt written by thaw's writePytorchZip, or any
state_dict of this architecture) into the CIFAR ResNet-20 of akamaster/pytorch_resnet_cifar10
(resnet.py, option-A shortcuts; defined below so nothing but torch and numpy is needed) with
load_state_dict(strict=True), optionally checks its logits against thaw's on the same images, and
runs one DistributedDataParallel training step: gloo backend, two processes on this machine
(localhost only), started with torch.multiprocessing.

  /usr/bin/python3 examples/continue_in_pytorch.py out/finetune/weights.safetensors
  /usr/bin/python3 examples/continue_in_pytorch.py weights.safetensors --check check.safetensors

--check FILE is a safetensors file from thaw holding `images` (N, 3, 32, 32) float32, already
preprocessed as the model's input, `logits` (N, classes) float32, thaw's outputs in eval mode, and
optionally `labels` (N) int64. The DDP step trains on those images (labels: `labels`, else thaw's
top class); without --check it uses seeded random images and labels. The script exits non-zero
when the logits disagree beyond --tol (relative to the largest |logit|), when the loss is not
finite, or when the two processes end the step with different parameters.

safetensors files are read with json + numpy (the format is an 8-byte little-endian header length,
a JSON header, then the raw little-endian tensor bytes), so the `safetensors` package is optional.
"""
import argparse
import json
import math
import os
import socket
import struct
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F


# --- The architecture: akamaster/pytorch_resnet_cifar10 resnet.py (ResNet-20, option A) -----------

class LambdaLayer(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            # Option A: subsample by 2 and zero-pad the new channels; no parameters.
            p = planes // 4
            self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p), 'constant', 0))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, n=3, num_classes=10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make(16, n, 1)
        self.layer2 = self._make(32, n, 2)
        self.layer3 = self._make(64, n, 2)
        self.linear = nn.Linear(64, num_classes)

    def _make(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3]).view(out.size(0), -1)
        return self.linear(out)


def resnet20(num_classes=10):
    return ResNet(3, num_classes)


# --- Reading weights ------------------------------------------------------------------------------

_NP_DTYPES = {'F64': '<f8', 'F32': '<f4', 'F16': '<f2', 'I64': '<i8', 'I32': '<i4', 'I16': '<i2', 'I8': 'i1', 'U8': 'u1', 'BOOL': '?'}


def read_safetensors(path):
    """{name: tensor} and the __metadata__ dict of a safetensors file, without the safetensors package."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f'{path}: too short for a safetensors file')
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n].decode('utf-8'))
    meta = header.pop('__metadata__', {}) or {}
    base = 8 + n
    out = {}
    for name, h in header.items():
        begin, end = h['data_offsets']
        raw = data[base + begin:base + end]
        if h['dtype'] == 'BF16':
            bits = np.frombuffer(raw, dtype='<i2').copy()
            t = torch.from_numpy(bits).view(torch.bfloat16).float()
        elif h['dtype'] in _NP_DTYPES:
            t = torch.from_numpy(np.frombuffer(raw, dtype=_NP_DTYPES[h['dtype']]).copy())
        else:
            raise ValueError(f'{path}: tensor {name} has dtype {h["dtype"]}, which this reader does not handle')
        out[name] = t.reshape(h['shape'])
    return out, meta


def load_weights(path):
    """A state_dict from a .safetensors file or a torch.save file (.pt/.pth/.th), `module.` prefixes stripped."""
    if path.endswith('.safetensors'):
        sd, meta = read_safetensors(path)
    else:
        obj = torch.load(path, map_location='cpu')
        sd, meta = (obj['state_dict'] if isinstance(obj, dict) and 'state_dict' in obj else obj), {}
    sd = {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in sd.items()}
    return sd, meta


def build_model(weights):
    """ResNet-20 with the head size the weights have, loaded with strict=True (every key, every shape)."""
    sd, meta = load_weights(weights)
    if 'linear.weight' not in sd:
        raise SystemExit(f'{weights}: no linear.weight; not a CIFAR ResNet-20 state_dict')
    model = resnet20(num_classes=sd['linear.weight'].shape[0])
    model.load_state_dict(sd, strict=True)
    return model, sd, meta


# --- The DDP step ---------------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ddp_worker(rank, world, port, weights, images, labels, lr, results):
    torch.set_num_threads(1)
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        model, _, _ = build_model(weights)
        ddp = nn.parallel.DistributedDataParallel(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        ddp.train()
        x, y = images[rank::world], labels[rank::world]
        opt.zero_grad()
        loss = F.cross_entropy(ddp(x), y)
        loss.backward()  # DDP all-reduces (averages) the gradients here
        opt.step()
        # Every rank reports its loss and a digest of its parameters after the step.
        flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
        mine = torch.tensor([loss.item(), flat.sum().item(), (flat * flat).sum().item()], dtype=torch.float64)
        gathered = [torch.zeros(3, dtype=torch.float64) for _ in range(world)]
        dist.all_gather(gathered, mine)
        if rank == 0:
            results.put([g.tolist() for g in gathered])
    finally:
        dist.destroy_process_group()


def ddp_step(weights, images, labels, lr, world=2):
    # Localhost only: gloo binds to the loopback interface unless told otherwise.
    os.environ.setdefault('GLOO_SOCKET_IFNAME', 'lo')
    ctx = mp.get_context('spawn')
    results = ctx.SimpleQueue()
    mp.spawn(ddp_worker, args=(world, free_port(), weights, images, labels, lr, results), nprocs=world, join=True)
    rows = results.get()
    losses = [r[0] for r in rows]
    same = all(r[1:] == rows[0][1:] for r in rows)
    return losses, same


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('weights', help='weights.safetensors from thaw finetune, or a .pt/.pth state_dict')
    ap.add_argument('--check', help="safetensors with thaw's images (N,3,32,32) and logits (N,classes)")
    ap.add_argument('--tol', type=float, default=1e-4, help='largest allowed |torch - thaw| relative to the largest |logit| (default 1e-4)')
    ap.add_argument('--lr', type=float, default=0.01, help='learning rate of the DDP step (default 0.01)')
    ap.add_argument('--no-ddp', action='store_true', help='skip the DistributedDataParallel step')
    ap.add_argument('--json', action='store_true', help='end with one line of JSON: the numbers below')
    a = ap.parse_args()
    torch.set_num_threads(1)
    summary = {}

    model, sd, meta = build_model(a.weights)
    classes = sd['linear.weight'].shape[0]
    print(f'weights: {a.weights}: load_state_dict(strict=True) took all {len(sd)} tensors; '
          f'ResNet-20 with {classes} classes' + (f" (thaw metadata: {', '.join(f'{k}={v}' for k, v in meta.items())})" if meta else ''))
    summary['tensors'] = len(sd)

    images = labels = None
    if a.check:
        ck, _ = read_safetensors(a.check)
        images, thaw_logits = ck['images'].float(), ck['logits'].float()
        model.eval()
        with torch.no_grad():
            ours = model(images)
        diff = (ours - thaw_logits).abs().max().item()
        rel = diff / max(thaw_logits.abs().max().item(), 1e-12)
        agree = int((ours.argmax(1) == thaw_logits.argmax(1)).sum())
        print(f'logits: {images.shape[0]} images, max |torch - thaw| = {diff:.3e} ({rel:.2e} of the largest |logit|), '
              f'same top class on {agree}/{images.shape[0]}')
        summary.update(max_abs_diff=diff, max_rel_diff=rel, top1_agree=agree, images=images.shape[0])
        if not rel <= a.tol:
            print(f'logits disagree: {rel:.2e} > --tol {a.tol:g}', file=sys.stderr)
            if a.json:
                print(json.dumps(summary))
            sys.exit(1)
        labels = ck['labels'].long() if 'labels' in ck else thaw_logits.argmax(1)

    if not a.no_ddp:
        if images is None:
            g = torch.Generator().manual_seed(0)
            images = torch.randn(16, 3, 32, 32, generator=g)
            labels = torch.randint(0, classes, (16,), generator=g)
        losses, same = ddp_step(a.weights, images, labels, a.lr)
        mean = sum(losses) / len(losses)
        print(f'ddp step (gloo, {len(losses)} processes on 127.0.0.1): loss ' +
              ', '.join(f'rank {i} {l:.4f}' for i, l in enumerate(losses)) + f', mean {mean:.4f}; '
              f'parameters after the step {"identical on every rank" if same else "DIFFER between ranks"}')
        summary.update(ddp_losses=losses, ddp_mean_loss=mean, ddp_params_agree=same)
        if not (all(math.isfinite(l) for l in losses) and same):
            if a.json:
                print(json.dumps(summary))
            sys.exit(1)

    if a.json:
        print(json.dumps(summary))


if __name__ == '__main__':
    main()
