"""Which package's command a tool runs: sr-video for a video checkpoint, sr-image otherwise."""


def video_checkpoint_given(argv: list[str]) -> bool:
    """True if a ``--ckpt`` argument (``PATH``, ``LABEL=PATH`` or ``--ckpt=PATH``) names a video checkpoint."""
    values = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--ckpt"]
    values += [a.split("=", 1)[1] for a in argv if a.startswith("--ckpt=")]
    if not values:  # e.g. --help: answer without loading torch
        return False
    from sr_video.module import is_video_checkpoint  # torch and Lightning: seconds

    return any(is_video_checkpoint(v.rpartition("=")[2]) for v in values)
