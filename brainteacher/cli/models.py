"""Commands that train models: decode, cache-images, network-teacher, distill, distill-cohort,
pretrain-simclr. Each imports torch only when it runs."""

from __future__ import annotations

import argparse

from brainteacher.cli.base import PIXELS, SEED, command, dataset_arg, image_args, split_args
from brainteacher.configs import SEED_MAX
from brainteacher.options import add_options, from_args
from brainteacher.options import nonempty as _nonempty
from brainteacher.options import path as _path

# --- decode -----------------------------------------------------------------------------------


def _decode_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.configs import DecoderConfig
    from brainteacher.registry import ROIS

    dataset_arg(p)
    p.add_argument("--subject", required=True)
    p.add_argument("--roi", required=True, choices=ROIS)
    p.add_argument("--split", type=_nonempty, required=True, help="a split file (see make-splits) or 'all'")
    p.add_argument("--out", type=_path, required=True, help="output folder (replaced atomically)")
    add_options(p, DecoderConfig)


@command(
    "decode", "cross-fit a decoder for one subject x ROI and write out-of-fold logits and soft labels", _decode_args
)
def _decode(args: argparse.Namespace) -> None:
    from brainteacher.configs import DecoderConfig
    from brainteacher.decode.decoders import run_decode

    run_decode(args.root, args.subject, args.roi, args.split, args.out, from_args(DecoderConfig, args))


# --- images, network teacher, distill -------------------------------------------------------------


def _cache_args(p: argparse.ArgumentParser) -> None:
    dataset_arg(p)
    p.add_argument("--size", type=PIXELS, required=True, help="pixels per side")
    p.add_argument(
        "--out", type=_path, required=True, help="the .npy to write: (n_images, 3, size, size) uint8 in TSV order"
    )


@command("cache-images", "decode every training image once into a uint8 .npy at one resolution", _cache_args)
def _cache_images(args: argparse.Namespace) -> None:
    from brainteacher.data.images import load_training_images

    load_training_images(args.root, args.size, args.out)


def _network_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.configs import NETWORK_SHARES, NetworkConfig, StudentConfig

    image_args(p)
    add_options(p, StudentConfig, only=NETWORK_SHARES)
    add_options(p, NetworkConfig)


@command(
    "network-teacher",
    "cross-fit a ResNet (18 by default) on a split's training images and write out-of-fold logits",
    _network_args,
)
def _network_teacher(args: argparse.Namespace) -> None:
    from brainteacher.configs import NETWORK_SHARES, NetworkConfig, StudentConfig
    from brainteacher.distill.network_teacher import run_network_teacher

    net = from_args(NetworkConfig, args)
    cfg = from_args(StudentConfig, args, only=NETWORK_SHARES, depth=net.depth)
    run_network_teacher(
        args.root, args.split, args.out, cfg, n_folds=net.folds, seed=net.seed, image_cache=args.image_cache
    )


def _distill_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.configs import StudentConfig

    image_args(p)
    seed_help = "initialisation, batches, augmentation and the random/shuffled controls"
    p.add_argument("--seed", type=SEED, default=0, help=seed_help)
    p.add_argument(
        "--teacher",
        required=True,
        help="none, network, oracle, brain-mean/ROI or KIND/SOURCE/ROI (see brainteacher.distill.teachers)",
    )
    p.add_argument(
        "--teacher-input",
        nargs="*",
        default=[],
        type=_path,
        help="decode folder(s), network-teacher folder or ground_truth.json",
    )
    p.add_argument("--decoder", default=None, help="label: the decoder a brain teacher's folders came from")
    add_options(p, StudentConfig)


@command(
    "distill",
    "train a student (ResNet-18 or tiny) with one teacher on a split; test it on the held-out images",
    _distill_args,
)
def _distill(args: argparse.Namespace) -> None:
    from brainteacher.configs import StudentConfig
    from brainteacher.distill.student import run_distill

    cfg = from_args(StudentConfig, args)
    run_distill(
        args.root,
        args.split,
        args.teacher,
        args.teacher_input,
        args.seed,
        args.out,
        cfg,
        image_cache=args.image_cache,
        decoder=args.decoder,
    )


def _cohort_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.configs import StudentConfig

    split_args(p)
    p.add_argument(
        "--member",
        nargs="+",
        action="append",
        required=True,
        metavar="FIELD",
        help=(
            "one student: TEACHER SEED OUT [TEACHER_INPUT ...] (its teacher as for distill --teacher, its "
            "seed, its output folder, the folders or file its teacher is built from); repeat per student"
        ),
    )
    p.add_argument("--decoder", default=None, help="label: the decoder the brain teachers' folders came from")
    add_options(p, StudentConfig)


def _members(fields: list[list[str]]):
    """``--member`` values -> ``distill.Member``s; ValueError (exit 2) naming a malformed one."""
    from brainteacher.distill.student import Member

    members = []
    for f in fields:
        if len(f) < 3 or not f[1].isdigit() or int(f[1]) > SEED_MAX:
            raise ValueError(f"--member needs TEACHER SEED OUT [TEACHER_INPUT ...], got {' '.join(f)!r}")
        members.append(Member(f[0], tuple(f[3:]), int(f[1]), f[2]))
    outs = [m.out for m in members]
    if len(set(outs)) != len(outs):
        raise ValueError(f"two --member share an output folder: {sorted(o for o in outs if outs.count(o) > 1)[0]}")
    return members


@command(
    "distill-cohort",
    "train several students of one split together in one process (a cohort); each writes its own folder",
    _cohort_args,
)
def _distill_cohort(args: argparse.Namespace) -> None:
    from brainteacher.configs import StudentConfig
    from brainteacher.distill.student import run_cohort

    run_cohort(
        args.root,
        args.split,
        _members(args.member),
        from_args(StudentConfig, args),
        image_cache=args.image_cache,
        decoder=args.decoder,
    )


def _simclr_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.configs import SimCLRConfig

    split_args(p, "a split file: only its training images are used")
    p.add_argument(
        "--out",
        type=_path,
        required=True,
        help="output folder (replaced atomically): backbone.pt, image_ids.npy, metrics.json",
    )
    add_options(p, SimCLRConfig)


@command(
    "pretrain-simclr",
    "SimCLR-pretrain a student backbone on a split's training images (+ simulated extra renders)",
    _simclr_args,
)
def _pretrain_simclr(args: argparse.Namespace) -> None:
    from brainteacher.configs import SimCLRConfig
    from brainteacher.distill.simclr import pretrain_simclr

    pretrain_simclr(args.root, args.split, args.out, from_args(SimCLRConfig, args), image_cache=args.image_cache)
