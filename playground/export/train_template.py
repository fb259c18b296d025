"""The body of an exported run's ``train.py`` (:mod:`.run` writes it): plain PyTorch and
torchvision, nothing from the playground. The export puts one ``CONFIG = {...}`` literal (the
run's settings, written with ``repr`` of plain values only) and a docstring above this text;
everything below is fixed code, so nothing from a run (its name, class names, paths) can ever
become code. ``SCHEDULE_KEYS`` / ``OPTIMIZER_KEYS``: the catalogue keys this code handles
(tests/unit/test_export_run.py checks they are all of :mod:`playground.training.optim`'s)."""

OPTIMIZER_KEYS = ("sgd", "adam", "adamw")
SCHEDULE_KEYS = ("none", "step", "cosine", "onecycle", "plateau", "warmup_cosine")

IMPORTS = '''import argparse
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torchvision
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from torchvision.transforms import v2

from model import build_model

HERE = Path(__file__).resolve().parent
lrs = torch.optim.lr_scheduler
'''

BODY = r'''

# -- data: uint8 tensors (N, C, H, W) and int64 labels ----------------------------------------
def read_folder(root, classes, channels):
    """An ImageFolder layout (root/<class>/<image>.png) as tensors, labels in CONFIG's order."""
    folder = torchvision.datasets.ImageFolder(str(root))     # PIL images, as RGB
    remap = torch.tensor([classes.index(c) for c in folder.classes], dtype=torch.int64)
    x = torch.stack([v2.functional.pil_to_tensor(folder.loader(path))[:channels] for path, _ in folder.samples])
    return x, remap[torch.tensor(folder.targets, dtype=torch.int64)]


def torchvision_split(d, train):
    split = getattr(torchvision.datasets, d["class"])(str(HERE / "data"), train=train, download=True)
    x = torch.as_tensor(split.data)
    x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)     # (N, H, W) or (N, H, W, C)
    x, y = x.contiguous().to(torch.uint8), torch.as_tensor(split.targets, dtype=torch.int64)
    n = d["limit_train"] if train else d["limit_val"]
    return (x[:n], y[:n]) if n else (x, y)


def load_splits():
    """{"train": (x, y), "val": (x, y), "test": (x, y) or absent}."""
    d = CONFIG["data"]
    if d["kind"] == "tensors":
        t = torch.load(HERE / "data.pt", weights_only=True)
        return {s: (t[s + "_x"], t[s + "_y"]) for s in ("train", "val", "test") if s + "_x" in t}
    if d["kind"] == "folder":
        return {s: read_folder(HERE / "data" / s, d["folders"], d["channels"])
                for s in ("train", "val", "test") if (HERE / "data" / s).is_dir()}
    return {"train": torchvision_split(d, True), "val": torchvision_split(d, False)}


class Images(Dataset):
    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(self.x[i]), self.y[i]


def match_channels(x):
    c = CONFIG["input_shape"][0]
    if x.shape[-3] == c:
        return x
    return x.expand(*x.shape[:-3], c, *x.shape[-2:]) if x.shape[-3] == 1 else x.mean(-3, keepdim=True)


def transforms(train):
    """uint8 -> float in [0, 1], channels and size the network takes, augmentation, normalization."""
    a, size = CONFIG["augment"], tuple(CONFIG["input_shape"][1:])
    t = [v2.ToDtype(torch.float32, scale=True), v2.Lambda(match_channels)]
    if size != tuple(CONFIG["data"]["image_size"]):
        t.append(v2.Resize(size, antialias=True))
    if train and a.get("crop"):
        t.append(v2.RandomCrop(size, padding=int(a["crop"]), padding_mode="reflect"))
    if train and a.get("hflip"):
        t.append(v2.RandomHorizontalFlip())
    if train and a.get("rotate"):
        t.append(v2.RandomRotation(float(a["rotate"]), interpolation=v2.InterpolationMode.BILINEAR))
    if train and a.get("jitter"):
        j = float(a["jitter"])
        t.append(v2.ColorJitter(brightness=j, contrast=j, saturation=j if CONFIG["input_shape"][0] == 3 else None))
    if train and a.get("erase"):
        t.append(v2.RandomErasing(p=float(a["erase"]), scale=(0.02, 0.22), ratio=(1 / 3, 3), value="random"))
    t.append(v2.Normalize(CONFIG["mean"], CONFIG["std"]))
    return v2.Compose(t)


# -- optimizer and schedule --------------------------------------------------------------------
def param_groups(model):
    """Transfer learning: the new head at lr, the pretrained backbone at lr x backbone_lr_scale."""
    head, params = CONFIG["head"], list(model.named_parameters())
    if not head:
        return [{"params": [p for _, p in params]}]
    return [{"params": [p for n, p in params if n.startswith(head)]},
            {"params": [p for n, p in params if not n.startswith(head)],
             "lr": CONFIG["lr"] * CONFIG["backbone_lr_scale"]}]


def make_optimizer(groups, device):
    c, fused = CONFIG, (True if device.type in ("cpu", "cuda") else None)
    if c["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=c["lr"], momentum=c["momentum"], weight_decay=c["weight_decay"],
                               nesterov=c["momentum"] > 0)
    cls = torch.optim.Adam if c["optimizer"] == "adam" else torch.optim.AdamW
    return cls(groups, lr=c["lr"], weight_decay=c["weight_decay"], fused=fused)


def make_scheduler(opt, epochs, spe):
    """(scheduler or None, when it steps: "step", "epoch" or "plateau")."""
    c, s, total = CONFIG, CONFIG["schedule"], max(1, epochs * spe)
    if s == "step":
        return lrs.StepLR(opt, step_size=max(1, c["step_size"]), gamma=c["gamma"]), "epoch"
    if s == "cosine":
        return lrs.CosineAnnealingLR(opt, T_max=total), "step"
    if s == "onecycle":   # one step more than the run takes: OneCycleLR raises past its total
        return lrs.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total + 1), "step"
    if s == "plateau":
        return lrs.ReduceLROnPlateau(opt, mode="min", factor=c["gamma"], patience=c["patience"]), "plateau"
    if s == "warmup_cosine":
        warm = min(total - 1, max(1, round(c["warmup_epochs"] * spe)))
        if warm < 1:
            return lrs.CosineAnnealingLR(opt, T_max=total), "step"
        return lrs.SequentialLR(opt, [lrs.LinearLR(opt, start_factor=0.01, total_iters=warm),
                                      lrs.CosineAnnealingLR(opt, T_max=max(1, total - warm))],
                                milestones=[warm]), "step"
    return None, "step"


# -- processes: one, or one per torchrun rank ---------------------------------------------------
def setup(device_arg):
    """(device, rank, world size); under torchrun a process group (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() and device_arg in ("auto", "cuda")
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
        return torch.device("cuda", local) if cuda else torch.device("cpu"), dist.get_rank(), world
    return torch.device("cuda" if cuda else "cpu" if device_arg == "auto" else device_arg), 0, 1


def total(*values, device, world):
    """Sums over every rank."""
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


@torch.no_grad()
def evaluate(model, x, y, device, rank, world, batch=512):
    """(loss, accuracy) over the whole split; each rank takes every world-th image."""
    model.eval()
    prep, loss, correct = transforms(train=False), 0.0, 0
    xs, ys = x[rank::world], y[rank::world]
    for i in range(0, len(ys), batch):
        xb = prep(xs[i:i + batch].to(device)).contiguous(memory_format=torch.channels_last)
        out = model(xb).float()
        yb = ys[i:i + batch].to(device)
        loss += float(nn.functional.cross_entropy(out, yb, reduction="sum"))
        correct += int((out.argmax(1) == yb).sum())
    loss, correct, n = total(loss, correct, len(ys), device=device, world=world)
    return loss / max(n, 1), correct / max(n, 1)


def wrap(net, device, world):
    if world == 1:
        return net
    return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


def unfreeze(net, epoch, model, device, world):
    """Transfer learning: the frozen backbone trains from CONFIG["unfreeze_epoch"] on."""
    u = CONFIG["unfreeze_epoch"]
    if u is None or epoch != u or all(p.requires_grad for p in net.parameters()):
        return model
    for p in net.parameters():
        p.requires_grad = True
    return wrap(net, device, world)   # DDP learns its parameters when it wraps the network


def train_epoch(model, loader, opt, sched, when, scaler, device, amp):
    model.train()
    crit = nn.CrossEntropyLoss(label_smoothing=CONFIG["label_smoothing"])
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for xb, yb in loader:
        xb = xb.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        yb = yb.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            out = model(xb)
            loss = crit(out.float(), yb)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if CONFIG["grad_clip"] > 0:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), CONFIG["grad_clip"])
        scaler.step(opt)
        scaler.update()
        if sched is not None and when == "step":
            sched.step()
        loss_sum += loss.detach() * len(yb)
        correct += (out.detach().argmax(1) == yb).sum()
    return float(loss_sum), int(correct)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    ap.add_argument("--batch-size", type=int, default=CONFIG["batch_size"], help="over all processes")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    args = ap.parse_args()
    device, rank, world = setup(args.device)
    torch.manual_seed(CONFIG["seed"])
    splits = load_splits()
    net = build_model().to(device, memory_format=torch.channels_last)
    model = wrap(net, device, world)
    data = Images(*splits["train"], transforms(train=True))
    sampler = DistributedSampler(data, world, rank, seed=CONFIG["seed"], drop_last=True) if world > 1 else None
    batch = max(1, min(args.batch_size, len(data)) // world)      # the run's batch, shared by the ranks
    loader = DataLoader(data, batch, shuffle=sampler is None, sampler=sampler, drop_last=True,
                        num_workers=args.workers, generator=torch.Generator().manual_seed(CONFIG["seed"]))
    opt = make_optimizer(param_groups(net), device)
    sched, when = make_scheduler(opt, args.epochs, len(loader))
    amp = device.type == "cuda" and CONFIG["amp"]
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    for epoch in range(args.epochs):
        model = unfreeze(net, epoch, model, device, world)
        if sampler is not None:
            sampler.set_epoch(epoch)
        t0 = time.time()
        loss_sum, correct = train_epoch(model, loader, opt, sched, when, scaler, device, amp)
        loss_sum, correct, seen = total(loss_sum, correct, len(loader) * batch, device=device, world=world)
        val_loss, val_acc = evaluate(net, *splits["val"], device, rank, world)
        if not math.isfinite(val_loss) or not math.isfinite(loss_sum):
            raise SystemExit("The loss is not a finite number: lower the learning rate (--lr in the app).")
        if when == "epoch":
            sched.step()
        elif when == "plateau":
            sched.step(val_loss)
        if rank == 0:
            print(f"epoch {epoch + 1}/{args.epochs}  train loss {loss_sum / seen:.4f} acc {correct / seen:.2%}"
                  f"  val loss {val_loss:.4f} acc {val_acc:.2%}  {seen / (time.time() - t0):,.0f} images/s",
                  flush=True)
    if "test" in splits:
        test_loss, test_acc = evaluate(net, *splits["test"], device, rank, world)
        if rank == 0:
            print(f"held-out test  loss {test_loss:.4f} acc {test_acc:.2%}", flush=True)
    if rank == 0:
        torch.save(net.state_dict(), HERE / "model.pt")
        print(f"weights saved in {HERE / 'model.pt'}", flush=True)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
'''
