"""S-HR-VQVAE: how far apart are soft-codeword and hard-code decoding after the joint stage?

Run:  python examples/05_s_hr_vqvae_decoding_gap.py [--seeds 0 1] [--steps 150 150 100]
      (--help lists the options). It needs no data and writes nothing (into the repository or elsewhere).

Time: 88 s with the defaults, measured on this repository's 2-core CPU under heavy load (load average 14.7);
less on a quiet machine.

The joint stage trains the decoder on soft codewords (sum_k p_k c_k) while prediction decodes hard codes.
This trains a small model on moving Gaussian blobs (tokeniser, then predictor), then the joint stage from
the same weights twice: joint_decode="soft" (the paper's design) and "straight_through" (hard codewords
forward, soft gradient backward). It prints, on held-out sequences, the MSE of frames decoded from the
teacher-forced code logits (soft and hard) and of the greedy autoregressive forecast (`predict`).
"""

from __future__ import annotations

import argparse
import copy

import torch

from geostp.models import create


def blobs(b: int, t: int, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    """(b, t, 1, h, w) Gaussian blobs moving at constant per-sample velocities, values in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(b, 1, 2, generator=g) * torch.tensor([h, w])
    vel = (torch.rand(b, 1, 2, generator=g) - 0.5) * 3
    c = pos + vel * torch.arange(t, dtype=torch.float32)[None, :, None]
    yy, xx = torch.arange(h, dtype=torch.float32)[:, None], torch.arange(w, dtype=torch.float32)[None, :]
    return torch.exp(-((yy - c[..., 0, None, None]) ** 2 + (xx - c[..., 1, None, None]) ** 2) / 8.0)[:, :, None]


def fit(model, data: torch.Tensor, stage: str, steps: int, prefixes: tuple[str, ...], seed: int) -> None:
    torch.manual_seed(seed)
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if n.startswith(prefixes)], lr=3e-3)
    model.train()
    for _ in range(steps):
        b = data[torch.randint(0, len(data), (8,))]
        out = model.training_loss(b[:, :3], b[:, 3:], stage)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                    help="training seeds, one row pair per seed (default: %(default)s)")
    ap.add_argument("--steps", type=int, nargs=3, default=[150, 150, 100], metavar=("VQVAE", "PIXELCNN", "JOINT"),
                    help="training steps of the tokeniser, the predictor and the joint stage (default: 150 150 100)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'seed':>4} {'joint_decode':>17} {'soft MSE':>9} {'hard MSE':>9} {'hard-soft':>10} {'predict MSE':>12}")
    for seed in args.seeds:
        torch.manual_seed(seed)
        base = create("s_hr_vqvae", "tiny", in_shape=(3, 1, 16, 16), t_out=3, codebook_size=16)
        train, test = blobs(16, 6, seed=2 * seed), blobs(16, 6, seed=2 * seed + 1)
        fit(base, train, "vqvae", args.steps[0], ("vqvae.encoder.", "vqvae.decoder."), seed)
        fit(base, train, "pixelcnn", args.steps[1], ("prior.",), seed)
        for mode in ("soft", "straight_through"):
            m = copy.deepcopy(base)
            m.config.joint_decode = mode
            fit(m, train, "joint", args.steps[2], ("vqvae.decoder.", "prior."), seed + 100)
            err = m.decoding_errors(test[:, :3], test[:, 3:])
            with torch.no_grad():
                pe = float(((m.predict(test[:, :3]) - test[:, 3:]) ** 2).mean())
            print(f"{seed:>4} {mode:>17} {err['soft']:>9.5f} {err['hard']:>9.5f} {err['hard'] - err['soft']:>+10.5f} {pe:>12.5f}")


if __name__ == "__main__":
    main()
