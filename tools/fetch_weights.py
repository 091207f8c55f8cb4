#!/usr/bin/env python
"""Pre-fetch the pretrained ImageNet weights into torch's cache, for machines that will be offline later.

    python tools/fetch_weights.py            # every network the project uses (VGG-19, ResNet-50)
    python tools/fetch_weights.py vgg19      # just one

Copy ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``) to the offline machine.
"""

import argparse
import sys

from gen_common.weights import WeightsUnavailableError, cached_weights_path, known_networks, resolve_weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("networks", nargs="*", default=known_networks(), choices=known_networks())
    args = parser.parse_args(argv)
    failed = 0
    for name in args.networks:
        try:
            resolve_weights(name, "imagenet")
            print(f"ok       {name}: {cached_weights_path(name)}")
        except WeightsUnavailableError as err:
            failed += 1
            print(f"missing  {name}: {err}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
