"""Streaming inference equals the clip forward pass; scene cuts restart the recurrence; Sec. 3.5's GT mode."""

import pytest
import torch

from sr_video.inference import stream_upscale
from sr_video.nets import FRVSR, SISR, VSR

SMALL = {"scale": 4, "num_blocks": 1, "num_filters": 8}


def _clip(seed, t=5):
    torch.manual_seed(seed)
    base = torch.rand(1, 3, 16, 24)
    return torch.cat([torch.roll(base, k, dims=-1) for k in range(t)])  # (T, 3, 16, 24), a moving texture


def test_stream_equals_the_clip_forward_for_every_model():
    lr = _clip(0)
    for cls in (FRVSR, VSR, SISR):
        torch.manual_seed(1)
        net = cls(**SMALL).eval()
        with torch.no_grad():
            ref = net(lr[None])[0][0].clamp(0, 1)
        out = torch.stack(list(stream_upscale(net, lr, scene_cut=None)))
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_scene_cut_restarts_from_black():
    a, b = _clip(0, 4), _clip(7, 4)  # two unrelated "scenes"
    torch.manual_seed(1)
    net = FRVSR(**SMALL).eval()
    joined = torch.stack(list(stream_upscale(net, torch.cat([a, b]), scene_cut=0.1)))
    alone = torch.stack(list(stream_upscale(net, b, scene_cut=0.1)))
    torch.testing.assert_close(joined[4:], alone)  # after the cut, as if the video started there
    without = torch.stack(list(stream_upscale(net, torch.cat([a, b]), scene_cut=None)))
    assert not torch.allclose(without[4], alone[0])


def test_ground_truth_every_k_frames():
    lr = _clip(0, 4)
    hr = torch.rand(4, 3, 64, 96)
    torch.manual_seed(1)
    net = FRVSR(**SMALL).eval()
    out = list(stream_upscale(net, lr, scene_cut=None, hr_frames=hr, gt_every=2))
    with torch.no_grad():  # frame 3 (index 2) starts from the true HR frame 2 (index 1)
        expected, _ = net.step(lr[1:2], lr[2:3], hr[1:2])
    torch.testing.assert_close(out[2], expected[0].clamp(0, 1))


def test_stream_is_lazy():
    # An endless input: outputs come while frames are still arriving, so nothing accumulates (FRVSR and VSR).
    import itertools

    def endless():
        for t in itertools.count():
            yield torch.roll(_clip(0, 1)[0], t, dims=-1)

    for cls in (FRVSR, VSR):
        out = list(itertools.islice(stream_upscale(cls(**SMALL), endless(), scene_cut=None), 3))
        assert len(out) == 3 and out[0].shape == (3, 64, 96)


def test_compiled_streaming_equals_eager_and_leaves_the_callers_network_eager():
    # torch.compile (inductor's CPU code; about 10-20 s of compiling on 2 cores): one graph per frame size
    lr = _clip(0, 3)
    torch.manual_seed(1)
    net = FRVSR(**SMALL).eval()
    eager = torch.stack(list(stream_upscale(net, lr, scene_cut=None)))
    compiled = torch.stack(list(stream_upscale(net, lr, scene_cut=None, compile=True)))
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-4)  # fp32 reassociation only
    assert type(net.srnet).__name__ == "SRNet"  # the compiled wrappers live on a copy


def test_a_platform_that_cannot_compile_falls_back_to_eager_with_a_note(monkeypatch, capsys):
    from gen_common import compiled

    def broken_compile(module, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler found")

        return run

    monkeypatch.setattr(compiled.torch, "compile", broken_compile)  # what such a platform does at the first call
    lr = _clip(0, 2)
    net = FRVSR(**SMALL).eval()
    out = torch.stack(list(stream_upscale(net, lr, scene_cut=None, compile=True)))
    torch.testing.assert_close(out, torch.stack(list(stream_upscale(net, lr, scene_cut=None))))
    err = capsys.readouterr().err
    assert err.count("torch.compile of FRVSR's") == 2 and "no C++ compiler found" in err and "eagerly" in err


def test_after_a_successful_first_call_errors_are_raised_not_swallowed(monkeypatch):
    from gen_common import compiled

    calls = []

    def flaky_compile(module, **kwargs):
        def run(*args):
            calls.append(1)
            if len(calls) > 1:
                raise RuntimeError("out of memory")  # a model error after the compiler worked
            return module(*args)

        return run

    monkeypatch.setattr(compiled.torch, "compile", flaky_compile)
    wrapped = compiled.CompiledOrEager(torch.nn.Identity(), "an identity")
    x = torch.ones(2)
    assert torch.equal(wrapped(x), x)
    with pytest.raises(RuntimeError, match="out of memory"):
        wrapped(x)
