#!/usr/bin/env python
"""Pre-fetch the pretrained weights into torch's cache, for machines that will be offline later.

    python tools/fetch_weights.py                    # every network the project uses
    python tools/fetch_weights.py inception_v3_fid   # just one

The networks: VGG-19, ResNet-50 and AlexNet (torchvision's ImageNet weights; sr-image: losses, recognition,
LPIPS) and the FID Inception-V3
(torch-fidelity's port of the TF FID network; prd-metric, needs torch-fidelity installed).
Copy ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``) to the offline machine.
"""

import argparse
import sys

# gen_common.weights.known_networks(), written out so --help answers without loading torch (test_help.py checks it)
NETWORKS = ["vgg19", "resnet50", "alexnet", "inception_v3_fid"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    known = NETWORKS
    # Checked by hand: argparse (3.11) tests an empty nargs="*" positional against `choices` as one value, [].
    parser.add_argument("networks", nargs="*", metavar="NETWORK", help=f"any of {', '.join(known)} (default: all)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.networks if name not in known]
    if unknown:
        parser.error(f"unknown network(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    from gen_common.weights import WeightsUnavailableError, cached_weights_path, resolve_weights

    failed = 0
    for name in args.networks or known:
        try:
            resolve_weights(name, "imagenet")
            print(f"ok       {name}: {cached_weights_path(name)}")
        except (WeightsUnavailableError, ImportError) as err:  # ImportError: torch-fidelity not installed
            failed += 1
            print(f"missing  {name}: {err}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
